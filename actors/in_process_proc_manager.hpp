// The in-process proc manager: procs are proc agents in the caller's actor
// system (host_mesh::local_in_process). Same interface and the same
// handshake as child processes; bootstrap commands and bindings are ignored.
#pragma once

#include "mesh/actors.hpp"

#include <map>
#include <string>

namespace mesh {

struct in_process_proc_manager_state {
  static inline const char* name = "in_process_proc_manager";
  /// The host agent that receives proc_exit.
  host_agent_actor listener;
  /// Live procs by name.
  std::map<std::string, proc_agent_actor> procs;
};

proc_manager_actor::behavior_type in_process_proc_manager(
  proc_manager_actor::stateful_pointer<in_process_proc_manager_state> self,
  host_agent_actor listener);

} // namespace mesh
