// Fuzzes the zygote's control-message decoder (bootstrap/zygote_protocol.hpp)
// through a real SOCK_SEQPACKET socket pair, as the zygote and the launcher
// use it.
//
// Input: byte 0 holds flags, the rest is one datagram:
//   bits 0-2  number of descriptors sent with it (SCM_RIGHTS, 0..7)
//   bit 4     append zygote::max_text filler bytes to the datagram, so that
//             short inputs reach past the longest message
// Properties:
//   * receive accepts a datagram iff it is a well-formed message (a header
//     of a known op, a text of at most max_text bytes, at most 3
//     descriptors: what send can produce); its fields are the datagram's;
//   * round trip: send of an accepted message puts the very same bytes and
//     as many descriptors on the wire;
//   * a refused message is EPROTO (or end of stream for an empty datagram)
//     and leaks no descriptor; an accepted one brings exactly the
//     descriptors sent, close-on-exec.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bootstrap/zygote_protocol.hpp"
#include "fuzz/check.hpp"

namespace zygote = mesh::bootstrap::zygote;

namespace {

constexpr size_t header_size = 1 + 8 + 4 + 4;
constexpr size_t max_fds = 3;

struct sockets {
  int launcher = -1; // sends the fuzzed datagrams
  int zygote = -1;   // receives them
  int null_fd = -1;  // the descriptor passed (duplicated by the kernel)

  sockets() {
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ==
               0);
    launcher = sv[0];
    zygote = sv[1];
    // Room for the longest datagram the input can make.
    int size = 1 << 20;
    ::setsockopt(launcher, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    ::setsockopt(zygote, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    FUZZ_CHECK(null_fd >= 0);
  }

  // The lowest free descriptor number: a leaked descriptor takes it.
  static int probe() {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    ::close(fd);
    return fd;
  }
};

sockets& the_sockets() {
  static sockets s;
  return s;
}

// Sends `bytes` with `nfds` copies of `fd`; false if the kernel refuses
// (e.g. a datagram larger than the socket buffer).
bool send_raw(int sock, const std::string& bytes, int fd, size_t nfds) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr hdr{};
  hdr.msg_iov = &iov;
  hdr.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  if (nfds > 0) {
    std::vector<int> fds(nfds, fd);
    hdr.msg_control = control;
    hdr.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    auto* cmsg = CMSG_FIRSTHDR(&hdr);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * nfds);
  }
  return ::sendmsg(sock, &hdr, MSG_NOSIGNAL | MSG_DONTWAIT) ==
         static_cast<ssize_t>(bytes.size());
}

// Receives one datagram as raw bytes and descriptors (closed here).
std::string receive_raw(int sock, size_t& nfds) {
  std::string buf(header_size + zygote::max_text + 64, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msghdr hdr{};
  hdr.msg_iov = &iov;
  hdr.msg_iovlen = 1;
  hdr.msg_control = control;
  hdr.msg_controllen = sizeof(control);
  auto n = ::recvmsg(sock, &hdr, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  FUZZ_CHECK(n >= 0);
  FUZZ_CHECK((hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0);
  nfds = 0;
  for (auto* cmsg = CMSG_FIRSTHDR(&hdr); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&hdr, cmsg)) {
    auto count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      ::close(fd);
      ++nfds;
    }
  }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

bool known(char c) {
  for (char op : {'R', 'S', 'P', 'E', 'X', 'W', 'D'})
    if (c == op)
      return true;
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  auto& s = the_sockets();
  auto lowest_free = sockets::probe();
  size_t nfds = data[0] & 0x7;
  std::string datagram(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 0x10)
    datagram.append(zygote::max_text, 'f');
  if (!send_raw(s.launcher, datagram, s.null_fd, nfds))
    return 0;

  int err = -1;
  auto msg = zygote::receive(s.zygote, true, err);
  bool well_formed = datagram.size() >= header_size &&
                     datagram.size() <= header_size + zygote::max_text &&
                     known(datagram[0]) && nfds <= max_fds;
  if (!msg) {
    if (datagram.empty() && nfds == 0)
      FUZZ_CHECK(err == 0); // an empty datagram reads as end of stream
    else
      FUZZ_CHECK(err == EPROTO);
    FUZZ_CHECK(!well_formed);
  } else {
    FUZZ_CHECK(err == 0);
    FUZZ_CHECK(well_formed);
    FUZZ_CHECK(static_cast<char>(msg->kind) == datagram[0]);
    int64_t pid;
    int32_t a, b;
    std::memcpy(&pid, datagram.data() + 1, 8);
    std::memcpy(&a, datagram.data() + 9, 4);
    std::memcpy(&b, datagram.data() + 13, 4);
    FUZZ_CHECK(msg->pid == pid && msg->a == a && msg->b == b);
    FUZZ_CHECK(msg->text == datagram.substr(header_size));
    FUZZ_CHECK(msg->fds.size() == nfds);
    for (int fd : msg->fds)
      FUZZ_CHECK(::fcntl(fd, F_GETFD) == FD_CLOEXEC);

    // encode(decode(x)) == x: the message sent back is the same datagram.
    FUZZ_CHECK(zygote::send(s.launcher, *msg) == 0);
    size_t sent_fds = 0;
    auto again = receive_raw(s.zygote, sent_fds);
    FUZZ_CHECK(again == datagram);
    FUZZ_CHECK(sent_fds == nfds);
    for (int fd : msg->fds)
      ::close(fd);
  }
  // Nothing left behind: no queued datagram, no open descriptor.
  char byte;
  FUZZ_CHECK(::recv(s.zygote, &byte, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
  FUZZ_CHECK(sockets::probe() == lowest_free);
  return 0;
}
