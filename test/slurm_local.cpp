// slurm_local: the test suites' private one-node Slurm (support/
// slurm_cluster) as a program, for what may not link test support itself:
// the Slurm bring-up benchmark (bench/suite.py --only-slurm) starts it, runs
// sbatch/srun and libmesh's allocator against it, and ends it.
//
//   build/test/slurm_local
//
// Prints, once the node is idle, one KEY=VALUE line each (SLURM_CONF,
// SBATCH_OUTPUT, partition, node, cpus, pid) and then "ready", on stdout.
// Then waits until its stdin ends, or SIGTERM, SIGINT or SIGHUP, and stops
// everything the cluster started (jobs cancelled, daemons stopped by PID,
// the jobs' orphaned processes reaped: it is their subreaper) before it
// exits 0. Dies with its parent (PR_SET_PDEATHSIG(SIGTERM)), so a driver
// that is killed leaves nothing running either. Exits 77 with the reason on
// stderr when no cluster can run here (not root, Slurm missing), 1 if the
// cluster does not start.
#define DOCTEST_CONFIG_IMPLEMENT // slurm_cluster.cpp uses doctest's asserts
#include "support/slurm_cluster.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>

namespace {

// Written by the signal handler, polled beside stdin.
int signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int) {
  auto saved = errno;
  char byte = 1;
  [[maybe_unused]] auto n = ::write(signal_pipe[1], &byte, 1);
  errno = saved;
}

// A handler, not a blocked mask: a mask would be inherited by the daemons
// (and survive their exec), which then could not be stopped with SIGTERM.
bool install_handlers() {
  if (::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    return false;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    if (::sigaction(sig, &sa, nullptr) != 0)
      return false;
  // Writing "ready" to a driver that is gone must not kill us before the
  // cluster is stopped.
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}

// Until stdin ends (or fails) or a signal arrives.
void wait_for_the_end() {
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_pipe[0], POLLIN, 0}};
  char buf[512];
  for (;;) {
    auto n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || (fds[1].revents & POLLIN) != 0)
      return;
    if (fds[0].revents != 0) {
      auto got = ::read(STDIN_FILENO, buf, sizeof(buf));
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
        return;
    }
  }
}

} // namespace

int main() {
  // The jobs' processes (slurmstepd and what it runs) are orphaned to this
  // process, which the cluster reaps when it stops.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    std::perror("slurm_local: prctl(PR_SET_CHILD_SUBREAPER)");
    return 1;
  }
  auto parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent)
    return 1; // the parent is already gone
  if (!install_handlers()) {
    std::perror("slurm_local: signal handlers");
    return 1;
  }
  if (auto why = mesh::test::slurm_cluster::unavailable()) {
    std::cerr << "slurm_local: no Slurm here: " << *why << "\n";
    return 77;
  }
  // slurm_cluster asserts only in its helpers for tests (run, submit, job),
  // unused here; outside a test case a failed assert would abort, and
  // doctest needs a context even for that.
  doctest::Context ctx;
  try {
    mesh::test::slurm_cluster cluster;
    for (auto& [var, value] : cluster.env())
      std::cout << var << "=" << value << "\n";
    std::cout << "partition=" << cluster.partition() << "\n"
              << "node=" << cluster.node() << "\n"
              << "cpus=" << cluster.cpus() << "\n"
              << "pid=" << ::getpid() << "\n"
              << "ready" << std::endl;
    wait_for_the_end();
    // The destructor cancels the jobs and stops and reaps everything.
  } catch (const std::exception& e) {
    std::cerr << "slurm_local: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
