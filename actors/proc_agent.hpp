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
#pragma once

#include "mesh/actors.hpp"

#include <caf/typed_response_promise.hpp>

#include <string>
#include <vector>

namespace mesh {

/// An actor spawned through spawn_actor, as its proc agent tracks it.
struct spawned_actor {
  caf::actor handle;
  std::string name;       ///< Its actor mesh's name.
  std::string actor_mesh; ///< Its actor mesh's id.
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
};

/// Spawns actors by registered type name and stops them all on request.
/// It quits with `exit_reason::normal` when every actor ended cleanly and with
/// an error otherwise; the bootstrap child turns that into its exit code.
proc_agent_actor::behavior_type
proc_agent(proc_agent_actor::stateful_pointer<proc_agent_state> self,
           std::string proc_name, registrar_actor registrar);

} // namespace mesh
