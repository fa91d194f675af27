// One event-based actor drives a whole mesh without ever blocking
// (mesh/async.hpp): it brings up a local host with 4 procs, spawns an actor
// mesh on them, puts it under a one_for_one supervisor, subscribes itself to
// the mesh's events and calls every member about every 100 ms. After a few
// rounds it SIGKILLs one proc; the supervisor restarts it and the rounds go
// on. After 30 successful rounds (the restarted rank answering the last few)
// it prints what it saw, shuts the mesh down and exits 0.
//
//   build/examples/actor_driven
//
// Nothing in the actor blocks: each step runs in the continuation of the
// last (`.then(on_value, on_error)`, run on the actor), the rounds are
// delayed messages to itself, and events arrive as messages. It exits 1 on
// any unexpected error, or if it is not done (no restart seen, say) within
// 60 s: a deadline, so that it never hangs. As in
// ping_mesh.cpp, the procs run this executable again: run_bootstrap_child()
// comes first in main().
#include <mesh/async.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

// --- the members of the actor mesh ------------------------------------------

namespace driven {

using work_atom = caf::atom_constant<caf::atom("work")>;

/// Answers a round with the pid of its proc (so a restart shows).
using worker_actor =
  caf::typed_actor<caf::replies_to<work_atom, uint64_t>::with<int64_t>>;

worker_actor::behavior_type worker() {
  return {
    [](work_atom, uint64_t) { return static_cast<int64_t>(::getpid()); },
  };
}

} // namespace driven

CAF_BEGIN_TYPE_ID_BLOCK(actor_driven, caf::id_block::mesh::end)
CAF_ADD_TYPE_ID(actor_driven, (driven::worker_actor))
CAF_END_TYPE_ID_BLOCK(actor_driven)

class app_config : public caf::actor_system_config {
public:
  app_config() {
    mesh::configure(*this);
    add_message_types<caf::id_block::actor_driven>(); // before add_actor_type
    add_actor_type("worker", driven::worker);
  }
};

// --- the driver -------------------------------------------------------------

