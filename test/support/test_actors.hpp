// The actor types of the actor mesh tests, shared by the test processes
// (in-process procs, local_in_process) and test/mesh_child (child procs) so
// that both register one definition. Their own message types live in a
// type-ID block after libmesh's, as a user application's would.
#pragma once

#include "mesh/actors.hpp"
#include "mesh/async.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/this_proc.hpp"

#include <caf/all.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mesh::test {

/// A user-defined request that crosses process boundaries.
struct ping {
  uint64_t seq = 0;
  std::string text;
};

/// The answer to a ping.
struct pong {
  uint64_t seq = 0;
  std::string text;
  int32_t value = 0; ///< The counter's value when it answered.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping& x) {
  return f(caf::meta::type_name("mesh::test::ping"), x.seq, x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pong& x) {
  return f(caf::meta::type_name("mesh::test::pong"), x.seq, x.text, x.value);
}

using crash_atom = caf::atom_constant<caf::atom("crash")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using hang_atom = caf::atom_constant<caf::atom("hang")>;
using pid_atom = caf::atom_constant<caf::atom("pid")>;
using sleep_atom = caf::atom_constant<caf::atom("sleep")>;

/// A typed actor: a counter that casts add to and calls read.
using counter_actor = caf::typed_actor<
  // Adds to the value (meant to be cast).
  caf::reacts_to<caf::add_atom, int32_t>,
  // The value.
  caf::replies_to<caf::get_atom>::with<int32_t>,
  // Echoes the ping with the value.
  caf::replies_to<ping>::with<pong>>;

struct counter_state {
  static inline const char* name = "test_counter";
  int32_t value = 0;
};

/// "counter": starts at `start`.
inline counter_actor::behavior_type
counter(counter_actor::stateful_pointer<counter_state> self, int32_t start) {
  self->state.value = start;
  return {
    [self](caf::add_atom, int32_t x) { self->state.value += x; },
    [self](caf::get_atom) { return self->state.value; },
    // A ping with text "add" also adds its seq (so that a cast of the
    // user's own type can be observed).
    [self](const ping& p) {
      if (p.text == "add")
        self->state.value += static_cast<int32_t>(p.seq);
      return pong{p.seq, p.text, self->state.value};
    },
  };
}

struct echo_state {
  static inline const char* name = "test_echo";
  /// Requests it never answers (hang).
  std::vector<caf::response_promise> held;
};

/// "echo": a dynamically typed actor that answers, crashes, fails or hangs
/// on request.
inline caf::behavior echo(caf::stateful_actor<echo_state>* self) {
  return {
    [](int32_t x) { return x; },
    [](const std::string& s) { return s; },
    [](pid_atom) { return static_cast<int64_t>(::getpid()); },
    [](crash_atom) -> int32_t {
      throw std::runtime_error("echo crashed on request");
    },
    [self](fail_atom) {
      self->quit(
        caf::make_error(caf::sec::invalid_argument, "echo failed on request"));
    },
    [self](hang_atom) {
      self->state.held.push_back(self->make_response_promise());
    },
    // Blocks its thread (a proc's only scheduler thread) for `ms`: what
    // comes after it waits.
    [](sleep_atom, int32_t ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds{ms});
      return ms;
    },
  };
}

/// "gated": answers an int32 only through `gate`, an actor of the client
/// given at spawn, to which it delegates the request: a call to it can end
/// only if the gate runs while the call is in flight.
inline caf::behavior gated(caf::event_based_actor* self, caf::actor gate) {
  return {
    [self, gate](int32_t x) { return self->delegate(gate, x); },
  };
}

