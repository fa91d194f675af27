// `meshctl up FILE`: bring a mesh file's mesh up, show it, keep it up until
// SIGINT/SIGTERM (or run one health round with --once), shut it down.
//
// Mode slurm: while the job pends, progress shows its id, state and Slurm's
// reason; SIGINT/SIGTERM then cancel it (allocator::cancel from a thread
// that waits for them) and `up` returns 0, as after a clean shutdown of an
// interrupted mesh; once the hosts are up, a signal shuts the mesh down and
// the job ends.
#pragma once

#include <mesh/mesh_file.hpp>

#include <caf/fwd.hpp>

namespace meshctl {

struct up_options {
  bool once = false; ///< One health round, then shut down.
};

/// Runs `up`; returns the process exit code. SIGINT and SIGTERM must be
/// blocked in every thread (the caller does so before starting CAF) so that
/// this function can wait for them.
int up(caf::actor_system& sys, const mesh::mesh_file& file,
       const up_options& opts);

} // namespace meshctl
