// Host meshes on Slurm (mesh/allocator.hpp; README "Running on Slurm").
//
//   mesh::slurm::job_options opts;
//   opts.nodes = 2;
//   opts.partition = "debug";
//   opts.time_limit = "10:00";
//   auto job = mesh::slurm::job(opts);
//   auto hosts = mesh::host_mesh::allocate(sys, id, *job, on_progress);
//   ... hosts->spawn(...) ...
//   hosts->shutdown();   // the daemons stop, the job ends
//
// How hosts come up: the client writes a spool directory (spool_root, which
// must be on storage every node sees, mode 0700) holding the mesh key (0600)
// and the batch script, submits the script with sbatch, and polls
// `scontrol show job` while the job pends (progress shows Slurm's state and
// reason). The script runs one meshd per host with srun; each meshd listens
// on its node's name with a port the kernel picks and writes "host:port"
// into the spool (one file per Slurm task, written atomically), which is how
// the client learns the addresses without a fixed port or a connection
// back. The daemons adopt the mesh key, so only this user's client attaches,
// and end once no client has owned them for owner_timeout.
#pragma once

#include "mesh/allocator.hpp"
#include "mesh/bootstrap.hpp"
#include "mesh/config.hpp"
#include "mesh/export.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh::slurm {

/// What to ask Slurm for. Empty strings leave Slurm's defaults.
struct job_options {
  /// Nodes, and meshd hosts on each: nodes * hosts_per_node hosts, ranked in
  /// Slurm task order (node by node). in_allocation(): 0 nodes means every
  /// node of the allocation.
  size_t nodes = 1;
  size_t hosts_per_node = 1;
  /// sbatch --partition, --account, --time (Slurm's syntax: "10", "10:00",
  /// "1-00:00:00"), --job-name.
  std::string partition;
  std::string account;
  std::string time_limit;
  std::string job_name = "libmesh";
  /// More sbatch options, each one argument (e.g. "--constraint=gpu").
  std::vector<std::string> sbatch_args;
  /// Environment of the daemons and their procs (on top of the submitter's
  /// environment, which sbatch exports).
  std::map<std::string, std::string> env;
  /// The meshd program on the nodes (a path every node sees); default:
  /// MESH_SLURM_MESHD, else the meshd installed beside this libmesh or this
  /// program (bin/, ../bin/, ../../bin/, or the build tree's tools/), else
  /// "meshd" from the nodes' PATH.
  std::string meshd;
  /// What procs run (meshd --proc-command, which takes a program without
  /// arguments; its env is exported to the daemons); default: meshd itself.
  std::optional<bootstrap_command> proc_command;
  /// Where the per-job spool directories go, on storage every node sees;
  /// default: MESH_SLURM_SPOOL, else ~/.libmesh/slurm.
  std::string spool_root;
  /// The daemons end (and the job with them) once no client has owned them
  /// for this long: from their start until the first attach, and after the
  /// owner was lost without stop().
  duration owner_timeout = std::chrono::seconds{60};
  /// How often the job's state is polled while it pends or starts.
  duration poll_interval = std::chrono::milliseconds{500};
  /// Gives up (and cancels the job) if its hosts are not all up this long
  /// after the submission; 0: wait as long as Slurm keeps it pending.
  duration start_timeout = duration{0};
};

/// Submits a batch job that runs the hosts (sbatch), and owns it.
std::unique_ptr<allocator> job(job_options opts);

/// Runs the hosts inside the allocation this process runs in (salloc, or a
/// batch script running the client): `srun --overlap` on the nodes of
/// SLURM_JOB_NODELIST, without submitting a job. ec::invalid_argument if
/// this process is not in an allocation or asks for more nodes than it has.
/// Partition, account, time limit and job name are the allocation's.
std::unique_ptr<allocator> in_allocation(job_options opts);

/// The hosts of a job that an owner kept with host_mesh::stop(), for another
/// attach: `job_id` and the spool root it was submitted with. The attaching
/// process must use the job's mesh key: the same process, or one that
/// called adopt_job_key() before its actor system was made.
std::unique_ptr<allocator> existing_job(std::string job_id,
                                        std::string spool_root = {});

/// Makes the mesh key of a kept job this process's key (call before making
/// the actor system, in a new process that will attach with existing_job).
caf::error adopt_job_key(const std::string& job_id,
                         const std::string& spool_root = {});

} // namespace mesh::slurm

MESH_PUBLIC_END
