// The JSON form of the introspection tree (mesh/introspect.hpp,
// docs/admin-api.md): round trips, the canonical rendering, and malformed
// input (wrong types, missing fields, garbage, deep nesting).
#include "mesh/error.hpp"
#include "mesh/introspect.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace mesh;

namespace {

proc_snapshot sample_proc(uint64_t rank) {
  proc_snapshot p;
  p.rank = rank;
  p.name = "procs-JPwcyDCgEup_" + std::to_string(rank);
  p.proc_mesh = "procs-JPwcyDCgEup";
  p.host_mesh = "hosts-JPwcyDCgEuq";
  p.host = "127.0.0.1:4100";
  p.address = "127.0.0.1:4200";
  p.pid = 4242 + static_cast<int64_t>(rank);
  p.status = rank == 1 ? proc_status::failed : proc_status::running;
  p.reason = rank == 1 ? "killed by signal 9 (\"SIGKILL\")" : "";
  if (rank == 1)
    p.signal = 9;
  else
    p.exit_code = 0;
  p.uptime_ms = 12345;
  p.rss_bytes = 1 << 20;
  p.cpu_time_ms = 250;
  p.cpu_percent = 12.5;
  p.threads = 4;
  p.open_fds = 17;
  p.responsive = rank != 1;
  p.restarts = 2;
  actor_snapshot a;
  a.name = "workers";
  a.actor_mesh = "workers-JPwcyDCgEur";
  a.type = "counter";
  a.status = "running";
  a.mailbox_depth = 3;
  a.mesh_messages = 18446744073709551615ull;
  p.actors.push_back(a);
  a.status = "failed";
  a.last_failure = "boom\nwith a newline and \xc3\xa9";
  a.mailbox_depth = -1;
  a.mesh_messages = 0;
  p.actors.push_back(a);
  p.stderr_tail = {"line one", "tab\there", ""};
  return p;
}

mesh_snapshot sample_mesh() {
  mesh_snapshot s;
  s.id = "hosts-JPwcyDCgEuq";
  s.owner_pid = 99;
  s.taken_at_ms = 1765000000000;
  host_snapshot h;
  h.address = "127.0.0.1:4100";
  h.pid = 100;
  h.uptime_ms = 5000;
  h.rss_bytes = 123456;
  h.cpu_time_ms = 10;
  h.procs_by_status = {{"running", 1}, {"failed", 1}};
  h.config = {{"call_timeout", "30s", "30s", "default", "MESH_CALL_TIMEOUT"}};
  h.procs = {sample_proc(0), sample_proc(1)};
  s.hosts.push_back(h);
  host_snapshot lost;
  lost.error = "host unreachable: 127.0.0.1:4101";
  s.hosts.push_back(lost);
  return s;
}

void check_same(const proc_snapshot& a, const proc_snapshot& b) {
  CHECK(a.rank == b.rank);
  CHECK(a.name == b.name);
  CHECK(a.proc_mesh == b.proc_mesh);
  CHECK(a.host_mesh == b.host_mesh);
  CHECK(a.host == b.host);
  CHECK(a.address == b.address);
  CHECK(a.pid == b.pid);
  CHECK(a.status == b.status);
  CHECK(a.reason == b.reason);
  CHECK(a.exit_code == b.exit_code);
  CHECK(a.signal == b.signal);
  CHECK(a.uptime_ms == b.uptime_ms);
  CHECK(a.rss_bytes == b.rss_bytes);
  CHECK(a.cpu_time_ms == b.cpu_time_ms);
  CHECK(a.cpu_percent == b.cpu_percent);
  CHECK(a.threads == b.threads);
  CHECK(a.open_fds == b.open_fds);
  CHECK(a.responsive == b.responsive);
  CHECK(a.restarts == b.restarts);
  REQUIRE(a.actors.size() == b.actors.size());
  for (size_t i = 0; i < a.actors.size(); ++i) {
    CHECK(a.actors[i].name == b.actors[i].name);
    CHECK(a.actors[i].actor_mesh == b.actors[i].actor_mesh);
    CHECK(a.actors[i].type == b.actors[i].type);
    CHECK(a.actors[i].status == b.actors[i].status);
    CHECK(a.actors[i].mailbox_depth == b.actors[i].mailbox_depth);
    CHECK(a.actors[i].mesh_messages == b.actors[i].mesh_messages);
    CHECK(a.actors[i].last_failure == b.actors[i].last_failure);
  }
  CHECK(a.stderr_tail == b.stderr_tail);
}

std::string error_of(const caf::error& err) {
  return mesh::to_string(err);
}

} // namespace

