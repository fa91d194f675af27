// How a launcher and its zygote (bootstrap/zygote.hpp) talk.
//
// Start-up: the launcher execs the zygote with its control socket (a
// SOCK_SEQPACKET unix socket to the launcher thread) on fd 3 and, in
// MESH_ZYGOTE_UNSET, the names of variables it added for the zygote alone.
// On the socket, each message is one datagram: a fixed header (op, pid, two
// ints) and an optional text, with descriptors passed as SCM_RIGHTS.
//
//   zygote -> launcher  R            ready (sent once, first)
//   launcher -> zygote  S text fds   fork a proc: text is its MESH_BOOTSTRAP
//                                    value, fds its stdin, stdout, stderr
//   zygote -> launcher  P pid        forked (the proc leads its own group)
//                       E text       could not fork, and why
//   zygote -> launcher  X pid a b    proc exited: a = exit code or -1,
//                                    b = signal or 0; not yet reaped, so its
//                                    pid still pins its process group
//   launcher -> zygote  W pid        reap it
//   zygote -> launcher  D pid        reaped (so a reported exit is a gone
//                                    process), or E if pid is not a reported
//                                    proc of this zygote
//
// The zygote handles requests one at a time, in order, and answers each with
// exactly one message (P or E for S, D or E for W, E for a malformed one);
// X comes unasked, between answers. So a launcher matches answers to its
// requests by order alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mesh::bootstrap::zygote {

/// The zygote's end of its control socket.
constexpr int control_fd = 3;

/// Names variables (',' separated) that the launcher added to the zygote's
/// environment for the zygote alone; it removes them, and itself.
constexpr const char* unset_env = "MESH_ZYGOTE_UNSET";

/// The longest text a message carries (a MESH_BOOTSTRAP value or an error);
/// a proc whose payload is longer is exec'd instead.
constexpr size_t max_text = 60 * 1024;

enum class op : char {
  ready = 'R',
  spawn = 'S',
  spawned = 'P',
  spawn_failed = 'E',
  exited = 'X',
  reap = 'W',
  reaped = 'D',
};

struct message {
  op kind = op::ready;
  int64_t pid = 0;
  int32_t a = 0;
  int32_t b = 0;
  std::string text;
  /// Descriptors received with it (the receiver owns them).
  std::vector<int> fds;
};

/// A message without ints or descriptors.
inline message make_message(op kind, int64_t pid = 0, std::string text = {}) {
  message msg;
  msg.kind = kind;
  msg.pid = pid;
  msg.text = std::move(text);
  return msg;
}

/// Sends `msg` (and `msg.fds`, which stay owned by the caller). Returns 0
/// or an errno value.
int send(int sock, const message& msg);

/// Receives one message. nullopt with `err` = 0 on end of stream, with the
/// errno value otherwise (EAGAIN if `nonblocking` and nothing is queued, or
/// EPROTO for a malformed message, whose descriptors are closed).
std::optional<message> receive(int sock, bool nonblocking, int& err);

} // namespace mesh::bootstrap::zygote
