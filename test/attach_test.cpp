// host_mesh::attach against real meshd daemons on loopback: the whole flow,
// the invariants HM-1..HM-4 (one test each, named after it), meshd's command
// line, and meshd's robustness against clients that misbehave.
#include "bootstrap/network.hpp"
#include "mesh/actor_mesh.hpp"
#include "mesh/actors.hpp"
#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "meshd_daemon.hpp"
#include "support/actor_fixture.hpp"
#include "support/event_log.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <random>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::host_mesh_id;
using mesh::proc_status;
using mesh::test::meshd_daemon;

namespace {

using attach_fixture = mesh::test::cluster_fixture;

/// A meshd on a free loopback port whose procs run mesh_child, with the
/// server certificate of the test CA (the fixture's client holds one too).
std::unique_ptr<meshd_daemon> start_meshd(std::vector<std::string> extra = {},
                                          std::string listen = "127.0.0.1:0") {
  std::vector<std::string> argv{mesh::test::meshd_path(), "--listen", listen,
                                "--proc-command",
                                mesh::test::mesh_child_path()};
  auto tls = mesh::test::meshd_tls_flags();
  argv.insert(argv.end(), tls.begin(), tls.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::string why;
  auto d = meshd_daemon::start(argv, {}, &why);
  REQUIRE_MESSAGE(d, why);
  return d;
}

/// A loopback port held by this process for the test's duration, so that
/// no other process can take it: listening but never accepting (connects
/// succeed, as the kernel completes them, but nothing ever answers), or only
/// bound (connects are refused).
struct held_port {
  int fd = -1;
  std::string address;

  explicit held_port(bool listening) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0);
    if (listening)
      REQUIRE(::listen(fd, 16) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    address = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  }

  ~held_port() { ::close(fd); }
};

struct silent_listener : held_port {
  silent_listener() : held_port(true) {}
};

struct refused_port : held_port {
  refused_port() : held_port(false) {}
};

void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return; // The daemon may close the connection first; that is fine.
    sent += static_cast<size_t>(n);
  }
}

bool alive(int64_t pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0;
}

std::string config_of(caf::actor_system& sys, const mesh::proc_agent_actor& a,
                      const std::string& key) {
  std::string result;
  caf::scoped_actor self{sys};
  self->request(a, 10s, mesh::get_config_atom::value, key)
    .receive([&](const std::string& v) { result = v; },
             [&](caf::error& err) { FAIL(mesh::to_string(err)); });
  return result;
}

/// Spawns a counter on every proc, casts to them and calls them. Only
/// messages of types meshd itself knows: its comm actor relays them.
void check_actor_mesh(const mesh::proc_mesh& pm) {
  auto counters =
    pm.spawn<mesh::test::counter_actor>("counters", "counter", int32_t{5});
  REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
  CHECK(counters->size() == pm.size());
  counters->cast(caf::add_atom::value, int32_t{3});
  auto values = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE_MESSAGE(values, mesh::to_string(values.error()));
  REQUIRE(values->size() == pm.size());
  for (auto [pt, v] : *values)
    CHECK(v == 8);
}

/// Waits (at most 30 s) until this process has seen `agent` terminate.
void wait_down(caf::actor_system& sys, const mesh::host_agent_actor& agent) {
  caf::scoped_actor self{sys};
  self->monitor(agent);
  self->receive([](caf::down_msg&) {},
                caf::after(30s) >>
                  [] { FAIL("the lost host went unnoticed"); });
}

/// Attaches to one daemon and runs one proc there: proof it still serves.
void check_serves(caf::actor_system& sys, const std::string& address) {
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("probe"), {address});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("probe", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  CHECK(states->front().status == proc_status::running);
  REQUIRE(hosts->stop());
}

} // namespace

// -- the flow of the issue
// ------------------------------------------------------

