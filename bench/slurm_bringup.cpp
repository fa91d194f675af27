// The libmesh side of the Slurm bring-up benchmark (issue 16): host meshes
// from mesh::slurm::job() on the Slurm that SLURM_CONF names. bench/suite.py
// --only-slurm drives it against test/slurm_local's one-node cluster, beside
// `srun hostname` of the same shape, one command and one reply per line:
//
//   up H POLL_MS   host_mesh::allocate of a job of 1 node x H hosts polled
//                  every POLL_MS ms: ok ms=<from the call (spool, sbatch)
//                  until it returned with every host attached>
//                  running_ms=<until the first progress report in state
//                  RUNNING> ready_ms=<until the report with every host's
//                  address> job=<Slurm job id> hosts=<attached>
//   down           host_mesh::shutdown() of that mesh: ok ms=<until it
//                  returned: daemons shut down, the job seen ended by the
//                  allocation's release> job=<id>
//   quit
//
// A failed command answers "err <message>".
//
//   slurm_bringup [--partition P]
//
// The spool root is MESH_SLURM_SPOOL (the driver's temporary directory);
// meshd is the one built beside this program (build/tools/meshd). Nothing
// here measures against a clock of Slurm's: all times are this process's
// steady clock, so they include running sbatch and scontrol.
#include "stats.hpp"

#include <mesh/error.hpp>
#include <mesh/host_mesh.hpp>
#include <mesh/slurm.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

namespace {

using namespace std::chrono_literals;
using bench::clock_type;
using bench::ms_since;

std::string format_ms(const char* key, double ms) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), " %s=%.3f", key, ms);
  return buf;
}

class slurm_bench {
public:
  slurm_bench(caf::actor_system& sys, std::string partition)
    : sys_(sys), partition_(std::move(partition)) {}

  std::string up(size_t hosts_per_node, size_t poll_ms) {
    if (hosts_)
      return "err a mesh is up: down first";
    if (hosts_per_node == 0 || poll_ms == 0)
      return "err usage: up H POLL_MS (both > 0)";
    mesh::slurm::job_options opts;
    opts.nodes = 1;
    opts.hosts_per_node = hosts_per_node;
    opts.partition = partition_;
    opts.job_name = "bench";
    opts.poll_interval = std::chrono::milliseconds{poll_ms};
    // Bounds: a job that never starts is cancelled, and daemons whose
    // owner (this runner) was killed end by themselves.
    opts.start_timeout = 60s;
    opts.owner_timeout = 30s;
    std::optional<double> running_ms;
    std::optional<double> ready_ms;
    auto job = mesh::slurm::job(opts);
    auto t0 = clock_type::now();
    auto hosts = mesh::host_mesh::allocate(
      sys_, mesh::host_mesh_id::instance("slurm-bench"), *job,
      [&](const mesh::allocation_status& st) {
        if (!running_ms && st.state == "RUNNING")
          running_ms = ms_since(t0);
        if (!ready_ms && st.hosts > 0 && st.hosts_ready == st.hosts)
          ready_ms = ms_since(t0);
      });
    auto ms = ms_since(t0);
    if (!hosts)
      return "err " + mesh::to_string(hosts.error());
    auto allocated = hosts->allocated();
    job_id_ = allocated ? allocated->id : std::string{"?"};
    auto attached = hosts->host_addrs().size();
    hosts_.emplace(std::move(*hosts));
    return "ok" + format_ms("ms", ms) +
           format_ms("running_ms", running_ms.value_or(-1)) +
           format_ms("ready_ms", ready_ms.value_or(-1)) + " job=" + job_id_ +
           " hosts=" + std::to_string(attached);
  }

  std::string down() {
    if (!hosts_)
      return "err no mesh is up";
    auto t0 = clock_type::now();
    auto summary = hosts_->shutdown();
    auto ms = ms_since(t0);
    hosts_.reset();
    if (!summary)
      return "err " + mesh::to_string(summary.error());
    return "ok" + format_ms("ms", ms) + " job=" + job_id_;
  }

  /// A mesh left up when the driver quits is shut down, not abandoned.
  ~slurm_bench() {
    if (hosts_) {
      [[maybe_unused]] auto summary = hosts_->shutdown();
    }
  }

private:
  caf::actor_system& sys_;
  std::string partition_;
  std::optional<mesh::host_mesh> hosts_;
  std::string job_id_;
};

std::string run(slurm_bench& b, const std::string& line) {
  std::istringstream in{line};
  std::string cmd;
  size_t a = 0;
  size_t c = 0;
  in >> cmd >> a >> c;
  if (cmd == "up")
    return b.up(a, c);
  if (cmd == "down")
    return b.down();
  return "err unknown command '" + cmd + "'";
}

} // namespace

int main(int argc, char** argv) {
  // Ends with the driver even if it is SIGKILLed: the driver's cluster
  // (test/slurm_local) goes with it and cancels the jobs this left.
  auto parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent)
    return 1; // the driver is already gone
  std::string partition;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--partition") == 0 && i + 1 < argc) {
      partition = argv[++i];
    } else {
      std::fprintf(stderr, "usage: slurm_bringup [--partition P]\n");
      return 2;
    }
  }
  mesh::config cfg;
  caf::actor_system sys{cfg};
  slurm_bench b{sys, partition};
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit")
      break;
    if (line.empty())
      continue;
    std::cout << run(b, line) << std::endl;
  }
  return 0;
}