/// "gated_echo": an echo whose initialisation waits (at most 30 s) while the
/// file `gate` exists: a test holds a restart open at will.
inline caf::behavior gated_echo(caf::stateful_actor<echo_state>* self,
                                std::string gate) {
  for (int i = 0; i < 3000 && ::access(gate.c_str(), F_OK) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  return echo(self);
}

using where_atom = caf::atom_constant<caf::atom("where")>;
using subspawn_atom = caf::atom_constant<caf::atom("subspawn")>;
using subspawned_atom = caf::atom_constant<caf::atom("subspawned")>;

/// The parent of process `pid` (from /proc; -1 if it is gone).
inline int64_t parent_pid_of(int64_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return -1;
  // "pid (comm) S ppid ...": the fields after the last ')'.
  auto pos = line.rfind(')');
  if (pos == std::string::npos || pos + 4 >= line.size())
    return -1;
  return std::atoll(line.c_str() + pos + 4);
}

/// What this_proc() says and the proc's environment variables, as
/// "key=value" lines ("error=..." if this_proc() fails, "<unset>" for a
/// variable that is not set).
inline std::vector<std::string> describe_this_proc() {
  std::vector<std::string> out;
  if (auto ctx = mesh::this_proc()) {
    out.push_back("rank=" + std::to_string(ctx->rank));
    out.push_back("point=" + ctx->point.to_string());
    out.push_back("extent=" + ctx->extent.to_string());
    out.push_back("mesh=" + ctx->mesh.to_string());
    out.push_back("proc_name=" + ctx->proc_name);
    out.push_back("local_rank=" + std::to_string(ctx->local_rank));
    out.push_back("local_world_size=" + std::to_string(ctx->local_world_size));
    out.push_back("host_addr=" + ctx->host_addr);
    out.push_back("host_mesh=" + ctx->host_mesh.to_string());
    out.push_back(std::string{"host_handle="} + (ctx->host ? "yes" : "no"));
  } else {
    out.push_back("error=" + mesh::to_string(ctx.error()));
  }
  for (const char* var :
       {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MESH_RANK",
        "MESH_WORLD_SIZE", "MESH_POINT", "MESH_EXTENT", "MESH_PROC_MESH_ID",
        "MESH_PROC_NAME", "MESH_HOST", "MESH_HOST_MESH_ID",
        "MESH_TEST_WRAPPER_RANK"}) {
    const char* value = std::getenv(var);
    out.push_back(std::string{"env."} + var + "=" +
                  (value != nullptr ? value : "<unset>"));
  }
  return out;
}

/// Spawns `n` procs on this proc's host through this_host() (blocking: run
/// it off the scheduler), describes them as "sub=RANK STATUS PID PPID
/// PPID_OF_PPID HOST" lines plus "host_addrs=..." and stops them again
/// ("stopped=ok" or "error=...").
inline std::vector<std::string> spawn_on_this_host(size_t n) {
  std::vector<std::string> out;
  auto host = mesh::this_host();
  if (!host) {
    out.push_back("error=this_host: " + mesh::to_string(host.error()));
    return out;
  }
  out.push_back("host_addrs=" + host->host_addrs().at(0));
  out.push_back("host_mesh=" + host->id().to_string());
  auto pm = host->spawn("sub", mesh::extent{{"procs", n}});
  if (!pm) {
    out.push_back("error=spawn: " + mesh::to_string(pm.error()));
    return out;
  }
  auto states = pm->states();
  if (!states) {
    out.push_back("error=states: " + mesh::to_string(states.error()));
  } else {
    for (auto& st : *states) {
      auto ppid = parent_pid_of(st.pid);
      out.push_back("sub=" + std::to_string(st.rank) + " " +
                    std::string{mesh::to_string(st.status)} + " " +
                    std::to_string(st.pid) + " " + std::to_string(ppid) + " " +
                    std::to_string(parent_pid_of(ppid)) + " " + st.host);
    }
  }
  auto stopped = pm->stop("done");
  out.push_back(stopped ? std::string{"stopped=ok"}
                        : "error=stop: " + mesh::to_string(stopped.error()));
  return out;
}

struct whereami_state {
  static inline const char* name = "test_whereami";
  /// What describe_this_proc() said in the actor's initialisation.
  std::vector<std::string> at_spawn;
  /// The request of a subspawn under way.
  caf::response_promise pending;
};

/// "whereami": answers `where` with describe_this_proc() now, followed by
/// what it said at spawn (prefixed "spawn."); answers `subspawn, n` with
/// spawn_on_this_host(n), run by a detached helper (the proc's single
/// scheduler thread must not block).
inline caf::behavior whereami(caf::stateful_actor<whereami_state>* self) {
  self->state.at_spawn = describe_this_proc();
  return {
    [self](where_atom) {
      auto out = describe_this_proc();
      for (auto& line : self->state.at_spawn)
        out.push_back("spawn." + line);
      return out;
    },
    [self](subspawn_atom, int32_t n) {
      self->state.pending = self->make_response_promise();
      auto me = caf::actor_cast<caf::actor>(self);
      self->spawn<caf::detached>([me, n](caf::event_based_actor* helper) {
        helper->send(me, subspawned_atom::value,
                     spawn_on_this_host(static_cast<size_t>(n)));
        helper->quit();
      });
    },
    [self](subspawned_atom, std::vector<std::string>& out) {
      self->state.pending.deliver(std::move(out));
    },
  };
}

/// "handle_user": uses the mesh handles it is sent, from inside its proc,
/// with the non-blocking API: an actor mesh of int32 echoes (replies the
/// sum of one call's replies), a proc mesh (replies how many of its procs
/// run), a host mesh (replies how many hosts it has).
inline caf::behavior handle_user(caf::event_based_actor* self) {
  return {
    [self](const mesh::actor_mesh<caf::actor>& echoes, int32_t x) {
      auto rp = self->make_response_promise<int32_t>();
      mesh::async::call<int32_t>(self, echoes, x)
        .then(
          [rp](mesh::value_mesh<int32_t>& values) mutable {
            int32_t sum = 0;
            for (size_t r = 0; r < values.size(); ++r)
              sum += values[r];
            rp.deliver(sum);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](const mesh::proc_mesh_ref& procs) {
      auto rp = self->make_response_promise<int32_t>();
      mesh::async::states(self, procs)
        .then(
          [rp](std::vector<mesh::proc_state>& states) mutable {
            int32_t running = 0;
            for (auto& st : states)
              if (st.status == mesh::proc_status::running)
                ++running;
            rp.deliver(running);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [](const mesh::host_mesh_ref& hosts) {
      return static_cast<int32_t>(hosts.host_addrs().size());
    },
  };
}

/// "thrower": its initialisation throws.
inline caf::behavior thrower(caf::event_based_actor*) {
  throw std::runtime_error("thrower refuses to start");
}

/// "bad_init": its initialisation quits with an error.
inline caf::behavior bad_init(caf::event_based_actor* self) {
  self->quit(
    caf::make_error(caf::sec::invalid_argument, "bad_init refuses to start"));
  return {};
}

/// "ctor_thrower": a class-based actor whose constructor throws.
class ctor_thrower : public caf::event_based_actor {
public:
  explicit ctor_thrower(caf::actor_config& cfg) : caf::event_based_actor(cfg) {
    throw std::runtime_error("ctor_thrower refuses to be constructed");
  }
};

} // namespace mesh::test

CAF_BEGIN_TYPE_ID_BLOCK(mesh_test, caf::id_block::mesh::end)

CAF_ADD_TYPE_ID(mesh_test, (mesh::test::ping))
CAF_ADD_TYPE_ID(mesh_test, (mesh::test::pong))
CAF_ADD_TYPE_ID(mesh_test, (mesh::test::counter_actor))

CAF_END_TYPE_ID_BLOCK(mesh_test)

namespace mesh::test {

/// Registers the test types and actor types; the type-ID block first, so
/// that add_actor_type does not name counter_actor after its factory.
inline void add_test_actors(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::mesh_test>();
  cfg.add_actor_type("counter", counter);
  cfg.add_actor_type("echo", echo);
  cfg.add_actor_type("gated_echo", gated_echo);
  cfg.add_actor_type("whereami", whereami);
  cfg.add_actor_type("handle_user", handle_user);
  cfg.add_actor_type("thrower", thrower);
  cfg.add_actor_type("gated", gated);
  cfg.add_actor_type("bad_init", bad_init);
  cfg.add_actor_type<ctor_thrower>("ctor_thrower");
}

} // namespace mesh::test
