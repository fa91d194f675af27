// Seeing a running mesh (issue 15): the introspection tree, its JSON form,
// and the per-user registry of running meshes that meshctl reads.
//
// The tree is root (one mesh) -> hosts -> procs -> actors. Host agents answer
// the `introspect_atom` of mesh/actors.hpp in one round per host: each asks
// its own procs' agents with a deadline, samples their processes from /proc
// and answers once every proc has answered or the deadline passed (a proc
// that did not answer in time is `responsive = false`, its OS figures still
// filled in). Nothing is sampled while nobody asks: no timer, no polling.
//
// What is exact and what is sampled (CAF 0.17.6, as Debian ships it, has no
// actor profiler, and an actor's mailbox belongs to the thread that runs it):
// - exact: statuses, pids, exit codes, causes, uptimes, CPU time, RSS,
//   threads and open fds (read from /proc when asked), actors spawned
//   through the proc agent and their failures, restarts, and the messages
//   the owning client sent to each member through the mesh API
//   (`mesh_messages`: calls and casts, counted as they are sent);
// - sampled: `cpu_percent`, the CPU used between this introspection of the
//   proc and the previous one (or since the proc started, the first time);
//   `mailbox_depth`, messages waiting in the actor's mailbox at the moment
//   its proc agent looked. The proc agent can look only when the actor runs
//   on the proc's single scheduler thread (the default for procs), where no
//   other actor of the proc runs while it looks; otherwise -1 (unknown).
//   Messages actors send each other directly are not counted anywhere.
#pragma once

#include "mesh/export.hpp"

#include "mesh/config.hpp"
#include "mesh/status.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

class host_mesh_ref;

/// One configuration key as a process resolves it (Monarch's config dump).
struct config_entry {
  std::string key;           ///< YAML name, e.g. "call_timeout".
  std::string value;         ///< Rendered current value.
  std::string default_value; ///< Rendered default.
  std::string layer;         ///< The layer the value comes from (to_string
                             ///< of config_source: "env", "default", ...).
  std::string env;           ///< Its environment variable, MESH_...
};

/// One actor spawned through a proc agent.
struct actor_snapshot {
  std::string name;       ///< Its actor mesh's name.
  std::string actor_mesh; ///< Its actor mesh's id.
  std::string type;       ///< The type name it was spawned by.
  std::string status;     ///< "running", "failed" or "stopped".
  /// Messages waiting in its mailbox when its proc agent looked; -1 when
  /// the agent cannot look safely (see the top of this file).
  int64_t mailbox_depth = -1;
  /// Calls and casts the owning client sent it through the mesh API; filled
  /// in by the owner (host agents do not know), 0 from a host.
  uint64_t mesh_messages = 0;
  std::string last_failure; ///< Its exit reason if it failed, else empty.
};

/// One proc, as its host and its proc agent see it.
struct proc_snapshot {
  uint64_t rank = 0;
  std::string name;       ///< Proc name.
  std::string proc_mesh;  ///< Its proc mesh's id.
  std::string host_mesh;  ///< Its host mesh's id.
  std::string host;       ///< "host:port" of its host agent.
  std::string address;    ///< "host:port" of its proc agent, if published.
  int64_t pid = 0;        ///< 0 for an in-process proc.
  proc_status status = proc_status::not_exist;
  std::string reason;     ///< Why it stopped or failed, if it did.
  std::optional<int> exit_code;
  std::optional<int> signal;
  int64_t uptime_ms = 0;       ///< Since its launch (until its exit).
  int64_t rss_bytes = -1;      ///< -1: not known (exited, in-process).
  int64_t cpu_time_ms = -1;    ///< User + system, -1: not known.
  double cpu_percent = -1;     ///< Sampled (top of file), -1: not known.
  int64_t threads = -1;        ///< -1: not known.
  int64_t open_fds = -1;       ///< -1: not known.
  /// Its proc agent answered within the deadline (false for a proc that is
  /// not running: there is no agent to ask).
  bool responsive = false;
  uint32_t restarts = 0;       ///< Restarts of its rank (owner-filled).
  std::vector<actor_snapshot> actors;
  std::vector<std::string> stderr_tail; ///< Last tail_log_lines lines.
};

