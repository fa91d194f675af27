// `meshctl up FILE`: bring a mesh file's mesh up, show it, keep it up until
// SIGINT/SIGTERM (or run one health round with --once), shut it down.
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
