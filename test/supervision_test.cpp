// Supervision with real processes and signals: what waits on a proc or host
// that dies, hangs or is cut off is released as soon as the death is known,
// the owner hears about every rank once, and casts to the dead are dropped
// and counted.
#include "mesh/actor_mesh.hpp"
#include "mesh/config.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/proc_mesh.hpp"
#include "support/actor_fixture.hpp"
#include "support/event_log.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::proc_status;
using mesh::test::event_log;
using mesh::test::sleep_atom;

namespace {

using clock_type = std::chrono::steady_clock;

using mesh::test::child_command;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t)
    .count();
}

/// A fixture with a short hang bound: peers silent for 2 s are cut off.
struct hang_fixture : mesh::test::reaped_fixture {
  mesh::config_override fast_terminate{"terminate_timeout",
                                         mesh::test::polite_window()};
  mesh::config_override unresponsive{"proc_unresponsive_timeout", "2s"};
  mesh::test::test_config cfg;
  caf::actor_system sys{cfg};
};

using mesh::test::actor_fixture;
using mesh::test::pids_of;

/// The host process of a proc of a process() mesh.
pid_t host_of(pid_t proc) {
  return mesh::test::host_process_of(proc);
}

/// A proc mesh of `per_host` procs on each host of `hosts`, named
/// "workers" (dimension "gpus"), with an "echo" actor on each proc; and the
/// pid of every proc. Members are destroyed in reverse order: the actor mesh
/// first, the host mesh (which shuts down) last.
struct echo_mesh {
  std::optional<host_mesh> hosts;
  std::optional<mesh::proc_mesh> pm;
  std::optional<mesh::actor_mesh<caf::actor>> echoes;
  std::vector<pid_t> pids;

  echo_mesh(caf::expected<host_mesh> made, size_t per_host) {
    REQUIRE_MESSAGE(made, mesh::to_string(made.error()));
    hosts.emplace(std::move(*made));
    auto procs = hosts->spawn("workers", extent{{"gpus", per_host}});
    REQUIRE_MESSAGE(procs, mesh::to_string(procs.error()));
    pm.emplace(std::move(*procs));
    auto actors = pm->spawn<caf::actor>("echoes", "echo");
    REQUIRE_MESSAGE(actors, mesh::to_string(actors.error()));
    echoes.emplace(std::move(*actors));
    pids = pids_of(*pm);
  }
};

/// Starts `call` on another thread, SIGKILLs `victim` once the call waits,
/// and returns the call's outcome; `waited_ms` is how long after the signal
/// it came back (at most 10 s, or the test fails).
template <class Call>
auto killed_during(Call call, pid_t victim, double& waited_ms) {
  auto pending = std::async(std::launch::async, std::move(call));
  std::this_thread::sleep_for(200ms);
  auto killed_at = clock_type::now();
  REQUIRE(::kill(victim, SIGKILL) == 0);
  REQUIRE(pending.wait_for(10s) == std::future_status::ready);
  waited_ms = ms_since(killed_at);
  return pending.get();
}

/// Blocks rank `r` of `echoes` (its proc's only thread) for `ms`, and waits
/// until it has started to: what is sent to it afterwards waits behind it.
void block_rank(const mesh::actor_mesh<caf::actor>& echoes, size_t r,
                int32_t ms) {
  caf::anon_send(echoes.get(r), sleep_atom::value, ms);
  // A message sent after the sleep cannot be answered before it; give the
  // sleep a moment to begin.
  std::this_thread::sleep_for(100ms);
}

} // namespace