namespace {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using stuck_atom = caf::atom_constant<caf::atom("stuck")>;

constexpr uint64_t rounds_wanted = 30; ///< Successful rounds before the end.
constexpr uint64_t kill_after = 5;     ///< Rounds before the SIGKILL.
constexpr size_t victim = 2;           ///< The rank whose proc is killed.
constexpr auto period = 100ms; ///< Between the end of a round and the next.
constexpr auto deadline = 60s; ///< For everything up to the shutdown.
constexpr auto shutdown_deadline = 20s;

struct driver_state {
  // What the driver owns; they live as long as it does.
  std::optional<mesh::host_mesh> hosts;
  std::optional<mesh::proc_mesh> procs;
  std::optional<mesh::actor_mesh<driven::worker_actor>> workers;
  uint64_t rounds = 0;        ///< Successful calls to every member.
  uint64_t calls = 0;         ///< Calls made.
  uint64_t after_restart = 0; ///< Successful rounds since the last restart.
  size_t restarts = 0;        ///< `restarted` events seen.
  size_t failed_restarting = 0; ///< Calls failed while the victim restarted.
  int64_t victim_pid = 0;       ///< Set once the victim is killed.
  bool new_pid_shown = false;
  bool ending = false; ///< Shutting down (success or failure).
  std::string failure; ///< Why it failed; empty on success.
};

using driver_ptr = caf::stateful_actor<driver_state>*;

std::string plural(uint64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

/// Ends the run: `failure` empty on success. Shuts the hosts down (bounded
/// by shutdown_deadline), then quits, with an error if anything failed.
void finish(driver_ptr self, std::string failure) {
  auto& st = self->state;
  if (st.ending)
    return;
  st.ending = true;
  st.failure = std::move(failure);
  if (st.failure.empty())
    std::printf("%s, %s seen, %s while restarting\n",
                plural(st.rounds, "round").c_str(),
                plural(st.restarts, "restart").c_str(),
                (plural(st.failed_restarting, "call") + " failed").c_str());
  else
    std::fprintf(stderr, "actor_driven: %s\n", st.failure.c_str());
  auto quit = [self] {
    auto& st = self->state;
    if (st.failure.empty())
      self->quit();
    else
      self->quit(caf::make_error(caf::sec::runtime_error, st.failure));
  };
  if (!st.hosts) {
    quit();
    return;
  }
  self->delayed_send(self, shutdown_deadline, stuck_atom::value);
  mesh::async::shutdown(self, *st.hosts)
    .then(
      [self, quit](mesh::shutdown_summary& s) {
        std::printf("shutdown: %s\n", s.to_string().c_str());
        if (!s.failures.empty() && self->state.failure.empty())
          self->state.failure = "the shutdown failed";
        quit();
      },
      [self, quit](caf::error& err) {
        std::fprintf(stderr, "actor_driven: shutdown: %s\n",
                     mesh::to_string(err).c_str());
        if (self->state.failure.empty())
          self->state.failure = "the shutdown failed";
        quit();
      });
}

/// An error callback that ends the run, naming the step.
auto fail(driver_ptr self, std::string step) {
  return [self, step](caf::error& err) {
    finish(self, step + ": " + mesh::to_string(err));
  };
}

/// SIGKILLs the victim's proc, found by asking its host for the pids.
void kill_victim(driver_ptr self) {
  mesh::async::states(self, *self->state.procs)
    .then(
      [self](std::vector<mesh::proc_state>& states) {
        auto& st = self->state;
        if (st.ending)
          return;
        if (states.size() <= victim || states[victim].pid <= 0) {
          finish(self, "no pid for rank " + std::to_string(victim));
          return;
        }
        st.victim_pid = states[victim].pid;
        std::printf("round %" PRIu64 ": SIGKILL to rank %zu (pid %" PRId64
                    ")\n",
                    st.rounds, victim, st.victim_pid);
        if (::kill(static_cast<pid_t>(st.victim_pid), SIGKILL) != 0)
          finish(self, "kill failed");
      },
      fail(self, "states"));
}

/// One round: a call to every member, then the next round `period` later.
void next_round(driver_ptr self) {
  auto& st = self->state;
  auto seq = ++st.calls;
  mesh::async::call<int64_t>(self, *st.workers, 5s, driven::work_atom::value,
                             seq)
    .then(
      [self](mesh::value_mesh<int64_t>& pids) {
        auto& st = self->state;
        if (st.ending)
          return;
        ++st.rounds;
        if (st.restarts > 0)
          ++st.after_restart;
        if (st.restarts > 0 && !st.new_pid_shown) {
          std::printf("round %" PRIu64 ": rank %zu answers from pid %" PRId64
                      "\n",
                      st.rounds, victim, pids[victim]);
          st.new_pid_shown = true;
          if (pids[victim] == st.victim_pid) {
            finish(self, "rank " + std::to_string(victim) +
                           " answered from its killed proc");
            return;
          }
        }
        if (st.rounds == kill_after)
          kill_victim(self);
        // Done once the restarted rank has answered a few rounds too.
        if (st.rounds >= rounds_wanted && st.after_restart >= 5) {
          finish(self, {});
          return;
        }
        self->delayed_send(self, period, tick_atom::value);
      },
      [self, seq](caf::error& err) {
        auto& st = self->state;
        if (st.ending)
          return;
        auto text = mesh::to_string(err);
        // Between the SIGKILL and the restart, a call to the victim fails
        // at once: expected, counted, not fatal.
        if (st.victim_pid != 0 &&
            (st.restarts == 0 ||
             text.find("restarting") != std::string::npos)) {
          ++st.failed_restarting;
          std::printf("call %" PRIu64 " failed: %s\n", seq, text.c_str());
          self->delayed_send(self, period, tick_atom::value);
          return;
        }
        finish(self, "call " + std::to_string(seq) + ": " + text);
      });
}

/// A call made as soon as the supervisor says it is restarting a rank: it
/// fails at once, naming the restart, instead of waiting for a timeout (or,
/// if the rank is back already, it succeeds).
void probe(driver_ptr self) {
  mesh::async::call<int64_t>(self, *self->state.workers, 5s,
                             driven::work_atom::value, uint64_t{0})
    .then(
      [](mesh::value_mesh<int64_t>&) {
        std::printf("probe: every rank answered\n");
      },
      [self](caf::error& err) {
        if (self->state.ending)
          return;
        auto text = mesh::to_string(err);
        if (text.find("restarting") == std::string::npos) {
          finish(self, "probe: " + text);
          return;
        }
        ++self->state.failed_restarting;
        std::printf("probe failed at once: %s\n", text.c_str());
      });
}

/// Brings the mesh up step by step, each in the continuation of the last.
void start(driver_ptr self) {
  mesh::async::local(self).then(
    [self](mesh::host_mesh& hosts) {
      auto& st = self->state;
      st.hosts.emplace(std::move(hosts));
      mesh::async::spawn(self, *st.hosts, "workers", mesh::extent{{"procs", 4}})
        .then(
          [self](mesh::proc_mesh& procs) {
            auto& st = self->state;
            st.procs.emplace(std::move(procs));
            mesh::async::spawn<driven::worker_actor>(self, *st.procs, "workers",
                                                     "worker")
              .then(
                [self](mesh::actor_mesh<driven::worker_actor>& workers) {
                  auto& st = self->state;
                  st.workers.emplace(workers);
                  std::printf("%zu workers on %s\n", workers.size(),
                              workers.extent().to_string().c_str());
                  // Every event of the actor mesh, supervision's included,
                  // comes to this actor as a mesh::proc_event message.
                  workers.subscribe(self);
                  mesh::supervisor_policy policy{
                    mesh::restart_strategy::one_for_one, 3, 10s};
                  mesh::async::supervise(self, workers, policy)
                    .then([self] { next_round(self); },
                          fail(self, "supervise"));
                },
                fail(self, "spawn of the actor mesh"));
          },
          fail(self, "spawn of the procs"));
    },
    fail(self, "local host"));
}

caf::behavior driver(driver_ptr self) {
  self->delayed_send(self, deadline, deadline_atom::value);
  start(self);
  return {
    [self](tick_atom) {
      if (!self->state.ending)
        next_round(self);
    },
    [self](const mesh::proc_event& ev) {
      auto& st = self->state;
      if (st.ending || ev.action == mesh::supervision_action::none)
        return;
      std::printf("event: rank %zu %s (attempt %u): %s\n", ev.rank,
                  std::string{mesh::to_string(ev.action)}.c_str(), ev.attempt,
                  ev.reason.c_str());
      if (ev.action == mesh::supervision_action::restarting) {
        probe(self);
      } else if (ev.action == mesh::supervision_action::restarted) {
        ++st.restarts;
        st.after_restart = 0;
      } else if (ev.action == mesh::supervision_action::gave_up) {
        finish(self,
               "the supervisor gave up on rank " + std::to_string(ev.rank));
      }
    },
    [self](deadline_atom) {
      auto& st = self->state;
      finish(self, "not done within " + std::to_string(deadline.count()) +
                     " s: " + plural(st.rounds, "round") + ", " +
                     plural(st.restarts, "restart") + " seen");
    },
    [self](stuck_atom) {
      std::fprintf(stderr,
                   "actor_driven: the shutdown did not end within "
                   "%lld s\n",
                   static_cast<long long>(shutdown_deadline.count()));
      self->quit(caf::make_error(caf::sec::runtime_error, "shutdown stuck"));
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  app_config cfg;
  if (auto code = mesh::run_bootstrap_child(cfg)) // the procs end here
    return *code;
  if (auto err = cfg.parse(argc, argv)) {
    std::fprintf(stderr, "%s\n", cfg.render(err).c_str());
    return 1;
  }
  caf::actor_system sys{cfg};
  auto d = sys.spawn(driver);
  // main only waits for the driver to end; the driver bounds itself.
  int rc = 1;
  caf::scoped_actor self{sys};
  self->monitor(d);
  self->receive([&](const caf::down_msg& msg) { rc = msg.reason ? 1 : 0; });
  return rc;
}
