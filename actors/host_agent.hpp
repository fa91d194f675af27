// The host agent: owns the procs of one host (architecture §3, §4).
//
// A thin CAF shell around a proc_table (actors/proc_table.hpp, whose PT-n
// clauses are the bookkeeping contract): each handler calls the table and
// carries out the effects it returns. Contract kept here:
// - HA-1 What leaves this process is the public protocol only: the agent is
//   spawned as host_agent_internal_actor, and publish_host_agent publishes
//   (and returns) only its host_agent_actor handle.
// - HA-2 Every internal handler refuses a message that does not come from an
//   actor of this node, changing nothing (actors/internal_interfaces.hpp).
// - HA-3 Children register through the host's registrar
//   (actors/registrar.hpp), never directly.
// - spawn_procs launches every proc of the request at once and replies when
//   each one is running (handshake done) or has failed: a child that exits
//   before its handshake fails at once, one that hangs fails after
//   host_spawn_ready_timeout and is killed.
// - Stopping a proc is: ask its proc agent, wait terminate_timeout, SIGTERM
//   its process group, wait again, SIGKILL (PT-4). A shutdown replies only
//   once the proc manager has ended, so that no process of the host is left.
// - A registered proc is watched through its proc agent (monitored from its
//   registration). A proc that dies is reported with its exit code or
//   signal as soon as the proc manager reaps it. One whose connection is
//   lost while its process lives on (a hung proc: silent, heartbeats
//   included, for proc_unresponsive_timeout, after which CAF closes the
//   connection) fails as "unresponsive for N" and is SIGKILLed (PT-13).
// - introspect answers in one round: it samples its procs of the asked host
//   mesh from /proc, asks each running proc's agent for its actors with the
//   caller's deadline (a request with a timeout: nothing blocks) and
//   replies once every asked agent answered or failed to in time (that proc
//   is then responsive = false). It keeps no timer and reads nothing while
//   nobody asks. Launch and exit times are kept here, beside the table,
//   which stays clock-free.
#pragma once

#include "actors/internal_interfaces.hpp"
#include "actors/proc_table.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mesh {

/// What a host agent is started with.
struct host_agent_options {
  /// Launches procs as OS children (true) or in-process (false).
  bool bootstrap_children = true;
  /// Command for procs when neither the request nor the rank gives one.
  std::optional<bootstrap_command> default_command;
  /// Once no client has owned the host for this long, it shuts itself down
  /// (meshd --owner-timeout); 0: never.
  duration owner_timeout{0};
};

/// When a proc was launched and exited, and what its last introspection
/// saw of its CPU time (for cpu_percent), by the host agent's clock.
struct proc_clock {
  using clock = std::chrono::steady_clock;
  clock::time_point launched;
  std::optional<clock::time_point> exited;
  /// CPU time and when it was read, at the previous introspection of this
  /// proc (unset: none yet, the next one measures from its launch).
  std::optional<std::pair<int64_t, clock::time_point>> last_cpu;
};

struct host_agent_state {
  static inline const char* name = "host_agent";
  host_agent_options options;
  /// When this agent started (the host's uptime).
  std::chrono::steady_clock::time_point started =
    std::chrono::steady_clock::now();
  /// Launch and exit times of the procs in the table, by proc name.
  std::map<std::string, proc_clock> clocks;
  /// Where this agent is published; set by set_endpoint.
  std::string host;
  uint16_t port = 0;
  /// The clients that own this host (claim_atom's owner tokens, monitored
  /// until released or lost).
  std::vector<caf::actor> owners;
  /// Bumped by every claim and loss: an owner timer of an older generation
  /// is stale.
  uint64_t owner_generation = 0;
  /// The configuration a client pushed to this host (attach, HM-1..HM-4):
  /// the host's client_override layer (see effective() in host_agent.cpp).
  config_snapshot pushed_config;
  /// The procs, their waiters, spawns, stops and subscribers.
  proc_table table;
  proc_manager_actor manager;
  /// Relays actor mesh casts and calls to this host's procs (linked).
  comm_actor_actor comm;
  /// Where this host's children register (linked).
  registrar_actor registrar;
  /// The agents of registered procs, by proc name (the table knows only
  /// that they are registered: it holds no CAF handle).
  std::map<std::string, proc_agent_actor> agents;
  /// The promises behind the table's waiter, spawn and stop ids.
  std::map<waiter_id, caf::typed_response_promise<uint64_t, proc_state>>
    waiters;
  std::map<spawn_id, caf::typed_response_promise<std::vector<proc_info>>>
    spawns;
  std::map<stop_id, caf::typed_response_promise<shutdown_summary>> stops;
  /// The actors behind the table's subscriber ids.
  std::map<subscriber_id, caf::actor> subscribers;
  /// Shutdown summaries held back until the proc manager has ended, so that
  /// a caller who gets one finds no process of this host left (the
  /// manager's launcher reaps its zygotes as it ends).
  std::vector<
    std::pair<caf::typed_response_promise<shutdown_summary>, shutdown_summary>>
    final_replies;

  std::string address() const { return host + ":" + std::to_string(port); }
};

host_agent_internal_actor::behavior_type
host_agent(host_agent_internal_actor::stateful_pointer<host_agent_state> self,
           host_agent_options options);

/// Spawns a host agent, publishes its public face on host:port (port 0: a
/// free one) and tells it where it listens, from a sender of this node.
/// Returns the public handle and the bound port; the internal handle never
/// leaves this function (HA-1).
caf::expected<std::pair<host_agent_actor, uint16_t>>
// blocking: for a host process's main thread (meshd, a host child)
publish_host_agent(caf::actor_system& sys, host_agent_options options,
                   const std::string& host, uint16_t port = 0);

} // namespace mesh
