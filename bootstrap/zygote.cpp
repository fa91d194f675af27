// The zygote process (bootstrap/zygote.hpp): one poll loop over its control
// socket and the pidfds of its procs, forking on request.
#include "bootstrap/zygote.hpp"

#include "bootstrap/fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace mesh::bootstrap::zygote {

namespace {

void say(const char* what) {
  std::fprintf(stderr, "libmesh zygote: %s\n", what);
  std::fflush(stderr);
}

/// A proc this zygote forked and has not reaped yet.
struct kid {
  /// Readable once it exited; -1 once the exit was reported.
  int pidfd = -1;
};

/// Ends every proc and reaps it: the launcher is gone.
void end_all(std::map<pid_t, kid>& kids) {
  for (auto& [pid, k] : kids)
    ::kill(-pid, SIGKILL);
  for (auto& [pid, k] : kids) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
      ;
    if (k.pidfd >= 0)
      ::close(k.pidfd);
  }
  kids.clear();
}

/// In the forked proc: its own group, its parent's death signal, the
/// launcher's pipes as stdio and nothing else open. False if it must exit.
bool become_proc(const std::vector<int>& fds, pid_t zygote,
                 const char* name) {
  ::prctl(PR_SET_NAME, name);
  for (int i = 0; i < 3; ++i)
    if (::dup2(fds[i], i) < 0)
      return false;
  if (::setpgid(0, 0) != 0 && errno != EACCES) // EACCES: the zygote did it
    return false;
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != zygote)
    return false;
#ifdef SYS_close_range
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
#else
  for (int fd = 3; fd < 1024; ++fd)
    ::close(fd);
#endif
  return true;
}

} // namespace

int serve(std::string& payload) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(control_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_SEQPACKET) {
    say("fd 3 is not the control socket of a libmesh launcher");
    return 2;
  }
  ::fcntl(control_fd, F_SETFD, FD_CLOEXEC);
  if (const char* added = std::getenv(unset_env)) {
    std::string names = added;
    for (size_t begin = 0; begin <= names.size();) {
      auto end = std::min(names.find(',', begin), names.size());
      if (end > begin)
        ::unsetenv(names.substr(begin, end - begin).c_str());
      begin = end + 1;
    }
    ::unsetenv(unset_env);
  }
  auto self = ::getpid();
  // Without pidfds the zygote could not tell which proc exited without
  // reaping it: refuse, and the launcher execs procs instead.
  if (int probe = open_pidfd(self); probe >= 0) {
    ::close(probe);
  } else {
    say("pidfd_open is not available; procs will be exec'd");
    return 2;
  }
  // Named apart from its procs in ps and /proc; each proc gets the name back.
  char own_name[17] = {};
  ::prctl(PR_GET_NAME, own_name);
  ::prctl(PR_SET_NAME, process_name);
  if (send(control_fd, make_message(op::ready)) != 0)
    return 0; // The launcher is already gone.
  std::map<pid_t, kid> kids;
  std::vector<pollfd> fds;
  std::vector<pid_t> polled;
  for (;;) {
    fds.clear();
    polled.clear();
    fds.push_back({control_fd, POLLIN, 0});
    for (auto& [pid, k] : kids)
      if (k.pidfd >= 0) {
        fds.push_back({k.pidfd, POLLIN, 0});
        polled.push_back(pid);
      }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      end_all(kids);
      return 1;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0)
        continue;
      auto pid = polled[i - 1];
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info,
                   WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid != pid)
        continue;
      auto& k = kids[pid];
      ::close(k.pidfd);
      k.pidfd = -1;
      auto x = make_message(op::exited, pid);
      x.a = info.si_code == CLD_EXITED ? info.si_status : -1;
      x.b = info.si_code == CLD_EXITED ? 0 : info.si_status;
      send(control_fd, x);
    }
    if (fds[0].revents == 0)
      continue;
    int err = 0;
    auto msg = receive(control_fd, true, err);
    if (!msg) {
      if (err == EAGAIN)
        continue;
      if (err == EPROTO) {
        send(control_fd, make_message(op::spawn_failed, 0,
                                      "malformed message to the zygote"));
        continue;
      }
      // End of stream or a broken launcher: nobody is left to serve.
      end_all(kids);
      return 0;
    }
    if (msg->kind == op::reap) {
      auto i = kids.find(static_cast<pid_t>(msg->pid));
      // Only reported exits are reaped: a running proc's pid stays ours.
      close_all(msg->fds);
      if (i == kids.end() || i->second.pidfd >= 0) {
        send(control_fd, make_message(op::spawn_failed, msg->pid,
                                      "pid " + std::to_string(msg->pid)
                                        + " is not an exited proc of this "
                                          "zygote"));
        continue;
      }
      while (::waitpid(i->first, nullptr, 0) < 0 && errno == EINTR)
        ;
      kids.erase(i);
      send(control_fd, make_message(op::reaped, msg->pid));
      continue;
    }
    if (msg->kind != op::spawn || msg->fds.size() != 3) {
      close_all(msg->fds);
      send(control_fd, make_message(op::spawn_failed, 0,
                                       "malformed request to the zygote"));
      continue;
    }
    std::fflush(nullptr);
    auto pid = ::fork();
    if (pid == 0) {
      if (!become_proc(msg->fds, self, own_name))
        ::_exit(126);
      payload = std::move(msg->text);
      return -1;
    }
    int fork_errno = errno;
    close_all(msg->fds);
    if (pid < 0) {
      send(control_fd, make_message(op::spawn_failed, 0,
                                       std::string{"fork failed: "}
                                         + std::strerror(fork_errno)));
      continue;
    }
    // Both sides set the group, so that it exists once the launcher hears
    // of the pid and may signal it.
    ::setpgid(pid, pid);
    kid k;
    k.pidfd = open_pidfd(pid);
    if (k.pidfd < 0) {
      auto why = std::string{"pidfd_open failed: "} + std::strerror(errno);
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
        ;
      send(control_fd, make_message(op::spawn_failed, 0, why));
      continue;
    }
    kids.emplace(pid, k);
    send(control_fd, make_message(op::spawned, pid));
  }
}

} // namespace mesh::bootstrap::zygote
