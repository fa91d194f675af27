// The child watcher (bootstrap/launcher.hpp): its thread, its poll loop,
// zygote clients, reaping.
#include "bootstrap/launcher.hpp"

#include "bootstrap/exec_launcher.hpp"
#include "bootstrap/fd.hpp"
#include "bootstrap/launch_plan.hpp"
#include "bootstrap/line_framer.hpp"
#include "bootstrap/zygote_protocol.hpp"
#include "bootstrap/elf.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#ifndef P_PIDFD
#define P_PIDFD 3 // Linux 5.4; older glibc headers lack the name
#endif

namespace mesh::bootstrap {

namespace {

/// Reads (of 64 KiB) per stream and poll round before other children get
/// their turn.
constexpr int reads_per_round = 16;

/// Reads per stream when draining after an exit: 4 MiB, more than any pipe
/// holds, so a writer outside the child's group cannot keep us reading.
constexpr int reads_at_exit = 64;

/// The fallback exit check period when pidfd_open is unavailable.
constexpr int fallback_poll_ms = 5;

/// True if `pid` has exited (without reaping it), or if it is no longer our
/// child at all (someone else reaped it).
bool has_exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info,
               WEXITED | WNOHANG | WNOWAIT) != 0)
    return errno == ECHILD;
  return info.si_pid == pid;
}

} // namespace

struct child_watcher::impl {
  struct zygote_state;

  /// One output stream of a child.
  struct stream {
    unique_fd fd;
    line_framer lines{max_line};
    bool is_stderr = false;
  };

  /// A running child as the watcher thread sees it.
  struct child {
    std::string name;
    pid_t pid = -1;
    /// Readable once the child exited; -1 without pidfd support (then
    /// `has_exited` is polled every fallback_poll_ms) and for forked ones.
    unique_fd pidfd;
    stream out;
    stream err;
    bool done = false;
    /// A zygote process itself: no callbacks, not in the table.
    bool internal = false;
    /// The zygote that runs as this child (internal) or that forked it. A
    /// forked child is the zygote's child, not ours: it learns of the exit
    /// (`forked_exit`) from the zygote and never waits for the pid itself.
    zygote_state* zygote = nullptr;
    std::optional<std::pair<std::optional<int>, std::optional<int>>>
      forked_exit;

    bool forked() const { return zygote != nullptr && !internal; }
  };

  /// A zygote and what the watcher knows of it.
  struct zygote_state {
    std::string key;
    pid_t pid = -1;
    unique_fd control;
    /// The socket closed or broke: its forked children are gone.
    bool lost = false;
    /// Its process was reaped.
    bool reaped = false;
  };

  /// A launch waiting for the watcher thread; `done` gets its outcome.
  struct launch_job {
    prepared_launch launch;
    launched done;
  };

  explicit impl(child_events ev) : events(std::move(ev)) {}

  // --- shared, guarded by mtx ---

  mutable std::mutex mtx;
  /// Launched and not yet reaped children: the only pids signal() may touch
  /// (a pid leaves this table before it is reaped, so it is never reused
  /// while listed).
  std::map<std::string, pid_t> table;
  std::deque<launch_job> jobs;
  /// Zygotes to start before anyone launches from them.
  std::deque<prepared_launch> warm_jobs;
  bool stopping = false;

  /// Set first thing by the destructor: no callback starts after it.
  std::atomic<bool> closed{false};

  // --- fixed after construction ---

  child_events events;
  /// This process's environment when the watcher started.
  std::map<std::string, std::string> base_env = environment_now();
  /// Wakes the watcher thread for launches and shutdown.
  unique_fd wake;
  /// Set if the watcher could not start; every launch fails with it.
  caf::error broken;
  std::thread thread;
  std::thread::id thread_id;

  // --- watcher thread only ---

  std::vector<std::unique_ptr<child>> children;
  std::vector<std::unique_ptr<zygote_state>> zygotes;
  /// Commands whose zygote did not come up: exec'd from now on.
  std::set<std::string> without_zygote;
  /// Exit reports that arrived while a launch waited for its own answer.
  std::deque<std::pair<zygote_state*, zygote::message>> deferred;

