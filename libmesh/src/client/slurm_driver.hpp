// What the Slurm allocators (mesh/slurm.hpp) share: Slurm's commands run
// with bounds, the cancellation flag of an allocator, the meshd to run, the
// allocation of a batch job. Internal to libmesh/src/client.
//
// Blocking: everything here runs Slurm's commands or sleeps on the thread
// that called allocator::allocate() or allocation::release()/cancel()
// (the application's thread, never an actor's).
#pragma once

#include "libmesh/src/core/slurm_record.hpp"
#include "mesh/allocator.hpp"
#include "mesh/config.hpp"

#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mesh::slurm::detail {

/// Longest a Slurm command may take before it counts as failed: sbatch
/// (which may retry while slurmctld is busy), and scontrol or scancel.
constexpr std::chrono::milliseconds sbatch_limit{60000};
constexpr std::chrono::milliseconds command_limit{30000};

/// How long polling keeps trying while scontrol fails (slurmctld
/// restarting, busy) before the job counts as lost to the client.
constexpr std::chrono::milliseconds query_failure_limit{60000};

/// What scontrol says about job `id`: its record, nullopt if slurmctld does
/// not know it (it ended MinJobAge ago, or never existed), or an error
/// quoting scontrol (it failed, timed out, or printed no record).
caf::expected<std::optional<job_record>> query_job(const std::string& id,
                                                   int cancel_fd = -1);

/// scancel `id`; an error quotes scancel.
caf::error cancel_job(const std::string& id);

/// The meshd for the nodes: MESH_SLURM_MESHD, else the meshd installed or
/// built beside this libmesh or this program (bin/, ../bin/, ../../bin/,
/// ../tools/ of the directory of either), else "meshd" (the nodes' PATH).
std::string default_meshd();

/// Hands this process's mesh key to the daemons in <spool>/key (0600), or,
/// if its transport is plain TCP, warns that they will be too (they then
/// get --insecure); `insecure` says which.
caf::error write_spool_key(const std::string& spool, const std::string& what,
                           bool& insecure);

/// The flag of allocator::cancel(): an eventfd that turns readable once
/// fired and stays so, to poll beside a command's pipes.
class cancel_flag {
public:
  cancel_flag();
  ~cancel_flag();
  cancel_flag(const cancel_flag&) = delete;
  cancel_flag& operator=(const cancel_flag&) = delete;

  /// Fires it (any thread, any number of times).
  void fire();
  bool fired() const;
  /// Readable once fired (-1 if no eventfd could be made: then only
  /// fired() tells, and sleeps are not cut short).
  int fd() const { return fd_; }
  /// Sleeps up to `d`; true if the flag fired (before or meanwhile).
  bool sleep(std::chrono::milliseconds d) const;

private:
  int fd_ = -1;
  std::atomic<bool> fired_{false};
};

/// The hosts of a batch job (job(), existing_job()): release() waits for
/// the job to end and scancels it past the limit, cancel() scancels it,
/// both remove the spool; keep() leaves all as it is.
std::unique_ptr<allocation>
make_batch_allocation(std::string job_id, std::string spool,
                      allocation_status status,
                      std::vector<std::string> addresses,
                      std::chrono::milliseconds poll_interval);

/// The status every allocator reports: scheduler "slurm".
allocation_status slurm_status(std::string id, std::string state,
                               std::string reason, size_t ready,
                               size_t hosts);

/// The end of a job's output (<spool>/job.out) as part of an error: "; its
/// output ended with: LINE; LINE" or "" if it wrote nothing.
std::string output_tail(const std::string& spool);

} // namespace mesh::slurm::detail
