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

using mesh::test::child_command;

/// A client whose scheduler runs one thread.
struct one_thread_config : mesh::test::test_config {
  one_thread_config() { set("scheduler.max-threads", size_t{1}); }
};

struct one_thread_fixture : mesh::test::reaped_fixture {
  mesh::config_override fast_terminate{"terminate_timeout",
                                         mesh::test::polite_window()};
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

namespace {

using mesh::test::actor_fixture;

/// A scoped request that must be answered with one T.
template <class T, class Handle, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const Handle& whom, Ts&&... xs) {
  caf::expected<T> result{caf::sec::runtime_error};
  caf::scoped_actor self{sys};
  self->request(whom, 60s, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

TEST_CASE_FIXTURE(actor_fixture,
                  "mesh handles sent to actors in procs work there") {
  auto hosts = mesh::host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto procs = hosts->spawn("users", mesh::extent{{"procs", 2}});
  REQUIRE(procs);
  auto echoes = procs->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  auto users = procs->spawn<caf::actor>("users", "handle_user");
  REQUIRE(users);
  // Each user calls the whole echo mesh from its proc: 2 x 5.
  auto sums = users->call<int32_t>(*echoes, int32_t{5});
  REQUIRE_MESSAGE(sums, mesh::to_string(sums.error()));
  CHECK((*sums)[0] == 10);
  CHECK((*sums)[1] == 10);
  // A view travels as a view: one member.
  auto first = echoes->range("procs", 0, 1);
  REQUIRE(first);
  auto one = users->call<int32_t>(*first, int32_t{5});
  REQUIRE(one);
  CHECK((*one)[0] == 5);
  // The proc mesh and host mesh references reach the same procs and hosts.
  auto running = users->call<int32_t>(procs->as_ref());
  REQUIRE_MESSAGE(running, mesh::to_string(running.error()));
  CHECK((*running)[0] == 2);
  auto nhosts = users->call<int32_t>(hosts->as_ref());
  REQUIRE(nhosts);
  CHECK((*nhosts)[1] == 1);
  // And within this process, as copies.
  auto local_user = sys.spawn(mesh::test::handle_user);
  auto local_sum = ask<int32_t>(sys, local_user, *echoes, int32_t{3});
  REQUIRE_MESSAGE(local_sum, mesh::to_string(local_sum.error()));
  CHECK(*local_sum == 6);
  caf::anon_send_exit(local_user, caf::exit_reason::user_shutdown);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(actor_fixture,
                  "the mesh client drives a mesh by messages alone") {
  auto hosts = mesh::host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto client = mesh::spawn_mesh_client(sys);
  // Events as messages, to an actor of ours.
  struct seen {
    std::mutex mtx;
    std::vector<mesh::proc_status> statuses;
  };
  auto log = std::make_shared<seen>();
  auto watcher = sys.spawn([log]() -> caf::behavior {
    return {[log](const mesh::proc_event& ev) {
      // Proc events only (each also yields an event for the actor mesh).
      if (!ev.actor_mesh.empty())
        return;
      std::lock_guard<std::mutex> guard{log->mtx};
      log->statuses.push_back(ev.status);
    }};
  });
  mesh::proc_mesh_request req;
  req.name = "bymsg";
  req.per_host = mesh::extent{{"procs", 2}};
  auto procs = ask<mesh::proc_mesh_ref>(sys, client, mesh::spawn_procs_atom::value,
                                        hosts->as_ref(), req);
  REQUIRE_MESSAGE(procs, mesh::to_string(procs.error()));
  CHECK(procs->size() == 2);
  caf::anon_send(client, mesh::subscribe_events_atom::value, *procs, watcher);
  mesh::actor_mesh_request areq;
  areq.name = "echoes";
  areq.type = "echo";
  auto echoes = ask<mesh::actor_mesh<caf::actor>>(
    sys, client, mesh::spawn_actor_atom::value, *procs, areq);
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
  auto values = echoes->call<int32_t>(int32_t{4});
  REQUIRE(values);
  CHECK((*values)[1] == 4);
  auto states = ask<std::vector<mesh::proc_state>>(
    sys, client, mesh::proc_state_atom::value, *procs);
  REQUIRE(states);
  CHECK(states->size() == 2);
  CHECK((*states)[0].status == mesh::proc_status::running);
  // Errors come back as errors: an unknown actor type, overlapping labels.
  areq.type = "no_such_type";
  auto bad = ask<mesh::actor_mesh<caf::actor>>(
    sys, client, mesh::spawn_actor_atom::value, *procs, areq);
  REQUIRE(!bad);
  CHECK(mesh::to_string(bad.error()).find("no_such_type") != std::string::npos);
  req.per_host = mesh::extent{{"hosts", 2}};
  auto overlap = ask<mesh::proc_mesh_ref>(sys, client, mesh::spawn_procs_atom::value,
                                          hosts->as_ref(), req);
  REQUIRE(!overlap);
  CHECK(mesh::to_string(overlap.error()).find("overlap") != std::string::npos);
  auto stopped = ask<caf::ok_atom>(sys, client, mesh::stop_procs_atom::value,
                                   *procs, std::string{"done"});
  REQUIRE_MESSAGE(stopped, mesh::to_string(stopped.error()));
  auto after = procs->states();
  REQUIRE(after);
  CHECK((*after)[0].status == mesh::proc_status::stopped);
  // The watcher heard the procs stop (events come before the stop's reply).
  {
    std::lock_guard<std::mutex> guard{log->mtx};
    CHECK(std::count(log->statuses.begin(), log->statuses.end(),
                     mesh::proc_status::stopped)
          == 2);
  }
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(actor_fixture,
                  "non-blocking operations report errors to the actor") {
  std::promise<std::vector<std::string>> finished;
  auto outcome = finished.get_future();
  auto* fin = &finished;
  auto cmd = child_command();
  sys.spawn([fin, cmd](caf::stateful_actor<driver_state>* self) {
    auto errors = std::make_shared<std::vector<std::string>>();
    auto note = [errors](caf::error& err) {
      errors->push_back(mesh::to_string(err));
    };
    mesh::async::local_with_bootstrap(self, cmd).then(
      [=](mesh::host_mesh& hosts) {
        self->state.hosts.emplace(std::move(hosts));
        // Overlapping labels: refused before anything starts.
        mesh::async::spawn(self, *self->state.hosts, "bad",
                           mesh::extent{{"hosts", 1}})
          .then([](mesh::proc_mesh&) {},
                [=](caf::error& err) {
                  note(err);
                  mesh::async::spawn(self, *self->state.hosts, "ok",
                                     mesh::extent{{"procs", 1}})
                    .then(
                      [=](mesh::proc_mesh& procs) {
                        self->state.procs.emplace(std::move(procs));
                        // An actor type no proc knows.
                        mesh::async::spawn<caf::actor>(
                          self, *self->state.procs, "x", "no_such_type")
                          .then([](mesh::actor_mesh<caf::actor>&) {},
                                [=](caf::error& err) {
                                  note(err);
                                  mesh::async::shutdown(self,
                                                        *self->state.hosts)
                                    .then(
                                      [=](mesh::shutdown_summary&) {
                                        fin->set_value(*errors);
                                        self->quit();
                                      },
                                      [=](caf::error& err) {
                                        note(err);
                                        fin->set_value(*errors);
                                        self->quit();
                                      });
                                });
                      },
                      [=](caf::error& err) {
                        note(err);
                        fin->set_value(*errors);
                        self->quit();
                      });
                });
      },
      [=](caf::error& err) {
        note(err);
        fin->set_value(*errors);
        self->quit();
      });
  });
  REQUIRE(outcome.wait_for(60s) == std::future_status::ready);
  auto errors = outcome.get();
  INFO(errors.size());
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].find("overlap") != std::string::npos);
  CHECK(errors[1].find("no_such_type") != std::string::npos);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "an actor brings up a process() mesh without blocking") {
  std::promise<std::string> finished;
  auto outcome = finished.get_future();
  auto* fin = &finished;
  auto cmd = child_command();
  sys.spawn([fin, cmd](caf::stateful_actor<driver_state>* self) {
    // Any error ends the test with its text.
    auto give_up = [=](caf::error& err) {
      fin->set_value(mesh::to_string(err));
      self->quit();
    };
    mesh::async::process(self, mesh::extent{{"hosts", 2}}, cmd)
      .then(
        [=](mesh::host_mesh& hosts) {
          self->state.hosts.emplace(std::move(hosts));
          // Two procs per host: calls are relayed by each host's comm
          // actor, in the host's own process.
          mesh::async::spawn(self, *self->state.hosts, "p",
                             mesh::extent{{"procs", 2}})
            .then(
              [=](mesh::proc_mesh& procs) {
                self->state.procs.emplace(std::move(procs));
                mesh::async::spawn<caf::actor>(self, *self->state.procs, "e",
                                               "echo")
                  .then(
                    [=](mesh::actor_mesh<caf::actor>& echoes) {
                      mesh::async::call<int32_t>(self, echoes, int32_t{9})
                        .then(
                          [=](mesh::value_mesh<int32_t>& values) {
                            int32_t sum = 0;
                            for (size_t r = 0; r < values.size(); ++r)
                              sum += values[r];
                            auto n = values.size();
                            mesh::async::shutdown(self, *self->state.hosts)
                              .then(
                                [=](mesh::shutdown_summary& s) {
                                  fin->set_value(
                                    std::to_string(n) + " replies, sum "
                                    + std::to_string(sum) + "; "
                                    + std::to_string(s.hosts) + " hosts");
                                  self->quit();
                                },
                                give_up);
                          },
                          give_up);
                    },
                    give_up);
              },
              give_up);
        },
        give_up);
  });
  REQUIRE(outcome.wait_for(60s) == std::future_status::ready);
  CHECK(outcome.get() == "4 replies, sum 36; 2 hosts");
}
