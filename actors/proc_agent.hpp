// The proc agent: the first actor of every proc.
#pragma once

#include "mesh/actors.hpp"

#include <string>
#include <vector>

namespace mesh {

struct proc_agent_state {
  static inline const char* name = "proc_agent";
  /// This proc's name, for messages.
  std::string proc_name;
  /// Actors spawned through spawn_actor, monitored.
  std::vector<caf::actor> actors;
  /// Set when one of them terminated with an error: the proc then exits 1.
  bool actor_failed = false;
};

/// Spawns actors by registered type name and stops them all on request.
/// It quits with `exit_reason::normal` when every actor ended cleanly and with
/// an error otherwise; the bootstrap child turns that into its exit code.
proc_agent_actor::behavior_type
proc_agent(proc_agent_actor::stateful_pointer<proc_agent_state> self,
           std::string proc_name);

} // namespace mesh
