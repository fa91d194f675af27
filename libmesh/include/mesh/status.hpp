// Proc statuses, states, events and the shutdown summary.
#pragma once

#include "mesh/export.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

/// The life of a proc, lowest to highest. The order is total and meaningful:
/// "at least running" is satisfied by every status from `running` up, and a
/// status never goes back down (terminal statuses are sticky).
enum class proc_status : uint8_t {
  not_exist,    ///< No such proc (yet).
  initializing, ///< Launched, handshake not done.
  running,      ///< Handshake done; its proc agent answers.
  stopping,     ///< A stop was requested; not exited yet.
  stopped,      ///< Exited (any exit code) or stopped in-process.
  failed,       ///< Killed by a signal, failed to launch or to bootstrap.
  timeout,      ///< Did not become ready in time.
  unknown,      ///< Its host is gone; nothing can be said.
};

std::string_view to_string(proc_status s);

/// stopping, stopped, failed or timeout.
bool is_terminating(proc_status s);
/// stopped, failed or timeout.
bool is_terminated(proc_status s);
/// failed or timeout.
bool is_failure(proc_status s);
/// initializing or running.
bool is_healthy(proc_status s);
/// `floor` if it is terminating and `s` is not, else `s`: a proc is never
/// reported healthier than its host (a draining host means at least stopping).
proc_status clamp_min(proc_status s, proc_status floor);

/// What a supervisor (mesh/supervisor.hpp) did about a rank; `none` for
/// every event that is not a supervisor's.
enum class supervision_action : uint8_t {
  none,       ///< Not a supervision event.
  restarting, ///< The rank's member (and proc, if it ended) is restarting.
  restarted,  ///< The rank has a new member (and proc); calls reach it.
  gave_up,    ///< The supervisor gave up: the rank (or the mesh) stays down.
};

std::string_view to_string(supervision_action a);

/// What happened to which rank; pushed to `proc_mesh::on_event` handlers.
/// An *actor event* names an actor mesh: its member on this rank failed
/// (status `failed`) or ended with its proc (the proc's status).
/// A *supervision event* is an actor event whose `action` is not `none`:
/// restarting / restarted (rank, `attempt`, `reason` = the cause of the
/// restart) or gave_up (rank, `reason` = why it gave up).
struct proc_event {
  size_t rank = 0;                ///< Rank in the proc mesh.
  std::string proc_name;          ///< proc_name(mesh id, rank).
  proc_status status = proc_status::not_exist;
  std::optional<int> exit_code;   ///< Set when the process exited.
  std::optional<int> signal;      ///< Set when a signal killed it.
  std::string reason;             ///< One sentence for humans.
  std::string actor;              ///< Actor event: the actor mesh's name.
  std::string actor_mesh;         ///< Actor event: the actor mesh's id.
  std::string host;               ///< "host:port" of the proc's host agent.
  /// Last stderr lines of the proc (up to `tail_log_lines`), with an event
  /// that ends it.
  std::vector<std::string> stderr_tail;
  /// Supervision event: what the supervisor did (none otherwise).
  supervision_action action = supervision_action::none;
  /// Supervision event: the restart's number for this rank (one_for_one)
  /// or for the mesh (all_for_one), from 1; 0 otherwise.
  uint32_t attempt = 0;
};

/// What supervision knows of one rank, without asking its host.
struct rank_health {
  size_t rank = 0;
  std::string proc_name;
  std::string host;               ///< "host:port" of its host agent.
  proc_status status = proc_status::not_exist;
  std::string reason;             ///< Why it ended, if it did.
  /// Casts to an actor of this rank not sent because the rank was known
  /// gone (summed over the proc mesh's actor meshes).
  uint64_t dropped_casts = 0;
};

/// A proc as its host sees it.
struct proc_state {
  size_t rank = 0;                ///< Rank in the proc mesh.
  std::string proc_name;
  std::string host;               ///< "host:port" of its host agent.
  int64_t pid = 0;                ///< 0 for in-process procs.
  proc_status status = proc_status::not_exist;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::vector<std::string> stderr_tail; ///< Last `tail_log_lines` lines.
  std::string reason;             ///< Why it stopped or failed, if it did.
};

/// What a stop or shutdown did, proc by proc.
struct shutdown_summary {
  size_t stopped_politely = 0; ///< Exited after the polite stop request.
  size_t terminated = 0;       ///< Needed SIGTERM.
  size_t killed = 0;           ///< Needed SIGKILL.
  size_t already_gone = 0;     ///< Had exited before we asked.
  size_t hosts = 0;            ///< Hosts that acknowledged.
  std::vector<std::string> failures; ///< What could not be stopped, and why.

  size_t total() const {
    return stopped_politely + terminated + killed + already_gone;
  }
  /// Adds another summary (e.g. of another host) to this one.
  shutdown_summary& operator+=(const shutdown_summary& other);
  /// "8 procs on 2 hosts: 6 stopped politely, 1 SIGTERM, 1 SIGKILL, 0
  /// already gone".
  std::string to_string() const;
};

} // namespace mesh

MESH_PUBLIC_END
