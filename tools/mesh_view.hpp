// What `meshctl ls`, `status` and `top` show of a running mesh: pure
// functions from the introspection tree (mesh/introspect.hpp) to text, with
// no process, terminal or clock of their own (the caller passes "now"), so
// that the tests render constructed snapshots.
#pragma once

#include <mesh/introspect.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meshctl {

// --- figures ---------------------------------------------------------------

/// "512B", "12.3K", "45.6M", "1.2G"; "-" for a negative (unknown) size.
std::string format_bytes(int64_t bytes);

/// "850ms", "42s", "3m12s", "2h05m", "3d04h"; "-" when negative.
std::string format_age(int64_t ms);

/// "12.5" (one decimal); "-" when negative (not sampled).
std::string format_percent(double percent);

/// The status a proc is shown with: its proc_status, or "no-answer" for a
/// running proc whose agent did not answer within the deadline.
std::string shown_status(const mesh::proc_snapshot& proc);

/// failed, timeout or unknown: the rows `status` and `top` mark.
bool is_failed_row(const mesh::proc_snapshot& proc);

// --- meshctl ls ------------------------------------------------------------

/// One running mesh and, if its admin endpoint answered, its tree.
struct ls_entry {
  mesh::running_mesh mesh;
  std::optional<mesh::mesh_snapshot> snapshot; ///< nullopt: "?" columns.
};

/// The `ls` table: ID, OWNER PID, HOSTS, PROCS, AGE, COMMAND. HOSTS comes
/// from the registry entry; PROCS from the snapshot ("?" without one).
std::string render_ls(const std::vector<ls_entry>& entries, int64_t now_ms);

// --- meshctl status --------------------------------------------------------

/// The `status` text: a line about the mesh, the hosts table, the procs
/// table (proc mesh, rank, pid, status, uptime, CPU %, RSS, threads, fds,
/// actors), the actors of each proc mesh, then every failure with its cause
/// (and the last stderr lines of a failed proc). No colours: it is for
/// pipes as well as terminals.
std::string render_status(const mesh::mesh_snapshot& snap);

// --- meshctl top -----------------------------------------------------------

enum class sort_key { cpu, rss, status };

/// "cpu", "rss", "status".
std::string_view to_string(sort_key key);

/// Every proc of the snapshot, in the order top shows them: by CPU %
/// (highest first), by RSS (largest first) or by status (failures first,
/// then stopping, stopped, initializing, running last); ties by proc mesh
/// then rank.
std::vector<const mesh::proc_snapshot*> sorted_procs(
  const mesh::mesh_snapshot& snap, sort_key key);

/// One actor mesh of a proc mesh, summed over its members (top's lines per
/// actor mesh).
struct actor_mesh_row {
  std::string name;
  std::string type;
  std::string proc_mesh;
  uint64_t members = 0;
  uint64_t running = 0;
  uint64_t failed = 0;
  int64_t mailbox = -1;     ///< Sum of known depths; -1 if none is known.
  uint64_t messages = 0;    ///< Sum of mesh_messages.
  std::string last_failure; ///< One member's failure, if any failed.
};

/// The actor meshes of the snapshot, by (proc mesh, name).
std::vector<actor_mesh_row> actor_meshes(const mesh::mesh_snapshot& snap);

/// What top shows besides the snapshot.
struct top_view {
  sort_key sort = sort_key::cpu;
  size_t selected = 0;      ///< Index into sorted_procs (clamped).
  size_t width = 80;        ///< Terminal columns.
  size_t height = 24;       ///< Terminal rows.
  int64_t interval_ms = 1000;
  int64_t now_ms = 0;       ///< For "updated Ns ago".
  std::string error;        ///< The last refresh's failure, if it failed.
  bool color = true;        ///< ANSI attributes (off: plain text).
};

/// The SGR sequences render_top uses.
inline constexpr const char* sgr_reset = "\x1b[0m";
inline constexpr const char* sgr_failed = "\x1b[1;31m";  ///< Bold red.
inline constexpr const char* sgr_selected = "\x1b[7m";   ///< Reverse.
inline constexpr const char* sgr_heading = "\x1b[1m";    ///< Bold.

/// The screen: exactly `height` lines (fewer only when height is 0), each
/// at most `width` visible columns. From the top: the mesh line, one line
/// per host, the procs table (a window around the selected row when they do
/// not all fit), the actor meshes table, blank lines, and the keys line as
/// the last line. Failed rows are bold red, the selected row reversed (with
/// `color`; ANSI sequences are not counted in the width).
std::vector<std::string> render_top(const mesh::mesh_snapshot& snap,
                                    const top_view& view);

/// `line` without its ANSI SGR sequences (tests, and off-terminal output).
std::string strip_ansi(const std::string& line);

} // namespace meshctl
