// File descriptors of the launcher and the zygote: an owning handle, the
// descriptors a child gets as its stdio, pidfds.
//
// Contracts:
// * Every descriptor opened here is close-on-exec and above 0..2, so that a
//   child receives exactly the descriptors it is given with dup2, and dup2
//   onto stdio is never a no-op that keeps close-on-exec set.
// * The parent's ends of output pipes are non-blocking: the watcher thread
//   never sleeps on one child's pipe.
#pragma once

#include "mesh/error.hpp"

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mesh::bootstrap {

/// Owns one descriptor; closes it when destroyed or reset.
class unique_fd {
public:
  explicit unique_fd(int fd = -1) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

private:
  int fd_;
};

/// strerror's text for `err`, thread-safe.
std::string errno_text(int err);

/// Writes all of `data` to `fd`, retrying on EINTR and short writes: 0, or
/// the errno of the write that failed (EIO for a write of nothing).
int write_all(int fd, std::string_view data);

/// ec::system_error: `call` failed with `err`, for what `context` names.
caf::error os_error(std::string context, const char* call, int err);

/// Moves `fd` off 0..2 (close-on-exec): in a child, dup2(fd, 1) with fd == 1
/// would be a no-op that leaves FD_CLOEXEC set (possible if the parent
/// closed its stdio). Returns the new descriptor, or -1 with errno set.
int above_stdio(int fd);

/// The descriptors a child starts with: stdin on /dev/null, stdout and
/// stderr on pipes. The child gets `in`, `out_write` and `err_write`; the
/// watcher keeps `out_read` and `err_read` (non-blocking).
struct child_stdio {
  unique_fd in;
  unique_fd out_read;
  unique_fd out_write;
  unique_fd err_read;
  unique_fd err_write;
};

/// Opens a child's stdio; errors name `context` (e.g. "proc 'x'").
caf::expected<child_stdio> open_child_stdio(const std::string& context);

/// Closes every descriptor of `fds` (e.g. received with a message) and
/// empties it.
void close_all(std::vector<int>& fds);

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits (any
/// process, not only a child), or -1 with errno set.
int open_pidfd(pid_t pid);

} // namespace mesh::bootstrap
