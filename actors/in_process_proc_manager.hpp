// The in-process proc manager: procs are proc agents in the caller's actor
// system (host_mesh::local_in_process). Same interface and the same
// handshake as child processes (through the host's registrar); bootstrap
// commands and bindings are ignored.
#pragma once

#include "actors/internal_interfaces.hpp"

#include <map>
#include <string>

namespace mesh {

struct in_process_proc_manager_state {
  static inline const char* name = "in_process_proc_manager";
  /// The host agent that receives proc_exit.
  proc_listener_actor listener;
  /// Where the procs register, as a child process would.
  registrar_actor registrar;
  /// Live procs by name.
  std::map<std::string, proc_agent_actor> procs;
};

proc_manager_actor::behavior_type in_process_proc_manager(
  proc_manager_actor::stateful_pointer<in_process_proc_manager_state> self,
  proc_listener_actor listener, registrar_actor registrar);

} // namespace mesh