TEST_CASE_FIXTURE(actor_fixture,
                  "a call waiting on a proc that is SIGKILLed fails at once "
                  "for that rank, naming the rank, host and cause") {
  echo_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 3};
  auto& [hosts, pm, echoes, pids] = m;
  event_log log;
  pm->on_event(log.handler());
  auto view = echoes->range("gpus", 2, 3);
  REQUIRE(view);
  block_rank(*echoes, 2, 20000);
  // A view of one member is asked directly (no comm actor in between).
  double waited = 0;
  auto res =
    killed_during([&] { return view->call<int32_t>(30s, int32_t{7}); },
                  pids[2], waited);
  MESSAGE("call failed " << waited << " ms after the SIGKILL");
  REQUIRE_FALSE(res);
  auto text = mesh::to_string(res.error());
  CHECK_MESSAGE(contains(text, "rank 0 (proc " + mesh::proc_name(pm->id(), 2)),
                text);
  CHECK_MESSAGE(contains(text, " on host "), text);
  CHECK_MESSAGE(contains(text, "is gone: its proc failed: killed by signal 9"),
                text);
  CHECK(waited < 5000);
  auto ev = log.wait_for([](auto& e) { return e.rank == 2 && e.status ==
                                               proc_status::failed; });
  REQUIRE(ev);
  CHECK(ev->signal == std::optional<int>{SIGKILL});
  CHECK_FALSE(ev->host.empty());
  CHECK(ev->proc_name == mesh::proc_name(pm->id(), 2));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "call_each keeps the other ranks' replies when one rank's "
                  "proc dies during a relayed call") {
  echo_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 3};
  auto& [hosts, pm, echoes, pids] = m;
  block_rank(*echoes, 1, 20000);
  // Three members on one host: relayed by the host's comm actor.
  double waited = 0;
  auto outcome =
    killed_during([&] { return echoes->call_each<int32_t>(30s, int32_t{5}); },
                  pids[1], waited);
  MESSAGE("call_each returned " << waited << " ms after the SIGKILL");
  CHECK(waited < 5000);
  REQUIRE(outcome.size() == 3);
  REQUIRE(outcome[0]);
  CHECK(*outcome[0] == 5);
  REQUIRE(outcome[2]);
  CHECK(*outcome[2] == 5);
  REQUIRE_FALSE(outcome[1]);
  auto text = mesh::to_string(outcome[1].error());
  CHECK_MESSAGE(contains(text, "rank 1 (proc "), text);
  CHECK_MESSAGE(contains(text, "is gone"), text);
  // And the all-or-error call names the dead rank at once now.
  auto started = clock_type::now();
  auto res = echoes->call<int32_t>(30s, int32_t{5});
  REQUIRE_FALSE(res);
  CHECK(ms_since(started) < 5000);
  CHECK_MESSAGE(contains(mesh::to_string(res.error()), "rank 1 (proc "),
                mesh::to_string(res.error()));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "an actor spawn waiting on a proc that dies fails at once "
                  "naming that rank") {
  echo_mesh m{host_mesh::local_with_bootstrap(sys, child_command()), 2};
  auto& [hosts, pm, echoes, pids] = m;
  block_rank(*echoes, 1, 20000);
  double waited = 0;
  auto res =
    killed_during([&] { return pm->spawn<caf::actor>("late", "echo"); },
                  pids[1], waited);
  MESSAGE("spawn failed " << waited << " ms after the SIGKILL");
  CHECK(waited < 5000);
  REQUIRE_FALSE(res);
  auto text = mesh::to_string(res.error());
  CHECK_MESSAGE(contains(text, "rank 1 (proc "), text);
  CHECK_MESSAGE(contains(text, "killed by signal 9"), text);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "casts to a rank known dead are not sent but counted, with "
                  "one event for the rank") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE(pm);
  auto counters =
    pm->spawn<mesh::test::counter_actor>("counters", "counter", int32_t{0});
  REQUIRE(counters);
  event_log log;
  pm->on_event(log.handler());
  auto pids = pids_of(*pm);
  REQUIRE(::kill(pids[0], SIGKILL) == 0);
  REQUIRE(log.wait_for([](auto& e) {
    return e.rank == 0 && e.status == proc_status::failed;
  }));
  for (int i = 0; i < 100; ++i)
    counters->cast(caf::add_atom::value, int32_t{1});
  auto health = pm->health();
  REQUIRE(health.size() == 2);
  CHECK(health[0].status == proc_status::failed);
  CHECK(health[0].dropped_casts == 100);
  CHECK(health[1].dropped_casts == 0);
  CHECK(health[1].status == proc_status::running);
  // The live rank got every cast.
  auto one = counters->range("gpus", 1, 2);
  REQUIRE(one);
  auto value = one->call<int32_t>(caf::get_atom::value);
  REQUIRE(value);
  CHECK((*value)[0] == 100);
  std::this_thread::sleep_for(200ms);
  std::lock_guard<std::mutex> guard{log.mtx};
  CHECK(std::count_if(log.events.begin(), log.events.end(), [](auto& e) {
          return e.rank == 0 && e.actor.empty();
        }) == 1);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "a host process that is SIGKILLed fails its ranks within a "
                  "second, releases calls at once, and the rest stays usable") {
  echo_mesh m{host_mesh::process(sys, extent{{"hosts", 2}}, child_command()),
              2};
  auto& [hosts, pm, echoes, pids] = m;
  event_log log;
  pm->on_event(log.handler());
  auto host1 = host_of(pids[2]);
  REQUIRE(host1 > 1);
  REQUIRE(host1 != ::getpid());
  block_rank(*echoes, 3, 20000);
  auto view = echoes->range("hosts", 1, 2);
  REQUIRE(view);
  auto pending = std::async(std::launch::async, [&] {
    return view->call_each<int32_t>(30s, int32_t{3});
  });
  std::this_thread::sleep_for(200ms);
  auto killed_at = clock_type::now();
  REQUIRE(::kill(host1, SIGKILL) == 0);
  for (size_t r : {size_t{2}, size_t{3}}) {
    CAPTURE(r);
    auto ev = log.wait_for([r](auto& e) {
      return e.rank == r && e.actor.empty() && mesh::is_terminated(e.status);
    });
    REQUIRE(ev);
    CHECK(ev->status == proc_status::failed);
    CHECK_MESSAGE(contains(ev->reason, "was lost"), ev->reason);
  }
  auto heard = ms_since(killed_at);
  MESSAGE("both ranks of the lost host reported " << heard << " ms after "
          "the SIGKILL");
  CHECK(heard < 3000);
  REQUIRE(pending.wait_for(10s) == std::future_status::ready);
  auto outcome = pending.get();
  REQUIRE(outcome.size() == 2);
  CHECK_FALSE(outcome[1]);
  // The other host still answers.
  auto first = echoes->range("hosts", 0, 1);
  REQUIRE(first);
  auto res = first->call<int32_t>(10s, int32_t{4});
  REQUIRE(res);
  CHECK((*res)[1] == 4);
  // And the shutdown returns promptly, naming the lost host.
  auto started = clock_type::now();
  auto summary = hosts->shutdown();
  MESSAGE("shutdown took " << ms_since(started) << " ms");
  CHECK(ms_since(started) < 10000);
  REQUIRE_FALSE(summary);
  CHECK_MESSAGE(contains(mesh::to_string(summary.error()), "unreachable"),
                mesh::to_string(summary.error()));
  // The killed host's zygote and procs died with it (parent-death signal);
  // orphans, they are this test process's to reap (it is a subreaper).
  CHECK(mesh::test::reap_exiting_children(5s));
}

