// The zygote's control messages on the wire (bootstrap/zygote_protocol.hpp):
// a header of fixed size, a text and SCM_RIGHTS descriptors per datagram.
// Anything malformed is refused whole, its descriptors closed.
#include "bootstrap/zygote_protocol.hpp"

#include "bootstrap/fd.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace mesh::bootstrap::zygote {

namespace {

constexpr size_t header_size = 1 + 8 + 4 + 4;

/// Descriptors per message: stdin, stdout, stderr.
constexpr size_t max_fds = 3;

bool known(char c) {
  switch (static_cast<op>(c)) {
  case op::ready:
  case op::spawn:
  case op::spawned:
  case op::spawn_failed:
  case op::exited:
  case op::reap:
  case op::reaped:
    return true;
  }
  return false;
}

} // namespace

int send(int sock, const message& msg) {
  if (msg.text.size() > max_text || msg.fds.size() > max_fds)
    return EMSGSIZE;
  char header[header_size];
  header[0] = static_cast<char>(msg.kind);
  std::memcpy(header + 1, &msg.pid, 8);
  std::memcpy(header + 9, &msg.a, 4);
  std::memcpy(header + 13, &msg.b, 4);
  iovec iov[2] = {{header, header_size},
                  {const_cast<char*>(msg.text.data()), msg.text.size()}};
  msghdr hdr{};
  hdr.msg_iov = iov;
  hdr.msg_iovlen = msg.text.empty() ? 1 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];
  if (!msg.fds.empty()) {
    auto len = sizeof(int) * msg.fds.size();
    hdr.msg_control = control;
    hdr.msg_controllen = CMSG_SPACE(len);
    auto* cmsg = CMSG_FIRSTHDR(&hdr);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(len);
    std::memcpy(CMSG_DATA(cmsg), msg.fds.data(), len);
  }
  for (;;) {
    if (::sendmsg(sock, &hdr, MSG_NOSIGNAL) >= 0)
      return 0;
    if (errno != EINTR)
      return errno;
  }
}

std::optional<message> receive(int sock, bool nonblocking, int& err) {
  std::string buf(header_size + max_text + 1, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];
  msghdr hdr{};
  hdr.msg_iov = &iov;
  hdr.msg_iovlen = 1;
  hdr.msg_control = control;
  hdr.msg_controllen = sizeof(control);
  int flags = MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0);
  ssize_t n;
  while ((n = ::recvmsg(sock, &hdr, flags)) < 0 && errno == EINTR)
    ;
  if (n < 0) {
    err = errno;
    return std::nullopt;
  }
  message msg;
  for (auto* cmsg = CMSG_FIRSTHDR(&hdr); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&hdr, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
      continue;
    auto count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      msg.fds.push_back(fd);
    }
  }
  if (n == 0 && msg.fds.empty()) {
    err = 0; // end of stream
    return std::nullopt;
  }
  auto size = static_cast<size_t>(n);
  // MSG_CTRUNC alone does not bound the descriptors: the control buffer is
  // padded to alignment and holds a fourth one (found by fuzz/).
  if (size < header_size || size > header_size + max_text || !known(buf[0]) ||
      msg.fds.size() > max_fds ||
      (hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    close_all(msg.fds);
    err = EPROTO;
    return std::nullopt;
  }
  msg.kind = static_cast<op>(buf[0]);
  std::memcpy(&msg.pid, buf.data() + 1, 8);
  std::memcpy(&msg.a, buf.data() + 9, 4);
  std::memcpy(&msg.b, buf.data() + 13, 4);
  msg.text.assign(buf.data() + header_size, size - header_size);
  err = 0;
  return msg;
}

} // namespace mesh::bootstrap::zygote
