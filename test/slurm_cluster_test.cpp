// The test support for a real Slurm (test/support/slurm_cluster.hpp): a
// private munged, slurmctld and slurmd that run jobs, refuse bad requests
// the way Slurm does, queue what does not fit, cancel, and leave nothing
// behind. Needs root (CI runs as root); otherwise each case says why it
// skipped.
#include "support/process.hpp"
#include "support/slurm_cluster.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using mesh::test::contains;
using mesh::test::slurm_cluster;

namespace {

bool skipped() {
  if (auto why = slurm_cluster::unavailable()) {
    MESSAGE("skipped: " << *why);
    return true;
  }
  return false;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Children of this process (the test is their subreaper) named slurmstepd.
std::vector<pid_t> slurmstepds() {
  std::vector<pid_t> result;
  for (auto pid : mesh::test::child_pids())
    if (mesh::test::process_name(pid) == "slurmstepd")
      result.push_back(pid);
  return result;
}

} // namespace

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "srun runs a step on the node, and sinfo shows it idle") {
  if (skipped())
    return;
  slurm_cluster cluster;
  // (Checked first: right after a step the node is "completing" a moment.)
  CHECK(cluster.run({"sinfo", "-h", "-o", "%P %T %c"}) ==
        cluster.partition() + "* idle " + std::to_string(cluster.cpus()) +
          "\n");
  CHECK(cluster.run({"srun", "hostname"}) == cluster.node() + "\n");
  // Two tasks on the one node at once: there are more CPUs than cores.
  CHECK(cluster.run({"srun", "--ntasks=2", "hostname"}) ==
        cluster.node() + "\n" + cluster.node() + "\n");
  // This process's environment points at the cluster while it lives.
  REQUIRE(std::getenv("SLURM_CONF") != nullptr);
  CHECK(std::string{std::getenv("SLURM_CONF")} == cluster.conf_path());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a batch job runs to COMPLETED and writes its output") {
  if (skipped())
    return;
  slurm_cluster cluster;
  auto id = cluster.submit({"--wrap", "echo ran on $(hostname)"});
  auto status = cluster.wait_state(id, {"COMPLETED", "FAILED"}, 30s);
  CHECK(status.state == "COMPLETED");
  auto out = cluster.dir() + "/jobs/slurm-" + id + ".out";
  auto res = mesh::test::run({"cat", out}, 5s);
  CHECK(res.out == "ran on " + cluster.node() + "\n");
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "sbatch to a partition that does not exist names it") {
  if (skipped())
    return;
  slurm_cluster cluster;
  auto res = cluster.command(
    {"sbatch", "--parsable", "--partition=nosuch", "--wrap", "true"}, 30s);
  CHECK(res.exit_code != 0);
  INFO("stderr: ", res.err);
  CHECK(contains(res.err, "invalid partition specified: nosuch"));
  CHECK(cluster.active_jobs().empty());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a job that does not fit stays PENDING; scancel ends jobs") {
  if (skipped())
    return;
  slurm_cluster cluster;
  auto all = std::to_string(cluster.cpus());
  auto big = cluster.submit({"--ntasks=" + all, "--wrap", "sleep 300"});
  auto running = cluster.wait_state(big, {"RUNNING"}, 30s);
  REQUIRE(running.state == "RUNNING");
  auto small = cluster.submit({"--ntasks=1", "--wrap", "sleep 300"});
  // Give the scheduler time to look at it: it stays pending, and says why.
  auto pending = cluster.wait_state(small, {"RUNNING"}, 3s);
  CHECK(pending.state == "PENDING");
  CHECK((pending.reason == "Resources" || pending.reason == "Priority"));
  auto ids = cluster.active_jobs();
  CHECK(ids.size() == 2);

  // The step daemon of the running job is a child of this process (its
  // subreaper) and goes away with the job.
  auto steps = slurmstepds();
  CHECK_FALSE(steps.empty());
  cluster.run({"scancel", big});
  auto ended = cluster.wait_state(big, {"CANCELLED"}, 20s);
  CHECK(ended.state == "CANCELLED");
  // The freed CPUs go to the pending job.
  CHECK(cluster.wait_state(small, {"RUNNING"}, 20s).state == "RUNNING");
  cluster.run({"scancel", small});
  CHECK(cluster.wait_state(small, {"CANCELLED"}, 20s).state == "CANCELLED");
  CHECK(cluster.cancel_all(20s));
  CHECK(cluster.active_jobs().empty());
  for (auto pid : steps)
    CHECK_FALSE(mesh::test::alive(pid));
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "nothing of the cluster remains after it, jobs or daemons") {
  if (skipped())
    return;
  const char* conf_before = std::getenv("SLURM_CONF");
  std::string saved_conf = conf_before ? conf_before : "(unset)";
  auto cluster = std::make_unique<slurm_cluster>();
  auto dir = cluster->dir();
  auto daemons = cluster->daemon_pids();
  REQUIRE(daemons.size() == 3);
  for (auto pid : daemons)
    CHECK(mesh::test::alive(pid));
  // A running job and a pending one, left for the destructor to end.
  auto big = cluster->submit(
    {"--ntasks=" + std::to_string(cluster->cpus()), "--wrap", "sleep 300"});
  CHECK(cluster->wait_state(big, {"RUNNING"}, 30s).state == "RUNNING");
  auto id = cluster->submit({"--wrap", "sleep 300"});
  CHECK(cluster->wait_state(id, {"PENDING"}, 10s).state == "PENDING");
  auto steps = slurmstepds();
  CHECK_FALSE(steps.empty());
  auto started = std::chrono::steady_clock::now();
  cluster.reset();
  auto took = std::chrono::steady_clock::now() - started;
  MESSAGE("stopped in "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
          << " ms");
  for (auto pid : daemons)
    CHECK_FALSE(mesh::test::alive(pid));
  for (auto pid : steps)
    CHECK_FALSE(mesh::test::alive(pid));
  CHECK(mesh::test::child_pids().empty());
  CHECK_FALSE(exists(dir));
  const char* conf_after = std::getenv("SLURM_CONF");
  CHECK((conf_after ? conf_after : "(unset)") == saved_conf);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "started and stopped again in one process, each on its own "
                  "ports and directory") {
  if (skipped())
    return;
  std::string first_conf;
  for (int round = 0; round < 2; ++round) {
    slurm_cluster::options opts;
    opts.cpus = 4;
    opts.partition = "round" + std::to_string(round);
    slurm_cluster cluster{opts};
    CHECK(cluster.conf_path() != first_conf);
    first_conf = cluster.conf_path();
    CHECK(cluster.run({"srun", "--ntasks=4", "true"}).empty());
    CHECK(cluster.run({"sinfo", "-h", "-o", "%P %c"}) ==
          opts.partition + "* 4\n");
  }
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "two clusters at once keep apart, and one's end spares the "
                  "other's jobs") {
  if (skipped())
    return;
  slurm_cluster first;
  slurm_cluster::options opts;
  opts.partition = "second";
  auto second = std::make_unique<slurm_cluster>(opts);
  CHECK(first.conf_path() != second->conf_path());
  // Each client reaches its own controller (by its env()).
  CHECK(first.run({"sinfo", "-h", "-o", "%P"}) == "debug*\n");
  CHECK(second->run({"sinfo", "-h", "-o", "%P"}) == "second*\n");
  auto a = first.submit({"--wrap", "sleep 300"});
  auto b = second->submit({"--wrap", "sleep 300"});
  REQUIRE(first.wait_state(a, {"RUNNING"}, 30s).state == "RUNNING");
  REQUIRE(second->wait_state(b, {"RUNNING"}, 30s).state == "RUNNING");
  CHECK(first.active_jobs() == std::vector<std::string>{a});
  CHECK(second->active_jobs() == std::vector<std::string>{b});
  auto steps_before = slurmstepds();
  CHECK(steps_before.size() == 2); // one per batch job
  second.reset();
  CHECK(first.job_state(a) == "RUNNING");
  // The first cluster's step daemon survived the second's sweep.
  size_t surviving = 0;
  for (auto pid : steps_before)
    surviving += mesh::test::alive(pid) ? 1 : 0;
  CHECK(surviving == 1);
  // And SLURM_CONF is the first's again.
  REQUIRE(std::getenv("SLURM_CONF") != nullptr);
  CHECK(std::string{std::getenv("SLURM_CONF")} == first.conf_path());
}

TEST_CASE("without root it says why rather than failing") {
  auto why = slurm_cluster::unavailable();
  if (::geteuid() != 0) {
    REQUIRE(why);
    CHECK(contains(*why, "not root"));
  } else if (why) {
    CHECK(contains(*why, "missing"));
  }
}
