// The only translation unit that includes Boost.Process (architecture §10:
// with CAF in the same file it costs ~27 s and 1.1 GB to compile).
#include "bootstrap/exec_launcher.hpp"

#include "bootstrap/zygote_protocol.hpp"

// Boost 1.74 enables its vfork executor only for old POSIX feature levels
// (not with glibc's _GNU_SOURCE, which g++ defines): without this the vfork
// path is declared but never defined and libmesh.so has an undefined symbol.
#define BOOST_POSIX_HAS_VFORK 1

#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace bp = boost::process;

namespace mesh::bootstrap {

namespace {

/// Exit code of a child whose setup between fork and exec failed (dup2,
/// setpgid, prctl); the watcher reports it like any other exit.
constexpr int setup_failed_exit = 127;

/// Exit code of a child whose parent died while it was being set up: the
/// parent-death signal was armed too late to fire.
constexpr int parent_gone_exit = 126;

/// Runs in the child between vfork and exec, in the parent's memory: only
/// system calls, no allocation, no locks.
void setup_child(int stdin_fd, int stdout_fd, int stderr_fd, bool pdeathsig,
                 pid_t parent, int control_fd) noexcept {
  if (::dup2(stdin_fd, STDIN_FILENO) < 0 ||
      ::dup2(stdout_fd, STDOUT_FILENO) < 0 ||
      ::dup2(stderr_fd, STDERR_FILENO) < 0)
    ::_exit(setup_failed_exit);
  if (::setpgid(0, 0) != 0)
    ::_exit(setup_failed_exit);
  if (pdeathsig) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
      ::_exit(setup_failed_exit);
    // The parent may have died before the signal was armed.
    if (::getppid() != parent)
      ::_exit(parent_gone_exit);
  }
  // A clean slate: the embedding application may ignore signals (SIGPIPE,
  // SIGHUP) that a proc must not inherit ignored, and the watcher thread
  // blocks all of them.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    ::sigaction(sig, &dfl, nullptr); // fails harmlessly for KILL, STOP
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // A zygote's control socket goes to fd 3, without close-on-exec.
  unsigned first_closed = 3;
  if (control_fd >= 0) {
    if (control_fd == zygote::control_fd
          ? ::fcntl(control_fd, F_SETFD, 0) != 0
          : ::dup2(control_fd, zygote::control_fd) < 0)
      ::_exit(setup_failed_exit);
    first_closed = zygote::control_fd + 1;
  }
#ifdef SYS_close_range
  // Descriptors the embedding process opened without O_CLOEXEC (sockets of
  // its own) must not leak into procs. Best effort: old kernels lack it.
  ::syscall(SYS_close_range, first_closed, ~0U, 0U);
#else
  (void)first_closed;
#endif
}

} // namespace

caf::expected<started_process> exec_child(const prepared_launch& launch,
                                          int control_fd) {
  auto stdio = open_child_stdio(proc_context(launch.name));
  if (!stdio)
    return std::move(stdio.error());
  auto parent = ::getpid();
  int in_fd = stdio->in.get();
  int out_fd = stdio->out_write.get();
  int err_fd = stdio->err_write.get();
  bool pdeathsig = launch.pdeathsig;
  std::error_code boost_error;
  // vfork: the cost of a fork must not grow with the parent's memory.
  bp::child proc{
    bp::exe = launch.path,
    bp::posix::use_vfork,
    bp::extend::on_setup =
      [&launch](auto& exec) {
        // execve takes char* const[]: nothing writes through these.
        exec.cmd_line = const_cast<char**>(launch.argv_ptrs.data());
        exec.env = const_cast<char**>(launch.env_ptrs.data());
      },
    bp::extend::on_exec_setup =
      [=](auto&) {
        setup_child(in_fd, out_fd, err_fd, pdeathsig, parent, control_fd);
      },
    bp::extend::on_error =
      [](auto& exec, const std::error_code&) {
        // exec failed after vfork: the child has called _exit. Reap it here,
        // while it surely is still unreaped, rather than leave it to
        // ~bp::child (which only tries WNOHANG and may leave a zombie).
        if (exec.pid > 0)
          while (::waitpid(exec.pid, nullptr, 0) < 0 && errno == EINTR)
            ;
      },
    boost_error};
  if (boost_error || !proc.valid())
    return make_error(ec::spawn_failed, proc_context(launch.name),
                      "could not execute program '" + launch.path +
                        "': " + boost_error.message());
  // Our pid now: ~bp::child would SIGKILL it, terminate() is SIGKILL.
  proc.detach();
  started_process result;
  result.pid = proc.id();
  result.out = std::move(stdio->out_read);
  result.err = std::move(stdio->err_read);
  return result;
}

} // namespace mesh::bootstrap