TEST_CASE("a proc snapshot survives JSON") {
  auto p = sample_proc(1);
  auto text = to_json(p);
  auto back = proc_snapshot_from_json(text);
  REQUIRE_MESSAGE(back, error_of(back.error()));
  check_same(p, *back);
  // Canonical: rendering the parsed value gives the same text.
  CHECK(to_json(*back) == text);
  // Status by name, absent optionals as null.
  CHECK(text.find("\"status\":\"failed\"") != std::string::npos);
  CHECK(text.find("\"exit_code\":null") != std::string::npos);
  CHECK(text.find("\"signal\":9") != std::string::npos);
}

TEST_CASE("a mesh snapshot survives JSON") {
  auto s = sample_mesh();
  auto text = to_json(s);
  auto back = mesh_snapshot_from_json(text);
  REQUIRE_MESSAGE(back, error_of(back.error()));
  CHECK(back->id == s.id);
  CHECK(back->owner_pid == s.owner_pid);
  CHECK(back->taken_at_ms == s.taken_at_ms);
  REQUIRE(back->hosts.size() == 2);
  auto& h = back->hosts[0];
  CHECK(h.address == s.hosts[0].address);
  CHECK(h.pid == 100);
  CHECK(h.uptime_ms == 5000);
  CHECK(h.rss_bytes == 123456);
  CHECK(h.cpu_time_ms == 10);
  CHECK(h.procs_by_status == s.hosts[0].procs_by_status);
  REQUIRE(h.config.size() == 1);
  CHECK(h.config[0].key == "call_timeout");
  CHECK(h.config[0].default_value == "30s");
  CHECK(h.config[0].env == "MESH_CALL_TIMEOUT");
  REQUIRE(h.procs.size() == 2);
  check_same(h.procs[0], s.hosts[0].procs[0]);
  check_same(h.procs[1], s.hosts[0].procs[1]);
  CHECK(back->hosts[1].error == s.hosts[1].error);
  CHECK(to_json(*back) == text);
  // An empty snapshot too.
  auto empty = mesh_snapshot_from_json(to_json(mesh_snapshot{}));
  REQUIRE(empty);
  CHECK(empty->hosts.empty());
}

TEST_CASE("invalid UTF-8 and a non-finite cpu_percent still render") {
  auto p = sample_proc(0);
  p.stderr_tail = {"bad \xff\xfe bytes"};
  p.cpu_percent = std::numeric_limits<double>::quiet_NaN();
  auto back = proc_snapshot_from_json(to_json(p));
  REQUIRE_MESSAGE(back, error_of(back.error()));
  CHECK(back->cpu_percent == -1);
  REQUIRE(back->stderr_tail.size() == 1);
  CHECK(back->stderr_tail[0].rfind("bad ", 0) == 0);
}

