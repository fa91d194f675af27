// The non-blocking face (mesh/async.hpp): an event-based actor drives a
// whole mesh by continuations, in a client whose scheduler has a single
// thread, so that any operation that blocked a worker would stall every
// other actor of the client (its host agent, the gate, a responder) and
// the test with it.
#include "mesh/async.hpp"
#include "mesh/config.hpp"
#include "support/actor_fixture.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

mesh::bootstrap_command child_command() {
  mesh::bootstrap_command cmd;
  cmd.program = mesh::test::build_path("test/mesh_child");
  return cmd;
}

/// A client whose scheduler runs one thread.
struct one_thread_config : mesh::test::test_config {
  one_thread_config() { set("scheduler.max-threads", size_t{1}); }
};

struct one_thread_fixture : mesh::test::reaped_fixture {
  mesh::config_override fast_terminate{"terminate_timeout", "500ms"};
  one_thread_config cfg;
  caf::actor_system sys{cfg};
};

/// What happened, in the order the driver saw it.
struct journal {
  std::mutex mtx;
  std::vector<std::string> lines;
  void add(std::string line) {
    std::lock_guard<std::mutex> guard{mtx};
    lines.push_back(std::move(line));
  }
  /// Index of the first line equal to `line`, or lines.size().
  size_t index_of(const std::string& line) {
    std::lock_guard<std::mutex> guard{mtx};
    return static_cast<size_t>(
      std::find(lines.begin(), lines.end(), line) - lines.begin());
  }
  std::string dump() {
    std::lock_guard<std::mutex> guard{mtx};
    std::string result;
    for (auto& l : lines)
      result += l + "\n";
    return result;
  }
};

struct driver_state {
  std::optional<mesh::host_mesh> hosts;
  std::optional<mesh::proc_mesh> procs;
  std::optional<mesh::actor_mesh<caf::actor>> gated;
  std::string phase;
};

using driver_ptr = caf::stateful_actor<driver_state>*;

/// Enters `phase` and asks the responder: its answer is journaled with the
/// phase the driver is in when it comes.
void enter(driver_ptr self, journal& log, const caf::actor& responder,
           std::string phase) {
  self->state.phase = phase;
  log.add(phase + " started");
  self->request(responder, caf::infinite, caf::get_atom::value)
    .then([self, &log, phase](int32_t) {
      log.add("responder answered" + std::string{
                self->state.phase == phase ? " during " : " after "}
              + phase);
    });
}

} // namespace

TEST_CASE_FIXTURE(one_thread_fixture,
                  "an actor drives a whole mesh by continuations with one "
                  "scheduler thread: nothing blocks the thread") {
  journal log;
  std::promise<std::string> finished;
  auto outcome = finished.get_future();
  auto* fin = &finished;
  auto responder = sys.spawn([]() -> caf::behavior {
    return {[](caf::get_atom) { return int32_t{1}; }};
  });
  // The gated actors delegate every call to this actor of the client.
  auto gate = sys.spawn([]() -> caf::behavior {
    return {[](int32_t x) { return x; }};
  });
  auto fail = [&finished](std::string what) {
    return [&finished, what](caf::error& err) {
      finished.set_value(what + ": " + mesh::to_string(err));
    };
  };
  auto driver = sys.spawn([&](driver_ptr self) -> caf::behavior {
    enter(self, log, responder, "local");
    mesh::async::local_with_bootstrap(self, child_command())
      .then(
        [=, &log](mesh::host_mesh& hosts) {
          log.add("local done");
          self->state.hosts.emplace(std::move(hosts));
          enter(self, log, responder, "spawn");
          mesh::async::spawn(self, *self->state.hosts, "workers",
                             mesh::extent{{"procs", 2}})
            .then(
              [=, &log](mesh::proc_mesh& procs) {
                log.add("spawn done");
                self->state.procs.emplace(std::move(procs));
                mesh::async::spawn<caf::actor>(self, *self->state.procs,
                                               "gated", "gated", gate)
                  .then(
                    [=, &log](mesh::actor_mesh<caf::actor>& am) {
                      log.add("actors spawned");
                      self->state.gated.emplace(am);
                      enter(self, log, responder, "call");
                      mesh::async::call<int32_t>(self, am, int32_t{7})
                        .then(
                          [=, &log](mesh::value_mesh<int32_t>& values) {
                            log.add("call done: " + values.to_string());
                            log.add("call values: "
                                    + std::to_string(values[0]) + " "
                                    + std::to_string(values[1]));
                            enter(self, log, responder, "shutdown");
                            mesh::async::shutdown(self, *self->state.hosts)
                              .then(
                                [=, &log](mesh::shutdown_summary& s) {
                                  log.add("shutdown done: " + s.to_string());
                                  fin->set_value("ok");
                                  self->quit();
                                },
                                fail("shutdown"));
                          },
                          fail("call"));
                    },
                    fail("spawn of the actor mesh"));
              },
              fail("spawn"));
        },
        fail("local"));
    return {[](caf::ok_atom) {}};
  });
  REQUIRE(outcome.wait_for(60s) == std::future_status::ready);
  auto result = outcome.get();
  INFO(log.dump());
  REQUIRE(result == "ok");
  // Another actor of the client answered while each operation was in
  // flight, before its continuation ran (the call could end only through
  // the gate, another actor of the client).
  for (std::string phase : {"local", "spawn", "call", "shutdown"}) {
    auto answered = log.index_of("responder answered during " + phase);
    // "call done: ..." and "shutdown done: ..." carry their values.
    auto done = log.lines.size();
    for (size_t i = 0; i < log.lines.size(); ++i)
      if (log.lines[i].rfind(phase + " done", 0) == 0)
        done = std::min(done, i);
    CHECK_MESSAGE(done < log.lines.size(), phase);
    CHECK_MESSAGE(answered < done, phase);
  }
  CHECK(log.index_of("call values: 7 7") < log.lines.size());
  caf::anon_send_exit(responder, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
  static_cast<void>(driver);
}
