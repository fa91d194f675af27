// Launching never blocks an actor (architecture §3): with one scheduler
// thread in the client, other actors of the same system keep answering while
// a host launches procs, even while its launcher waits for a zygote.
//
// Ordering, not wall-clock: the zygote of the test's command is held at a
// gate (mesh_child's MESH_TEST_ZYGOTE_GATE) that the test opens only after
// an actor of the client's system answered requests sent after the zygote
// had started. If a launch parked the only scheduler thread until the zygote
// was ready, no such answer could come until the launcher gave up on the
// zygote (its own 2 s limit) and exec'd the procs instead: then they are not
// children of a zygote, and the test fails.
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

using namespace std::chrono_literals;

namespace {

caf::behavior echo() {
  return {[](int32_t x) { return x; }};
}

} // namespace

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "with one scheduler thread, another actor keeps answering "
                  "while local_with_bootstrap spawns 32 procs") {
  mesh::test::zygote_gate gate;
  mesh::config cfg;
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  auto responder = sys.spawn(echo);
  std::atomic<bool> stop{false};
  std::atomic<int> answered_after_start{0};
  std::atomic<int> answered_during_spawn{0};
  std::atomic<bool> spawning{false};
  std::thread pinger{[&] {
    caf::scoped_actor self{sys};
    for (int32_t i = 0; !stop && i < 60000; ++i) {
      bool started = gate.started();
      self->request(responder, caf::infinite, i)
        .receive([&](int32_t) {},
                 [&](caf::error&) { FAIL("the responder failed"); });
      if (spawning)
        ++answered_during_spawn;
      // Only answers to requests sent once the zygote waited at the gate.
      if (started && ++answered_after_start == 3)
        gate.open();
      std::this_thread::sleep_for(1ms);
    }
  }};
  mesh::bootstrap_command cmd;
  cmd.program = mesh::test::build_path("test/mesh_child");
  cmd.env["MESH_TEST_ZYGOTE_GATE"] = gate.dir();
  spawning = true;
  auto hosts = mesh::host_mesh::local_with_bootstrap(sys, cmd);
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto procs = hosts->spawn("responsive", mesh::extent{{"procs", 32}});
  spawning = false;
  stop = true;
  pinger.join();
  REQUIRE_MESSAGE(procs, mesh::to_string(procs.error()));
  CHECK(answered_after_start >= 3);
  CHECK(answered_during_spawn >= 3);
  // Served by the zygote that waited at the gate: every proc is its child,
  // not this process's (exec'd procs would be).
  auto states = procs->states();
  REQUIRE(states);
  std::set<int64_t> parents;
  for (auto& st : *states)
    parents.insert(mesh::test::parent_of(st.pid));
  CHECK(parents.size() == 1);
  CHECK(parents.count(::getpid()) == 0);
  CHECK(hosts->shutdown());
}