  void notify() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake.get(), &one, sizeof(one));
  }

  caf::expected<int64_t> spawn(prepared_launch& launch);
  caf::expected<std::unique_ptr<child>> start(prepared_launch& launch,
                                               int control_fd);
  zygote_state* zygote_for(prepared_launch& launch);
  std::optional<caf::expected<int64_t>> fork_from(zygote_state& z,
                                                  prepared_launch& launch);
  std::optional<zygote::message> await(zygote_state& z, zygote::op wanted,
                                       int timeout_ms);
  void on_zygote_message(zygote_state& z, const zygote::message& msg);
  void lose(zygote_state& z);
  void run();
  void read_stream(child& c, stream& s, int max_reads);
  void emit(child& c, stream& s, std::string line);
  void drain(child& c);
  void reap_orphan(child& c);
  void finish(child& c);
  void shutdown();
};

namespace {

/// How long the first launch of a command waits for its zygote to come up.
/// A libmesh program is ready within milliseconds; anything else (a script,
/// a program that never calls run_bootstrap_child) is given up on and its
/// command exec'd from then on.
constexpr int zygote_ready_ms = 2000;

/// How long a launch waits for a serving zygote to fork; a zygote that does
/// not answer is dropped and the launch exec'd.
constexpr int zygote_fork_ms = 5000;

/// How long the watcher waits for the procs of a dead zygote to die of
/// their parent-death signal.
constexpr int orphan_exit_ms = 1000;

/// How long a launcher that shuts down waits for a zygote to reap its procs
/// and exit before it kills the zygote.
constexpr int zygote_exit_ms = 5000;


} // namespace

caf::expected<std::unique_ptr<child_watcher::impl::child>>
child_watcher::impl::start(prepared_launch& launch, int control_fd) {
  auto proc = exec_child(launch, control_fd);
  if (!proc)
    return std::move(proc.error());
  auto c = std::make_unique<child>();
  c->name = launch.name;
  c->pid = proc->pid;
  // Without pidfd_open (Linux < 5.3, or no descriptor left) this child's exit
  // is noticed by a 5 ms timed poll with waitid(WNOHANG) instead.
  c->pidfd.reset(open_pidfd(c->pid));
  c->out.fd = std::move(proc->out);
  c->err.fd = std::move(proc->err);
  c->err.is_stderr = true;
  return c;
}

caf::expected<int64_t> child_watcher::impl::spawn(prepared_launch& launch) {
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (table.count(launch.name) != 0)
      return make_error(ec::invalid_argument, proc_context(launch.name),
                        "a child of that name is still running");
  }
  if (launch.zygote_key)
    if (auto* z = zygote_for(launch))
      if (auto forked = fork_from(*z, launch))
        return std::move(*forked);
  auto c = start(launch, -1);
  if (!c)
    return std::move(c.error());
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.emplace((*c)->name, (*c)->pid);
  }
  auto pid = static_cast<int64_t>((*c)->pid);
  children.push_back(std::move(*c));
  return pid;
}

