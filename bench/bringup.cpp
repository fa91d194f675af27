// Bring-up benchmark: local() + spawn of N procs to ready, then shutdown,
// side by side in one run with
//   floor      posix_spawn of a minimal C child that connects over TCP and
//              writes a byte (the least any launcher can do), and
//   caf+boost  the obvious launcher: Boost.Process children with CAF's
//              default configuration that connect back with remote_actor.
// Prints medians and ratios; absolute times on a shared machine are noise.
//
//   build/bench/bringup [reps]
//   build/bench/bringup --profile N [reps]   libmesh alone, N procs (for perf);
//                                            also prints local()'s own time
#include "naive_launcher.hpp"

#include "stats.hpp"

#include <mesh/host_mesh.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace {

using bench::clock_type;
using bench::median;
using bench::ms_since;

std::string sibling(const char* name) {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string self{buf, n > 0 ? static_cast<size_t>(n) : 0};
  return self.substr(0, self.rfind('/') + 1) + name;
}

/// Spawns n floor children and waits until each has connected and written.
double floor_run(size_t n) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(lfd, 256);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto port = std::to_string(ntohs(addr.sin_port));
  auto exe = sibling("floor_child");
  auto t0 = clock_type::now();
  std::vector<pid_t> pids(n);
  for (auto& pid : pids) {
    char* argv[] = {exe.data(), port.data(), nullptr};
    ::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, environ);
  }
  for (size_t i = 0; i < n; ++i) {
    int fd = ::accept(lfd, nullptr, nullptr);
    char byte;
    [[maybe_unused]] auto r = ::read(fd, &byte, 1);
    ::close(fd);
  }
  auto elapsed = ms_since(t0);
  for (auto pid : pids)
    ::waitpid(pid, nullptr, 0);
  ::close(lfd);
  return elapsed;
}

/// The obvious CAF + Boost.Process launcher.
double naive_run(caf::actor_system& sys, size_t n) {
  caf::scoped_actor self{sys};
  auto me = caf::actor_cast<caf::actor>(self);
  auto port = sys.middleman().publish(me, 0, "127.0.0.1", true);
  if (!port)
    return -1;
  auto t0 = clock_type::now();
  auto pids = bench::launch_n(sibling("naive_child"),
                              {"127.0.0.1", std::to_string(*port)}, n);
  std::vector<caf::actor> children;
  for (size_t i = 0; i < n; ++i)
    self->receive([&](caf::ok_atom, int32_t) {
      children.push_back(caf::actor_cast<caf::actor>(self->current_sender()));
    });
  auto elapsed = ms_since(t0);
  for (auto& c : children)
    self->send(c, caf::close_atom::value);
  for (auto pid : pids)
    ::waitpid(pid, nullptr, 0);
  static_cast<void>(sys.middleman().unpublish(me, *port));
  return elapsed;
}

struct mesh_times {
  double local = -1; ///< local_with_bootstrap() alone
  double bringup = -1;
  double shutdown = -1;
};

mesh_times libmesh_run(caf::actor_system& sys, size_t n) {
  mesh_times t;
  auto cmd = mesh::bootstrap_command::current();
  if (!cmd)
    return t;
  auto t0 = clock_type::now();
  auto hosts = mesh::host_mesh::local_with_bootstrap(sys, *cmd);
  if (!hosts)
    return t;
  t.local = ms_since(t0);
  auto procs = hosts->spawn("bench", mesh::extent{{"procs", n}});
  if (!procs) {
    std::fprintf(stderr, "spawn: %s\n", mesh::to_string(procs.error()).c_str());
    return t;
  }
  t.bringup = ms_since(t0);
  auto t1 = clock_type::now();
  auto summary = hosts->shutdown();
  t.shutdown = summary ? ms_since(t1) : -1;
  return t;
}

} // namespace

int main(int argc, char** argv) {
  mesh::config cfg;
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;
  caf::actor_system sys{cfg};
  if (argc > 2 && std::string{argv[1]} == "--profile") {
    auto n = static_cast<size_t>(std::atoi(argv[2]));
    int reps = argc > 3 ? std::atoi(argv[3]) : 20;
    std::vector<double> lm, local;
    for (int rep = 0; rep < reps; ++rep) {
      auto t = libmesh_run(sys, n);
      lm.push_back(t.bringup);
      local.push_back(t.local);
    }
    std::printf("libmesh bring-up of %zu procs: median %.1f ms (local() "
                "alone %.2f ms)\n",
                n, median(lm), median(local));
    return 0;
  }
  int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  std::printf("bring-up to ready, median of %d runs after a warm-up (ms)\n",
              reps);
  std::printf("%4s %9s %11s %9s %13s %17s %14s\n", "N", "floor", "caf+boost",
              "libmesh", "libmesh/floor", "libmesh/caf+boost",
              "shutdown (ms)");
  for (size_t n : {1, 8, 32}) {
    std::vector<double> fl, nv, lm, sd;
    for (int rep = -1; rep < reps; ++rep) {
      auto f = floor_run(n);
      auto v = naive_run(sys, n);
      auto m = libmesh_run(sys, n);
      if (rep < 0)
        continue; // warm-up
      fl.push_back(f);
      nv.push_back(v);
      lm.push_back(m.bringup);
      sd.push_back(m.shutdown);
    }
    auto f = median(fl), v = median(nv), m = median(lm);
    std::printf("%4zu %9.1f %11.1f %9.1f %12.2fx %16.2fx %14.1f\n", n, f, v, m,
                m / f, m / v, median(sd));
    std::fflush(stdout);
  }
  return 0;
}
