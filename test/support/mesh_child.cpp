// The default bootstrap command of the integration tests: a plain program
// whose main only runs the bootstrap child role, with the test actor types
// (support/test_actors.hpp) registered as a user's program would.
//
// Test behaviours, chosen by environment variables the tests set per rank:
//   MESH_TEST_IGNORE_TERM=1  ignore SIGTERM and hang after a polite stop, so
//                            that only SIGKILL ends the process.
//   MESH_TEST_ZYGOTE_GATE=DIR  when started as a zygote, create DIR/started
//                            and wait (at most 30 s) until DIR/open exists:
//                            a test holds the zygote's start open at will.
// Run with the argument "client N" it is instead a client process that brings
// up local() with N procs, prints "pid <p>" per proc and blocks forever (the
// test then SIGKILLs it to check that its procs die with it); with
// "attach KEYFILE ADDRESS..." a client of daemons that hold that key file.
// Run as "slurm-hold ROOT SECONDS" it is a client of the Slurm allocator
// (test/slurm_test.cpp): it submits a job of 1 node x 2 hosts with spool
// root ROOT and owner timeout SECONDS, attaches (host_mesh::allocate),
// spawns 2 procs per host, prints "job <id>" and "ready", and blocks
// forever (the test SIGKILLs it). As "slurm-in-allocation ROOT" (run under
// salloc) it does the same with mesh::slurm::in_allocation, calls an actor
// mesh on the procs, shuts the mesh down, prints "shutdown ok" and exits.
#include "mesh/actor_mesh.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/slurm.hpp"
#include "mesh/system.hpp"
#include "test_actors.hpp"

#include <caf/actor_system.hpp>

#include <unistd.h>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int run_client(int procs) {
  mesh::config cfg;
  caf::actor_system sys{cfg};
  auto hosts = mesh::host_mesh::local(sys);
  if (!hosts) {
    std::fprintf(stderr, "%s\n", mesh::to_string(hosts.error()).c_str());
    return 1;
  }
  auto pm = hosts->spawn("clientprocs", mesh::extent{{"procs", size_t(procs)}});
  if (!pm) {
    std::fprintf(stderr, "%s\n", mesh::to_string(pm.error()).c_str());
    return 1;
  }
  auto states = pm->states();
  if (!states)
    return 1;
  for (auto& st : *states)
    std::printf("pid %lld\n", static_cast<long long>(st.pid));
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;)
    ::pause();
}

/// `attach KEYFILE ADDRESS...`: a client of another process's daemons (meshd
/// --mesh-key-file KEYFILE): adopts the key, attaches, prints "ready" and
/// blocks (the test then SIGKILLs it, or sends SIGTERM for a stop(), which
/// prints "stopped" and blocks again).
int run_attach(const char* key_file, std::vector<std::string> addrs) {
  if (auto err = mesh::use_mesh_key_file(key_file)) {
    std::fprintf(stderr, "%s\n", mesh::to_string(err).c_str());
    return 1;
  }
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  mesh::config cfg;
  caf::actor_system sys{cfg};
  auto hosts = mesh::host_mesh::attach(
    sys, mesh::host_mesh_id::instance("attached"), std::move(addrs));
  if (!hosts) {
    std::fprintf(stderr, "%s\n", mesh::to_string(hosts.error()).c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&term, &sig);
  auto stopped = hosts->stop();
  std::printf("%s\n", stopped ? "stopped" : "stop failed");
  std::fflush(stdout);
  for (;;)
    ::pause();
}

int fail(const caf::error& err) {
  std::fprintf(stderr, "%s\n", mesh::to_string(err).c_str());
  return 1;
}

int run_slurm_client(mesh::config& cfg, const std::string& mode,
                     const std::string& root, int owner_timeout_s) {
  caf::actor_system sys{cfg};
  mesh::slurm::job_options opts;
  opts.nodes = 1;
  opts.hosts_per_node = 2;
  opts.spool_root = root;
  opts.owner_timeout = std::chrono::seconds{owner_timeout_s};
  opts.poll_interval = std::chrono::milliseconds{200};
  char self[4096] = {};
  if (::realpath("/proc/self/exe", self) == nullptr)
    return 2;
  opts.proc_command = mesh::bootstrap_command{self, {}, {}, {}};
  auto allocator = mode == "slurm-hold" ? mesh::slurm::job(opts)
                                        : mesh::slurm::in_allocation(opts);
  auto hosts = mesh::host_mesh::allocate(
    sys, mesh::host_mesh_id::instance("slurmclient"), *allocator);
  if (!hosts)
    return fail(hosts.error());
  std::printf("job %s\n", hosts->allocated()->id.c_str());
  auto pm = hosts->spawn("slurmprocs", mesh::extent{{"procs", 2}});
  if (!pm)
    return fail(pm.error());
  auto counters =
    pm->spawn<mesh::test::counter_actor>("counters", "counter", int32_t{5});
  if (!counters)
    return fail(counters.error());
  auto values = counters->call<int32_t>(caf::get_atom::value);
  if (!values)
    return fail(values.error());
  std::printf("procs %zu\n", values->size());
  std::fflush(stdout);
  if (mode == "slurm-hold") {
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;)
      ::pause();
  }
  auto summary = hosts->shutdown();
  if (!summary)
    return fail(summary.error());
  std::printf("shutdown ok\n");
  return 0;
}

} // namespace

/// A zygote starts with MESH_ZYGOTE_UNSET in its environment (its procs do
/// not run main again): hold it at the gate of MESH_TEST_ZYGOTE_GATE.
void wait_at_zygote_gate() {
  const char* gate = std::getenv("MESH_TEST_ZYGOTE_GATE");
  if (gate == nullptr || std::getenv("MESH_ZYGOTE_UNSET") == nullptr)
    return;
  std::string dir{gate};
  if (auto* f = std::fopen((dir + "/started").c_str(), "w"))
    std::fclose(f);
  for (int i = 0; i < 30000 && ::access((dir + "/open").c_str(), F_OK) != 0;
       ++i)
    ::usleep(1000);
}

int main(int argc, char** argv) {
  wait_at_zygote_gate();
  bool ignore_term = std::getenv("MESH_TEST_IGNORE_TERM") != nullptr;
  if (ignore_term)
    std::signal(SIGTERM, SIG_IGN);
  // The bootstrap check comes first: the procs of the client mode are this
  // program started with the same arguments.
  mesh::config cfg;
  mesh::test::add_test_actors(cfg);
  if (auto code = mesh::run_bootstrap_child(cfg)) {
    if (ignore_term)
      for (;;)
        ::pause();
    return *code;
  }
  if (argc == 3 && std::strcmp(argv[1], "client") == 0)
    return run_client(std::atoi(argv[2]));
  if (argc >= 4 && std::strcmp(argv[1], "attach") == 0)
    return run_attach(argv[2], std::vector<std::string>(argv + 3, argv + argc));
  if (argc == 4 && std::strcmp(argv[1], "slurm-hold") == 0)
    return run_slurm_client(cfg, argv[1], argv[2], std::atoi(argv[3]));
  if (argc == 3 && std::strcmp(argv[1], "slurm-in-allocation") == 0)
    return run_slurm_client(cfg, argv[1], argv[2], 30);
  std::fprintf(stderr, "mesh_child: not a bootstrap child (no MESH_BOOTSTRAP)\n");
  return 3;
}
