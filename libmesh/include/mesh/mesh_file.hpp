// Mesh files: the YAML description of a mesh that `meshctl` brings up
// (architecture §8). The schema is written down in `config/README.md`.
//
// Contract of the parser:
//   * it never throws and never crashes, whatever the input (malformed YAML,
//     binary data, deep nesting): every problem becomes a diagnostic;
//   * it reports every problem it finds, not only the first, each at the
//     1-based line and column of the offending node (the key for an unknown
//     or duplicated key, the value for a bad value, the mapping for a
//     missing key);
//   * a result carries a `mesh_file` if and only if it has no diagnostics.
#pragma once

#include "mesh/export.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/bootstrap.hpp"
#include "mesh/error.hpp"
#include "mesh/extent.hpp"
#include "mesh/slurm.hpp"

MESH_PUBLIC_BEGIN

namespace mesh {

/// How `meshctl` obtains its hosts (one `host_mesh` constructor each).
enum class host_mode {
  local,      ///< host_mesh::local(): one host, procs are child processes.
  in_process, ///< host_mesh::local_in_process(): procs run in this process.
  process,    ///< host_mesh::process(): one host child process per rank.
  attach,     ///< host_mesh::attach(): hosts already running (meshd).
  slurm,      ///< host_mesh::allocate() on mesh/slurm.hpp: meshd on Slurm.
};

/// Mode slurm: which Slurm allocation runs the hosts.
enum class slurm_allocation {
  job,     ///< slurm::job(): a new batch job (sbatch) that meshctl owns.
  current, ///< slurm::in_allocation(): the one meshctl runs in (salloc).
};

/// The mode's name as written in a mesh file, e.g. "in_process".
std::string_view to_string(host_mode mode);

/// A 1-based position in a mesh file; {0, 0} means "no position".
struct source_position {
  size_t line = 0;
  size_t column = 0;
};

/// One actor mesh to spawn on every proc of its proc mesh.
struct actor_mesh_spec {
  std::string name;              ///< Valid label, unique in its proc mesh.
  std::string type;              ///< Registered actor type name.
  std::vector<std::string> args; ///< Passed to the actor type's factory.
  source_position position;      ///< Where the spec starts, for later errors.
};

/// One proc mesh: `per_host` procs on every host.
struct proc_mesh_spec {
  std::string name; ///< Valid label, unique.
  extent per_host;  ///< At least one dimension.
  std::optional<std::vector<mesh::proc_bind>> proc_bind; ///< Per slot.
  std::map<std::string, std::string> env;     ///< Added to each proc's env.
  std::optional<bootstrap_command> bootstrap; ///< Overrides the hosts'.
  std::vector<actor_mesh_spec> actors;        ///< Spawned after bring-up.
  source_position position;                   ///< Where the spec starts.
};

/// Where the hosts come from.
struct hosts_spec {
  host_mode mode = host_mode::local;
  std::optional<extent> hosts;        ///< process only: e.g. {hosts: 2}.
  std::vector<std::string> addresses; ///< attach only: "host:port" each.
  std::optional<bootstrap_command> bootstrap; ///< Not for in_process.
  /// slurm only: what to ask Slurm for. `time_limit` is in Slurm's syntax
  /// (a duration in the file is converted); `proc_command` stays empty
  /// (`bootstrap` says what procs run); with allocation current and no
  /// `nodes` in the file, `nodes` is 0: every node of the allocation.
  std::optional<slurm::job_options> slurm;
  slurm_allocation allocation = slurm_allocation::job; ///< slurm only.
};

/// A validated mesh file.
struct mesh_file {
  std::string path;                          ///< As given to the parser.
  hosts_spec hosts;                          ///< Where the hosts come from.
  std::vector<proc_mesh_spec> proc_meshes;   ///< In file order, at least one.
  std::map<std::string, std::string> config; ///< Validated overrides (text).

  /// The host extent: `hosts.hosts` for process, else {hosts: N} with N = 1
  /// (local, in_process), the number of addresses (attach) or nodes times
  /// hosts per node (slurm).
  mesh::extent host_extent() const;

  /// Number of hosts the file brings up or attaches to; 0 if only the
  /// allocation knows (slurm in the current allocation, on all its nodes).
  size_t num_hosts() const;

  /// Number of procs over all proc meshes and hosts (0 if num_hosts() is).
  size_t num_procs() const;

  /// A multi-line human summary (what `meshctl validate` prints).
  std::string summary() const;
};

/// One problem found in a mesh file.
struct mesh_file_diagnostic {
  std::string file;  ///< The file name given to the parser.
  size_t line = 0;   ///< 1-based; 0 when the problem has no position.
  size_t column = 0; ///< 1-based; 0 when the problem has no position.
  std::string message;

  /// "file:line:col: message", or "file: message" without a position.
  std::string to_string() const;
};

/// The outcome of parsing: `file` is set iff `diagnostics` is empty.
struct mesh_file_result {
  std::optional<mesh_file> file;
  std::vector<mesh_file_diagnostic> diagnostics; ///< Sorted by position.
};

/// Parses and validates a mesh file held in memory; `file_name` is used in
/// the diagnostics and as `mesh_file::path`.
mesh_file_result parse_mesh_file(std::string_view yaml_text,
                                 std::string file_name);

/// Reads and parses `path`. A file that cannot be read (missing, a
/// directory, larger than 1 MiB) yields one diagnostic without a position.
mesh_file_result load_mesh_file(const std::string& path);

/// ec::invalid_mesh_file with one context string per diagnostic (rendered
/// as by `mesh_file_diagnostic::to_string`); no error for a valid result.
caf::error to_error(const mesh_file_result& result);

} // namespace mesh

MESH_PUBLIC_END
