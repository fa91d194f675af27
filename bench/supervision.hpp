// What bench/faults and bench/soak share: an actor whose replies can be held
// back (so that a call is pending when a fault is injected), bounded waits on
// blocking libmesh calls, and what /proc says about this process and its
// children.
#pragma once

#include <caf/all.hpp>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace bench {

using sleep_atom = caf::atom_constant<caf::atom("sleep")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;

struct sleeper_state {
  static inline const char* name = "bench_sleeper";
  /// Requests whose reply is held back until their wake-up.
  std::map<int32_t, caf::response_promise> held;
  int32_t next = 0;
};

/// "sleeper": echoes an int32 at once; (sleep, ms) replies ms later with an
/// int32 (a request that stays pending for as long as asked).
inline caf::behavior sleeper(caf::stateful_actor<sleeper_state>* self) {
  return {
    [](int32_t x) { return x; },
    [self](sleep_atom, int32_t ms) {
      auto id = self->state.next++;
      self->state.held.emplace(id, self->make_response_promise());
      self->delayed_send(self, std::chrono::milliseconds{ms}, wake_atom::value,
                         id);
    },
    [self](wake_atom, int32_t id) {
      auto i = self->state.held.find(id);
      if (i != self->state.held.end()) {
        i->second.deliver(id);
        self->state.held.erase(i);
      }
    },
  };
}

/// A blocking call run on a thread of its own, so that the caller can wait
/// for it with a deadline. The thread is detached: a call that never returns
/// is reported (and leaked), never waited for.
struct async_call {
  using clock = std::chrono::steady_clock;
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  bool ok = false;
  std::string error;
  clock::time_point finished;

  /// Starts `fn` (returns "" on success, else the error text).
  static std::shared_ptr<async_call> start(std::function<std::string()> fn) {
    auto st = std::make_shared<async_call>();
    std::thread{[st, fn = std::move(fn)]() mutable {
      auto err = fn();
      auto at = clock::now();
      // What the call used (e.g. a copy of an actor mesh) goes before the
      // caller hears of it, so that it may destroy the actor system.
      fn = nullptr;
      std::lock_guard<std::mutex> guard{st->mtx};
      st->done = true;
      st->ok = err.empty();
      st->error = std::move(err);
      st->finished = at;
      st->cv.notify_all();
    }}.detach();
    return st;
  }

  /// Waits until the call returned or `deadline`; true if it returned.
  bool wait_until(clock::time_point deadline) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_until(guard, deadline, [this] { return done; });
  }

  bool wait_for(std::chrono::milliseconds timeout) {
    return wait_until(clock::now() + timeout);
  }
};

/// Threads that are still running a call nobody waits for any more (a hung
/// call): the program must then end with _Exit instead of destroying its
/// actor system under them.
inline int& abandoned_calls() {
  static int n = 0;
  return n;
}

/// Runs `fn` with a deadline; false (and counts it as abandoned) if it did
/// not return in time. `fn` must own what it uses (it may outlive the caller).
inline bool bounded(std::function<std::string()> fn,
                    std::chrono::milliseconds timeout, std::string* error) {
  auto call = async_call::start(std::move(fn));
  if (!call->wait_for(timeout)) {
    ++abandoned_calls();
    if (error != nullptr)
      *error = "did not return within " +
               std::to_string(timeout.count() / 1000) + " s";
    return false;
  }
  if (error != nullptr)
    *error = call->error;
  return call->ok;
}

// --- /proc ---------------------------------------------------------------

/// State letter and parent of a process, from /proc/PID/stat.
struct proc_stat {
  char state = '?';
  int64_t ppid = 0;
};

inline std::optional<proc_stat> read_stat(int64_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(in, line))
    return std::nullopt;
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size())
    return std::nullopt;
  std::istringstream rest{line.substr(close + 2)};
  proc_stat st;
  rest >> st.state >> st.ppid;
  return st;
}

/// Every process id and its stat.
inline std::map<int64_t, proc_stat> all_procs() {
  std::map<int64_t, proc_stat> result;
  if (DIR* dir = ::opendir("/proc")) {
    while (auto* e = ::readdir(dir)) {
      char* end = nullptr;
      auto pid = std::strtoll(e->d_name, &end, 10);
      if (pid <= 0 || *end != '\0')
        continue;
      if (auto st = read_stat(pid))
        result.emplace(pid, *st);
    }
    ::closedir(dir);
  }
  return result;
}

/// The ancestor of `pid` whose parent is this process (e.g. the host child
/// of a process() mesh that runs a proc, through a zygote if there is one);
/// 0 if `pid` does not descend from this process.
inline int64_t child_ancestor(int64_t pid) {
  auto self = static_cast<int64_t>(::getpid());
  for (int depth = 0; depth < 16 && pid > 1; ++depth) {
    auto st = read_stat(pid);
    if (!st)
      return 0;
    if (st->ppid == self)
      return pid;
    pid = st->ppid;
  }
  return 0;
}

/// What /proc says about this process.
struct resources {
  int zombie_children = 0;    ///< Children of this process in state Z.
  int zombie_descendants = 0; ///< Descendants (children included) in Z.
  int children = 0;           ///< Living children.
  int fds = 0;                ///< Entries of /proc/self/fd.
  long rss_kb = 0;            ///< VmRSS.
  long threads = 0;           ///< Threads.
};

inline long status_field(const std::string& key) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0)
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  return -1;
}

inline resources measure_resources() {
  resources r;
  auto self = static_cast<int64_t>(::getpid());
  auto procs = all_procs();
  for (auto& [pid, st] : procs) {
    // Walk up to this process (or not).
    int64_t up = st.ppid;
    bool descends = false;
    for (int depth = 0; depth < 16 && up > 1; ++depth) {
      if (up == self) {
        descends = true;
        break;
      }
      auto i = procs.find(up);
      if (i == procs.end())
        break;
      up = i->second.ppid;
    }
    if (!descends)
      continue;
    if (st.ppid == self) {
      if (st.state == 'Z')
        ++r.zombie_children;
      else
        ++r.children;
    }
    if (st.state == 'Z')
      ++r.zombie_descendants;
  }
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++r.fds;
    ::closedir(dir);
    --r.fds; // the directory's own descriptor
  }
  r.rss_kb = status_field("VmRSS");
  r.threads = status_field("Threads");
  return r;
}

inline std::string to_string(const resources& r) {
  std::ostringstream out;
  out << "zombies " << r.zombie_children << " (descendants "
      << r.zombie_descendants << "), children " << r.children << ", fds "
      << r.fds << ", RSS " << r.rss_kb / 1024.0 << " MiB, threads "
      << r.threads;
  return out.str();
}

/// The directory of this executable, with a trailing '/'.
inline std::string exe_dir() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string self{buf, n > 0 ? static_cast<size_t>(n) : 0};
  return self.substr(0, self.rfind('/') + 1);
}

} // namespace bench
