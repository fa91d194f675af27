// The owner's side of seeing a running mesh (issue 15, docs/admin-api.md)
// with real meshes and real child procs: the registry entry of local() and
// process() meshes (and of an owner killed by SIGKILL), the admin endpoint's
// authentication, endpoints, status codes, logs and metrics, hostile
// requests, and another user's view of the runtime directory.
#include "bootstrap/registry.hpp"
#include "mesh/introspect.hpp"
#include "mesh/mesh.hpp"
#include "support/actor_fixture.hpp"
#include "support/process.hpp"
#include "support/runtime_dir.hpp"
#include "support/test_actors.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using namespace mesh;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using mesh::test::child_command;

using mesh::test::alive;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

using runtime_dir_scope = test::scoped_runtime_dir;

struct admin_fixture : test::actor_fixture {
  runtime_dir_scope rt;
};

/// A client of the entry's endpoint.
struct admin_client {
  running_mesh entry;
  httplib::Client http;
  explicit admin_client(const running_mesh& e)
    : entry(e), http("http://" + e.admin_address) {
    http.set_connection_timeout(5, 0);
    http.set_read_timeout(30, 0);
  }
  httplib::Result get(const std::string& path,
                      std::optional<std::string> token = std::nullopt) {
    httplib::Headers h;
    h.emplace("Authorization", "Bearer " + token.value_or(entry.token));
    return http.Get(path.c_str(), h);
  }
};

running_mesh entry_of(const host_mesh& hosts) {
  auto e = find_running_mesh(hosts.id().to_string());
  REQUIRE_MESSAGE(e, mesh::to_string(e.error()));
  return *e;
}

/// The current proc of `rank`: not terminated, else the newest (a
/// restarted rank has its ended proc in the tree too).
const proc_snapshot* proc_in(const mesh_snapshot& s, uint64_t rank) {
  const proc_snapshot* found = nullptr;
  for (auto& h : s.hosts)
    for (auto& p : h.procs)
      if (p.rank == rank && (!found || is_terminated(found->status)))
        found = &p;
  return found;
}

/// Asks `f` until it says yes or about 20 s passed (a bounded wait for what
/// happens asynchronously, not a timed assertion).
bool eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 200; ++i) {
    if (f())
      return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

/// Sends raw bytes to host:port and returns what comes back (until the
/// server closes or 5 s pass).
std::string raw_exchange(const std::string& address, const std::string& bytes) {
  auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0)
      break; // the server may close early on a huge request
    done += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

/// The status code of a raw HTTP answer, 0 if there is none.
int status_of(const std::string& answer) {
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12)
    return 0;
  return std::stoi(answer.substr(9, 3));
}

} // namespace

