// The end of a child: its output read into lines and drained at exit,
// exactly its pid reaped, its exit reported once.
//
// Contracts (bootstrap/launcher.hpp): every line before the exit; what is
// left of a child's group SIGKILLed while the exited leader still pins the
// group id; a forked child's exit reported only once its zygote has reaped
// it; a child whose zygote died reported killed by SIGKILL, after a last
// stderr line that says so.
#include "bootstrap/child_watcher_impl.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#ifndef P_PIDFD
#define P_PIDFD 3 // Linux 5.4; older glibc headers lack the name
#endif

namespace mesh::bootstrap {

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

void child_watcher::impl::finish(child& c) {
  // The leader is a zombie: its pid still pins the group id, so this reaches
  // only what is left of its own group (e.g. a background grandchild).
  ::kill(-c.pid, SIGKILL);
  drain(c);
  if (!c.internal) {
    std::lock_guard<std::mutex> guard{mtx};
    table.erase(c.name);
  }
  int status = 0;
  pid_t reaped;
  while ((reaped = ::waitpid(c.pid, &status, 0)) < 0 && errno == EINTR)
    ;
  c.pidfd.reset();
  std::optional<int> code;
  std::optional<int> sig;
  if (reaped == c.pid) {
    if (WIFEXITED(status))
      code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      sig = WTERMSIG(status);
  }
  if (c.internal) {
    c.state = phase::done;
    c.zygote->reaped = true;
    lose(*c.zygote);
    return;
  }
  report(c, code, sig);
}

void child_watcher::impl::forked_exit(child& c, std::optional<int> code,
                                      std::optional<int> sig) {
  c.exit_code = code;
  c.exit_signal = sig;
  // Its zygote reaps it only when told to: until then its pid pins the group.
  ::kill(-c.pid, SIGKILL);
  drain(c);
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.erase(c.name);
  }
  c.state = phase::reaping;
  request_reap(c);
}

void child_watcher::impl::orphan(child& c) {
  // Nothing pins its pid any more: it leaves the table at once.
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.erase(c.name);
  }
  if (!c.pidfd)
    return settle_orphan(c);
  // Its parent-death signal is on its way: the poll loop waits (briefly)
  // on its pidfd until it is gone, serving everyone else meanwhile.
  c.state = phase::orphaned;
  c.orphan_by = clock::now() + std::chrono::milliseconds{orphan_exit_ms};
}

void child_watcher::impl::settle_orphan(child& c) {
  if (c.pidfd) {
    // If this process is a subreaper, the orphan is now our child: reap it
    // (by its pidfd, so never a recycled pid). Otherwise init does.
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd.get()),
             &info, WEXITED | WNOHANG);
    c.pidfd.reset();
  }
  drain(c);
  // Killed with its zygote (parent-death signal): say so where its own last
  // words go.
  emit(c, c.err,
       "libmesh: the zygote (pid " + std::to_string(c.zygote->pid) +
         ") that forked this proc died, and the proc was killed with it");
  report(c, std::nullopt, SIGKILL);
}

void child_watcher::impl::report(child& c, std::optional<int> code,
                                 std::optional<int> sig) {
  c.state = phase::done;
  busy.erase(c.name);
  if (events.on_exit && !closed)
    events.on_exit(c.name, c.pid, code, sig);
}

} // namespace mesh::bootstrap
