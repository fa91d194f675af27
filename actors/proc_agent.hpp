// The proc agent: the first actor of every proc.
//
// Contract kept here:
// - spawn_actor replies only after the new actor has run its
//   initialisation: an actor whose initialisation throws or quits with an
//   error is a spawn error carrying its exit reason, never a handle to a dead
//   actor.
// - Every actor it spawned is monitored; one that ends with an error (not a
//   stop) is reported to the registrar the proc registered with (its host
//   accepts such a report only from this proc's node) and to the supervisor
//   named in its spawn request, if any, and makes the proc exit 1 when it is
//   stopped.
// - introspect lists every actor it spawned that still runs (in spawn
//   order), then the last `ended_kept` that ended, with their type, status
//   and failure; a mailbox depth only where sample_mailbox_depth can look
//   safely (see there), else -1.
#pragma once

#include "mesh/actors.hpp"

#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace mesh {

/// An actor spawned through spawn_actor, as its proc agent tracks it.
struct spawned_actor {
  caf::actor handle;
  std::string name;       ///< Its actor mesh's name.
  std::string actor_mesh; ///< Its actor mesh's id.
  std::string type;       ///< The type name it was spawned by.
  caf::actor supervisor;  ///< Told when it fails (may be empty).
  /// Set while its initialisation has not been confirmed: the spawn reply.
  caf::typed_response_promise<caf::actor> pending;
  bool confirmed = false;
};

struct proc_agent_state {
  static inline const char* name = "proc_agent";
  /// This proc's name, for messages.
  std::string proc_name;
  /// The registrar of the host this proc registers with: told of failures.
  registrar_actor registrar;
  /// Actors spawned through spawn_actor, monitored.
  std::vector<spawned_actor> actors;
  /// Set when one of them terminated with an error: the proc then exits 1.
  bool actor_failed = false;
  /// The last actors that ended (failed or stopped), oldest first, for
  /// introspection: at most ended_kept.
  std::deque<actor_snapshot> ended;
  static constexpr size_t ended_kept = 16;
};

/// Messages waiting in `target`'s mailbox, or -1 when it cannot be looked at
/// safely. Call it only from an actor's handler of `sys` (the proc agent's):
/// it looks only when `sys` has one scheduler worker (the caller's thread,
/// so the target cannot be running) and the target is a scheduled, not
/// detached actor, and its mailbox is not closed; an idle actor (its
/// mailbox blocked) is 0 and its mailbox is not touched (the reasoning is
/// at the definition in proc_agent.cpp).
int64_t sample_mailbox_depth(caf::actor_system& sys, const caf::actor& target);

/// Spawns actors by registered type name and stops them all on request.
/// It quits with `exit_reason::normal` when every actor ended cleanly and with
/// an error otherwise; the bootstrap child turns that into its exit code.
proc_agent_actor::behavior_type
proc_agent(proc_agent_actor::stateful_pointer<proc_agent_state> self,
           std::string proc_name, registrar_actor registrar);

} // namespace mesh