TEST_CASE("malformed JSON is refused with the field named") {
  auto good = to_json(sample_mesh());
  auto replace = [&](std::string from, std::string to) {
    auto text = good;
    auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    text.replace(at, from.size(), to);
    return text;
  };
  struct bad_case {
    std::string text;
    std::string says;
  };
  std::vector<bad_case> cases = {
    {"", "not JSON"},
    {"garbage", "not JSON"},
    {"{\"id\":", "not JSON"},
    {good + "x", "not JSON"},
    {"[]", "(top level): expected an object"},
    {"42", "(top level): expected an object"},
    {"{}", "id: missing"},
    {replace("\"id\":\"hosts-JPwcyDCgEuq\"", "\"id\":7"), "id: expected a string"},
    {replace("\"owner_pid\":99", "\"owner_pid\":\"99\""),
     "owner_pid: expected an integer"},
    {replace("\"owner_pid\":99", "\"owner_pid\":9.5"),
     "owner_pid: expected an integer"},
    {replace("\"owner_pid\":99", "\"owner_pid\":9223372036854775808"),
     "owner_pid: out of range"},
    {replace("\"hosts\":[", "\"hosts\":{\"a\":["), "not JSON"},
    {replace("\"pid\":4243", "\"pid\":null"),
     "hosts[0].procs[1].pid: expected an integer"},
    {replace("\"status\":\"failed\",\"reason\"", "\"status\":\"dead\",\"reason\""),
     "hosts[0].procs[1].status: unknown status 'dead'"},
    {replace("\"rank\":1", "\"rank\":-1"), "hosts[0].procs[1].rank: out of range"},
    {replace("\"signal\":9", "\"signal\":4294967296"),
     "hosts[0].procs[1].signal: out of range"},
    {replace("\"restarts\":2", "\"restarts\":4294967296"),
     "hosts[0].procs[0].restarts: out of range"},
    {replace("\"responsive\":true", "\"responsive\":1"),
     "hosts[0].procs[0].responsive: expected true or false"},
    {replace("\"cpu_percent\":12.5", "\"cpu_percent\":\"12\""),
     "hosts[0].procs[0].cpu_percent: expected a number"},
    {replace("\"stderr_tail\":[\"line one\"", "\"stderr_tail\":[1"),
     "hosts[0].procs[0].stderr_tail[0]: expected a string"},
    {replace("\"mailbox_depth\":3", "\"mailbox_depth\":[]"),
     "hosts[0].procs[0].actors[0].mailbox_depth: expected an integer"},
    {replace("\"mesh_messages\":18446744073709551615", "\"mesh_messages\":-2"),
     "hosts[0].procs[0].actors[0].mesh_messages: out of range"},
    {replace("\"running\":1", "\"running\":\"1\""),
     "hosts[0].procs_by_status.running: expected an integer"},
    {replace("\"config\":[", "\"config\":["
                             "{\"key\":\"x\",\"value\":\"1\",\"layer\":\"env\","
                             "\"env\":\"MESH_X\"},"),
     "hosts[0].config[0].default: missing"},
    {replace("\"procs\":[", "\"procs\":[3,"), "hosts[0].procs[0]: expected an object"},
    {replace("\"error\":\"\"", "\"error\":false"), "hosts[0].error: expected a string"},
  };
  for (auto& c : cases) {
    CAPTURE(c.text);
    auto r = mesh_snapshot_from_json(c.text);
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), ec::parse_error));
    auto msg = error_of(r.error());
    CHECK_MESSAGE(msg.find(c.says) != std::string::npos, msg);
  }
  // A proc on its own: the path starts at the proc.
  auto proc = to_json(sample_proc(0));
  auto at = proc.find("\"threads\":4");
  REQUIRE(at != std::string::npos);
  proc.erase(at, std::string{"\"threads\":4,"}.size());
  auto r = proc_snapshot_from_json(proc);
  REQUIRE_FALSE(r);
  CHECK(error_of(r.error()).find("threads: missing") != std::string::npos);
}

TEST_CASE("deep nesting is refused before parsing") {
  std::string deep(100000, '[');
  auto r = mesh_snapshot_from_json(deep);
  REQUIRE_FALSE(r);
  CHECK(error_of(r.error()).find("nested deeper than") != std::string::npos);
  // Brackets inside strings do not count.
  auto p = sample_proc(0);
  p.stderr_tail = {std::string(1000, '[')};
  auto back = proc_snapshot_from_json(to_json(p));
  REQUIRE_MESSAGE(back, error_of(back.error()));
  CHECK(back->stderr_tail == p.stderr_tail);
  // An unknown field is ignored (a newer owner may add some).
  auto text = to_json(p);
  text.insert(1, "\"future\":{\"x\":[1,2]},");
  CHECK(proc_snapshot_from_json(text));
}
