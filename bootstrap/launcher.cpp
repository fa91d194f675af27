// The child watcher (bootstrap/launcher.hpp): its thread, the poll loop that
// is the only place it ever sleeps, and the public methods.
//
// The watcher thread sleeps in one poll over every child's pipes and pidfd,
// every zygote's control socket and the wake-up eventfd, bounded by the
// earliest deadline (a zygote's 'ready' or answer, an orphan's end). A
// launch never waits for a zygote or a fork inside a round: it is queued on
// its zygote and taken up when the answer arrives or the deadline passes
// (zygote_client.cpp), so one child's launch never holds up another's lines
// and exits.
#include "bootstrap/launcher.hpp"

#include "bootstrap/child_watcher_impl.hpp"
#include "bootstrap/zygote_protocol.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <system_error>

namespace mesh::bootstrap {

namespace {

/// True if `pid` has exited (without reaping it), or if it is no longer our
/// child at all (someone else reaped it).
bool has_exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info,
               WEXITED | WNOHANG | WNOWAIT) != 0)
    return errno == ECHILD;
  return info.si_pid == pid;
}

caf::error shutting_down(const std::string& name) {
  return make_error(ec::spawn_failed, proc_context(name),
                    "the launcher is shutting down");
}

/// Milliseconds from now until `when` for poll, rounded up (a poll that
/// wakes early only to sleep 0 ms again would spin), at least 0.
int poll_ms(std::chrono::steady_clock::time_point when) {
  auto left = when - std::chrono::steady_clock::now();
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, 1 << 30));
}

} // namespace

child_watcher::impl::child& child_watcher::impl::adopt(const std::string& name,
                                                       started_process proc,
                                                       zygote_state* zygote,
                                                       bool internal) {
  auto c = std::make_unique<child>();
  c->name = name;
  c->pid = proc.pid;
  c->internal = internal;
  c->zygote = zygote;
  // Without pidfd_open (Linux < 5.3, or no descriptor left) an exec'd
  // child's exit is noticed by a 5 ms timed poll with waitid(WNOHANG)
  // instead. A forked one's is watched only if its zygote dies first, to
  // see it gone and reap it if it was re-parented to us.
  c->pidfd.reset(open_pidfd(c->pid));
  c->out.fd = std::move(proc.out);
  c->err.fd = std::move(proc.err);
  c->err.is_stderr = true;
  if (!internal) {
    std::lock_guard<std::mutex> guard{mtx};
    table.emplace(c->name, c->pid);
  }
  children.push_back(std::move(c));
  return *children.back();
}

void child_watcher::impl::conclude(launch_job& job,
                                   caf::expected<int64_t> outcome) {
  if (!outcome)
    busy.erase(job.launch.name);
  job.done(std::move(outcome));
}

void child_watcher::impl::exec_now(launch_job& job) {
  if (closed)
    return conclude(job, shutting_down(job.launch.name));
  auto proc = exec_child(job.launch);
  if (!proc)
    return conclude(job, std::move(proc.error()));
  auto& c = adopt(job.launch.name, std::move(*proc), nullptr, false);
  conclude(job, static_cast<int64_t>(c.pid));
}

void child_watcher::impl::begin(launch_job job) {
  auto& name = job.launch.name;
  if (closed)
    return job.done(shutting_down(name));
  if (busy.count(name) != 0)
    return job.done(make_error(ec::invalid_argument, proc_context(name),
                               "a child of that name is still running"));
  busy.insert(name);
  if (job.launch.zygote_key) {
    if (auto* z = zygote_for(job.launch)) {
      if (!z->ready) {
        // Taken up when it says 'ready', or exec'd when it cannot.
        z->waiting.push_back(std::move(job));
        return;
      }
      if (request_fork(*z, job))
        return;
    }
  }
  exec_now(job);
}

caf::expected<int64_t>
child_watcher::impl::launch_now(prepared_launch& launch) {
  std::optional<caf::expected<int64_t>> result;
  launch_job job;
  job.launch = std::move(launch);
  job.launch.zygote_key.reset(); // never waits on a zygote
  job.done = [&](caf::expected<int64_t> outcome) {
    result = std::move(outcome);
  };
  begin(std::move(job));
  return std::move(*result);
}

std::optional<child_watcher::impl::clock::time_point>
child_watcher::impl::next_deadline() const {
  std::optional<clock::time_point> next;
  auto consider = [&](clock::time_point when) {
    if (!next || when < *next)
      next = when;
  };
  for (auto& z : zygotes) {
    if (z->lost)
      continue;
    if (!z->ready)
      consider(z->ready_by);
    if (!z->outstanding.empty())
      consider(z->outstanding.front().answer_by);
  }
  for (auto& c : children)
    if (c->state == phase::orphaned)
      consider(c->orphan_by);
  return next;
}