child_watcher::impl::zygote_state*
child_watcher::impl::zygote_for(prepared_launch& launch) {
  auto& key = *launch.zygote_key;
  if (without_zygote.count(key) != 0)
    return nullptr;
  size_t serving = 0;
  for (auto& z : zygotes) {
    if (z->lost)
      continue;
    if (z->key == key)
      return z.get();
    ++serving;
  }
  if (serving >= max_zygotes)
    return nullptr;
  if (!zygote::links_libmesh(launch.path)) {
    without_zygote.insert(key);
    return nullptr;
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return nullptr;
  unique_fd mine{pair[0]};
  unique_fd theirs{above_stdio(pair[1])};
  if (!theirs)
    return nullptr;
  auto zl = zygote_plan(launch);
  if (!zl) {
    without_zygote.insert(key);
    return nullptr;
  }
  auto c = start(*zl, theirs.get());
  theirs.reset();
  if (!c) {
    // Exec'ing the command fails: so will the child's own launch, which
    // reports why.
    without_zygote.insert(key);
    return nullptr;
  }
  auto z = std::make_unique<zygote_state>();
  z->key = key;
  z->pid = (*c)->pid;
  z->control = std::move(mine);
  (*c)->internal = true;
  (*c)->zygote = z.get();
  children.push_back(std::move(*c));
  auto* result = z.get();
  zygotes.push_back(std::move(z));
  if (!await(*result, zygote::op::ready, zygote_ready_ms)) {
    without_zygote.insert(key);
    if (!result->lost) {
      // Alive but silent: not a libmesh program, or one far too slow.
      ::kill(-result->pid, SIGKILL);
      lose(*result);
    }
    return nullptr;
  }
  return result;
}

std::optional<caf::expected<int64_t>>
child_watcher::impl::fork_from(zygote_state& z, prepared_launch& launch) {
  auto stdio = open_child_stdio(proc_context(launch.name));
  if (!stdio)
    return caf::expected<int64_t>{std::move(stdio.error())};
  zygote::message request;
  request.kind = zygote::op::spawn;
  request.text = launch.child_payload;
  request.fds = {stdio->in.get(), stdio->out_write.get(),
                  stdio->err_write.get()};
  if (zygote::send(z.control.get(), request) != 0) {
    lose(z);
    return std::nullopt;
  }
  auto reply = await(z, zygote::op::spawned, zygote_fork_ms);
  if (!reply) {
    if (!z.lost) {
      ::kill(-z.pid, SIGKILL);
      lose(z);
    }
    return std::nullopt;
  }
  if (reply->kind == zygote::op::spawn_failed)
    return caf::expected<int64_t>{make_error(
      ec::spawn_failed, proc_context(launch.name), "the zygote " + reply->text)};
  auto c = std::make_unique<child>();
  c->name = launch.name;
  c->pid = static_cast<pid_t>(reply->pid);
  c->zygote = &z;
  // Not polled (its zygote reports its exit); used only if the zygote dies
  // first, to see it gone and reap it if it was re-parented to us.
  c->pidfd.reset(open_pidfd(c->pid));
  c->out.fd = std::move(stdio->out_read);
  c->err.fd = std::move(stdio->err_read);
  c->err.is_stderr = true;
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.emplace(c->name, c->pid);
  }
  children.push_back(std::move(c));
  return caf::expected<int64_t>{static_cast<int64_t>(reply->pid)};
}

std::optional<zygote::message>
child_watcher::impl::await(zygote_state& z, zygote::op wanted,
                           int timeout_ms) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds{timeout_ms};
  while (!z.lost) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - clock::now())
                  .count();
    if (left <= 0)
      return std::nullopt;
    pollfd pfd{z.control.get(), POLLIN, 0};
    auto n = ::poll(&pfd, 1, static_cast<int>(left));
    if (n <= 0)
      continue; // EINTR, or the deadline (checked above)
    int err = 0;
    auto msg = zygote::receive(z.control.get(), true, err);
    if (!msg) {
      if (err != EAGAIN)
        lose(z);
      continue;
    }
    bool answer = msg->kind == wanted ||
                  (wanted != zygote::op::ready &&
                   msg->kind == zygote::op::spawn_failed);
    if (answer)
      return msg;
    if (msg->kind == zygote::op::exited)
      deferred.emplace_back(&z, std::move(*msg));
    // Anything else is out of protocol; ignore it.
  }
  return std::nullopt;
}

void child_watcher::impl::on_zygote_message(zygote_state& z,
                                            const zygote::message& msg) {
  if (msg.kind != zygote::op::exited)
    return;
  for (size_t i = 0; i < children.size(); ++i) {
    auto& c = *children[i];
    if (c.zygote == &z && !c.internal && !c.done && c.pid == msg.pid) {
      std::optional<int> code;
      std::optional<int> sig;
      if (msg.a >= 0)
        code = msg.a;
      else
        sig = msg.b;
      c.forked_exit.emplace(code, sig);
      finish(c);
      return;
    }
  }
}

void child_watcher::impl::lose(zygote_state& z) {
  if (z.lost)
    return;
  z.lost = true;
  z.control.reset();
  // Its children were SIGKILLed with it (parent-death signal) and reaped by
  // whoever inherited them: report them without a status. A callback may
  // launch more children, so walk by index.
  for (size_t i = 0; i < children.size(); ++i) {
    auto& c = *children[i];
    if (c.zygote == &z && !c.internal && !c.done)
      finish(c);
  }
}

void child_watcher::impl::emit(child& c, stream& s, std::string line) {
  // A zygote writes nothing of interest once it serves; what a failing one
  // says is lost with it, and its command is exec'd instead.
  if (c.internal)
    return;
  if (events.on_line && !closed)
    events.on_line(c.name, s.is_stderr, std::move(line));
}