TEST_CASE_FIXTURE(admin_fixture,
                  "a local mesh registers, serves its tree behind its token, "
                  "and leaves at shutdown") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto e = entry_of(*hosts);
  CHECK(mode_of(rt.dir) == 0700);
  CHECK(mode_of(e.path) == 0600);
  CHECK(e.path == rt.dir + "/" + hosts->id().to_string() + ".json");
  CHECK(e.owner_pid == ::getpid());
  CHECK(e.hosts == 1);
  CHECK(e.token.size() == 32);
  CHECK(e.command_line.find("mesh_tests") != std::string::npos);
  REQUIRE(e.admin_address.rfind("127.0.0.1:", 0) == 0);
  CHECK(e.admin_address != "127.0.0.1:0");

  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
  // 3 calls and 2 casts to every member.
  for (int i = 0; i < 3; ++i)
    REQUIRE(echoes->call<int32_t>(int32_t{i}));
  echoes->cast(int32_t{7});
  echoes->cast(int32_t{8});

  admin_client client{e};
  SUBCASE("no token, a wrong one, another scheme: 401 with WWW-Authenticate") {
    auto none = client.http.Get("/v1/mesh");
    REQUIRE(none);
    CHECK(none->status == 401);
    CHECK(none->get_header_value("WWW-Authenticate").rfind("Bearer", 0) == 0);
    auto wrong = client.get("/v1/mesh", std::string(32, '0'));
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
    auto shorter = client.get("/v1/mesh", e.token.substr(1));
    REQUIRE(shorter);
    CHECK(shorter->status == 401);
    httplib::Headers basic{{"Authorization", "Basic " + e.token}};
    auto other = client.http.Get("/v1/mesh", basic);
    REQUIRE(other);
    CHECK(other->status == 401);
    // Unauthenticated requests learn nothing, not even what exists.
    auto metrics = client.http.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 401);
  }
  SUBCASE("/v1/mesh: live pids, the owner's counts, a killed proc fails") {
    auto res = client.get("/v1/mesh");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    auto snap = mesh_snapshot_from_json(res->body);
    REQUIRE_MESSAGE(snap, mesh::to_string(snap.error()));
    CHECK(snap->id == hosts->id().to_string());
    CHECK(snap->owner_pid == ::getpid());
    REQUIRE(snap->hosts.size() == 1);
    REQUIRE(snap->hosts[0].procs.size() == 2);
    for (auto& p : snap->hosts[0].procs) {
      CHECK(p.status == proc_status::running);
      CHECK(alive(p.pid));
      CHECK(p.pid != ::getpid());
      CHECK(p.restarts == 0);
      REQUIRE(p.actors.size() == 1);
      CHECK(p.actors[0].mesh_messages == 5);
    }
    auto victim = proc_in(*snap, 0)->pid;
    REQUIRE(::kill(static_cast<pid_t>(victim), SIGKILL) == 0);
    CHECK(eventually([&] {
      auto again = client.get("/v1/mesh");
      if (!again || again->status != 200)
        return false;
      auto s = mesh_snapshot_from_json(again->body);
      return s && proc_in(*s, 0) && proc_in(*s, 0)->status == proc_status::failed
             && proc_in(*s, 1)->status == proc_status::running;
    }));
    auto bad = client.get("/v1/mesh?deadline_ms=0");
    REQUIRE(bad);
    CHECK(bad->status == 400);
  }
  SUBCASE("/v1/procs/{rank}: 200, 400 for a bad rank, 404 for none") {
    auto res = client.get("/v1/procs/1");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    auto p = proc_snapshot_from_json(res->body);
    REQUIRE_MESSAGE(p, mesh::to_string(p.error()));
    CHECK(p->rank == 1);
    CHECK(p->proc_mesh == pm->id().to_string());
    CHECK(alive(p->pid));
    auto by_name = client.get("/v1/procs/0?proc_mesh=workers");
    REQUIRE(by_name);
    CHECK(by_name->status == 200);
    for (auto path : {"/v1/procs/abc", "/v1/procs/-1", "/v1/procs/1x",
                      "/v1/procs/99999999999999999999"}) {
      auto r = client.get(path);
      REQUIRE(r);
      CHECK_MESSAGE(r->status == 400, path);
      CHECK(json::parse(r->body).contains("error"));
    }
    for (auto path : {"/v1/procs/2", "/v1/procs/0?proc_mesh=nope",
                      "/v1/nothing", "/", "/v1/procs/0/other",
                      "/v1/procs/7/logs"}) {
      auto r = client.get(path);
      REQUIRE(r);
      CHECK_MESSAGE(r->status == 404, path);
      CHECK(json::parse(r->body).contains("error"));
    }
    auto post = client.http.Post("/v1/mesh",
                                 httplib::Headers{{"Authorization",
                                                   "Bearer " + e.token}},
                                 "{}", "application/json");
    REQUIRE(post);
    CHECK(post->status == 405);
    CHECK(post->get_header_value("Allow") == "GET");
    auto del = client.http.Delete(
      "/v1/mesh", httplib::Headers{{"Authorization", "Bearer " + e.token}});
    REQUIRE(del);
    CHECK(del->status == 405);
  }
  SUBCASE("/metrics is what prometheus_client's parser reads") {
    auto res = client.get("/metrics");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    CHECK(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0)
          == 0);
    static const char* script = R"(
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print(s.name, labels, repr(float(s.value)))
)";
    auto parsed = test::run({"/usr/bin/python3", "-c", script}, 30s, {},
                            res->body);
    REQUIRE_MESSAGE(parsed.exit_code == 0, parsed.err);
    auto has = [&](const std::string& line) {
      CHECK_MESSAGE(parsed.out.find(line) != std::string::npos,
                    line << "\nin:\n" << parsed.out);
    };
    has("mesh_procs status=running 2.0\n");
    has("mesh_procs status=failed 0.0\n");
    auto pid_labels = "proc=" + proc_name(pm->id(), 0)
                      + ",proc_mesh=" + pm->id().to_string() + ",rank=0";
    has("mesh_proc_resident_memory_bytes " + pid_labels + " ");
    has("mesh_proc_cpu_percent " + pid_labels + " ");
    has("mesh_actor_messages_sent_total actor=echoes,actor_mesh="
        + echoes->id().to_string() + "," + pid_labels + " 5.0\n");
    has("mesh_call_duration_seconds_count actor=echoes,actor_mesh="
        + echoes->id().to_string() + " 3.0\n");
    has("mesh_casts_dropped_total proc_mesh=" + pm->id().to_string() + " 0.0\n");
  }
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK_FALSE(fs::exists(e.path));
  auto gone = find_running_mesh(e.id);
  CHECK_FALSE(gone);
  // The endpoint is gone too.
  auto after = client.get("/v1/mesh");
  CHECK_FALSE(after);
}