void child_watcher::impl::run() {
  // No signal handler of the embedding application may run here, and a
  // vforked child starts with every signal blocked until its set-up has
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
      bool ours = c->state == phase::running && !c->forked();
      if (ours || c->state == phase::orphaned)
        add(c->pidfd, s.pidfd);
      timed = timed || (ours && !c->pidfd);
      where.push_back(s);
    }
    for (auto& z : zygotes)
      if (z->control) {
        controls.emplace_back(z.get(), static_cast<int>(fds.size()));
        fds.push_back({z->control.get(), POLLIN, 0});
      }
    int timeout = timed ? fallback_poll_ms : -1;
    if (auto next = next_deadline()) {
      auto until = poll_ms(*next);
      timeout = timeout < 0 ? until : std::min(timeout, until);
    }
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
      if (c.done())
        continue;
      if (ready(where[i].out))
        read_stream(c, c.out, reads_per_round);
      if (ready(where[i].err))
        read_stream(c, c.err, reads_per_round);
      if (c.state == phase::orphaned && ready(where[i].pidfd))
        settle_orphan(c);
      if (c.state != phase::running || c.forked())
        continue; // a forked child's exit is told by its zygote
      bool check = c.pidfd ? ready(where[i].pidfd) : true;
      if (check && has_exited(c.pid))
        finish(c);
    }
    for (auto& [z, slot] : controls)
      if (!closed && !z->lost && ready(slot))
        on_control_readable(*z);
    auto now = clock::now();
    check_zygote_deadlines(now);
    for (size_t i = 0; i < children.size() && !closed; ++i)
      if (children[i]->state == phase::orphaned &&
          now >= children[i]->orphan_by)
        settle_orphan(*children[i]);
    children.erase(std::remove_if(children.begin(), children.end(),
                                  [](auto& c) { return c->done(); }),
                   children.end());
    // A lost zygote's record goes with the last child that names it.
    zygotes.erase(
      std::remove_if(zygotes.begin(), zygotes.end(),
                     [&](auto& z) {
                       return z->lost && z->reaped &&
                              std::none_of(
                                children.begin(), children.end(),
                                [&](auto& c) { return c->zygote == z.get(); });
                     }),
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
    // An outcome told now comes before the next poll, so before any line or
    // exit of that child; one queued on a zygote, when its answer arrives.
    for (auto& job : todo)
      begin(std::move(job));
  }
  shutdown();
}

void child_watcher::impl::shutdown() {
  // Not the zygotes themselves: killed, they would leave their procs to die
  // as orphans, unreaped by them. Exited and orphaned children are pinned
  // by nothing we may signal.
  for (auto& c : children)
    if (c->state == phase::running && !c->internal &&
        (!c->forked() || !c->zygote->lost))
      ::kill(-c->pid, SIGKILL);
  // A zygote whose socket closes kills and reaps what it forked, then exits.
  std::deque<launch_job> refused;
  for (auto& z : zygotes) {
    z->control.reset();
    for (auto& req : z->outstanding)
      if (req.job)
        refused.push_back(std::move(*req.job));
    for (auto& job : z->waiting)
      refused.push_back(std::move(job));
    z->outstanding.clear();
    z->waiting.clear();
  }
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.clear();
    for (auto& job : jobs)
      refused.push_back(std::move(job));
    jobs.clear();
  }
  // Every zygote gets the same time to end, all waited for at once; only a
  // stopped or wedged one takes longer, and is killed.
  std::vector<pollfd> exiting;
  std::vector<child*> zygote_procs;
  for (auto& c : children)
    if (!c->done() && c->internal) {
      if (c->pidfd) {
        exiting.push_back({c->pidfd.get(), POLLIN, 0});
        zygote_procs.push_back(c.get());
      } else {
        ::kill(-c->pid, SIGKILL);
      }
    }
  auto deadline = clock::now() + std::chrono::milliseconds{zygote_exit_ms};
  while (!exiting.empty()) {
    auto rc = ::poll(exiting.data(), exiting.size(), poll_ms(deadline));
    if (rc < 0 && errno != EINTR)
      break;
    if (rc == 0)
      break; // the deadline
    for (size_t i = exiting.size(); i-- > 0;)
      if (exiting[i].revents != 0) {
        exiting.erase(exiting.begin() + static_cast<ptrdiff_t>(i));
        zygote_procs.erase(zygote_procs.begin() + static_cast<ptrdiff_t>(i));
      }
  }
  for (auto* c : zygote_procs)
    ::kill(-c->pid, SIGKILL);
  // SIGKILLed or exiting: each returns as soon as the kernel is done. A
  // forked child is reaped by its zygote, whose exit we waited for.
  for (auto& c : children)
    if (!c->done() && !c->forked())
      while (::waitpid(c->pid, nullptr, 0) < 0 && errno == EINTR)
        ;
  children.clear();
  zygotes.clear();
  for (auto& job : refused)
    job.done(shutting_down(job.launch.name));
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
  done(shutting_down(spec.name));
}

caf::expected<int64_t> child_watcher::launch(const launch_spec& spec) {
  // From a callback: we already are the thread that must fork, and must not
  // wait for a zygote.
  if (std::this_thread::get_id() == impl_->thread_id) {
    if (impl_->closed)
      return shutting_down(spec.name);
    auto launch = prepare(spec, impl_->base_env);
    if (!launch)
      return std::move(launch.error());
    return impl_->launch_now(*launch);
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