/// One host: its process, its procs and its configuration.
struct host_snapshot {
  std::string address;     ///< "host:port" of its host agent.
  int64_t pid = 0;
  int64_t uptime_ms = 0;   ///< Since its host agent started.
  int64_t rss_bytes = -1;
  int64_t cpu_time_ms = -1;
  /// Procs of the asked mesh on this host, counted by status name.
  std::vector<std::pair<std::string, uint64_t>> procs_by_status;
  std::vector<config_entry> config;
  std::vector<proc_snapshot> procs; ///< Sorted by (proc mesh, rank).
  /// Set when the host did not answer (its other fields are then empty).
  std::string error;
};

/// The whole tree of one mesh, as its owner serves it.
struct mesh_snapshot {
  std::string id;          ///< The host mesh id.
  int64_t owner_pid = 0;
  int64_t taken_at_ms = 0; ///< Unix time of the snapshot, milliseconds.
  std::vector<host_snapshot> hosts; ///< In host-rank order.
};

/// The tree of a host mesh: one introspection round to every host, each
/// answering within `deadline` (procs that did not answer by then show as
/// unresponsive; a host that did not shows its error). Blocks; on an
/// actor's thread use async::introspect (mesh/async.hpp).
/// Each host is asked for this mesh's procs only (a host shared by several
/// meshes reports the others' elsewhere) and given `deadline` plus a
/// margin of 1 s for its own work before it counts as not answering, so
/// this returns within about deadline + 1 s. Errors: ec::not_running for a
/// host mesh that was shut down, ec::invalid_argument for a deadline that
/// is not positive. restarts and mesh_messages are 0 here (only the owner
/// knows them).
caf::expected<mesh_snapshot>
introspect(const host_mesh_ref& hosts,
           duration deadline = std::chrono::seconds{2});

// --- JSON (schema: docs/admin-api.md) ----------------------------------------

/// The snapshot as JSON (docs/admin-api.md).
std::string to_json(const mesh_snapshot& snap);
std::string to_json(const proc_snapshot& proc);
/// Parses to_json output; an error names what is missing or malformed.
caf::expected<mesh_snapshot> mesh_snapshot_from_json(std::string_view text);
caf::expected<proc_snapshot> proc_snapshot_from_json(std::string_view text);

// --- the per-user registry of running meshes ---------------------------------

/// A mesh some client of this user owns, as it registered it.
struct running_mesh {
  std::string id;             ///< The host mesh id.
  int64_t owner_pid = 0;
  int64_t started_at_ms = 0;  ///< Unix time, milliseconds.
  std::string command_line;   ///< The owner's argv, space-separated.
  std::string admin_address;  ///< "host:port", or empty (admin off).
  std::string token;          ///< Bearer token of the admin endpoint.
  uint64_t hosts = 0;         ///< Hosts of the mesh.
  std::string path;           ///< The entry's file.
};

/// $XDG_RUNTIME_DIR/libmesh if XDG_RUNTIME_DIR is set, else
/// /tmp/libmesh-<uid>; MESH_RUNTIME_DIR overrides both (tests). Created
/// mode 0700 on first use; a directory owned by someone else, or open to
/// others, is refused.
caf::expected<std::string> runtime_dir();

/// The running meshes of this user, oldest first. Entries whose owner is
/// gone (no such pid, or a pid reused by another process) are removed.
caf::expected<std::vector<running_mesh>> running_meshes();

/// The running mesh whose id is `id` or starts with it; with `id` empty,
/// the only one. The error says which: none running, unknown, ambiguous.
caf::expected<running_mesh> find_running_mesh(std::string_view id);

} // namespace mesh

MESH_PUBLIC_END
