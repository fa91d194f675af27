// The per-host zygote (architecture §10): a process started once from a
// bootstrap command, before any actor system exists, that forks procs on
// request. A forked proc skips exec and dynamic linking, which are most of
// what a proc costs to start, and shares the zygote's relocated pages.
//
// The zygote is a bootstrap child with role `zygote`. Its control socket (a
// SOCK_SEQPACKET unix socket to the launcher that started it) is fd 3. On
// it, each message is one datagram: a fixed header (op, pid, two ints) and
// an optional text, with descriptors passed as SCM_RIGHTS.
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
// When the control socket closes, the zygote SIGKILLs the process group of
// every proc it forked, reaps them all and exits 0. Its procs carry
// PR_SET_PDEATHSIG(SIGKILL) towards it, and it towards its launcher thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mesh::bootstrap::zygote {

/// The zygote's end of its control socket.
constexpr int control_fd = 3;

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

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits (any
/// process, not only a child), or -1 with errno set.
int open_pidfd(pid_t pid);

/// Sends `msg` (and `msg.fds`, which stay owned by the caller). Returns 0
/// or an errno value.
int send(int sock, const message& msg);

/// Receives one message. nullopt with `err` = 0 on end of stream, with the
/// errno value otherwise (EAGAIN if `nonblocking` and nothing is queued, or
/// EPROTO for a malformed message, whose descriptors are closed).
std::optional<message> receive(int sock, bool nonblocking, int& err);

/// True if `path` is an ELF program that needs libmesh.so (DT_NEEDED): a
/// libmesh program, which calls run_bootstrap_child first in main and so can
/// serve as a zygote. Wrappers (shells, numactl, env) and anything else are
/// exec'd for each proc, so that whatever they do runs once per proc.
bool links_libmesh(const std::string& path);

/// Names variables (',' separated) that the launcher added to the zygote's
/// environment for the zygote alone; it removes them, and itself.
constexpr const char* unset_env = "MESH_ZYGOTE_UNSET";

/// The zygote's process name (/proc/PID/comm); its procs get their own back.
constexpr const char* process_name = "mesh-zygote";

/// Runs the zygote on control_fd. Returns in two ways:
/// * in the zygote, when it is done: its exit code (0 after its launcher
///   closed the socket, 2 if fd 3 is not a control socket, with a line on
///   stderr);
/// * in a freshly forked proc: -1, with `payload` set to the proc's
///   MESH_BOOTSTRAP value, stdio on the launcher's pipes and no other
///   descriptor open.
int serve(std::string& payload);

} // namespace mesh::bootstrap::zygote
