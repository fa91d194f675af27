// The per-user registry of running meshes (mesh/introspect.hpp): one file
// per mesh, `<runtime dir>/<mesh id>.json`, mode 0600, written atomically
// (a temporary file in the same directory, then rename), read by meshctl.
//
// An entry is a JSON object with the running_mesh fields (id, owner_pid,
// started_at_ms, command_line, admin_address, token, hosts) plus
// owner_start_time: field 22 of the owner's /proc/<pid>/stat (clock ticks
// since boot), so that a pid the kernel gave to another process is not taken
// for the owner.
//
// Listing (running_meshes) removes the entries of dead owners (no such pid,
// or a pid whose start time differs). A file it cannot parse is skipped and
// left in place (a newer libmesh may have written it), with one line on
// stderr naming it. Files that do not end in ".json" (the temporaries) are
// not entries.
#pragma once

#include "mesh/introspect.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mesh::bootstrap {

/// A registry entry as stored.
struct registry_entry {
  running_mesh mesh;
  /// Field 22 of the owner's /proc/<pid>/stat when it registered.
  uint64_t owner_start_time = 0;
};

/// The entry's file text (JSON).
std::string render_entry(const registry_entry& e);

/// Parses render_entry's text; the error (ec::parse_error) names the field.
caf::expected<registry_entry> parse_entry(std::string_view text);

/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or
/// nullopt if there is no such process.
std::optional<uint64_t> process_start_time(int64_t pid);

/// Whether the process that wrote `e` still runs: its pid exists and has the
/// start time recorded in the entry.
bool owner_alive(const registry_entry& e);

/// `dir` is a directory (not a symlink) owned by this user with no access
/// for group or others; creates it mode 0700 if it does not exist (the
/// parent must). The error names it as `what` and says what is wrong.
caf::error check_private_dir(const std::string& dir,
                             const std::string& what = "runtime directory");

/// The running_meshes() of `dir` (see mesh/introspect.hpp).
caf::expected<std::vector<running_mesh>> list_entries(const std::string& dir);

/// Writes `e` as `<dir>/<id>.json`, mode 0600, atomically; returns the path.
caf::expected<std::string> write_entry(const std::string& dir,
                                       const registry_entry& e);

/// This process's command line (argv joined by spaces), from /proc/self.
std::string self_command_line();

/// A registry entry for a mesh this process owns: registers it (pid, start
/// time, command line, a fresh token from make_token()) when made and
/// removes the file when destroyed or by `remove()`. A registry that cannot
/// be written is not an error of the mesh: `path()` is then empty and
/// `warning()` says why.
class registration {
public:
  registration() = default;
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;
  ~registration();

  /// Writes the entry; the token is made here unless `mesh.token` is set.
  void add(running_mesh mesh);
  /// Rewrites the entry (e.g. once the admin address is known).
  void update(const running_mesh& mesh);
  /// Removes the entry's file (idempotent).
  void remove();

  const running_mesh& mesh() const { return entry_.mesh; }
  const std::string& path() const { return entry_.mesh.path; }
  const std::string& warning() const { return warning_; }

private:
  registry_entry entry_;
  std::string dir_;
  std::string warning_;
};

} // namespace mesh::bootstrap
