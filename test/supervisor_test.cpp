// Supervisors (mesh/supervisor.hpp) with real processes and SIGKILLs: a
// supervised actor mesh gets its failed members back (one_for_one: the rank;
// all_for_one: every rank) behind the same handle, calls to a rank that is
// restarting fail at once, the intensity limit gives up and leaves nothing
// running, and a rank whose host died is reported instead of restarted.
//
// No assertion here is about wall-clock time: a restart is held open by a
// gate file (test_actors.hpp, gated_echo), and every wait is bounded (the
// event log's 20 s, poll loops of at most 15 s).
#include "mesh/actor_mesh.hpp"
#include "mesh/config.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/proc_mesh.hpp"
#include "mesh/supervisor.hpp"
#include "support/actor_fixture.hpp"
#include "support/event_log.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::proc_status;
using mesh::restart_strategy;
using mesh::supervision_action;
using mesh::supervisor_policy;
using mesh::test::actor_fixture;
using mesh::test::pids_of;
using mesh::test::event_log;
using mesh::test::pid_atom;

namespace {

mesh::bootstrap_command child_command() {
  mesh::bootstrap_command cmd;
  cmd.program = mesh::test::build_path("test/mesh_child");
  return cmd;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Whether `pid` is a live process (not gone, not a zombie).
bool is_running(pid_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return false;
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size())
    return false;
  auto state = line[close + 2];
  return state != 'Z' && state != 'X';
}

/// Waits (at most 15 s) until none of `pids` runs; the ones still running.
std::vector<pid_t> still_running(const std::set<pid_t>& pids) {
  std::vector<pid_t> left;
  for (int i = 0; i < 300; ++i) {
    left.clear();
    for (auto p : pids)
      if (is_running(p))
        left.push_back(p);
    if (left.empty())
      break;
    std::this_thread::sleep_for(50ms);
  }
  return left;
}

/// The host process of a proc of a process() mesh.
pid_t host_of(pid_t proc) {
  return mesh::test::host_process_of(proc);
}

/// A supervision event of `rank` with `action` (and `attempt`, if not 0).
auto supervision(size_t rank, supervision_action action, uint32_t attempt = 0) {
  return [=](const mesh::proc_event& e) {
    return e.rank == rank && e.action == action &&
           (attempt == 0 || e.attempt == attempt);
  };
}

/// "workers" (dimension "gpus", `per_host` per host) with a supervised
/// actor mesh "echoes" of `type` (init arguments `args`), its events in
/// `log`; members destroyed in reverse order (the host mesh last).
struct supervised_mesh {
  std::optional<host_mesh> hosts;
  std::optional<mesh::proc_mesh> pm;
  std::optional<mesh::actor_mesh<caf::actor>> echoes;
  event_log log;
  std::vector<pid_t> pids;

  template <class... Ts>
  supervised_mesh(caf::expected<host_mesh> made, size_t per_host,
                  supervisor_policy policy, std::string type, Ts&&... args) {
    REQUIRE_MESSAGE(made, mesh::to_string(made.error()));
    hosts.emplace(std::move(*made));
    auto procs = hosts->spawn("workers", extent{{"gpus", per_host}});
    REQUIRE_MESSAGE(procs, mesh::to_string(procs.error()));
    pm.emplace(std::move(*procs));
    auto actors = pm->spawn<caf::actor>("echoes", std::move(type),
                                        std::forward<Ts>(args)...);
    REQUIRE_MESSAGE(actors, mesh::to_string(actors.error()));
    echoes.emplace(std::move(*actors));
    echoes->on_event(log.handler());
    auto attached = echoes->supervise(policy);
    REQUIRE_MESSAGE(attached, mesh::to_string(attached.error()));
    pids = pids_of(*pm);
  }

  /// Every rank answers a call (values checked).
  void all_answer(int32_t x) {
    auto res = echoes->call<int32_t>(10s, x);
    REQUIRE_MESSAGE(res, mesh::to_string(res.error()));
    for (size_t r = 0; r < res->size(); ++r)
      CHECK((*res)[r] == x);
  }