void child_watcher::impl::read_stream(child& c, stream& s, int max_reads) {
  char buf[65536];
  for (int round = 0; s.fd && round < max_reads; ++round) {
    auto n = ::read(s.fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      // EOF, or an error we cannot recover from: either way no more output.
      if (n == 0 || errno != EAGAIN)
        s.fd.reset();
      return;
    }
    s.lines.feed(buf, static_cast<size_t>(n),
                 [&](std::string line) { emit(c, s, std::move(line)); });
  }
}

void child_watcher::impl::drain(child& c) {
  for (auto* s : {&c.out, &c.err}) {
    // Whatever is still in the pipe was written before the exit. A process
    // outside the group may hold the pipe open: stop at "empty", not EOF.
    read_stream(c, *s, reads_at_exit);
    s->lines.finish([&](std::string line) { emit(c, *s, std::move(line)); });
    s->fd.reset();
  }
}

void child_watcher::impl::reap_orphan(child& c) {
  if (!c.pidfd)
    return;
  // Its parent-death signal is on its way: wait (briefly) until it is gone.
  pollfd pfd{c.pidfd.get(), POLLIN, 0};
  while (::poll(&pfd, 1, orphan_exit_ms) < 0 && errno == EINTR)
    ;
  // If this process is a subreaper, the orphan is now our child: reap it
  // (by its pidfd, so never a recycled pid). Otherwise init does.
  siginfo_t info{};
  ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd.get()),
           &info, WEXITED | WNOHANG);
  c.pidfd.reset();
}

void child_watcher::impl::finish(child& c) {
  // The leader is a zombie: its pid still pins the group id, so this reaches
  // only what is left of its own group (e.g. a background grandchild). A
  // forked child is pinned by its zygote, which reaps it only when told to;
  // one whose zygote is lost is pinned by nothing.
  bool pinned = !c.forked() || !c.zygote->lost;
  if (pinned)
    ::kill(-c.pid, SIGKILL);
  else if (!c.forked_exit)
    reap_orphan(c);
  drain(c);
  if (!c.internal) {
    std::lock_guard<std::mutex> guard{mtx};
    table.erase(c.name);
  }
  std::optional<int> code;
  std::optional<int> sig;
  if (c.forked()) {
    if (c.forked_exit) {
      std::tie(code, sig) = *c.forked_exit;
      // Reported only once reaped: whoever hears of the exit finds the
      // process gone.
      auto& z = *c.zygote;
      if (!z.lost) {
        std::optional<zygote::message> reply;
        if (zygote::send(z.control.get(),
                         zygote::make_message(zygote::op::reap, c.pid)) == 0)
          reply = await(z, zygote::op::reaped, zygote_fork_ms);
        if (!z.lost && (!reply || reply->kind != zygote::op::reaped)) {
          ::kill(-z.pid, SIGKILL);
          lose(z);
        }
      }
    } else {
      // Its zygote died first, which kills it (parent-death signal): say so
      // where its own last words go.
      sig = SIGKILL;
      emit(c, c.err,
           "libmesh: the zygote (pid " + std::to_string(c.zygote->pid) +
             ") that forked this proc died, and the proc was killed with it");
    }
  } else {
    int status = 0;
    pid_t reaped;
    while ((reaped = ::waitpid(c.pid, &status, 0)) < 0 && errno == EINTR)
      ;
    c.pidfd.reset();
    if (reaped == c.pid) {
      if (WIFEXITED(status))
        code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status))
        sig = WTERMSIG(status);
    }
  }
  c.done = true;
  if (c.internal) {
    c.zygote->reaped = true;
    lose(*c.zygote);
    return;
  }
  if (events.on_exit && !closed)
    events.on_exit(c.name, c.pid, code, sig);
}

