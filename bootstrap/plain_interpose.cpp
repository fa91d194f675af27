// The BASP frame guard (bootstrap/basp_guard.hpp) on plain TCP connections
// (transport.insecure).
//
// Over TLS, libmesh sees what CAF reads in its SSL_read
// (bootstrap/tls_interpose.cpp). Over plain TCP, CAF 0.17's stream reads
// with recv(2) straight from libcaf_io (policy::tcp::read_some), so a peer
// that sent one header announcing a payload of 4 GiB - 1 made CAF resize its
// read buffer to that size at once: measured on a meshd --insecure, the
// multiplexer thread spent ~4 s zeroing 4 GiB (RSS 24 MiB -> 4.1 GiB) while
// every other connection stalled, and a SIGTERM in those seconds had to wait
// for it (the middleman joins that thread when the actor system ends), and
// the buffer stayed until CAF's connection timeout dropped the peer.
//
// So libmesh defines recv: when libcaf_io calls it on a connection to a port
// that libmesh published in plain TCP (tls::guard_plain_port(), from
// net::publish), the bytes it returns run through a basp_guard, and a header
// announcing more than transport.max_message_size fails the read (EMSGSIZE):
// CAF closes the connection before it allocates. Everyone else's recv calls,
// and CAF's on other sockets (its own pipe, an application's brokers), go to
// libc unchanged.
#include "bootstrap/basp_guard.hpp"
#include "bootstrap/code_range.hpp"
#include "bootstrap/tls.hpp"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

namespace {

/// True if the code at `address` is CAF's io module (found once).
bool in_caf_io(const void* address) {
  static const auto range = mesh::bootstrap::find_code("libcaf_io");
  return range.contains(address);
}

/// What the guard knows of one descriptor. A descriptor number is reused
/// after close (which CAF does without asking us): the socket's inode tells
/// a new connection from the old one.
struct connection {
  ino_t inode = 0;
  bool guarded = false;
  bool reported = false;
  std::optional<mesh::bootstrap::basp_guard> frames;
};

struct guard_state {
  std::atomic<bool> any{false};
  std::mutex mtx;
  std::vector<uint16_t> ports;
  std::vector<connection> by_fd;
};

guard_state& state() {
  static guard_state* st = new guard_state; // outlives every CAF thread
  return *st;
}

uint16_t port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return 0;
}

/// Whether `fd` is a TCP connection accepted on a guarded port.
bool accepted_on_guarded_port(guard_state& st, int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_STREAM)
    return false;
  sockaddr_storage addr{};
  len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return false;
  auto port = port_of(addr);
  return port != 0 &&
         std::find(st.ports.begin(), st.ports.end(), port) != st.ports.end();
}

/// Follows `n` bytes read from `fd`; false if they hold a header announcing
/// more than allowed.
bool allowed(int fd, const void* buf, size_t n) {
  auto& st = state();
  struct stat sb {};
  if (fd < 0 || ::fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode))
    return true;
  std::lock_guard<std::mutex> guard{st.mtx};
  if (static_cast<size_t>(fd) >= st.by_fd.size())
    st.by_fd.resize(static_cast<size_t>(fd) + 1);
  auto& c = st.by_fd[static_cast<size_t>(fd)];
  if (c.inode != sb.st_ino) {
    c = connection{};
    c.inode = sb.st_ino;
    c.guarded = accepted_on_guarded_port(st, fd);
    if (c.guarded)
      c.frames.emplace(mesh::tls::max_message_size());
  }
  if (!c.guarded)
    return true;
  if (c.frames->feed(static_cast<const unsigned char*>(buf), n))
    return true;
  if (!c.reported) {
    c.reported = true;
    std::fprintf(stderr,
                 "libmesh: closing a connection whose peer announced a "
                 "message of %u bytes (transport.max_message_size is %llu)\n",
                 c.frames->refused_size(),
                 static_cast<unsigned long long>(
                   mesh::tls::max_message_size()));
  }
  return false;
}

} // namespace

namespace mesh::tls {

void guard_plain_port(uint16_t port) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  if (std::find(st.ports.begin(), st.ports.end(), port) == st.ports.end())
    st.ports.push_back(port);
  st.any.store(true, std::memory_order_release);
}

} // namespace mesh::tls

extern "C" {

// Exported although libmesh is built with hidden visibility (libmesh.map
// lists it), so that libcaf_io binds to it.
__attribute__((visibility("default"))) ssize_t recv(int fd, void* buf,
                                                    size_t len, int flags) {
  using recv_fn = ssize_t (*)(int, void*, size_t, int);
  static auto real = [] {
    auto f = reinterpret_cast<recv_fn>(::dlsym(RTLD_NEXT, "recv"));
    if (f == nullptr) {
      std::fprintf(stderr, "libmesh: libc's recv not found: %s\n",
                   ::dlerror());
      std::abort();
    }
    return f;
  }();
  auto n = real(fd, buf, len, flags);
  if (n <= 0 || (flags & MSG_PEEK) != 0 ||
      !state().any.load(std::memory_order_acquire) ||
      !in_caf_io(__builtin_return_address(0)))
    return n;
  if (!allowed(fd, buf, static_cast<size_t>(n))) {
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

} // extern "C"