TEST_CASE_FIXTURE(hang_fixture,
                  "a SIGSTOPped host is failed as unresponsive after "
                  "proc_unresponsive_timeout and does not come back") {
  echo_mesh m{host_mesh::process(sys, extent{{"hosts", 2}}, child_command()),
              1};
  auto& [hosts, pm, echoes, pids] = m;
  event_log log;
  pm->on_event(log.handler());
  auto host1 = host_of(pids[1]);
  REQUIRE(host1 > 1);
  REQUIRE(host1 != ::getpid());
  block_rank(*echoes, 1, 10000);
  auto pending = std::async(std::launch::async, [&] {
    return echoes->call_each<int32_t>(30s, int32_t{9});
  });
  std::this_thread::sleep_for(200ms);
  mesh::test::resume_on_exit resume{host1};
  auto stopped_at = clock_type::now();
  REQUIRE(mesh::test::stop_process(host1));
  auto ev = log.wait_for([](auto& e) {
    return e.rank == 1 && e.actor.empty() && mesh::is_terminated(e.status);
  });
  auto heard = ms_since(stopped_at);
  ::kill(host1, SIGCONT);
  REQUIRE(ev);
  MESSAGE("hung host reported " << heard << " ms after SIGSTOP: "
                                << ev->reason);
  CHECK(ev->status == proc_status::failed);
  CHECK_MESSAGE(contains(ev->reason, "unresponsive for 2s"), ev->reason);
  // Cut 1.5 s after the last heartbeat (sent at most 500 ms before the
  // SIGSTOP), checked every 500 ms, plus the knock.
  CHECK(heard > 900);
  CHECK(heard < 5000);
  REQUIRE(pending.wait_for(5s) == std::future_status::ready);
  auto outcome = pending.get();
  REQUIRE(outcome.size() == 2);
  REQUIRE(outcome[0]);
  CHECK(*outcome[0] == 9);
  REQUIRE_FALSE(outcome[1]);
  CHECK_MESSAGE(contains(mesh::to_string(outcome[1].error()), "unresponsive"),
                mesh::to_string(outcome[1].error()));
  // Resumed, it finds its connection gone and ends with its proc.
  auto deadline = clock_type::now() + 15s;
  while (clock_type::now() < deadline && mesh::test::parent_of(host1) > 0)
    std::this_thread::sleep_for(50ms);
  CHECK(mesh::test::parent_of(host1) <= 0);
  CHECK(pm->health()[1].status == proc_status::failed);
  auto summary = hosts->shutdown();
  CHECK(mesh::test::reap_exiting_children(5s));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "a relayed call in a host process keeps the other ranks' "
                  "replies when one proc is SIGKILLed") {
  echo_mesh m{host_mesh::process(sys, extent{{"hosts", 2}}, child_command()),
              2};
  auto& [hosts, pm, echoes, pids] = m;
  block_rank(*echoes, 1, 20000);
  // Two members per host: relayed by each host process's comm actor.
  double waited = 0;
  auto outcome =
    killed_during([&] { return echoes->call_each<int32_t>(30s, int32_t{6}); },
                  pids[1], waited);
  MESSAGE("relayed call_each returned " << waited << " ms after the SIGKILL");
  CHECK(waited < 5000);
  REQUIRE(outcome.size() == 4);
  for (size_t r : {size_t{0}, size_t{2}, size_t{3}}) {
    CAPTURE(r);
    REQUIRE(outcome[r]);
    CHECK(*outcome[r] == 6);
  }
  REQUIRE_FALSE(outcome[1]);
  CHECK_MESSAGE(contains(mesh::to_string(outcome[1].error()), "is gone"),
                mesh::to_string(outcome[1].error()));
  auto summary = hosts->shutdown();
}

