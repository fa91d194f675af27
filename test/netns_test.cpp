// Several machines on one box: each meshd runs in a network namespace of its
// own, joined to this (the client's) namespace by a veth pair, and listens
// on its namespace's address; the client attaches across them. Needs root
// (CI runs as root); otherwise every test says why it skipped. Namespaces
// and links are named after this process and removed however a test ends.
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

#include <sys/stat.h>

#include <chrono>
#include <future>
#include <map>
#include <thread>
#include <unistd.h>

#include <set>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::host_mesh_id;
using mesh::test::meshd_daemon;

namespace {

/// One namespace: its name, the veth end left in our namespace and the
/// addresses of both ends.
struct machine {
  std::string ns;
  std::string root_link;
  std::string root_addr; ///< Our end, e.g. 10.77.12.1.
  std::string addr;      ///< The namespace's end, e.g. 10.77.12.2.
  std::string subnet;    ///< e.g. 10.77.12 (for more addresses on it).
};

/// Two namespaces set up for one test and torn down by the destructor.
class netns_lab {
public:
  netns_lab() {
    if (::geteuid() != 0) {
      skip_reason_ = "not root: network namespaces need CAP_SYS_ADMIN";
      return;
    }
    auto pid = std::to_string(::getpid());
    // Subnets from the pid, so that concurrent runs do not collide; past
    // any pair already in use (a run that was killed leaves its links).
    auto used = mesh::test::run({"ip", "-o", "-4", "addr"}, 30s).out;
    auto taken = [&](int n) {
      return used.find(" 10.77." + std::to_string(n) + ".") !=
             std::string::npos;
    };
    auto base = 2 * (::getpid() % 120) + 2;
    for (int tries = 0; tries < 120 && (taken(base) || taken(base + 1));
         ++tries)
      base = base >= 240 ? 2 : base + 2;
    for (int i = 0; i < 2; ++i) {
      std::string tag = i == 0 ? "a" : "b";
      auto subnet = "10.77." + std::to_string(base + i);
      machines_.push_back(machine{"meshtest-" + pid + "-" + tag,
                                  "mt" + pid + tag + "0", subnet + ".1",
                                  subnet + ".2", subnet});
    }
    for (auto& m : machines_) {
      auto ns_link = m.root_link.substr(0, m.root_link.size() - 1) + "1";
      if (!ip({"netns", "add", m.ns}))
        return;
      created_.push_back(m);
      if (!ip({"link", "add", m.root_link, "type", "veth", "peer", "name",
               ns_link}) ||
          !ip({"link", "set", ns_link, "netns", m.ns}) ||
          !ip({"addr", "add", m.root_addr + "/24", "dev", m.root_link}) ||
          !ip({"link", "set", m.root_link, "up"}) ||
          !ip({"-n", m.ns, "addr", "add", m.addr + "/24", "dev", ns_link}) ||
          !ip({"-n", m.ns, "link", "set", ns_link, "up"}) ||
          !ip({"-n", m.ns, "link", "set", "lo", "up"}))
        return;
    }
    ready_ = true;
  }

  ~netns_lab() {
    for (auto& m : created_) {
      mesh::test::run({"ip", "netns", "del", m.ns});
      // Normally gone with the namespace's end of the pair.
      mesh::test::run({"ip", "link", "del", m.root_link});
    }
  }

  /// Empty if the namespaces are up; else why not.
  const std::string& skip_reason() const { return skip_reason_; }

  bool ready() const { return ready_; }

  const machine& operator[](size_t i) const { return machines_[i]; }

  /// Runs `ip ARGS`; on failure remembers why and returns false.
  bool ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    auto res = mesh::test::run(args, 30s);
    if (res.exit_code == 0)
      return true;
    std::string line;
    for (auto& a : args)
      line += a + " ";
    skip_reason_ = "'" + line + "' failed: " + res.err;
    return false;
  }

private:
  std::vector<machine> machines_;
  std::vector<machine> created_;
  std::string skip_reason_;
  bool ready_ = false;
};

/// meshd inside a namespace, listening on the namespace's address.
std::unique_ptr<meshd_daemon>
start_in(const machine& m, const std::map<std::string, std::string>& env = {}) {
  std::string why;
  auto d =
    meshd_daemon::start({"ip", "netns", "exec", m.ns, mesh::test::meshd_path(),
                         "--listen", m.addr + ":0", "--tls-cert",
                         mesh::test::certs().path("server.pem"), "--tls-key",
                         mesh::test::certs().path("server.key"), "--tls-ca",
                         mesh::test::certs().path("ca_a.pem"), "--insecure",
                         "--proc-command", mesh::test::mesh_child_path()},
                        env, &why);
  REQUIRE_MESSAGE(d, why);
  return d;
}