TEST_CASE_FIXTURE(admin_fixture,
                  "a process() mesh registers its hosts; admin_address empty "
                  "turns the endpoint off") {
  SUBCASE("served") {
    auto hosts = host_mesh::process(sys, extent{{"hosts", 2}}, child_command());
    REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
    auto e = entry_of(*hosts);
    CHECK(e.hosts == 2);
    CHECK(e.owner_pid == ::getpid());
    admin_client client{e};
    auto res = client.get("/v1/mesh");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    auto snap = mesh_snapshot_from_json(res->body);
    REQUIRE(snap);
    REQUIRE(snap->hosts.size() == 2);
    for (auto& h : snap->hosts) {
      CHECK(h.error.empty());
      CHECK(alive(h.pid));
      CHECK(h.pid != ::getpid());
    }
    REQUIRE(hosts->shutdown());
    CHECK_FALSE(fs::exists(e.path));
  }
  SUBCASE("off") {
    config_override off{"admin_address", ""};
    auto hosts = host_mesh::local_in_process(sys);
    REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
    auto e = entry_of(*hosts);
    CHECK(e.admin_address.empty());
    REQUIRE(hosts->shutdown());
    CHECK_FALSE(fs::exists(e.path));
  }
  SUBCASE("an owner handle that ends removes its entry") {
    std::string path;
    {
      auto hosts = host_mesh::local_in_process(sys);
      REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
      path = entry_of(*hosts).path;
      CHECK(fs::exists(path));
    }
    CHECK_FALSE(fs::exists(path));
  }
}

TEST_CASE_FIXTURE(admin_fixture,
                  "the entry of an owner killed by SIGKILL is removed by the "
                  "next listing") {
  auto started = test::start_mesh_client(1);
  REQUIRE_MESSAGE(started.ready, started.output);
  auto client = started.pid;
  auto before = running_meshes();
  REQUIRE_MESSAGE(before, mesh::to_string(before.error()));
  REQUIRE(before->size() == 1);
  auto e = before->front();
  CHECK(e.owner_pid == client);
  CHECK(fs::exists(e.path));
  ::kill(client, SIGKILL);
  ::waitpid(client, nullptr, 0);
  CHECK(test::reap_exiting_children(20s));
  auto after = running_meshes();
  REQUIRE(after);
  CHECK(after->empty());
  CHECK_FALSE(fs::exists(e.path));
  auto find = find_running_mesh(e.id);
  REQUIRE_FALSE(find);
  CHECK(mesh::to_string(find.error()).find("no mesh of this user is running")
        != std::string::npos);
}

