// What meshctl ls / status / top show (tools/mesh_view.hpp), rendered from
// constructed snapshots: no process, no terminal, no clock.
#include "support/process.hpp"
#include "tools/mesh_view.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

using namespace meshctl;

namespace {

mesh::actor_snapshot actor(const std::string& name, const std::string& status,
                           int64_t mailbox, uint64_t messages,
                           const std::string& failure = {}) {
  mesh::actor_snapshot a;
  a.name = name;
  a.actor_mesh = name + "-11111abc";
  a.type = "echo";
  a.status = status;
  a.mailbox_depth = mailbox;
  a.mesh_messages = messages;
  a.last_failure = failure;
  return a;
}

mesh::proc_snapshot proc(const std::string& mesh_id, uint64_t rank,
                         int64_t pid, mesh::proc_status status, double cpu,
                         int64_t rss) {
  mesh::proc_snapshot p;
  p.rank = rank;
  p.name = mesh_id + "_" + std::to_string(rank);
  p.proc_mesh = mesh_id;
  p.host_mesh = "local-2222abcd";
  p.host = "127.0.0.1:40000";
  p.pid = pid;
  p.status = status;
  p.uptime_ms = 192'000;
  p.rss_bytes = rss;
  p.cpu_percent = cpu;
  p.cpu_time_ms = 1500;
  p.threads = 5;
  p.open_fds = 12;
  p.responsive = status == mesh::proc_status::running;
  return p;
}

/// One host with 4 workers (rank 2 killed by SIGKILL) and 2 servers.
mesh::mesh_snapshot demo() {
  mesh::mesh_snapshot s;
  s.id = "local-2222abcd";
  s.owner_pid = 4242;
  s.taken_at_ms = 1'000'000;
  mesh::host_snapshot h;
  h.address = "127.0.0.1:40000";
  h.pid = 4300;
  h.uptime_ms = 200'000;
  h.rss_bytes = 20 * 1024 * 1024;
  h.cpu_time_ms = 2500;
  h.procs_by_status = {{"running", 5}, {"failed", 1}, {"stopped", 0}};
  double cpus[] = {1.5, 30.0, 0, 7.25};
  int64_t rss[] = {10 << 20, 11 << 20, 50 << 20, 9 << 20};
  for (uint64_t r = 0; r < 4; ++r) {
    auto st = r == 2 ? mesh::proc_status::failed : mesh::proc_status::running;
    auto p = proc("workers-3333abcd", r, 5000 + r, st, cpus[r], rss[r]);
    p.actors.push_back(actor("echoes", r == 2 ? "stopped" : "running", 1, 10));
    if (r == 2) {
      p.reason = "killed by signal 9";
      p.signal = 9;
      p.rss_bytes = -1;
      p.cpu_percent = -1;
      p.stderr_tail = {"last words"};
    }
    h.procs.push_back(p);
  }
  for (uint64_t r = 0; r < 2; ++r) {
    auto p = proc("servers-4444abcd", r, 6000 + r, mesh::proc_status::running,
                  3.0, 8 << 20);
    p.actors.push_back(actor("frontends", "running", -1, 3));
    h.procs.push_back(p);
  }
  s.hosts.push_back(h);
  return s;
}

using mesh::test::lines_of;

using mesh::test::contains;

/// The line of `lines` that contains every needle; "" if none does.
std::string line_with(const std::vector<std::string>& lines,
                      std::initializer_list<std::string> needles) {
  for (auto& l : lines)
    if (std::all_of(needles.begin(), needles.end(),
                    [&](auto& n) { return contains(l, n); }))
      return l;
  return {};
}

/// Index of the first line containing `needle`; -1 if none.
int index_of(const std::vector<std::string>& lines, const std::string& needle) {
  for (size_t i = 0; i < lines.size(); ++i)
    if (contains(lines[i], needle))
      return static_cast<int>(i);
  return -1;
}

/// Whitespace-separated words of a line.
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in{line};
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

} // namespace