TEST_CASE_FIXTURE(attach_fixture,
                  "attach to two meshd daemons: spawn 2x4 procs and an actor "
                  "mesh, call it, stop, re-attach, shut down, and the "
                  "daemons are gone") {
  auto a = start_meshd();
  auto b = start_meshd();
  std::vector<std::string> addrs{a->address(), b->address()};
  std::set<int64_t> first_pids;
  {
    auto hosts =
      host_mesh::attach(sys, host_mesh_id::instance("cluster"), addrs);
    REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
    CHECK(hosts->extent() == extent{{"hosts", 2}});
    CHECK(hosts->host_addrs() == addrs);
    auto pm = hosts->spawn("workers", extent{{"gpus", 4}});
    REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
    CHECK(pm->extent() == extent{{"hosts", 2}, {"gpus", 4}});
    auto states = pm->states();
    REQUIRE(states);
    REQUIRE(states->size() == 8);
    for (auto& st : *states) {
      CHECK(st.status == proc_status::running);
      CHECK(st.host == addrs[st.rank / 4]);
      // Each proc is a child of the daemon of its host, or of its zygote.
      auto parent = mesh::test::parent_of(st.pid);
      if (mesh::test::process_name(parent) == "mesh-zygote")
        parent = mesh::test::parent_of(parent);
      CHECK(parent == (st.rank < 4 ? a->pid() : b->pid()));
      first_pids.insert(st.pid);
    }
    CHECK(first_pids.size() == 8);
    check_actor_mesh(*pm);
    auto stopped = hosts->stop();
    REQUIRE_MESSAGE(stopped, mesh::to_string(stopped.error()));
    CHECK_MESSAGE(stopped->stopped_politely == 8, stopped->to_string());
    for (auto pid : first_pids)
      CHECK_FALSE(alive(pid));
  } // The stopped mesh is destroyed: the daemons must not notice.
  CHECK(a->running());
  CHECK(b->running());
  auto again = host_mesh::attach(sys, host_mesh_id::instance("again"), addrs);
  REQUIRE_MESSAGE(again, mesh::to_string(again.error()));
  auto pm = again->spawn("second", extent{{"gpus", 4}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  for (auto& st : *states) {
    CHECK(st.status == proc_status::running);
    CHECK(first_pids.count(st.pid) == 0);
  }
  auto summary = again->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->hosts == 2);
  CHECK_MESSAGE(summary->stopped_politely == 8, summary->to_string());
  CHECK(a->wait_exit(30s) == 0);
  CHECK(b->wait_exit(30s) == 0);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "an actor mesh on meshd hosts exchanges the user's own "
                  "types, which meshd itself does not know") {
  auto a = start_meshd();
  auto b = start_meshd();
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("types"),
                                 {a->address(), b->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto counters =
    pm->spawn<mesh::test::counter_actor>("counters", "counter", int32_t{5});
  REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
  auto gathers = [&] {
    caf::scoped_actor self{sys};
    mesh::comm_actor_actor comm;
    self->request(hosts->agent(0), 10s, mesh::comm_atom::value)
      .receive([&](mesh::comm_actor_actor& c) { comm = c; },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    uint64_t n = 0;
    self->request(comm, 10s, mesh::comm_stats_atom::value)
      .receive([&](mesh::comm_stats& s) { n = s.gathers; },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    return n;
  };
  auto first = gathers();
  for (uint64_t round = 0; round < 2; ++round) { // the second from the cache
    auto pongs = counters->call<mesh::test::pong>(
      mesh::test::ping{7 + round, "hi"});
    REQUIRE_MESSAGE(pongs, mesh::to_string(pongs.error()));
    REQUIRE(pongs->size() == 6);
    for (auto [pt, p] : *pongs) {
      CHECK(p.seq == 7 + round);
      CHECK(p.text == "hi");
    }
  }
  // Casts of user types arrive too: each ping adds its seq to the counter.
  counters->cast(mesh::test::ping{10, "add"});
  // The user's types went to the members directly: meshd's comm actor
  // cannot decode them.
  auto before = gathers();
  CHECK(before == first);
  auto values = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE_MESSAGE(values, mesh::to_string(values.error()));
  for (auto [pt, v] : *values)
    CHECK(v == 15);
  // Built-in types still go through it, one message per host.
  CHECK(gathers() == before + 1);
  REQUIRE(hosts->shutdown());
}

// -- HM-1..HM-4
// -----------------------------------------------------------------

TEST_CASE_FIXTURE(attach_fixture,
                  "HM-1: attach returns a mesh only once every host installed "
                  "the pushed config, and later procs see it") {
  auto a = start_meshd();
  auto b = start_meshd();
  mesh::config_override tail{"tail_log_lines", "7"};
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("hm1"),
                                 {a->address(), b->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  // The hosts' own layer: a spawn request that carries no client snapshot
  // falls back to what the host installed, here to 7 lines of stderr tail
  // (the default is 100).
  caf::scoped_actor self{sys};
  for (size_t h = 0; h < 2; ++h) {
    mesh::spawn_procs_request req;
    req.proc_mesh_id = "hm1-noisy-" + std::to_string(h);
    req.host_mesh_id = hosts->id().to_string();
    mesh::proc_spec spec;
    spec.name = req.proc_mesh_id;
    mesh::bootstrap_command noisy;
    noisy.program = "/bin/sh";
    noisy.args = {"-c", "for i in $(seq 1 20); do echo line $i >&2; done; "
                        "exit 3"};
    spec.command = noisy;
    req.procs.push_back(spec);
    self->request(hosts->agent(h), 30s, mesh::spawn_procs_atom::value, req)
      .receive(
        [&](const std::vector<mesh::proc_info>& infos) {
          REQUIRE(infos.size() == 1);
          auto& tail_lines = infos.front().state.stderr_tail;
          CHECK(tail_lines.size() == 7);
          if (!tail_lines.empty())
            CHECK(tail_lines.back() == "line 20");
        },
        [&](caf::error& err) { FAIL(mesh::to_string(err)); });
  }
  // Procs spawned afterwards resolve the pushed value.
  auto pm = hosts->spawn("hm1", extent{{"gpus", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  for (size_t r = 0; r < pm->size(); ++r)
    CHECK(config_of(sys, pm->agent(r), "tail_log_lines") == "7");
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(attach_fixture,
                  "HM-2: one unreachable host makes attach an error naming "
                  "exactly that host, never a partial mesh") {
  auto a = start_meshd();
  refused_port closed;
  auto dead = closed.address;
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("hm2"), {a->address(), dead});
  REQUIRE_FALSE(hosts);
  CHECK(mesh::is(hosts.error(), mesh::ec::config_push_failed));
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find("1 of 2 hosts failed") != std::string::npos, text);
  CHECK_MESSAGE(text.find(dead) != std::string::npos, text);
  CHECK_MESSAGE(text.find(a->address()) == std::string::npos, text);
  // The reachable host is untouched and can be attached on its own.
  CHECK(a->running());
  check_serves(sys, a->address());
}

TEST_CASE_FIXTURE(attach_fixture,
                  "HM-3: a host that accepts connections but never answers "
                  "surfaces as a timeout error, not a crash or a stray "
                  "message") {
  mesh::config_override timeout{"attach_config_timeout", "500ms"};
  silent_listener silent;
  caf::scoped_actor caller{sys};
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("hm3"), {silent.address});
  REQUIRE_FALSE(hosts);
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find(silent.address + ": timed out") != std::string::npos,
                text);
  CHECK_MESSAGE(text.find("within 500ms") != std::string::npos, text);
  CHECK(caller->mailbox().empty());
  // The caller's system is unharmed: the next attach works.
  auto a = start_meshd();
  check_serves(sys, a->address());
  CHECK(caller->mailbox().empty());
}

TEST_CASE_FIXTURE(attach_fixture,
                  "HM-4: the error lists each failing host by address with "
                  "its cause, and no other host") {
  mesh::config_override timeout{"attach_config_timeout", "2s"};
  auto a = start_meshd();
  refused_port closed;
  auto refused = closed.address;
  silent_listener silent;
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("hm4"),
                                 {refused, a->address(), silent.address});
  REQUIRE_FALSE(hosts);
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find("2 of 3 hosts failed") != std::string::npos, text);
  CHECK_MESSAGE(
    text.find(refused + ": connection refused") != std::string::npos, text);
  CHECK_MESSAGE(text.find(silent.address + ": timed out") != std::string::npos,
                text);
  CHECK_MESSAGE(text.find(a->address()) == std::string::npos, text);
}

// -- attach's arguments
// ---------------------------------------------------------

TEST_CASE_FIXTURE(attach_fixture, "attach to no address is an empty mesh") {
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("none"), {});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  CHECK(hosts->extent() == extent{{"hosts", 0}});
  CHECK(hosts->host_addrs().empty());
  auto summary = hosts->shutdown();
  REQUIRE(summary);
  CHECK(summary->hosts == 0);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "attach refuses an address listed twice before connecting") {
  refused_port closed;
  auto dead = closed.address;
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("dup"),
                                 {dead, "127.0.0.2:1", dead});
  REQUIRE_FALSE(hosts);
  CHECK(mesh::is(hosts.error(), mesh::ec::invalid_argument));
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find(dead + " is listed twice") != std::string::npos,
                text);
}

