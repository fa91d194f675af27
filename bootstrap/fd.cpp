// File descriptor utilities of the launcher and the zygote (bootstrap/fd.hpp).
#include "bootstrap/fd.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace mesh::bootstrap {

void unique_fd::reset(int fd) {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = fd;
}

std::string errno_text(int err) {
  return std::error_code{err, std::system_category()}.message();
}

caf::error os_error(std::string context, const char* call, int err) {
  return make_error(ec::system_error, std::move(context),
                    std::string{call} + " failed: " + errno_text(err));
}

int above_stdio(int fd) {
  if (fd < 0 || fd > 2)
    return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int err = errno;
  ::close(fd);
  errno = err;
  return moved;
}

namespace {

/// A pipe for one output stream: the parent's read end is non-blocking, both
/// ends are close-on-exec (the child gets the write end only through dup2).
caf::error open_output_pipe(const std::string& context, unique_fd& read_end,
                            unique_fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return os_error(context, "pipe2", errno);
  read_end.reset(above_stdio(fds[0]));
  write_end.reset(above_stdio(fds[1]));
  if (!read_end || !write_end)
    return os_error(context, "fcntl(F_DUPFD_CLOEXEC)", errno);
  if (::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0)
    return os_error(context, "fcntl(O_NONBLOCK)", errno);
  return caf::none;
}

} // namespace

caf::expected<child_stdio> open_child_stdio(const std::string& context) {
  child_stdio result;
  if (auto err = open_output_pipe(context, result.out_read, result.out_write))
    return err;
  if (auto err = open_output_pipe(context, result.err_read, result.err_write))
    return err;
  result.in.reset(above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
  if (!result.in)
    return os_error(context, "open(/dev/null)", errno);
  return result;
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds)
    ::close(fd);
  fds.clear();
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

int write_all(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? errno : EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

} // namespace mesh::bootstrap
