// Exec'ing one child (architecture §2, §10): vfork and exec through
// Boost.Process, with the child's set-up between the two.
//
// Its source is the only translation unit that includes Boost.Process: with
// CAF in the same file it costs ~27 s and 1.1 GB to compile. It knows no
// watcher, so that changing the watcher never recompiles it.
//
// Contracts of a started child:
// * It leads its own process group, its stdin is /dev/null, its stdout and
//   stderr are the pipes returned, all signal dispositions are default and
//   none is blocked, and no other descriptor of this process reaches it
//   (but the optional zygote control socket, on fd 3).
// * With `pdeathsig` it is SIGKILLed when the calling thread ends; set-up
//   failures end it with exit code 127 (126 if the parent was already gone).
// * A failed exec leaves no zombie: the child is reaped before the error
//   returns.
#pragma once

#include "bootstrap/fd.hpp"
#include "bootstrap/launch_plan.hpp"

#include <sys/types.h>

namespace mesh::bootstrap {

/// A child that runs: its pid and the read ends of its stdout and stderr.
struct started_process {
  pid_t pid = -1;
  unique_fd out;
  unique_fd err;
};

/// vforks and execs `launch`, passing `control_fd` (if >= 0) as fd 3.
/// Returns once exec succeeded or failed (ec::spawn_failed naming the
/// program), without waiting for anything else.
caf::expected<started_process> exec_child(const prepared_launch& launch,
                                          int control_fd = -1);

} // namespace mesh::bootstrap
