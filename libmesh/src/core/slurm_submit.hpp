// What an allocator on Slurm runs (mesh/slurm.hpp), as text: the command
// each Slurm task runs (one meshd per host), the batch script that starts
// them with srun, sbatch's arguments, the `srun --overlap` of an existing
// allocation, the spool directory's name, and sbatch's answer. Pure: no
// process is started and no file written here.
//
// Contracts:
// * Everything that comes from the caller (paths, programs, environment
//   values, Slurm options) reaches the shell as one quoted word
//   (core/shell_quote): a script never runs text it was given.
// * A request is checked before anything is rendered: ec::invalid_argument
//   for zero nodes or hosts, a non-positive owner timeout, an environment
//   name that is not a shell name, a NUL byte anywhere, a spool path that is
//   not absolute, an empty meshd, a proc command with arguments or an arg0
//   (meshd --proc-command takes a program only; its env is exported).
// * Rank order is Slurm's task order: the task of SLURM_PROCID r writes its
//   address to `<spool>/hosts/<r>`, node by node (--ntasks-per-node=H).
#pragma once

#include "mesh/slurm.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::slurm {

/// How the meshd of every host is started.
struct host_launch {
  /// Absolute path of the job's spool directory (on shared storage).
  std::string spool;
  /// The meshd program on the nodes: an absolute path, or a name that the
  /// nodes' PATH resolves.
  std::string meshd;
  /// meshd --proc-command, if set.
  std::optional<std::string> proc_program;
  /// Plain TCP (meshd --insecure) instead of the mesh key in <spool>/key.
  bool insecure = false;
  /// meshd --owner-timeout, in whole seconds (at least 1).
  int64_t owner_timeout_s = 60;
  /// Exported to the daemons (job_options::env).
  std::map<std::string, std::string> env;
  size_t nodes = 1;
  size_t hosts_per_node = 1;
};

/// The launch of `opts`' hosts with spool `spool` and meshd `meshd`, checked
/// (see the contracts above).
caf::expected<host_launch> make_host_launch(const job_options& opts,
                                            std::string spool,
                                            std::string meshd, bool insecure);

/// The bash text each Slurm task runs (`bash -c TEXT`): exports the
/// environment, then execs meshd listening on the node's name with a port
/// the kernel picks, writing its address to <spool>/hosts/$SLURM_PROCID.
std::string task_command(const host_launch& launch);

/// The srun options that start one task per host: --nodes, --ntasks-per-node,
/// --ntasks and --kill-on-bad-exit=0 (a meshd that exits does not end the
/// others; the owner sees that host lost).
std::vector<std::string> srun_task_options(const host_launch& launch);

/// <spool>/job.sh: a bash script that execs srun with srun_task_options
/// running task_command on every task.
std::string batch_script(const host_launch& launch);

/// sbatch's arguments (argv[0] "sbatch" included) submitting `script` of
/// `opts` with its output in <spool>/job.out; sbatch prints "ID[;cluster]".
std::vector<std::string> sbatch_argv(const job_options& opts,
                                     const host_launch& launch,
                                     const std::string& script);

/// The srun (argv[0] included) that starts the hosts inside the existing
/// allocation `job_id` (in_allocation): --overlap, the task options, the
/// tasks' output appended to <spool>/job.out.
std::vector<std::string> overlap_srun_argv(const std::string& job_id,
                                           const host_launch& launch);

/// The job id of sbatch --parsable's output "ID" or "ID;cluster" (one line);
/// ec::parse_error quoting it otherwise.
caf::expected<std::string> parse_sbatch_id(std::string_view out);

/// The name of a job's spool directory: the job name with every character
/// outside [A-Za-z0-9._-] replaced by '_' (and a leading '.' too), cut to
/// 64 bytes, "libmesh" if empty, then '-' and 16 hex digits of `nonce`.
std::string spool_name(std::string_view job_name, uint64_t nonce);

} // namespace mesh::slurm