TEST_SUITE("meshctl_view") {

  TEST_CASE("figures: sizes, ages and percentages, '-' when unknown") {
    CHECK(format_bytes(-1) == "-");
    CHECK(format_bytes(0) == "0B");
    CHECK(format_bytes(1023) == "1023B");
    CHECK(format_bytes(1536) == "1.5K");
    CHECK(format_bytes(10 << 20) == "10.0M");
    CHECK(format_bytes(int64_t{3} << 30) == "3.0G");
    CHECK(format_age(-5) == "-");
    CHECK(format_age(850) == "850ms");
    CHECK(format_age(42'000) == "42s");
    CHECK(format_age(192'000) == "3m12s");
    CHECK(format_age(7'500'000) == "2h05m");
    CHECK(format_age(3 * 86'400'000 + 4 * 3'600'000) == "3d04h");
    CHECK(format_percent(-1) == "-");
    CHECK(format_percent(7.25) == "7.2");
    CHECK(format_percent(0) == "0.0");
  }

  TEST_CASE("a running proc whose agent did not answer shows as no-answer") {
    auto p = proc("m-1", 0, 1, mesh::proc_status::running, 0, 0);
    CHECK(shown_status(p) == "running");
    p.responsive = false;
    CHECK(shown_status(p) == "no-answer");
    CHECK_FALSE(is_failed_row(p));
    p.status = mesh::proc_status::failed;
    CHECK(shown_status(p) == "failed");
    CHECK(is_failed_row(p));
    p.status = mesh::proc_status::unknown;
    CHECK(is_failed_row(p));
    p.status = mesh::proc_status::stopped;
    CHECK_FALSE(is_failed_row(p));
  }

  TEST_CASE("ls: one row per mesh, '?' procs when the endpoint did not "
            "answer") {
    ls_entry answered{{}, demo()};
    answered.mesh.id = "local-2222abcd";
    answered.mesh.owner_pid = 4242;
    answered.mesh.hosts = 1;
    answered.mesh.started_at_ms = 1'000'000;
    answered.mesh.command_line = "meshctl up config/local.yaml";
    ls_entry silent{{}, std::nullopt};
    silent.mesh.id = "process-5555abcd";
    silent.mesh.owner_pid = 77;
    silent.mesh.hosts = 2;
    silent.mesh.started_at_ms = 1'000'000 - 3'600'000;
    auto lines = lines_of(render_ls({answered, silent}, 1'042'000));
    REQUIRE(lines.size() == 3);
    CHECK(words(lines[0]) == std::vector<std::string>{
                               "ID", "OWNER", "PID", "HOSTS", "PROCS", "AGE",
                               "COMMAND"});
    CHECK(words(lines[1]) == std::vector<std::string>{
                               "local-2222abcd", "4242", "1", "6", "42s",
                               "meshctl", "up", "config/local.yaml"});
    CHECK(words(lines[2]) == std::vector<std::string>{
                               "process-5555abcd", "77", "2", "?", "1h00m"});
    // Columns line up: the PROCS column ends at the same place.
    CHECK(lines[0].find("PROCS") + 4 == lines[2].find('?'));
  }

  TEST_CASE("status: the mesh line, hosts, then procs with status, pid, CPU, "
            "RSS and actors, then actor meshes and failures with their "
            "cause") {
    auto text = render_status(demo());
    auto lines = lines_of(text);
    CAPTURE(text);
    CHECK(lines[0] == "mesh local-2222abcd (owner pid 4242): 1 host, 6 procs: "
                      "5 running, 1 failed");
    // Hosts come before procs, procs before actor meshes and failures.
    int hosts = index_of(lines, "HOST ");
    int procs = index_of(lines, "PROC MESH");
    int actors = index_of(lines, "ACTOR MESH");
    int failures = index_of(lines, "FAILURES");
    CHECK(0 < hosts);
    CHECK(hosts < procs);
    CHECK(procs < actors);
    CHECK(actors < failures);
    CHECK(words(lines[hosts + 1]) == std::vector<std::string>{
                                       "127.0.0.1:40000", "4300", "3m20s",
                                       "20.0M", "2s", "5", "running,", "1",
                                       "failed"});
    CHECK(words(lines[procs]) == std::vector<std::string>{
                                   "PROC", "MESH", "RANK", "HOST", "PID",
                                   "STATUS", "UPTIME", "CPU%", "RSS", "THR",
                                   "FDS", "ACTORS"});
    CHECK(words(line_with(lines, {"workers-3333abcd", "5001"}))
          == std::vector<std::string>{"workers-3333abcd", "1",
                                      "127.0.0.1:40000", "5001", "running",
                                      "3m12s", "30.0", "11.0M", "5", "12",
                                      "1"});
    CHECK(words(line_with(lines, {"workers-3333abcd", "5002"}))
          == std::vector<std::string>{"workers-3333abcd", "2",
                                      "127.0.0.1:40000", "5002", "failed",
                                      "3m12s", "-", "-", "5", "12", "1"});
    // Every proc has its row.
    for (int64_t pid : {5000, 5001, 5002, 5003, 6000, 6001})
      CHECK(!line_with(lines, {" " + std::to_string(pid) + " "}).empty());
    CHECK(words(line_with(lines, {"echoes", "workers-3333abcd"}))
          == std::vector<std::string>{"echoes", "echo", "workers-3333abcd",
                                      "4", "3", "1", "4", "40"});
    // Unknown mailbox depths stay unknown rather than summing to 0.
    CHECK(words(line_with(lines, {"frontends"}))
          == std::vector<std::string>{"frontends", "echo", "servers-4444abcd",
                                      "2", "2", "0", "-", "6"});
    CHECK(lines[failures + 1]
          == "workers-3333abcd rank 2 (pid 5002): failed: killed by signal 9");
    CHECK(lines[failures + 2] == "  stderr: last words");
    // Plain text for pipes.
    CHECK_FALSE(contains(text, "\x1b"));
  }

  TEST_CASE("status: an unanswering host, an unresponsive proc and a failed "
            "actor are listed under FAILURES") {
    auto s = demo();
    s.hosts[0].procs[0].responsive = false;
    s.hosts[0].procs[1].actors[0] =
      actor("echoes", "failed", -1, 2, "exit_reason: user_shutdown");
    mesh::host_snapshot dead;
    dead.address = "10.0.0.2:7000";
    dead.error = "no answer within 2s";
    s.hosts.push_back(dead);
    auto lines = lines_of(render_status(s));
    int failures = index_of(lines, "FAILURES");
    REQUIRE(failures > 0);
    std::vector<std::string> tail(lines.begin() + failures + 1, lines.end());
    CHECK(!line_with(tail, {"host 10.0.0.2:7000: no answer within 2s"})
             .empty());
    CHECK(!line_with(tail, {"workers-3333abcd rank 0 (pid 5000): no-answer: "
                            "its proc agent did not answer in time"})
             .empty());
    CHECK(!line_with(tail, {"workers-3333abcd rank 1 actor echoes (echo): "
                            "failed: exit_reason: user_shutdown"})
             .empty());
    CHECK(words(line_with(lines, {"10.0.0.2:7000", "no answer"}))
          == std::vector<std::string>{"10.0.0.2:7000", "-", "-", "-", "-",
                                      "no", "answer"});
    CHECK(lines[0] == "mesh local-2222abcd (owner pid 4242): 2 hosts, 6 procs: "
                      "4 running, 1 no-answer, 1 failed");
  }

  TEST_CASE("sorted_procs: by CPU, by RSS, by status (failures first), ties "
            "by proc mesh and rank") {
    auto s = demo();
    auto pids = [&](sort_key k) {
      std::vector<int64_t> out;
      for (auto* p : sorted_procs(s, k))
        out.push_back(p->pid);
      return out;
    };
    CHECK(pids(sort_key::cpu)
          == std::vector<int64_t>{5001, 5003, 6000, 6001, 5000, 5002});
    CHECK(pids(sort_key::rss)
          == std::vector<int64_t>{5001, 5000, 5003, 6000, 6001, 5002});
    s.hosts[0].procs[4].status = mesh::proc_status::stopping;
    CHECK(pids(sort_key::status)
          == std::vector<int64_t>{5002, 6000, 6001, 5000, 5001, 5003});
  }

  TEST_CASE("actor_meshes: one row per actor mesh of each proc mesh") {
    auto rows = actor_meshes(demo());
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].name == "frontends");
    CHECK(rows[0].proc_mesh == "servers-4444abcd");
    CHECK(rows[0].members == 2);
    CHECK(rows[0].mailbox == -1);
    CHECK(rows[1].name == "echoes");
    CHECK(rows[1].members == 4);
    CHECK(rows[1].running == 3);
    CHECK(rows[1].failed == 1);
    CHECK(rows[1].mailbox == 4);
    CHECK(rows[1].messages == 40);
    CHECK(rows[1].last_failure == "killed by signal 9");
  }

  TEST_CASE("top: exactly height lines of at most width columns, the keys "
            "line last") {
    for (size_t height : {24, 12, 8, 4, 2, 1}) {
      for (size_t width : {120, 80, 40, 10}) {
        CAPTURE(height);
        CAPTURE(width);
        top_view v;
        v.width = width;
        v.height = height;
        auto lines = render_top(demo(), v);
        REQUIRE(lines.size() == height);
        for (auto& l : lines)
          CHECK(strip_ansi(l).size() <= width);
        CHECK(strip_ansi(lines.back())
              == std::string{"q quit  c sort by CPU  r sort by RSS  s sort by "
                             "status  up/down select"}
                   .substr(0, width));
      }
    }
    top_view v;
    v.height = 0;
    CHECK(render_top(demo(), v).empty());
  }

  TEST_CASE("top: the mesh line, the host, every proc sorted, a line per "
            "actor mesh") {
    top_view v;
    v.width = 160;
    v.height = 30;
    v.color = false;
    v.sort = sort_key::rss;
    auto lines = render_top(demo(), v);
    CHECK(lines[0]
          == "meshctl top - mesh local-2222abcd (owner pid 4242): 1 host, 6 "
             "procs: 5 running, 1 failed  [sort: rss, every 1s]");
    CHECK(contains(lines[1], "host 127.0.0.1:40000  pid 4300  up 3m20s"));
    int header = index_of(lines, "PROC MESH");
    REQUIRE(header > 0);
    CHECK(words(lines[header]) == std::vector<std::string>{
                                    "PROC", "MESH", "RANK", "PID", "STATUS",
                                    "CPU%", "RSS", "THR", "FDS", "ACTORS",
                                    "UPTIME", "CAUSE"});
    std::vector<std::string> pids;
    for (int i = header + 1; i < header + 7; ++i)
      pids.push_back(words(lines[i]).at(2));
    CHECK(pids == std::vector<std::string>{"5001", "5000", "5003", "6000",
                                           "6001", "5002"});
    CHECK(words(lines[header + 6])
          == std::vector<std::string>{"workers-3333abcd", "2", "5002",
                                      "failed", "-", "-", "5", "12", "1",
                                      "3m12s", "killed", "by", "signal", "9"});
    int actors = index_of(lines, "ACTOR MESH");
    REQUIRE(actors > header);
    CHECK(contains(lines[actors + 1], "frontends"));
    CHECK(contains(lines[actors + 2], "echoes"));
    CHECK(lines[actors + 3].empty());
    // No ANSI without colour.
    for (auto& l : lines)
      CHECK_FALSE(contains(l, "\x1b"));
  }

  TEST_CASE("top: failed rows are bold red, the selected row reversed and "
            "padded to the width") {
    top_view v;
    v.width = 100;
    v.height = 20;
    v.sort = sort_key::status; // the failed proc first
    v.selected = 1;
    auto lines = render_top(demo(), v);
    int header = index_of(lines, "PROC MESH");
    REQUIRE(header > 0);
    auto& failed = lines[header + 1];
    CHECK(contains(failed, "5002"));
    CHECK(failed.rfind(sgr_failed, 0) == 0);
    CHECK(contains(failed, sgr_reset));
    auto& selected = lines[header + 2];
    CHECK(selected.rfind(sgr_selected, 0) == 0);
    CHECK(strip_ansi(selected).size() == 100);
    // Other rows carry no attribute.
    CHECK(lines[header + 3].find('\x1b') == std::string::npos);
    // The actor mesh with a failed member is marked too.
    auto echoes = line_with(lines, {"echoes", "workers-3333abcd"});
    CHECK(echoes.rfind(sgr_failed, 0) == 0);
    // Selecting the failed row keeps it red, reversed.
    v.selected = 0;
    lines = render_top(demo(), v);
    CHECK(lines[header + 1].rfind("\x1b[1;31;7m", 0) == 0);
    // The selection is clamped to the last row.
    v.selected = 99;
    lines = render_top(demo(), v);
    CHECK(lines[header + 6].rfind(sgr_selected, 0) == 0);
  }

  TEST_CASE("top: when the procs do not fit, the window follows the "
            "selection and the keys line stays last") {
    top_view v;
    v.width = 120;
    v.height = 8; // title, host, blank, header: 3 rows for 6 procs
    v.color = false;
    v.sort = sort_key::rss;
    auto lines = render_top(demo(), v);
    REQUIRE(lines.size() == 8);
    int header = index_of(lines, "PROC MESH");
    REQUIRE(header == 3);
    CHECK(contains(lines[4], "5001"));
    CHECK(contains(lines[6], "5003"));
    CHECK(index_of(lines, "ACTOR MESH") == -1);
    CHECK(contains(lines[7], "q quit"));
    v.selected = 5; // the last row, 5002
    lines = render_top(demo(), v);
    CHECK(contains(lines[4], "6000"));
    CHECK(contains(lines[6], "5002"));
  }

  TEST_CASE("top: a failed refresh is shown under the title") {
    top_view v;
    v.width = 120;
    v.height = 20;
    v.color = false;
    v.now_ms = 1'004'000;
    v.error = "connection refused";
    auto lines = render_top(demo(), v);
    CHECK(lines[1] == "refresh failed (4s ago): connection refused");
  }

  TEST_CASE("strip_ansi removes SGR sequences only") {
    CHECK(strip_ansi("\x1b[1;31mred\x1b[0m plain") == "red plain");
    CHECK(strip_ansi("no escapes") == "no escapes");
    CHECK(strip_ansi("cut \x1b[") == "cut ");
  }
}

// --- the admin client's pure parts (tools/admin_client.hpp) -----------------

#include "tools/admin_client.hpp"

TEST_SUITE("meshctl_view") {

  TEST_CASE("split_address: host:port and [v6]:port, nothing else") {
    std::string host;
    int port = 0;
    CHECK(split_address("127.0.0.1:4567", host, port));
    CHECK(host == "127.0.0.1");
    CHECK(port == 4567);
    CHECK(split_address("[::1]:80", host, port));
    CHECK(host == "::1");
    CHECK(port == 80);
    for (auto bad : {"", "127.0.0.1", "127.0.0.1:", ":80", "h:0", "h:65536",
                     "h:12x", "h:-1", "h:123456"}) {
      CAPTURE(bad);
      CHECK_FALSE(split_address(bad, host, port));
    }
  }

  TEST_CASE("parse_log_page reads the logs endpoint's answer") {
    auto page = parse_log_page(
      R"({"next": 7, "lines": [{"seq": 5, "stream": "stderr", "line": "a"},
          {"seq": 6, "stream": "stdout", "line": "b \"q\""}]})");
    CHECK(page.next == 7);
    REQUIRE(page.lines.size() == 2);
    CHECK(page.lines[0].seq == 5);
    CHECK(page.lines[0].stream == "stderr");
    CHECK(page.lines[0].line == "a");
    CHECK(page.lines[1].line == "b \"q\"");
    CHECK(parse_log_page(R"({"next": 0, "lines": []})").lines.empty());
  }

  TEST_CASE("parse_log_page names what is missing or malformed") {
    auto error_of = [](const std::string& json) -> std::string {
      try {
        parse_log_page(json);
      } catch (const command_error& e) {
        return e.what();
      }
      return "(no error)";
    };
    CHECK(error_of("") == "the answer is not JSON");
    CHECK(error_of("{\"next\": 1, ") == "the answer is not JSON");
    CHECK(error_of("[1, 2]") == "the answer is not a JSON object");
    CHECK(error_of(R"({"lines": []})") == "the answer has no \"next\"");
    CHECK(error_of(R"({"next": -1, "lines": []})")
          == "\"next\" is not a non-negative integer");
    CHECK(error_of(R"({"next": "3", "lines": []})")
          == "\"next\" is not a non-negative integer");
    CHECK(error_of(R"({"next": 3})") == "the answer has no \"lines\"");
    CHECK(error_of(R"({"next": 3, "lines": {}})")
          == "\"lines\" is not an array");
    CHECK(error_of(R"({"next": 3, "lines": [7]})")
          == "lines[0] is not an object");
    CHECK(error_of(R"({"next": 3, "lines": [{"stream": "stdout", "line": ""}]})")
          == "lines[0] has no \"seq\"");
    CHECK(error_of(
            R"({"next": 3, "lines": [{"seq": 1, "stream": "tty", "line": ""}]})")
          == "lines[0].stream is \"tty\", not stdout or stderr");
    CHECK(error_of(R"({"next": 3, "lines": [{"seq": 1, "stream": "stderr"}]})")
          == "lines[0] has no \"line\"");
    CHECK(error_of(
            R"({"next": 3, "lines": [{"seq": 1, "stream": "stderr", "line": 4}]})")
          == "lines[0].line is not a string");
    // Deep nesting is refused as a wrong type, without a crash.
    CHECK(error_of("{\"next\": 1, \"lines\": " + std::string(500, '[')
                   + std::string(500, ']') + "}")
          == "lines[0] is not an object");
  }
}
