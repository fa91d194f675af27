// The per-host zygote (architecture §10): a process started once from a
// bootstrap command, before any actor system exists, that forks procs on
// request. A forked proc skips exec and dynamic linking, which are most of
// what a proc costs to start, and shares the zygote's relocated pages.
//
// The zygote is a bootstrap child with role `zygote`; it serves its launcher
// on the control socket of bootstrap/zygote_protocol.hpp. When the control
// socket closes, the zygote SIGKILLs the process group of every proc it
// forked, reaps them all and exits 0. Its procs carry
// PR_SET_PDEATHSIG(SIGKILL) towards it, and it towards its launcher thread.
// Only libmesh programs can be zygotes (bootstrap/elf.hpp).
#pragma once

#include "bootstrap/zygote_protocol.hpp"

#include <string>

namespace mesh::bootstrap::zygote {

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
