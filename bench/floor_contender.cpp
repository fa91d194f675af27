// The floor: the least any launcher and transport can do. Workers are
// bench/floor_echo, a few-KB C program started with posix_spawn (or fork +
// exec, to show what a plain fork costs from a large client) that connects
// over loopback TCP; messages are raw length-prefixed frames.
#include "contender.hpp"
#include "stats.hpp"

#include <mesh/error.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace bench {

namespace {

caf::error os_error(const char* what) {
  return mesh::make_error(mesh::ec::system_error, "floor contender",
                          std::string{what} + ": " + std::strerror(errno));
}

bool write_all(int fd, const char* buf, size_t n) {
  while (n > 0) {
    auto put = ::write(fd, buf, n);
    if (put < 0 && errno == EINTR)
      continue;
    if (put <= 0)
      return false;
    buf += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

bool read_byte(int fd) {
  char byte;
  ssize_t got;
  while ((got = ::read(fd, &byte, 1)) < 0 && errno == EINTR)
    ;
  return got == 1;
}

class floor_contender : public contender {
public:
  explicit floor_contender(bool use_fork)
    : use_fork_(use_fork), exe_(sibling_program("floor_echo")) {}

  ~floor_contender() override {
    static_cast<void>(down());
    if (listen_fd_ >= 0)
      ::close(listen_fd_);
  }

  caf::expected<up_result> up(size_t n) override {
    if (auto err = listen())
      return err;
    up_result result;
    auto t0 = clock_type::now();
    for (size_t i = 0; i < n; ++i) {
      char* argv[] = {exe_.data(), port_.data(), nullptr};
      pid_t pid = -1;
      if (use_fork_) {
        pid = ::fork();
        if (pid == 0) {
          ::execv(exe_.c_str(), argv);
          ::_exit(127);
        }
      } else if (int rc = ::posix_spawn(&pid, exe_.c_str(), nullptr, nullptr,
                                        argv, environ);
                 rc != 0) {
        errno = rc;
        pid = -1;
      }
      if (pid < 0)
        return os_error("spawn");
      pids_.push_back(pid);
    }
    for (size_t i = 0; i < n; ++i) {
      // Close-on-exec: a later worker must not hold an earlier one's socket.
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 || !read_byte(fd))
        return os_error("accept");
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      fds_.push_back(fd);
    }
    result.ms = ms_since(t0);
    result.pids.assign(pids_.begin(), pids_.end());
    return result;
  }

  caf::expected<latency> round_trips(size_t k) override {
    std::vector<double> samples;
    for (size_t i = 0; i < k; ++i) {
      auto t0 = clock_type::now();
      if (!ping(fds_.at(0)) || !read_byte(fds_[0]))
        return os_error("ping");
      samples.push_back(us_since(t0));
    }
    return summarize(samples);
  }

  caf::expected<double> gather_ms(size_t k) override {
    std::vector<double> samples;
    for (size_t i = 0; i < k; ++i) {
      auto t0 = clock_type::now();
      if (auto err = ping_all())
        return err;
      samples.push_back(ms_since(t0));
    }
    return percentile(samples, 50);
  }

  caf::expected<cast_result> cast(size_t size, size_t count) override {
    // Frames go out in batches of up to 256 KiB per write: a floor pays one
    // system call per batch, not per message.
    auto frame_size = sizeof(uint64_t) + size;
    auto per_batch = std::max<size_t>(1, (size_t{256} << 10) / frame_size);
    std::vector<char> batch(frame_size * per_batch, 'x');
    uint64_t len = size;
    for (size_t i = 0; i < per_batch; ++i)
      std::memcpy(batch.data() + i * frame_size, &len, sizeof(len));
    auto t0 = clock_type::now();
    for (size_t sent = 0; sent < count;) {
      auto frames = std::min(per_batch, count - sent);
      for (int fd : fds_)
        if (!write_all(fd, batch.data(), frames * frame_size))
          return os_error("write");
      sent += frames;
    }
    // A worker answers a ping only after reading every earlier frame.
    if (auto err = ping_all())
      return err;
    return cast_result{ms_since(t0), uint64_t{size} * count * fds_.size()};
  }

  caf::expected<double> down() override {
    auto t0 = clock_type::now();
    for (int fd : fds_)
      ::close(fd);
    fds_.clear();
    for (auto pid : pids_)
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
        ;
    pids_.clear();
    return ms_since(t0);
  }

private:
  caf::error listen() {
    if (listen_fd_ >= 0)
      return caf::none;
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 1024) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
          0)
      return os_error("listen");
    port_ = std::to_string(ntohs(addr.sin_port));
    return caf::none;
  }

  static bool ping(int fd) {
    uint64_t zero = 0;
    return write_all(fd, reinterpret_cast<const char*>(&zero), sizeof(zero));
  }

  caf::error ping_all() {
    for (int fd : fds_)
      if (!ping(fd))
        return os_error("ping");
    for (int fd : fds_)
      if (!read_byte(fd))
        return os_error("pong");
    return caf::none;
  }

  bool use_fork_;
  std::string exe_;
  std::string port_;
  int listen_fd_ = -1;
  std::vector<pid_t> pids_;
  std::vector<int> fds_;
};

} // namespace

std::unique_ptr<contender> make_floor_contender(bool use_fork) {
  return std::make_unique<floor_contender>(use_fork);
}

} // namespace bench
