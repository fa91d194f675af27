// The bootstrap proc manager: procs are OS child processes launched from
// their bootstrap commands (architecture §2, §4). It owns one child_watcher
// and pushes every line a child writes (proc_output) and its exit
// (proc_exit, after its last line) to the host agent, in order.
//
// Contract: the manager's children do not outlive it. Whatever ends it (its
// host agent, to which it is linked, a kill, or its last reference going
// away), its state is destroyed on exit, and with it the watcher, which
// SIGKILLs every child's process group before the manager's down and exit
// messages go out, and reaps them all.
#pragma once

#include "actors/internal_interfaces.hpp"

#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace mesh::bootstrap {
class child_watcher;
} // namespace mesh::bootstrap

namespace mesh {

struct bootstrap_proc_manager_state {
  // Out of line: child_watcher is complete only in the manager's source.
  bootstrap_proc_manager_state();
  /// Kills and reaps every child still running (via the watcher).
  ~bootstrap_proc_manager_state();

  static inline const char* name = "bootstrap_proc_manager";
  /// The host agent that receives proc_output and proc_exit.
  proc_listener_actor listener;
  /// Rank of each launched proc that has not exited yet: the watcher only
  /// knows names, proc_output carries the rank.
  std::map<std::string, uint64_t> ranks;
  /// Launches the watcher has not reported yet, by launch id: the proc's
  /// name and the launch request's promise.
  std::map<uint64_t,
           std::pair<std::string, caf::typed_response_promise<int64_t>>>
    launching;
  uint64_t last_launch = 0;
  /// Added to every child's environment (see child_env_of).
  std::map<std::string, std::string> child_env;
  /// bootstrap_enable_pdeathsig of the host's system, read at start.
  bool pdeathsig = true;
  /// Launches, watches and reaps the children. Declared last, destroyed
  /// first: its callbacks hold only a weak reference to the manager.
  std::unique_ptr<bootstrap::child_watcher> watcher;
};

/// Launches procs as OS children; pushes proc_output and proc_exit to
/// `listener` (the host agent). SIGTERM/SIGKILL go to the proc's process group.
proc_manager_actor::behavior_type bootstrap_proc_manager(
  proc_manager_actor::stateful_pointer<bootstrap_proc_manager_state> self,
  proc_listener_actor listener);

} // namespace mesh