TEST_CASE_FIXTURE(attach_fixture, "attach refuses a malformed address") {
  for (std::string bad : {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999",
                          ":4000", "::1:4000", "host:port"}) {
    auto hosts = host_mesh::attach(sys, host_mesh_id::instance("bad"), {bad});
    REQUIRE_FALSE(hosts);
    CHECK(mesh::is(hosts.error(), mesh::ec::invalid_argument));
    auto text = mesh::to_string(hosts.error());
    CHECK_MESSAGE(text.find("'" + bad + "'") != std::string::npos, text);
  }
}

// -- stop, shutdown, destruction
// ---------------------------------------------------

TEST_CASE_FIXTURE(attach_fixture,
                  "destroying an attached mesh that was not stopped shuts its "
                  "daemons down") {
  auto a = start_meshd();
  {
    auto hosts =
      host_mesh::attach(sys, host_mesh_id::instance("owned"), {a->address()});
    REQUIRE(hosts);
    REQUIRE(hosts->spawn("w", extent{{"procs", 2}}));
  }
  CHECK(a->wait_exit(30s) == 0);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "an attached mesh's string form parses back into a working "
                  "reference") {
  auto a = start_meshd();
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("text"), {a->address()});
  REQUIRE(hosts);
  auto ref = mesh::host_mesh_ref::parse(sys, hosts->to_string());
  REQUIRE_MESSAGE(ref, mesh::to_string(ref.error()));
  CHECK(ref->host_addrs() == hosts->host_addrs());
  auto pm = ref->spawn("viaref", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  REQUIRE(hosts->shutdown());
  CHECK(a->wait_exit(30s) == 0);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "parsing a host mesh whose host is gone names the host") {
  refused_port closed;
  auto dead = closed.address;
  auto ref = mesh::host_mesh_ref::parse(sys, "gone:" + dead + "@hosts=1/1");
  REQUIRE_FALSE(ref);
  CHECK(mesh::is(ref.error(), mesh::ec::host_unreachable));
  auto text = mesh::to_string(ref.error());
  CHECK_MESSAGE(text.find(dead + ": connection refused") != std::string::npos,
                text);
}