void child_watcher::impl::run() {
  // No signal handler of the embedding application may run here, and a
  // vforked child starts with every signal blocked until setup_child has
  // reset the dispositions.
  sigset_t all;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::vector<pollfd> fds;
  // Positions in `fds` of each child's pidfd, stdout and stderr (or -1).
  struct slots {
    int pidfd = -1;
    int out = -1;
    int err = -1;
  };
  std::vector<slots> where;
  std::vector<std::pair<zygote_state*, int>> controls;
  for (;;) {
    fds.clear();
    where.clear();
    controls.clear();
    fds.push_back({wake.get(), POLLIN, 0});
    bool timed = false;
    for (auto& c : children) {
      slots s;
      auto add = [&](const unique_fd& fd, int& slot) {
        if (fd) {
          slot = static_cast<int>(fds.size());
          fds.push_back({fd.get(), POLLIN, 0});
        }
      };
      add(c->out.fd, s.out);
      add(c->err.fd, s.err);
      if (!c->forked())
        add(c->pidfd, s.pidfd);
      timed = timed || (!c->pidfd && !c->forked());
      where.push_back(s);
    }
    for (auto& z : zygotes)
      if (z->control) {
        controls.emplace_back(z.get(), static_cast<int>(fds.size()));
        fds.push_back({z->control.get(), POLLIN, 0});
      }
    int timeout = !deferred.empty() ? 0 : timed ? fallback_poll_ms : -1;
    auto rc = ::poll(fds.data(), fds.size(), timeout);
    if (rc < 0 && errno != EINTR && errno != EAGAIN) {
      // Only EFAULT/EINVAL/ENOMEM are left; retrying is all we can do, but
      // not at full speed.
      ::poll(nullptr, 0, fallback_poll_ms);
      continue;
    }
    if (rc < 0)
      for (auto& pfd : fds)
        pfd.revents = 0;
    auto ready = [&](int slot) { return slot >= 0 && fds[slot].revents != 0; };
    // Children launched by a callback during this pass are appended to
    // `children` and wait for the next round (`where` does not cover them).
    for (size_t i = 0; i < where.size() && !closed; ++i) {
      auto& c = *children[i];
      if (c.done)
        continue;
      if (ready(where[i].out))
        read_stream(c, c.out, reads_per_round);
      if (ready(where[i].err))
        read_stream(c, c.err, reads_per_round);
      if (c.forked())
        continue; // its zygote reports its exit
      bool check = c.pidfd ? ready(where[i].pidfd) : true;
      if (check && has_exited(c.pid))
        finish(c);
    }
    for (auto& [z, slot] : controls) {
      if (closed || z->lost || !ready(slot))
        continue;
      for (;;) {
        int err = 0;
        auto msg = zygote::receive(z->control.get(), true, err);
        if (!msg) {
          if (err != EAGAIN)
            lose(*z);
          break;
        }
        deferred.emplace_back(z, std::move(*msg));
      }
    }
    while (!deferred.empty() && !closed) {
      auto [z, msg] = std::move(deferred.front());
      deferred.pop_front();
      on_zygote_message(*z, msg);
    }
    children.erase(std::remove_if(children.begin(), children.end(),
                                  [](auto& c) { return c->done; }),
                   children.end());
    zygotes.erase(std::remove_if(zygotes.begin(), zygotes.end(),
                                 [](auto& z) { return z->lost && z->reaped; }),
                  zygotes.end());
    if (fds[0].revents != 0) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake.get(), &count, sizeof(count));
    }
    std::deque<launch_job> todo;
    std::deque<prepared_launch> warm;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (stopping)
        break;
      todo.swap(jobs);
      warm.swap(warm_jobs);
    }
    for (auto& launch : warm)
      zygote_for(launch);
    // Each outcome is told before the next poll, so before any line or exit
    // of that child.
    for (auto& job : todo)
      job.done(closed ? make_error(ec::spawn_failed,
                                   proc_context(job.launch.name),
                                   "the launcher is shutting down")
                      : spawn(job.launch));
  }
  shutdown();
}