  /// The pid rank `r`'s member reports (asked through the actor mesh).
  int64_t member_pid(size_t r) {
    auto one = echoes->range("gpus", r, r + 1);
    REQUIRE(one);
    auto res = one->call<int64_t>(10s, pid_atom::value);
    REQUIRE_MESSAGE(res, mesh::to_string(res.error()));
    return (*res)[0];
  }
};

supervisor_policy policy(restart_strategy s, size_t max_restarts = 3,
                         mesh::duration within = 60s) {
  supervisor_policy p;
  p.strategy = s;
  p.max_restarts = max_restarts;
  p.within = within;
  return p;
}

/// A file whose existence holds gated_echo's initialisation.
struct gate_file {
  std::string path;
  gate_file()
    : path("/tmp/mesh-supervisor-gate-" + std::to_string(::getpid())) {}
  ~gate_file() { open(); }
  void close() { std::ofstream{path} << "closed\n"; }
  void open() { std::remove(path.c_str()); }
};

} // namespace

TEST_CASE_FIXTURE(actor_fixture,
                  "one_for_one: a SIGKILLed rank gets a new proc and member "
                  "behind the same handle; the others keep theirs") {
  supervised_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 3,
                    policy(restart_strategy::one_for_one), "echo"};
  // A subscribed actor sees the same events as the handlers.
  caf::scoped_actor watcher{sys};
  m.echoes->subscribe(caf::actor_cast<caf::actor>(watcher));
  m.all_answer(1);
  REQUIRE(::kill(m.pids[1], SIGKILL) == 0);
  auto ev = m.log.wait_for(supervision(1, supervision_action::restarted));
  REQUIRE(ev);
  CHECK(ev->attempt == 1);
  CHECK_MESSAGE(contains(ev->reason, "killed by signal 9"), ev->reason);
  CHECK(ev->actor == "echoes");
  CHECK(ev->status == proc_status::running);
  // The restarting event came first, with the same attempt and cause.
  auto before = m.log.wait_for(supervision(1, supervision_action::restarting));
  REQUIRE(before);
  CHECK(before->attempt == 1);
  // Every rank answers through the original handle, rank 1 from a new proc.
  m.all_answer(2);
  auto now = pids_of(*m.pm);
  CHECK(now[0] == m.pids[0]);
  CHECK(now[2] == m.pids[2]);
  CHECK(now[1] != m.pids[1]);
  CHECK(m.member_pid(1) == now[1]);
  CHECK_FALSE(is_running(m.pids[1]));
  auto health = m.pm->health();
  CHECK(health[1].status == proc_status::running);
  CHECK(health[1].proc_name == ev->proc_name);
  // get() and views made before the restart reach the new member too.
  caf::scoped_actor self{sys};
  std::optional<int64_t> direct;
  self->request(m.echoes->get(1), 10s, pid_atom::value)
    .receive([&](int64_t p) { direct = p; }, [](caf::error&) {});
  CHECK(direct == std::optional<int64_t>{now[1]});
  // The subscriber got the restarted event as a message.
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i)
    watcher->receive(
      [&](const mesh::proc_event& e) {
        seen = e.rank == 1 && e.action == supervision_action::restarted;
      },
      caf::after(10s) >> [&] { i = 50; });
  CHECK(seen);
  auto summary = m.hosts->shutdown();
  CHECK(summary);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "one_for_one: a call to a rank that is restarting fails at "
                  "once saying so, a cast to it is dropped and counted") {
  gate_file gate;
  supervised_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 2,
                    policy(restart_strategy::one_for_one), "gated_echo",
                    gate.path};
  gate.close(); // the restarted member's initialisation waits here
  REQUIRE(::kill(m.pids[0], SIGKILL) == 0);
  REQUIRE(m.log.wait_for(supervision(0, supervision_action::restarting, 1)));
  auto res = m.echoes->call<int32_t>(30s, int32_t{3});
  REQUIRE_FALSE(res);
  auto text = mesh::to_string(res.error());
  CHECK_MESSAGE(contains(text, "rank 0 (proc "), text);
  CHECK_MESSAGE(contains(text, "is restarting (attempt 1; cause: its proc "
                               "failed: killed by signal 9"),
                text);
  auto each = m.echoes->call_each<int32_t>(30s, int32_t{4});
  REQUIRE_FALSE(each[0]);
  CHECK_MESSAGE(contains(mesh::to_string(each[0].error()), "restarting"),
                mesh::to_string(each[0].error()));
  REQUIRE(each[1]);
  CHECK(*each[1] == 4);
  auto dropped_before = m.pm->health()[0].dropped_casts;
  for (int i = 0; i < 10; ++i)
    m.echoes->cast(int32_t{5});
  CHECK(m.pm->health()[0].dropped_casts == dropped_before + 10);
  CHECK(m.pm->health()[1].dropped_casts == 0);
  gate.open();
  auto ev = m.log.wait_for(supervision(0, supervision_action::restarted, 1));
  REQUIRE(ev);
  m.all_answer(6);
  auto summary = m.hosts->shutdown();
  CHECK(summary);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "one_for_one: a member that fails while its proc runs is "
                  "respawned on the same proc") {
  supervised_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 2,
                    policy(restart_strategy::one_for_one), "echo"};
  auto one = m.echoes->range("gpus", 1, 2);
  REQUIRE(one);
  one->cast(mesh::test::fail_atom::value);
  auto ev = m.log.wait_for(supervision(1, supervision_action::restarted, 1));
  REQUIRE(ev);
  CHECK_MESSAGE(contains(ev->reason, "its actor failed"), ev->reason);
  m.all_answer(7);
  CHECK(m.member_pid(1) == m.pids[1]);
  CHECK(pids_of(*m.pm) == m.pids);
  auto summary = m.hosts->shutdown();
  CHECK(summary);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "all_for_one: one SIGKILL restarts every proc and member, "
                  "counted as one restart") {
  supervised_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 3,
                    policy(restart_strategy::all_for_one), "echo"};
  REQUIRE(::kill(m.pids[2], SIGKILL) == 0);
  for (size_t r = 0; r < 3; ++r) {
    CAPTURE(r);
    auto ev = m.log.wait_for(supervision(r, supervision_action::restarted));
    REQUIRE(ev);
    CHECK(ev->attempt == 1);
    CHECK_MESSAGE(contains(ev->reason, "rank 2 (proc "), ev->reason);
    CHECK_MESSAGE(contains(ev->reason, "killed by signal 9"), ev->reason);
  }
  m.all_answer(8);
  auto now = pids_of(*m.pm);
  for (size_t r = 0; r < 3; ++r) {
    CAPTURE(r);
    CHECK(now[r] != m.pids[r]);
    CHECK(m.member_pid(r) == now[r]);
  }
  CHECK(still_running({m.pids.begin(), m.pids.end()}).empty());
  auto summary = m.hosts->shutdown();
  CHECK(summary);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "intensity: K+1 failures within T give up, tell the owner "
                  "and leave nothing running") {
  supervised_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 2,
                    policy(restart_strategy::one_for_one, 2, 60s), "echo"};
  event_log proc_log;
  m.pm->on_event(proc_log.handler());
  std::set<pid_t> every_pid{m.pids.begin(), m.pids.end()};
  auto victim = m.pids[1];
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    CAPTURE(attempt);
    REQUIRE(::kill(victim, SIGKILL) == 0);
    REQUIRE(
      m.log.wait_for(supervision(1, supervision_action::restarted, attempt)));
    auto now = pids_of(*m.pm);
    CHECK(now[1] != victim);
    victim = now[1];
    every_pid.insert(now.begin(), now.end());
  }
  REQUIRE(::kill(victim, SIGKILL) == 0);
  auto ev = m.log.wait_for(supervision(1, supervision_action::gave_up));
  REQUIRE(ev);
  CHECK_MESSAGE(contains(ev->reason, "2 restarts within 1m"), ev->reason);
  CHECK_MESSAGE(contains(ev->reason, "killed by signal 9"), ev->reason);
  // The proc mesh's handlers are told too.
  REQUIRE(proc_log.wait_for(supervision(1, supervision_action::gave_up)));
  // Nothing of the mesh runs any more, and calls say why.
  auto left = still_running(every_pid);
  CHECK_MESSAGE(left.empty(), left.size() << " procs still run");
  auto res = m.echoes->call<int32_t>(10s, int32_t{9});
  REQUIRE_FALSE(res);
  auto text = mesh::to_string(res.error());
  CHECK_MESSAGE(contains(text, "its supervisor gave up"), text);
  CHECK_MESSAGE(contains(text, "rank 0 (proc "), text);
  for (auto& h : m.pm->health())
    CHECK(mesh::is_terminated(h.status));
  // A restart-less rank 0 was not restarted after the give-up either.
  CHECK(m.log.count("echoes") > 0);
  auto summary = m.hosts->shutdown();
  CHECK(summary);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "process() hosts: a rank is respawned on its own host while "
                  "it lives, and reported given up once that host died") {
  supervised_mesh m{
    host_mesh::process(sys, extent{{"hosts", 2}}, child_command()), 2,
    policy(restart_strategy::one_for_one), "echo"};
  auto host1 = host_of(m.pids[2]);
  REQUIRE(host1 > 1);
  REQUIRE(host1 == host_of(m.pids[3]));
  auto addr1 = m.pm->health()[2].host;
  // A proc of host 1 dies: its rank comes back on host 1.
  REQUIRE(::kill(m.pids[2], SIGKILL) == 0);
  auto ev = m.log.wait_for(supervision(2, supervision_action::restarted, 1));
  REQUIRE(ev);
  CHECK(ev->host == addr1);
  auto now = pids_of(*m.pm);
  CHECK(now[2] != m.pids[2]);
  CHECK(host_of(now[2]) == host1);
  m.all_answer(10);
  // Host 1 dies: its ranks cannot come back and are reported.
  REQUIRE(::kill(host1, SIGKILL) == 0);
  for (size_t r : {size_t{2}, size_t{3}}) {
    CAPTURE(r);
    auto gave = m.log.wait_for(supervision(r, supervision_action::gave_up));
    REQUIRE(gave);
    CHECK_MESSAGE(contains(gave->reason, "was lost"), gave->reason);
    CHECK_MESSAGE(contains(gave->reason, "restarted on its own host only"),
                  gave->reason);
  }
  // Host 0's ranks stay supervised and answer; host 1's fail at once.
  auto first = m.echoes->range("hosts", 0, 1);
  REQUIRE(first);
  auto res = first->call<int32_t>(10s, int32_t{11});
  REQUIRE_MESSAGE(res, mesh::to_string(res.error()));
  auto second = m.echoes->range("hosts", 1, 2);
  REQUIRE(second);
  auto lost = second->call<int32_t>(10s, int32_t{12});
  REQUIRE_FALSE(lost);
  CHECK_MESSAGE(contains(mesh::to_string(lost.error()), "was lost"),
                mesh::to_string(lost.error()));
  auto summary = m.hosts->shutdown();
  CHECK(mesh::test::reap_exiting_children(5s));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "a proc mesh its owner stops is not restarted, not even a "
                  "rank whose restart was under way") {
  gate_file gate;
  supervised_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 2,
                    policy(restart_strategy::one_for_one), "gated_echo",
                    gate.path};
  gate.close();
  REQUIRE(::kill(m.pids[1], SIGKILL) == 0);
  REQUIRE(m.log.wait_for(supervision(1, supervision_action::restarting, 1)));
  auto stopped = m.pm->stop("test stops the mesh");
  CHECK_MESSAGE(stopped, mesh::to_string(stopped.error()));
  gate.open();
  // Every rank's current proc (rank 1's new one included) ends, and stays so.
  std::vector<mesh::proc_state> states;
  for (int i = 0; i < 300; ++i) {
    auto now = m.pm->states();
    REQUIRE(now);
    states = *now;
    if (std::all_of(states.begin(), states.end(),
                    [](auto& st) { return mesh::is_terminated(st.status); }))
      break;
    std::this_thread::sleep_for(50ms);
  }
  std::set<pid_t> every_pid{m.pids.begin(), m.pids.end()};
  for (auto& st : states) {
    CAPTURE(st.rank);
    CHECK(mesh::is_terminated(st.status));
    every_pid.insert(static_cast<pid_t>(st.pid));
  }
  CHECK(states[1].proc_name != mesh::proc_name(m.pm->id(), 1));
  CHECK(still_running(every_pid).empty());
  auto res = m.echoes->call<int32_t>(10s, int32_t{13});
  REQUIRE_FALSE(res);
  {
    std::lock_guard<std::mutex> guard{m.log.mtx};
    for (auto& e : m.log.events)
      CHECK(e.action != supervision_action::restarted);
  }
  auto summary = m.hosts->shutdown();
  CHECK(summary);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "supervise refuses a second actor mesh of the same proc "
                  "mesh and a policy without restarts") {
  supervised_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 1,
                    policy(restart_strategy::one_for_one), "echo"};
  auto other = m.pm->spawn<caf::actor>("others", "echo");
  REQUIRE(other);
  auto second = other->supervise(policy(restart_strategy::one_for_one));
  REQUIRE_FALSE(second);
  CHECK_MESSAGE(contains(mesh::to_string(second.error()), "supervised already"),
                mesh::to_string(second.error()));
  auto none = m.echoes->supervise(policy(restart_strategy::one_for_one, 0));
  REQUIRE_FALSE(none);
  auto summary = m.hosts->shutdown();
  CHECK(summary);
}
