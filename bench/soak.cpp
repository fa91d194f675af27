// Soak test of supervision (issue 13): many cycles of
//   spawn a proc mesh / spawn an actor mesh on it / call it / stop it
// on one host mesh kept for the whole run, with a random proc SIGKILLed in
// every tenth cycle, either before the call or while it is pending (the call
// then asks every member to answer after 300 ms). Prints, at the start and
// the end (and every tenth of the run):
//   zombies   children of this process in state Z (and all descendants in Z)
//   fds       entries of /proc/self/fd
//   RSS       VmRSS of this (the client) process
//   threads   Threads of this process
// and the calls: ok, failed, and hung (did not return within call_timeout +
// 5 s; must be 0). A call in a cycle without a kill should succeed; in a
// cycle with a kill it should fail (naming the dead rank), and the proc
// mesh's on_event handler should have heard of the dead rank before the stop.
//
//   build/bench/soak [--cycles N] [--procs P] [--call-timeout DUR]
//                    [--hosts local|process] [--seed S] [--verbose]
//     --cycles        cycles (default 1000)
//     --procs         procs per proc mesh (default 2; per host with process)
//     --call-timeout  call_timeout for the run (default 5s)
//     --hosts         local(): one host in this process, procs are its
//                     children (default); process: 2 host child processes
//     --seed          random seed (default: time)
//     --verbose       one line per kill cycle and per failure
//   e.g. build/bench/soak --cycles 50
// Exit code 1 if a call hung, a call failed in a cycle without a kill, or a
// spawn failed.
#include "supervision.hpp"

#include <mesh/actor_mesh.hpp>
#include <mesh/config.hpp>
#include <mesh/config_keys.hpp>
#include <mesh/error.hpp>
#include <mesh/host_mesh.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct counts {
  int calls_ok = 0;
  int calls_failed = 0;
  int calls_hung = 0;
  int unexpected_failures = 0; ///< Failed calls in cycles without a kill.
  int kill_cycles = 0;
  int kill_calls_ok = 0;       ///< Calls that succeeded despite a kill.
  int spawn_failures = 0;
  int stop_failures = 0;
  double worst_kill_call_ms = 0; ///< Slowest failing call of a kill cycle.
  int kill_events = 0; ///< Kill cycles whose owner heard of the dead rank.
};

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
    .count();
}