void child_watcher::impl::shutdown() {
  // Not the zygotes themselves: killed, they would leave their procs to die
  // as orphans, unreaped by them.
  for (auto& c : children)
    if (!c->done && !c->internal && (!c->forked() || !c->zygote->lost))
      ::kill(-c->pid, SIGKILL);
  // A zygote whose socket closes kills and reaps what it forked, then exits.
  for (auto& z : zygotes)
    z->control.reset();
  for (auto& c : children) {
    if (c->done)
      continue;
    if (!c->internal) {
      std::lock_guard<std::mutex> guard{mtx};
      table.erase(c->name);
    }
    if (c->forked())
      continue; // reaped by its zygote, whose exit we wait for
    if (c->internal && c->pidfd) {
      // Only a stopped or wedged zygote takes longer: then it is killed.
      pollfd pfd{c->pidfd.get(), POLLIN, 0};
      while (::poll(&pfd, 1, zygote_exit_ms) < 0 && errno == EINTR)
        ;
      if (pfd.revents == 0)
        ::kill(-c->pid, SIGKILL);
    } else if (c->internal) {
      ::kill(-c->pid, SIGKILL);
    }
    // SIGKILLed or exiting: this returns as soon as the kernel is done.
    while (::waitpid(c->pid, nullptr, 0) < 0 && errno == EINTR)
      ;
  }
  children.clear();
  zygotes.clear();
  std::deque<launch_job> refused;
  {
    std::lock_guard<std::mutex> guard{mtx};
    refused.swap(jobs);
  }
  for (auto& job : refused)
    job.done(make_error(ec::spawn_failed, proc_context(job.launch.name),
                        "the launcher is shutting down"));
}

child_watcher::child_watcher(child_events events)
  : impl_(std::make_shared<impl>(std::move(events))) {
  impl_->wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl_->wake) {
    impl_->broken = make_error(ec::system_error, "cannot start the launcher",
                               "eventfd failed: " + errno_text(errno));
    return;
  }
  try {
    impl_->thread = std::thread{[self = impl_] { self->run(); }};
    impl_->thread_id = impl_->thread.get_id();
  } catch (const std::system_error& ex) {
    impl_->broken = make_error(ec::system_error, "cannot start the launcher",
                               std::string{"no thread: "} + ex.what());
  }
}

child_watcher::~child_watcher() {
  if (!impl_->thread.joinable())
    return;
  impl_->closed = true;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->stopping = true;
    if (std::this_thread::get_id() == impl_->thread_id) {
      // Called from a callback: the thread is below us on this very stack.
      // Kill now; it reaps and ends when the callback returns, and keeps
      // the impl alive until then.
      for (auto& [name, pid] : impl_->table)
        ::kill(-pid, SIGKILL);
      impl_->thread.detach();
      return;
    }
  }
  impl_->notify();
  impl_->thread.join();
}

void child_watcher::launch_async(const launch_spec& spec, launched done) {
  if (impl_->broken)
    return done(impl_->broken);
  auto launch = prepare(spec, impl_->base_env);
  if (!launch)
    return done(std::move(launch.error()));
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (!impl_->stopping) {
      impl_->jobs.push_back({std::move(*launch), std::move(done)});
      impl_->notify();
      return;
    }
  }
  done(make_error(ec::spawn_failed, proc_context(spec.name),
                  "the launcher is shutting down"));
}

caf::expected<int64_t> child_watcher::launch(const launch_spec& spec) {
  // From a callback: we already are the thread that must fork.
  if (std::this_thread::get_id() == impl_->thread_id) {
    if (impl_->closed)
      return make_error(ec::spawn_failed, proc_context(spec.name),
                        "the launcher is shutting down");
    auto launch = prepare(spec, impl_->base_env);
    if (!launch)
      return std::move(launch.error());
    return impl_->spawn(*launch);
  }
  struct outcome {
    std::mutex mtx;
    std::condition_variable ready;
    std::optional<caf::expected<int64_t>> result;
  };
  auto out = std::make_shared<outcome>();
  launch_async(spec, [out](caf::expected<int64_t> result) {
    std::lock_guard<std::mutex> guard{out->mtx};
    out->result = std::move(result);
    out->ready.notify_all();
  });
  std::unique_lock<std::mutex> guard{out->mtx};
  out->ready.wait(guard, [&] { return out->result.has_value(); });
  return std::move(*out->result);
}

void child_watcher::warm(const launch_spec& spec) {
  if (impl_->broken)
    return;
  auto launch = prepare(spec, impl_->base_env);
  if (!launch || !launch->zygote_key)
    return;
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (impl_->stopping)
    return;
  impl_->warm_jobs.push_back(std::move(*launch));
  impl_->notify();
}

bool child_watcher::signal(const std::string& name, int sig) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto i = impl_->table.find(name);
  if (i == impl_->table.end())
    return false;
  return ::kill(-i->second, sig) == 0;
}

size_t child_watcher::running() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->table.size();
}


} // namespace mesh::bootstrap