/// The inode of a process's network namespace.
ino_t netns_of(int64_t pid) {
  struct stat st {};
  auto path = "/proc/" + std::to_string(pid) + "/ns/net";
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

using netns_fixture = mesh::test::cluster_fixture;

/// The hang bound of the partition case: 2 s, doubled when the run is slowed
/// (mesh::test::slowdown(): the sanitizers), where a TLS handshake with a
/// just-started meshd can outlast CAF's cut of 1.5 s and the attach fails
/// before the cut is tested.
int hang_seconds() { return mesh::test::slowdown() > 1 ? 4 : 2; }

/// A client that cuts off peers silent for hang_seconds().
struct partition_fixture : mesh::test::reaped_fixture {
  std::vector<std::unique_ptr<mesh::config_override>> tls = [] {
    std::vector<std::unique_ptr<mesh::config_override>> result;
    for (auto& [k, v] : mesh::test::client_tls_settings())
      result.push_back(std::make_unique<mesh::config_override>(k, v));
    return result;
  }();
  mesh::config_override fast_terminate{"terminate_timeout",
                                         mesh::test::polite_window()};
  mesh::config_override unresponsive{"proc_unresponsive_timeout",
                                     std::to_string(hang_seconds()) + "s"};
  mesh::test::test_config cfg;
  caf::actor_system sys{cfg};
};

#define SKIP_WITHOUT(lab)                                                      \
  if (!(lab).ready()) {                                                        \
    MESSAGE(                                                                   \
      "skipped: cannot create network namespaces: " << (lab).skip_reason());   \
    return;                                                                    \
  }

} // namespace

TEST_CASE_FIXTURE(netns_fixture,
                  "two meshd in their own network namespaces: attach from "
                  "the root namespace, spawn 2x4 procs and an actor mesh, "
                  "call it, stop, re-attach, shut down") {
  netns_lab lab;
  SKIP_WITHOUT(lab);
  auto a = start_in(lab[0]);
  auto b = start_in(lab[1]);
  CHECK(a->address().rfind(lab[0].addr + ":", 0) == 0);
  CHECK(b->address().rfind(lab[1].addr + ":", 0) == 0);
  std::vector<std::string> addrs{a->address(), b->address()};
  {
    auto hosts = host_mesh::attach(sys, host_mesh_id::instance("lan"), addrs);
    REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
    auto pm = hosts->spawn("workers", extent{{"gpus", 4}});
    REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
    auto states = pm->states();
    REQUIRE(states);
    REQUIRE(states->size() == 8);
    caf::scoped_actor self{sys};
    for (auto& st : *states) {
      CHECK(st.status == mesh::proc_status::running);
      auto& home = st.rank < 4 ? *a : *b;
      CHECK(st.host == home.address());
      // Each proc lives in its host's namespace and listens there.
      CHECK(netns_of(st.pid) == netns_of(home.pid()));
      CHECK(netns_of(st.pid) != netns_of(::getpid()));
      self
        ->request(pm->agent(st.rank), 10s, mesh::get_config_atom::value,
                  std::string{"listen_address"})
        .receive(
          [&](const std::string& v) {
            CHECK(v == (st.rank < 4 ? lab[0].addr : lab[1].addr));
          },
          [](caf::error& err) { FAIL(mesh::to_string(err)); });
    }
    // An actor mesh across both namespaces answers through the hosts.
    auto counters =
      pm->spawn<mesh::test::counter_actor>("counters", "counter", int32_t{5});
    REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
    counters->cast(caf::add_atom::value, int32_t{2});
    auto values = counters->call<int32_t>(caf::get_atom::value);
    REQUIRE_MESSAGE(values, mesh::to_string(values.error()));
    REQUIRE(values->size() == 8);
    for (auto [pt, v] : *values)
      CHECK(v == 7);
    auto stopped = hosts->stop();
    REQUIRE_MESSAGE(stopped, mesh::to_string(stopped.error()));
    CHECK_MESSAGE(stopped->stopped_politely == 8, stopped->to_string());
  }
  CHECK(a->running());
  CHECK(b->running());
  auto again = host_mesh::attach(sys, host_mesh_id::instance("again"), addrs);
  REQUIRE_MESSAGE(again, mesh::to_string(again.error()));
  auto pm = again->spawn("second", extent{{"gpus", 4}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto summary = again->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->hosts == 2);
  CHECK_MESSAGE(summary->stopped_politely == 8, summary->to_string());
  CHECK(a->wait_exit(30s) == 0);
  CHECK(b->wait_exit(30s) == 0);
  CHECK(a->stderr_text().find("with mutual TLS") != std::string::npos);
}

TEST_CASE_FIXTURE(netns_fixture,
                  "a host whose packets are dropped surfaces as a timeout "
                  "within attach_config_timeout, naming only that host") {
  netns_lab lab;
  SKIP_WITHOUT(lab);
  auto b = start_in(lab[1]);
  // An address on the first link whose frames go to a MAC nobody has: the
  // SYN is dropped silently, as by a firewall or a powered-off machine.
  auto hole = lab[0].subnet + ".3";
  REQUIRE(lab.ip({"neigh", "replace", hole, "lladdr", "02:00:00:00:77:03",
                  "dev", lab[0].root_link, "nud", "permanent"}));
  mesh::config_override timeout{"attach_config_timeout", "2s"};
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("hole"),
                                 {b->address(), hole + ":4000"});
  REQUIRE_FALSE(hosts);
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find(hole + ":4000: timed out: no TCP connection within "
                                 "2s") != std::string::npos,
                text);
  CHECK_MESSAGE(text.find(b->address()) == std::string::npos, text);
  CHECK(b->running());
}

