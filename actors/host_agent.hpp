// The host agent: owns the procs of one host (architecture §4).
//
// Contract kept here:
// - spawn_procs launches every proc of the request at once and replies when
//   each one is running (handshake done) or has failed: a child that exits
//   before its handshake fails at once, one that hangs fails after
//   host_spawn_ready_timeout and is killed.
// - Every status change is pushed to the subscribers of its mesh.
// - Stopping a proc is: ask its proc agent, wait terminate_timeout, SIGTERM its
//   process group, wait again, SIGKILL. A stop replies only when every proc it
//   covers has exited; the summary says which step each one needed.
// - An actor failure a proc agent reports is pushed to the subscribers of
//   its proc's mesh as a proc_event naming the actor.
// - Status only goes up (terminal statuses are sticky).
#pragma once

#include "mesh/actors.hpp"

#include <caf/typed_response_promise.hpp>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mesh {

/// What a host agent is started with.
struct host_agent_options {
  /// Launches procs as OS children (true) or in-process (false).
  bool bootstrap_children = true;
  /// Command for procs when neither the request nor the rank gives one.
  std::optional<bootstrap_command> default_command;
};

/// One proc as the host agent tracks it.
struct proc_record {
  std::string name;
  std::string proc_mesh_id;
  std::string host_mesh_id;
  uint64_t rank = 0;
  proc_status status = proc_status::initializing;
  int64_t pid = 0;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;
  std::deque<std::string> stderr_tail;
  size_t tail_limit = 100;
  duration ready_timeout{0}; ///< Handshake deadline (0: none).
  bool forward_logs = true;
  std::string token;       ///< One-time; cleared once used.
  std::string command;     ///< Human form, for error messages.
  proc_agent_actor agent;  ///< Set by the handshake.
  std::string address;     ///< Where the child published its agent.
  bool exited = false;     ///< The manager reported its exit.
  int stop_stage = 0;      ///< 0 none, 1 asked, 2 SIGTERM, 3 SIGKILL.
};

/// A wait_status request not yet satisfied.
struct status_waiter {
  proc_status min_status;
  uint64_t rank;
  caf::typed_response_promise<uint64_t, proc_state> promise;
};

/// A spawn_procs request waiting for its procs.
struct pending_spawn {
  std::vector<std::string> names;
  caf::typed_response_promise<std::vector<proc_info>> promise;
};

/// A stop, drain or shutdown waiting for its procs to exit.
struct pending_stop {
  std::set<std::string> names;
  shutdown_summary summary;
  caf::typed_response_promise<shutdown_summary> promise;
  bool forget = false;       ///< Remove the records once stopped (drain).
  bool quit_after = false;   ///< Shut the host down once replied.
};

struct host_agent_state {
  static inline const char* name = "host_agent";
  host_agent_options options;
  /// "host:port" where this agent is published; set by set_endpoint.
  std::string host;
  uint16_t port = 0;
  proc_manager_actor manager;
  /// Relays actor mesh casts and calls to this host's procs (linked).
  comm_actor_actor comm;
  std::map<std::string, proc_record> procs;
  std::map<std::string, std::vector<status_waiter>> waiters;
  std::vector<pending_spawn> spawns;
  std::vector<pending_stop> stops;
  /// Shutdown summaries held back until the proc manager has ended, so that
  /// a caller who gets one finds no process of this host left (the
  /// manager's launcher reaps its zygotes as it ends).
  std::vector<std::pair<caf::typed_response_promise<shutdown_summary>,
                        shutdown_summary>>
    final_replies;
  /// (mesh id or "" for all, subscriber)
  std::vector<std::pair<std::string, caf::actor>> subscribers;
  bool shutting_down = false;

  std::string address() const { return host + ":" + std::to_string(port); }
};

host_agent_actor::behavior_type
host_agent(host_agent_actor::stateful_pointer<host_agent_state> self,
           host_agent_options options);

} // namespace mesh
