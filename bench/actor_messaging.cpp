// Actor messaging benchmark, each figure side by side in one run with its
// baseline:
//   round trip  actor_mesh::call on one proc actor, against a plain CAF
//               remote_actor round trip between two processes (a published
//               actor in a child process; same scheduler settings);
//   gather 32   actor_mesh::call over 32 actors (one per proc), against 32
//               direct requests issued at once to the same actors;
//   casts       actor_mesh::cast throughput of small messages to one actor
//               and to 32 actors, against raw anon_send to the same actors,
//               each run closed by a call that proves every cast was handled.
// Prints medians and ratios; absolute times on a shared machine are noise.
//
//   build/bench/actor_messaging [rounds]
#include "stats.hpp"

#include <mesh/host_mesh.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

using bench::clock_type;
using bench::median;
using bench::us_since;

struct bench_state {
  static inline const char* name = "bench_actor";
  int32_t total = 0;
};

/// "bench": echoes an int, adds what is cast to it, reports the sum.
caf::behavior bench_actor(caf::stateful_actor<bench_state>* self) {
  return {
    [](int32_t x) { return x; },
    [self](caf::add_atom, int32_t x) { self->state.total += x; },
    [self](caf::get_atom) { return self->state.total; },
  };
}

struct bench_config : mesh::config {
  bench_config() { add_actor_type("bench", bench_actor); }
};

// --- the baseline: a plain CAF server process
// ----------------------------------

/// The child side: publishes a bench actor, prints its port, and exits when
/// the actor is told to quit (or with its parent).
int run_baseline_server() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  bench_config cfg;
  // The settings of a proc: one scheduler thread.
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  auto actor = sys.spawn(bench_actor);
  auto port = sys.middleman().publish(actor, 0, "127.0.0.1", true);
  if (!port) {
    caf::anon_send_exit(actor, caf::exit_reason::kill);
    return 1;
  }
  std::printf("%u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  caf::scoped_actor self{sys};
  self->monitor(actor);
  self->receive([](const caf::down_msg&) {});
  return 0;
}

struct baseline_server {
  pid_t pid = -1;
  caf::actor actor;
};

/// Starts this program as a baseline server and connects to its actor.
baseline_server start_baseline(caf::actor_system& sys) {
  baseline_server result;
  int fds[2];
  if (::pipe(fds) != 0)
    return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  char exe[4096];
  auto n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  exe[n > 0 ? n : 0] = '\0';
  char flag[] = "--baseline-server";
  char* argv[] = {exe, flag, nullptr};
  ::posix_spawn(&result.pid, exe, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string line;
  char c;
  while (::read(fds[0], &c, 1) == 1 && c != '\n')
    line += c;
  ::close(fds[0]);
  auto port = static_cast<uint16_t>(std::atoi(line.c_str()));
  auto actor = sys.middleman().remote_actor("127.0.0.1", port);
  if (actor)
    result.actor = *actor;
  return result;
}

void stop_baseline(baseline_server& server) {
  if (server.actor)
    caf::anon_send_exit(server.actor, caf::exit_reason::user_shutdown);
  if (server.pid > 0) {
    int status = 0;
    ::waitpid(server.pid, &status, 0);
  }
}

// --- measurements ------------------------------------------------------------

/// One request from `self` to each target at once, then every reply.
void raw_requests(caf::scoped_actor& self,
                  const std::vector<caf::actor>& targets, int32_t x) {
  using handle = decltype(self->request(targets.front(), caf::infinite, x));
  std::vector<handle> pending;
  pending.reserve(targets.size());
  for (auto& t : targets)
    pending.push_back(self->request(t, caf::infinite, x));
  for (auto& h : pending)
    h.receive([](int32_t) {}, [](caf::error&) {});
}

/// Medians (us) of `iters` rounds, interleaved one by one so that all see
/// the same machine: plain requests from one scoped actor to `targets` (all
/// at once), the same to `also` (if any), and calls of `am`.
struct timings {
  double raw = 0;
  double also = 0;
  double meshed = 0;
};

timings side_by_side(caf::actor_system& sys,
                     const std::vector<caf::actor>& targets,
                     const std::vector<caf::actor>& also,
                     const mesh::actor_mesh<caf::actor>& am, int iters) {
  std::vector<double> raw;
  std::vector<double> other;
  std::vector<double> meshed;
  caf::scoped_actor self{sys};
  for (int i = 0; i < iters; ++i) {
    auto t0 = clock_type::now();
    raw_requests(self, targets, i);
    raw.push_back(us_since(t0));
    if (!also.empty()) {
      t0 = clock_type::now();
      raw_requests(self, also, i);
      other.push_back(us_since(t0));
    }
    t0 = clock_type::now();
    auto res = am.call<int32_t>(int32_t{i});
    meshed.push_back(us_since(t0));
    if (!res) {
      std::fprintf(stderr, "call failed: %s\n",
                   mesh::to_string(res.error()).c_str());
      std::exit(1);
    }
  }
  return {median(raw), median(other), median(meshed)};
}

/// Casts per second: `casts` casts, then a call proving all were handled.
double mesh_casts(const mesh::actor_mesh<caf::actor>& am, int casts) {
  auto before = am.call<int32_t>(caf::get_atom::value);
  auto t0 = clock_type::now();
  for (int i = 0; i < casts; ++i)
    am.cast(caf::add_atom::value, int32_t{1});
  auto after = am.call<int32_t>(caf::get_atom::value);
  auto secs = us_since(t0) / 1e6;
  if (!before || !after || (*after)[0] - (*before)[0] != casts) {
    std::fprintf(stderr, "casts were lost\n");
    std::exit(1);
  }
  return casts / secs;
}

/// Sends per target per second with raw anon_send, closed by a request to
/// every target.
double raw_casts(caf::actor_system& sys, const std::vector<caf::actor>& targets,
                 int casts) {
  caf::scoped_actor self{sys};
  auto t0 = clock_type::now();
  for (int i = 0; i < casts; ++i)
    for (auto& t : targets)
      caf::anon_send(t, caf::add_atom::value, int32_t{1});
  for (auto& t : targets)
    self->request(t, caf::infinite, caf::get_atom::value)
      .receive([](int32_t) {}, [](caf::error&) {});
  return casts / (us_since(t0) / 1e6);
}

template <class T>
T must(caf::expected<T> x, const char* what) {
  if (!x) {
    std::fprintf(stderr, "%s: %s\n", what, mesh::to_string(x.error()).c_str());
    std::exit(1);
  }
  return std::move(*x);
}

} // namespace