void print_resources(const char* when, int cycle) {
  auto r = bench::measure_resources();
  std::printf("%-8s cycle %5d: zombies %d (descendants %d), children %d, "
              "fds %d, RSS %.1f MiB, threads %ld\n",
              when, cycle, r.zombie_children, r.zombie_descendants, r.children,
              r.fds, r.rss_kb / 1024.0, r.threads);
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  {
    mesh::config child_cfg;
    child_cfg.add_actor_type("sleeper", bench::sleeper);
    if (auto code = mesh::run_bootstrap_child(child_cfg))
      return *code;
  }
  int cycles = 1000;
  size_t procs = 2;
  std::string call_timeout = "5s";
  std::string hosts_kind = "local";
  unsigned seed = static_cast<unsigned>(::time(nullptr));
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--verbose") {
      verbose = true;
      continue;
    }
    if (v == nullptr) {
      std::fprintf(stderr, "usage: %s [--cycles N] [--procs P] "
                           "[--call-timeout DUR] [--hosts local|process] "
                           "[--seed S] [--verbose]\n",
                   argv[0]);
      return 2;
    }
    ++i;
    if (a == "--cycles")
      cycles = std::max(1, std::atoi(v));
    else if (a == "--procs")
      procs = static_cast<size_t>(std::max(1, std::atoi(v)));
    else if (a == "--call-timeout")
      call_timeout = v;
    else if (a == "--hosts")
      hosts_kind = v;
    else if (a == "--seed")
      seed = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (!mesh::parse_duration(call_timeout)) {
    std::fprintf(stderr, "--call-timeout: not a duration: %s\n",
                 call_timeout.c_str());
    return 2;
  }
  mesh::config_override timeout_override{"call_timeout", call_timeout};
  mesh::config_override terminate_override{"terminate_timeout", "500ms"};
  std::mt19937 rng{seed};
  counts c;
  int rc = 0;
  {
    mesh::config cfg;
    cfg.add_actor_type("sleeper", bench::sleeper);
    caf::actor_system sys{cfg};
    auto timeout = mesh::config_of(sys).get(mesh::keys::call_timeout);
    auto hung_after = timeout + std::chrono::milliseconds{5000};
    std::printf("soak: %d cycles, %zu procs per mesh on %s hosts, "
                "call_timeout %s (hung after %s), proc_unresponsive_timeout "
                "%s, seed %u\n",
                cycles, procs, hosts_kind.c_str(),
                mesh::render_duration(timeout).c_str(),
                mesh::render_duration(hung_after).c_str(),
                mesh::render_duration(mesh::config_of(sys).get(
                                        mesh::keys::proc_unresponsive_timeout))
                  .c_str(),
                seed);
    caf::expected<mesh::host_mesh> made{caf::error{}};
    if (hosts_kind == "process") {
      auto cmd = mesh::bootstrap_command::current();
      if (!cmd) {
        std::fprintf(stderr, "%s\n", mesh::to_string(cmd.error()).c_str());
        return 1;
      }
      made = mesh::host_mesh::process(sys, mesh::extent{{"hosts", 2}}, *cmd);
    } else {
      made = mesh::host_mesh::local(sys);
    }
    if (!made) {
      std::fprintf(stderr, "host mesh: %s\n",
                   mesh::to_string(made.error()).c_str());
      return 1;
    }
    auto hosts = std::make_shared<mesh::host_mesh>(std::move(*made));
    print_resources("start", 0);
    auto t_run = clock_type::now();
    for (int cycle = 1; cycle <= cycles; ++cycle) {
      auto pm = hosts->spawn("soak", mesh::extent{{"procs", procs}});
      if (!pm) {
        ++c.spawn_failures;
        if (verbose)
          std::printf("  cycle %d: spawn procs: %s\n", cycle,
                      mesh::to_string(pm.error()).c_str());
        continue;
      }
      auto owned = std::make_shared<mesh::proc_mesh>(std::move(*pm));
      // The owner's events: a kill should show up as one for its rank.
      auto unhealthy = std::make_shared<std::atomic<int>>(0);
      owned->on_event([unhealthy](const mesh::proc_event& ev) {
        if (!mesh::is_healthy(ev.status) && ev.actor.empty())
          ++*unhealthy;
      });
      bool killed = false;
      auto am = owned->spawn<caf::actor>("sleepers", "sleeper");
      if (!am) {
        ++c.spawn_failures;
        if (verbose)
          std::printf("  cycle %d: spawn actors: %s\n", cycle,
                      mesh::to_string(am.error()).c_str());
      } else {
        bool kill = cycle % 10 == 0;
        bool during = kill && rng() % 2 == 1;
        int64_t victim_pid = 0;
        size_t victim = 0;
        if (kill) {
          ++c.kill_cycles;
          victim = rng() % owned->size();
          if (auto states = owned->states())
            for (auto& st : *states)
              if (st.rank == victim)
                victim_pid = st.pid;
          if (victim_pid <= 0 && verbose)
            std::printf("  cycle %d: no pid for rank %zu\n", cycle, victim);
        }
        killed = kill && victim_pid > 0;
        if (killed && !during)
          ::kill(static_cast<pid_t>(victim_pid), SIGKILL);
        auto mesh_copy = *am;
        auto t0 = clock_type::now();
        auto call = bench::async_call::start([mesh_copy, during] {
          auto res = during ? mesh_copy.call<int32_t>(bench::sleep_atom::value,
                                                      int32_t{300})
                            : mesh_copy.call<int32_t>(int32_t{42});
          return res ? std::string{} : mesh::to_string(res.error());
        });
        if (during && victim_pid > 0) {
          std::this_thread::sleep_for(100ms);
          ::kill(static_cast<pid_t>(victim_pid), SIGKILL);
        }
        if (!call->wait_until(t0 + hung_after)) {
          ++c.calls_hung;
          ++bench::abandoned_calls();
          std::printf("  cycle %d: call HUNG (no return within %s)%s\n", cycle,
                      mesh::render_duration(hung_after).c_str(),
                      kill ? (during ? " after a kill during the call"
                                     : " after a kill before the call")
                           : "");
        } else {
          auto took = std::chrono::duration<double, std::milli>(
                        call->finished - t0)
                        .count();
          if (call->ok) {
            ++c.calls_ok;
            if (kill)
              ++c.kill_calls_ok;
          } else {
            ++c.calls_failed;
            if (!kill)
              ++c.unexpected_failures;
            else
              c.worst_kill_call_ms = std::max(c.worst_kill_call_ms, took);
          }
          if (verbose && (kill || !call->ok))
            std::printf("  cycle %d: %s rank %zu, call %s after %.1f ms%s%s\n",
                        cycle,
                        kill ? (during ? "killed during the call"
                                       : "killed before the call")
                             : "no kill",
                        victim, call->ok ? "ok" : "failed", took,
                        call->ok ? "" : ": ",
                        call->ok ? "" : call->error.substr(0, 160).c_str());
        }
      }
      if (killed && *unhealthy > 0)
        ++c.kill_events;
      am = caf::error{};
      std::string err;
      if (!bench::bounded(
            [owned] {
              auto res = owned->stop("soak cycle done");
              return res ? std::string{} : mesh::to_string(res.error());
            },
            60s, &err)) {
        ++c.stop_failures;
        if (verbose)
          std::printf("  cycle %d: stop: %s\n", cycle,
                      err.substr(0, 200).c_str());
      }
      owned.reset();
      if (cycles >= 10 && cycle % (cycles / 10) == 0 && cycle != cycles)
        print_resources("progress", cycle);
    }
    auto secs = ms_since(t_run) / 1000;
    print_resources("end", cycles);
    std::printf("\n%d cycles in %.1f s (%.1f ms per cycle)\n", cycles, secs,
                secs * 1000 / cycles);
    std::printf("calls: ok %d, failed %d, hung %d (must be 0)\n", c.calls_ok,
                c.calls_failed, c.calls_hung);
    std::printf("  cycles without a kill: %d calls failed (should be 0)\n",
                c.unexpected_failures);
    std::printf("  cycles with a kill: %d, calls that still succeeded %d, "
                "slowest failing call %.1f ms, owner's event seen before the "
                "stop in %d\n",
                c.kill_cycles, c.kill_calls_ok, c.worst_kill_call_ms,
                c.kill_events);
    std::printf("spawn failures %d, stop failures %d\n", c.spawn_failures,
                c.stop_failures);
    if (c.calls_hung > 0 || c.unexpected_failures > 0 || c.spawn_failures > 0)
      rc = 1;
    std::string err;
    if (!bench::bounded(
          [hosts] {
            auto res = hosts->shutdown();
            return res ? std::string{} : mesh::to_string(res.error());
          },
          60s, &err))
      std::printf("host mesh shutdown: %s\n", err.c_str());
    // Give the reaper a moment, then look for zombies once more.
    std::this_thread::sleep_for(200ms);
    print_resources("shutdown", cycles);
    if (bench::abandoned_calls() > 0) {
      std::fflush(stdout);
      std::_Exit(1);
    }
  }
  return rc;
}