TEST_CASE_FIXTURE(netns_fixture,
                  "meshd refuses its namespace's address without TLS or "
                  "--insecure") {
  netns_lab lab;
  SKIP_WITHOUT(lab);
  auto res =
    mesh::test::run({"ip", "netns", "exec", lab[0].ns, mesh::test::meshd_path(),
                     "--listen", lab[0].addr + ":0"});
  CHECK(res.exit_code == 2);
  CHECK(res.out.empty());
  CHECK_MESSAGE(res.err.find("refusing to serve " + lab[0].addr +
                             ":0 without credentials") != std::string::npos,
                res.err);
}

TEST_CASE_FIXTURE(partition_fixture,
                  "a host cut off by a link that goes down fails its ranks "
                  "within the hang bound and the other host stays usable") {
  netns_lab lab;
  SKIP_WITHOUT(lab);
  std::map<std::string, std::string> env{
    {"MESH_PROC_UNRESPONSIVE_TIMEOUT", std::to_string(hang_seconds()) + "s"}};
  auto a = start_in(lab[0], env);
  auto b = start_in(lab[1], env);
  auto hosts = host_mesh::attach(sys, host_mesh_id::instance("cut"),
                                 {a->address(), b->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
  mesh::test::event_log log;
  pm->on_event(log.handler());
  caf::anon_send(echoes->get(1), mesh::test::sleep_atom::value,
                 int32_t{10000});
  std::this_thread::sleep_for(100ms);
  auto first = echoes->range("hosts", 0, 1);
  REQUIRE(first);
  auto pending = std::async(std::launch::async, [&] {
    return first->call_each<int32_t>(30s, int32_t{1});
  });
  std::this_thread::sleep_for(200ms);
  auto cut_at = std::chrono::steady_clock::now();
  REQUIRE(lab.ip({"link", "set", lab[0].root_link, "down"}));
  for (size_t r : {size_t{0}, size_t{1}}) {
    CAPTURE(r);
    auto ev = log.wait_for([r](auto& e) {
      return e.rank == r && e.actor.empty() && mesh::is_terminated(e.status);
    });
    REQUIRE(ev);
    CHECK(ev->status == mesh::proc_status::failed);
    CHECK_MESSAGE(ev->reason.find("was lost") != std::string::npos,
                  ev->reason);
  }
  auto heard = std::chrono::duration<double, std::milli>(
                 std::chrono::steady_clock::now() - cut_at)
                 .count();
  MESSAGE("ranks behind the cut link reported " << heard << " ms after it "
          "went down");
  // hang_seconds() of silence checked every 500 ms (1 s at 4 s), plus a
  // 500 ms knock, with slack.
  CHECK(heard < 2500.0 * hang_seconds());
  REQUIRE(pending.wait_for(5s) == std::future_status::ready);
  auto outcome = pending.get();
  REQUIRE(outcome.size() == 2);
  CHECK_FALSE(outcome[1]);
  // The host on the other link still answers.
  auto second = echoes->range("hosts", 1, 2);
  REQUIRE(second);
  auto res = second->call<int32_t>(10s, int32_t{2});
  REQUIRE_MESSAGE(res, mesh::to_string(res.error()));
  CHECK((*res)[0] == 2);
  REQUIRE(lab.ip({"link", "set", lab[0].root_link, "up"}));
  auto summary = hosts->shutdown();
  CHECK(b->wait_exit(30s) == 0);
}