int main(int argc, char** argv) {
  bench_config cfg;
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;
  if (argc > 1 && std::strcmp(argv[1], "--baseline-server") == 0)
    return run_baseline_server();
  int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  caf::actor_system sys{cfg};
  int rc = 0;
  {
    auto hosts = must(mesh::host_mesh::local(sys), "local()");
    auto one_proc =
      must(hosts.spawn("one", mesh::extent{{"procs", 1}}), "spawn 1 proc");
    auto many_procs =
      must(hosts.spawn("many", mesh::extent{{"procs", 32}}), "spawn 32 procs");
    auto one =
      must(one_proc.spawn<caf::actor>("bench", "bench"), "spawn 1 actor");
    auto many =
      must(many_procs.spawn<caf::actor>("bench", "bench"), "spawn 32 actors");
    auto server = start_baseline(sys);
    if (!server.actor) {
      std::fprintf(stderr, "baseline server did not come up\n");
      return 1;
    }
    std::vector<caf::actor> members;
    for (size_t r = 0; r < many.size(); ++r)
      members.push_back(many.get(r));
    // Warm-up: connections, proxies, caches.
    side_by_side(sys, {server.actor}, {one.get(0)}, one, 200);
    side_by_side(sys, members, {}, many, 20);
    std::vector<double> raw_rtt, same_rtt, mesh_rtt, raw_gather, mesh_gather;
    std::vector<double> cast1, raw1, cast32, raw32;
    for (int r = 0; r < rounds; ++r) {
      auto rtt = side_by_side(sys, {server.actor}, {one.get(0)}, one, 2000);
      raw_rtt.push_back(rtt.raw);
      same_rtt.push_back(rtt.also);
      mesh_rtt.push_back(rtt.meshed);
      auto gather = side_by_side(sys, members, {}, many, 200);
      raw_gather.push_back(gather.raw);
      mesh_gather.push_back(gather.meshed);
      cast1.push_back(mesh_casts(one, 50000));
      raw1.push_back(raw_casts(sys, {one.get(0)}, 50000));
      cast32.push_back(mesh_casts(many, 5000));
      raw32.push_back(raw_casts(sys, members, 5000));
    }
    auto rtt_raw = median(raw_rtt), rtt_same = median(same_rtt);
    auto rtt_mesh = median(mesh_rtt);
    auto g_raw = median(raw_gather), g_mesh = median(mesh_gather);
    std::printf("actor messaging, medians of %d rounds (each the median of "
                "its samples, interleaved one by one)\n\n",
                rounds);
    std::printf("request/reply round trip, client -> one proc actor "
                "(2000 per round)\n");
    std::printf("  plain CAF remote_actor (other process)   %8.1f us\n",
                rtt_raw);
    std::printf("  plain CAF request to the same proc actor %8.1f us\n",
                rtt_same);
    std::printf("  actor_mesh::call                         %8.1f us   "
                "%.2fx  (target <= 1.1x)\n\n",
                rtt_mesh, rtt_mesh / rtt_raw);
    std::printf("call + gather over 32 actors (200 per round)\n");
    std::printf("  32 direct requests at once               %8.1f us\n", g_raw);
    std::printf("  actor_mesh::call                         %8.1f us   "
                "%.2fx  (target <= 2x)\n\n",
                g_mesh, g_mesh / g_raw);
    std::printf("cast throughput, small messages (add_atom, int32), closed by "
                "a call\n");
    std::printf("  1 actor    actor_mesh::cast %9.0f casts/s   raw anon_send "
                "%9.0f msgs/s\n",
                median(cast1), median(raw1));
    std::printf("  32 actors  actor_mesh::cast %9.0f casts/s   raw anon_send "
                "%9.0f sends/s to each\n",
                median(cast32), median(raw32));
    std::printf("             = %9.0f deliveries/s            = %9.0f "
                "deliveries/s\n",
                median(cast32) * 32, median(raw32) * 32);
    stop_baseline(server);
    auto summary = hosts.shutdown();
    if (!summary) {
      std::fprintf(stderr, "shutdown: %s\n",
                   mesh::to_string(summary.error()).c_str());
      rc = 1;
    }
  }
  return rc;
}