// -- meshd
// ------------------------------------------------------------------------

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd prints the bound port on its first stdout line") {
  auto a = start_meshd();
  auto ep = mesh::net::parse_endpoint(a->address());
  REQUIRE_MESSAGE(ep, a->address());
  CHECK(ep->host == "127.0.0.1");
  CHECK(ep->port != 0);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd exits 0 on SIGTERM after stopping its procs") {
  auto a = start_meshd();
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("term"), {a->address()});
  REQUIRE(hosts);
  auto pm = hosts->spawn("w", extent{{"procs", 2}});
  REQUIRE(pm);
  auto states = pm->states();
  REQUIRE(states);
  a->signal(SIGTERM);
  CHECK(a->wait_exit(30s) == 0);
  for (auto& st : *states)
    CHECK_FALSE(alive(st.pid));
  // Once the client has seen the host go, shutting the mesh down finds
  // nothing left to stop there.
  wait_down(sys, hosts->agent(0));
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->hosts == 0);
  CHECK(a->stderr_text().find("Terminated: stopping the procs") !=
        std::string::npos);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "shutdown reports a daemon that was killed under the mesh "
                  "at once") {
  auto a = start_meshd();
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("killed"), {a->address()});
  REQUIRE(hosts);
  auto pm = hosts->spawn("w", extent{{"procs", 1}});
  REQUIRE(pm);
  auto states = pm->states();
  REQUIRE(states);
  a->signal(SIGKILL);
  CHECK(a->wait_exit(30s) == 128 + SIGKILL);
  // The proc dies with its daemon (parent-death signals: daemon -> zygote ->
  // proc) and, orphaned, is reaped by this process, the subreaper; so is the
  // zygote that forked it.
  auto orphan = static_cast<pid_t>(states->front().pid);
  CHECK(mesh::test::reap_exiting_children(std::chrono::seconds{20}));
  CHECK(::kill(orphan, 0) != 0);
  wait_down(sys, hosts->agent(0));
  auto summary = hosts->shutdown();
  REQUIRE_FALSE(summary);
  auto text = mesh::to_string(summary.error());
  CHECK_MESSAGE(text.find("host " + a->address() +
                          " (drain): host "
                          "unreachable: the connection to the host was lost") !=
                  std::string::npos,
                text);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd's procs run meshd itself unless --proc-command is "
                  "given") {
  std::string why;
  std::vector<std::string> argv{mesh::test::meshd_path(), "--listen",
                                "127.0.0.1:0"};
  for (auto& flag : mesh::test::meshd_tls_flags())
    argv.push_back(flag);
  auto a = meshd_daemon::start(argv, {}, &why);
  REQUIRE_MESSAGE(a, why);
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("self"), {a->address()});
  REQUIRE(hosts);
  auto pm = hosts->spawn("selfprocs", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  char exe[PATH_MAX] = {};
  auto link = "/proc/" + std::to_string(states->front().pid) + "/exe";
  REQUIRE(::readlink(link.c_str(), exe, sizeof(exe) - 1) > 0);
  char expected[PATH_MAX] = {};
  REQUIRE(::realpath(mesh::test::meshd_path().c_str(), expected) != nullptr);
  CHECK(std::string{exe} == std::string{expected});
  REQUIRE(hosts->shutdown());
  CHECK(a->wait_exit(30s) == 0);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd's own listen address wins over the client's for its "
                  "procs") {
  auto a = start_meshd({}, "localhost:0");
  auto hosts =
    host_mesh::attach(sys, host_mesh_id::instance("where"), {a->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("where", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  CHECK(config_of(sys, pm->agent(0), "listen_address") == "localhost");
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(attach_fixture, "meshd --help describes every option") {
  auto res = mesh::test::run({mesh::test::meshd_path(), "--help"});
  CHECK(res.exit_code == 0);
  for (auto opt : {"--listen", "--tls-cert", "--tls-key", "--tls-ca",
                   "--insecure", "--proc-command", "--mesh-key-file",
                   "--address-file", "--owner-timeout"})
    CHECK_MESSAGE(res.out.find(opt) != std::string::npos, opt);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd refuses any address without credentials or "
                  "--insecure, and says how to make them") {
  // Loopback too: every user of the machine could run commands as meshd's.
  for (std::string listen : {"127.0.0.1:0", "localhost:0", "0.0.0.0:0"}) {
    CAPTURE(listen);
    auto res = mesh::test::run({mesh::test::meshd_path(), "--listen", listen,
                                "--proc-command",
                                mesh::test::mesh_child_path()});
    CHECK(res.exit_code == 2);
    CHECK(res.out.empty());
    CHECK_MESSAGE(res.err.find("refusing to serve ") != std::string::npos,
                  res.err);
    CHECK_MESSAGE(res.err.find("without credentials") != std::string::npos,
                  res.err);
  }
  auto res =
    mesh::test::run({mesh::test::meshd_path(), "--listen", "127.0.0.1:0"});
  CHECK(res.exit_code == 2);
  CHECK(res.err ==
        "meshd: refusing to serve 127.0.0.1:0 without credentials; create "
        "them with `meshctl cert init DIR` and pass "
        "--tls-cert/--tls-key/--tls-ca (or --mesh-key-file), or pass "
        "--insecure\n");
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd --insecure serves plain TCP on loopback, warns at "
                  "every start, and an authenticating client does not fall "
                  "back to it") {
  for (int start = 0; start < 2; ++start) {
    std::string why;
    auto a = meshd_daemon::start({mesh::test::meshd_path(), "--listen",
                                  "127.0.0.1:0", "--insecure", "--proc-command",
                                  mesh::test::mesh_child_path()},
                                 {}, &why);
    REQUIRE_MESSAGE(a, why);
    // The warning follows the "listening on" line.
    auto warning = "WARNING: --insecure: " + a->address() + " serves plain TCP";
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (a->stderr_text().find(warning) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    CHECK_MESSAGE(a->stderr_text().find(warning) != std::string::npos,
                  a->stderr_text());
    if (start == 0) {
      mesh::config_override quick{"attach_config_timeout", "5s"};
      auto hosts =
        host_mesh::attach(sys, host_mesh_id::instance("plain"), {a->address()});
      REQUIRE_FALSE(hosts);
      CHECK_MESSAGE(mesh::to_string(hosts.error()).find(a->address()) !=
                      std::string::npos,
                    mesh::to_string(hosts.error()));
    }
  }
}

TEST_CASE_FIXTURE(attach_fixture, "meshd refuses a malformed --listen") {
  auto res =
    mesh::test::run({mesh::test::meshd_path(), "--listen", "127.0.0.1"});
  CHECK(res.exit_code == 2);
  CHECK_MESSAGE(res.err.find("--listen: parse error: address '127.0.0.1': "
                             "expected host:port") != std::string::npos,
                res.err);
}

TEST_CASE_FIXTURE(attach_fixture, "meshd requires --listen") {
  auto res = mesh::test::run({mesh::test::meshd_path()});
  CHECK(res.exit_code == 2);
  CHECK_MESSAGE(res.err.find("--listen is required") != std::string::npos,
                res.err);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd refuses a --proc-command that is not executable") {
  auto res =
    mesh::test::run({mesh::test::meshd_path(), "--listen", "127.0.0.1:0",
                     "--insecure", "--proc-command", "/nonexistent/proc"});
  CHECK(res.exit_code == 2);
  CHECK(res.out.empty());
  CHECK_MESSAGE(res.err.find("'/nonexistent/proc' is not an executable file") !=
                  std::string::npos,
                res.err);
}

// -- meshd against clients that misbehave -----------------------------------

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd keeps serving after clients send it garbage bytes") {
  auto a = start_meshd();
  std::mt19937 gen{42};
  std::string noise(4096, '\0');
  for (auto& c : noise)
    c = static_cast<char>(gen());
  for (auto bytes : {std::string(4096, '\xff'), noise,
                     std::string{"GET / HTTP/1.0\r\n\r\n"}}) {
    int fd = mesh::test::raw_connect(a->address());
    send_all(fd, bytes);
    ::close(fd);
  }
  check_serves(sys, a->address());
  CHECK(a->running());
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd keeps serving while half-open connections stay "
                  "idle") {
  auto a = start_meshd();
  int idle = mesh::test::raw_connect(a->address());
  int half = mesh::test::raw_connect(a->address());
  ::shutdown(half, SHUT_WR);
  check_serves(sys, a->address());
  ::close(idle);
  ::close(half);
  CHECK(a->running());
}

TEST_CASE_FIXTURE(attach_fixture,
                  "meshd keeps serving while a slow client is stuck in the "
                  "middle of a message") {
  auto a = start_meshd();
  int slow = mesh::test::raw_connect(a->address());
  send_all(slow, std::string{"\x01\x00\x00", 3});
  check_serves(sys, a->address());
  send_all(slow, std::string{"\x00\x00", 2});
  check_serves(sys, a->address());
  ::close(slow);
  CHECK(a->running());
}

// -- addresses
// --------------------------------------------------------------------

TEST_CASE("parse_endpoint reads host:port and bracketed IPv6") {
  auto v4 = mesh::net::parse_endpoint("10.0.0.1:4000");
  REQUIRE(v4);
  CHECK(v4->host == "10.0.0.1");
  CHECK(v4->port == 4000);
  auto v6 = mesh::net::parse_endpoint("[::1]:4000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->to_string() == "[::1]:4000");
  auto name = mesh::net::parse_endpoint("node-7.cluster:65535");
  REQUIRE(name);
  CHECK(name->to_string() == "node-7.cluster:65535");
}

TEST_CASE("parse_endpoint accepts port 0 only for listening") {
  CHECK_FALSE(mesh::net::parse_endpoint("127.0.0.1:0"));
  auto any = mesh::net::parse_endpoint("127.0.0.1:0", true);
  REQUIRE(any);
  CHECK(any->port == 0);
}

TEST_CASE("parse_endpoint says what is wrong with a bad address") {
  auto check = [](std::string text, std::string why) {
    auto ep = mesh::net::parse_endpoint(text);
    REQUIRE_FALSE(ep);
    CHECK(mesh::is(ep.error(), mesh::ec::parse_error));
    auto msg = mesh::to_string(ep.error());
    CHECK_MESSAGE(msg.find(why) != std::string::npos, msg);
  };
  check("localhost", "expected host:port");
  check(":80", "the host is empty");
  check("::1:80", "an IPv6 address must be written [address]:port");
  check("[::1:80", "an IPv6 address must be written [address]:port");
  check("h:", "the port must be a number from 1 to 65535");
  check("h:70000", "the port must be a number from 1 to 65535");
  check("h:8x", "the port must be a number from 1 to 65535");
}

TEST_CASE("is_loopback accepts only loopback addresses") {
  for (auto host : {"127.0.0.1", "127.1.2.3", "::1", "localhost"})
    CHECK_MESSAGE(mesh::net::is_loopback(host), host);
  for (auto host :
       {"0.0.0.0", "10.77.0.2", "::", "128.0.0.1", "example.org", ""})
    CHECK_FALSE_MESSAGE(mesh::net::is_loopback(host), host);
}

TEST_CASE_FIXTURE(attach_fixture,
                  "a meshd that is SIGKILLed fails its ranks as a lost host "
                  "within a second; the other meshd stays usable and the "
                  "shutdown names the lost one") {
  auto a = start_meshd();
  auto b = start_meshd();
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("lost"),
                                 {a->address(), b->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto counters =
    pm->spawn<mesh::test::counter_actor>("counters", "counter", int32_t{1});
  REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
  mesh::test::event_log log;
  pm->on_event(log.handler());
  auto killed_at = std::chrono::steady_clock::now();
  a->signal(SIGKILL);
  for (size_t r : {size_t{0}, size_t{1}}) {
    CAPTURE(r);
    auto ev = log.wait_for([r](auto& e) {
      return e.rank == r && e.actor.empty() && mesh::is_terminated(e.status);
    });
    REQUIRE(ev);
    CHECK(ev->status == mesh::proc_status::failed);
    CHECK_MESSAGE(ev->reason.find("its host " + a->address() + " was lost")
                    != std::string::npos,
                  ev->reason);
  }
  auto heard = std::chrono::duration<double, std::milli>(
                 std::chrono::steady_clock::now() - killed_at)
                 .count();
  MESSAGE("ranks of the killed meshd reported " << heard << " ms after it");
  CHECK(heard < 3000);
  // Calls fail at once for the lost ranks and work for the others.
  auto res = counters->call<int32_t>(10s, caf::get_atom::value);
  REQUIRE_FALSE(res);
  CHECK_MESSAGE(mesh::to_string(res.error()).find("is gone") !=
                  std::string::npos,
                mesh::to_string(res.error()));
  auto second = counters->range("hosts", 1, 2);
  REQUIRE(second);
  auto values = second->call<int32_t>(10s, caf::get_atom::value);
  REQUIRE_MESSAGE(values, mesh::to_string(values.error()));
  CHECK((*values)[0] == 1);
  auto summary = hosts->shutdown();
  REQUIRE_FALSE(summary);
  CHECK_MESSAGE(mesh::to_string(summary.error()).find(a->address()) !=
                  std::string::npos,
                mesh::to_string(summary.error()));
  CHECK(b->wait_exit(30s) == 0);
  a->wait_exit(5s);
  // The killed daemon's procs died with it; orphans, they are this
  // (subreaper) test process's to reap.
  CHECK(mesh::test::reap_exiting_children(5s));
}