TEST_CASE_FIXTURE(actor_fixture,
                  "an all-or-error call fails as soon as one rank dies, "
                  "without waiting for the slow ones, and names only the dead "
                  "rank") {
  echo_mesh m{host_mesh::process(sys, extent{{"hosts", 2}}, child_command()),
              2};
  auto& [hosts, pm, echoes, pids] = m;
  // Every member busy: the call is pending on all four, relayed by both
  // host processes' comm actors.
  for (size_t r = 0; r < 4; ++r)
    caf::anon_send(echoes->get(r), sleep_atom::value, int32_t{20000});
  std::this_thread::sleep_for(100ms);
  double waited = 0;
  auto res =
    killed_during([&] { return echoes->call<int32_t>(30s, int32_t{6}); },
                  pids[2], waited);
  MESSAGE("the all-or-error call failed " << waited << " ms after the "
          "SIGKILL");
  CHECK(waited < 5000);
  REQUIRE_FALSE(res);
  auto text = mesh::to_string(res.error());
  CHECK_MESSAGE(contains(text, "rank 2 (proc "), text);
  CHECK_MESSAGE(contains(text, "is gone: its proc failed: killed by signal 9"),
                text);
  for (auto other : {"rank 0 (", "rank 1 (", "rank 3 ("})
    CHECK_MESSAGE(!contains(text, other), text);
  auto summary = hosts->shutdown();
}
