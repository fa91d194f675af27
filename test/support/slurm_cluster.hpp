// A real one-node Slurm cluster for a test: a private munged, slurmctld and
// slurmd started as children of the test process, stopped and reaped when
// the object goes away. No mock: sbatch, srun, scontrol and scancel talk to
// real daemons.
//
//   TEST_CASE_FIXTURE(mesh::test::reaped_fixture, "...") {
//     if (auto why = mesh::test::slurm_cluster::unavailable()) {
//       MESSAGE("skipped: " << *why);
//       return;
//     }
//     mesh::test::slurm_cluster cluster;
//     CHECK(cluster.run({"srun", "hostname"}) == cluster.node() + "\n");
//   }
//
// Private everything, so that it collides neither with a system Slurm nor
// with another test run on the machine: its own temporary directory
// (slurm.conf, munge key and socket, pid files, state, spool, logs), ports
// the kernel picked free at start, and SLURM_CONF pointing at its
// slurm.conf (set in this process's environment while it lives, so that
// code under test finds it; env() for programs started with another
// environment). The daemons get PR_SET_PDEATHSIG(SIGKILL): construct the
// cluster on the test's main thread, which lives as long as the process.
//
// One per test case: reaped_fixture kills every child when a case starts,
// and a case's jobs must not leak into the next. Starting takes about 2 s.
// Several may run at once; SLURM_CONF is then the last one's, and each
// puts back what it found when it ends (so end them in reverse order).
// It needs root (SlurmUser=root, slurmd runs jobs as their user).
#pragma once

#include "support/process.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mesh::test {

class slurm_cluster {
public:
  struct options {
    /// CPUs the node claims (SlurmdParameters=config_overrides), more than
    /// the machine has so that several jobs and steps fit.
    unsigned cpus = 8;
    /// The one partition, the default.
    std::string partition = "debug";
    /// Bound on bringing the node to idle.
    std::chrono::milliseconds start_timeout = std::chrono::seconds{60};
  };

  /// A job's JobState and Reason from `scontrol show job`; state "" if
  /// Slurm no longer knows the job (completed jobs stay MinJobAge=300 s).
  struct job_status {
    std::string state;
    std::string reason;
  };

  /// Why no cluster can run here (not root, a program missing); nullopt if
  /// one can.
  static std::optional<std::string> unavailable();

  /// Starts the daemons and waits until the node is idle. Throws
  /// std::runtime_error with the daemons' logs if it cannot (after a retry
  /// when a picked port was taken meanwhile), leaving nothing behind.
  explicit slurm_cluster(options opts);
  slurm_cluster() : slurm_cluster(options{}) {}

  /// Cancels every job, stops the daemons (SIGTERM, then SIGKILL after
  /// 10 s), reaps them and every slurmstepd orphaned to this process,
  /// removes the directory and restores SLURM_CONF.
  ~slurm_cluster();

  slurm_cluster(const slurm_cluster&) = delete;
  slurm_cluster& operator=(const slurm_cluster&) = delete;

  /// The private directory holding everything (removed on destruction).
  const std::string& dir() const { return dir_; }
  /// Its slurm.conf.
  const std::string& conf_path() const { return conf_; }
  /// The partition (opts.partition) and the node's name (the short
  /// hostname, which is what `srun hostname` prints).
  const std::string& partition() const { return opts_.partition; }
  const std::string& node() const { return node_; }
  unsigned cpus() const { return opts_.cpus; }

  /// What a program needs to use this cluster: SLURM_CONF, and
  /// SBATCH_OUTPUT so that a job submitted without --output writes into
  /// dir() rather than the current directory. Both are also set in this
  /// process's environment while the cluster lives.
  std::map<std::string, std::string> env() const;

  /// PIDs of munged, slurmctld and slurmd.
  std::vector<pid_t> daemon_pids() const;

  /// Runs a Slurm command (or any) against this cluster, bounded by
  /// `timeout`; never fails the test.
  run_result command(const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds{
                       30}) const;

  /// command(), and its stdout; fails the test (REQUIRE) naming the command
  /// and its stderr unless it exits 0.
  std::string run(const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout = std::chrono::seconds{
                    30}) const;

  /// Submits `sbatch --parsable ARGS` with --output in dir(); the job id.
  /// Fails the test (REQUIRE) with sbatch's stderr if it is refused.
  std::string submit(const std::vector<std::string>& args) const;

  /// The job's state and reason now.
  job_status job(const std::string& id) const;
  std::string job_state(const std::string& id) const { return job(id).state; }

  /// Polls (every 100 ms) until the job's state is one of `states` ("" for
  /// gone) or `timeout` passed; returns the last status seen, which the
  /// caller checks.
  job_status wait_state(const std::string& id,
                        const std::set<std::string>& states,
                        std::chrono::milliseconds timeout) const;

  /// Job ids Slurm knows in a state other than COMPLETED, CANCELLED,
  /// FAILED, TIMEOUT and the other ends: pending, running, completing.
  std::vector<std::string> active_jobs() const;

  /// scancel every active job and waits (at most `timeout`) until none is
  /// active and their slurmstepds have exited; true if so.
  bool cancel_all(std::chrono::milliseconds timeout = std::chrono::seconds{
                    20}) const;

  /// The tail of every daemon's log, for failure messages.
  std::string logs() const;

private:
  void start_once();
  void stop();
  pid_t spawn_daemon(const std::string& name,
                     const std::vector<std::string>& argv);
  /// Live children of this process that came from this cluster: its
  /// daemons' descendants and the orphans running with its SLURM_CONF
  /// (a job's processes, srun's helper); with `final_sweep`, any child
  /// running with its SLURM_CONF. Reaps every orphan that ended.
  std::vector<pid_t> orphans(bool final_sweep) const;

  options opts_;
  std::string dir_;
  std::string conf_;
  std::string node_;
  int ctld_port_ = 0;
  int slurmd_port_ = 0;
  pid_t munged_ = -1;
  pid_t slurmctld_ = -1;
  pid_t slurmd_ = -1;
  std::map<std::string, std::optional<std::string>> saved_env_;
};

} // namespace mesh::test