TEST_CASE_FIXTURE(admin_fixture,
                  "the logs endpoint returns the lines a proc printed and "
                  "long-polls for more") {
  config_override forward{"log_forwarding", "true"};
  config_override no_zygote{"bootstrap_zygote", "false"};
  bootstrap_command cmd;
  cmd.program = "/bin/sh";
  cmd.args = {"-c", "echo hello-admin-$RANK; echo oops-admin >&2; exec "
                      + test::build_path("test/mesh_child")};
  auto hosts = host_mesh::local_with_bootstrap(sys, cmd);
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("talkers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  admin_client client{entry_of(*hosts)};
  json page;
  bool both = eventually([&] {
    auto res = client.get("/v1/procs/1/logs?after=0&wait_ms=1000");
    if (!res || res->status != 200)
      return false;
    page = json::parse(res->body);
    bool out = false, err = false;
    for (auto& l : page["lines"]) {
      out |= l["line"] == "hello-admin-1" && l["stream"] == "stdout";
      err |= l["line"] == "oops-admin" && l["stream"] == "stderr";
    }
    return out && err;
  });
  REQUIRE_MESSAGE(both, page.dump());
  CHECK(page["proc_mesh"] == pm->id().to_string());
  CHECK(page["rank"] == 1);
  auto next = page["next"].get<uint64_t>();
  CHECK(next == page["lines"].back()["seq"].get<uint64_t>());
  for (auto& l : page["lines"])
    CHECK(l["line"] != "hello-admin-0"); // rank 0's lines are its own
  // Nothing newer: a long poll ends empty, at the same place.
  auto idle = client.get("/v1/procs/1/logs?after=" + std::to_string(next)
                         + "&wait_ms=200");
  REQUIRE(idle);
  REQUIRE(idle->status == 200);
  auto idle_page = json::parse(idle->body);
  CHECK(idle_page["lines"].empty());
  CHECK(idle_page["next"] == next);
  for (auto path : {"/v1/procs/1/logs?after=x", "/v1/procs/1/logs?wait_ms=-5",
                    "/v1/procs/z/logs"}) {
    auto r = client.get(path);
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 400, path);
  }
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(admin_fixture,
                  "hostile requests get 4xx or a closed connection, and the "
                  "server stays up") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto e = entry_of(*hosts);
  auto bearer = "Authorization: Bearer " + e.token + "\r\n";
  std::vector<std::string> attacks = {
    "garbage\r\n\r\n",
    std::string(5000, '\x01'),
    "GET /v1/mesh HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(200000, 'a')
      + "\r\n\r\n",
    "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n" + bearer + "\r\n",
    "GET /v1/procs/%00 HTTP/1.1\r\nHost: x\r\n" + bearer + "\r\n",
    "GET /v1/procs/0/logs?wait_ms=999999999999 HTTP/1.1\r\nHost: x\r\n" + bearer
      + "\r\n",
    "FOO /v1/mesh HTTP/1.1\r\nHost: x\r\n" + bearer + "\r\n",
    "GET /v1/mesh HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n"
      + bearer + "\r\n",
  };
  for (auto& attack : attacks) {
    CAPTURE(attack.substr(0, 60));
    auto answer = raw_exchange(e.admin_address, attack);
    auto status = status_of(answer);
    // Closed without an answer, or a client error (404 for the proc mesh
    // the in-process mesh does not have).
    CHECK_MESSAGE((status == 0 || (status >= 400 && status < 500)),
                  answer.substr(0, 200));
  }
  admin_client client{e};
  auto res = client.get("/v1/mesh");
  REQUIRE(res);
  CHECK(res->status == 200);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(admin_fixture,
                  "another user can read neither the entry nor the token") {
  if (::geteuid() != 0) {
    MESSAGE("not root: cannot run as another user; skipped");
    return;
  }
  if (::access("/usr/bin/setpriv", X_OK) != 0) {
    MESSAGE("setpriv (util-linux) missing; skipped");
    return;
  }
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto e = entry_of(*hosts);
  auto as_nobody = [](std::vector<std::string> argv) {
    std::vector<std::string> full = {"/usr/bin/setpriv", "--reuid", "nobody",
                                     "--regid", "nogroup", "--clear-groups"};
    full.insert(full.end(), argv.begin(), argv.end());
    return test::run(full, 20s);
  };
  // The control: nobody can run things at all (and reach the base).
  auto control = as_nobody({"/bin/ls", rt.base});
  REQUIRE_MESSAGE(control.exit_code == 0, control.err);
  auto cat = as_nobody({"/bin/cat", e.path});
  CHECK(cat.exit_code != 0);
  CHECK(cat.out.find(e.token) == std::string::npos);
  CHECK(cat.err.find("Permission denied") != std::string::npos);
  auto ls = as_nobody({"/bin/ls", rt.dir});
  CHECK(ls.exit_code != 0);
  // Nobody's own listing refuses a directory it does not own.
  auto meshctl_like = as_nobody({"/usr/bin/test", "-r", e.path});
  CHECK(meshctl_like.exit_code != 0);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(admin_fixture,
                  "a supervised rank's restart shows in the tree and in the "
                  "supervision metrics") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
  supervisor_policy policy;
  policy.strategy = restart_strategy::one_for_one;
  policy.max_restarts = 3;
  policy.within = 60s;
  auto attached = echoes->supervise(policy);
  REQUIRE_MESSAGE(attached, mesh::to_string(attached.error()));
  auto pids = test::pids_of(*pm);
  admin_client client{entry_of(*hosts)};
  REQUIRE(::kill(pids[1], SIGKILL) == 0);
  mesh_snapshot last;
  bool restarted = eventually([&] {
    auto res = client.get("/v1/mesh");
    if (!res || res->status != 200)
      return false;
    auto s = mesh_snapshot_from_json(res->body);
    if (!s)
      return false;
    last = *s;
    auto* p = proc_in(*s, 1);
    return p && p->restarts == 1 && p->status == proc_status::running
           && p->pid != pids[1];
  });
  CHECK_MESSAGE(restarted, to_json(last));
  CHECK(proc_in(last, 0)->restarts == 0);
  // /v1/procs/1 is the rank's current proc.
  auto current = client.get("/v1/procs/1");
  REQUIRE(current);
  REQUIRE(current->status == 200);
  auto p1 = proc_snapshot_from_json(current->body);
  REQUIRE(p1);
  CHECK(p1->status == proc_status::running);
  CHECK(p1->restarts == 1);
  CHECK(p1->pid == proc_in(last, 1)->pid);
  auto metrics = client.get("/metrics");
  REQUIRE(metrics);
  REQUIRE(metrics->status == 200);
  auto series = "mesh_supervision_events_total{proc_mesh=\"" + pm->id().to_string()
                + "\",action=\"";
  CHECK_MESSAGE(metrics->body.find(series + "restarting\",cause=\"proc_failed\"} 1\n")
                  != std::string::npos,
                metrics->body);
  CHECK(metrics->body.find(series + "restarted\",cause=\"proc_failed\"} 1\n")
        != std::string::npos);
  REQUIRE(hosts->shutdown());
}
