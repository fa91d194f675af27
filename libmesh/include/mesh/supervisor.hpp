// Supervisors of actor meshes (architecture §5; Erlang's supervisors):
// `actor_mesh::supervise(policy)` attaches one to an actor mesh, and the
// proc mesh's controller then restarts the members that fail.
//
// Contract:
// - What counts as a failure: the member's actor fails (an exception, a quit
//   with an error), or its proc ends without having been asked to stop
//   (killed by a signal, exited, lost with its host). A proc that is being
//   stopped (proc_mesh::stop, host_mesh::shutdown) is never restarted.
// - one_for_one: only the failed rank restarts. If its proc still runs (its
//   actor failed), a new actor is spawned on it; if its proc ended, a new
//   proc is spawned for the rank on the same host (a new proc name, the
//   rank's command, binding and configuration), then the actor. Either way
//   with the actor mesh's original type and init arguments.
// - all_for_one: any failure stops every proc of the proc mesh, then spawns
//   every proc and every member again; that counts as one restart.
// - The actor mesh's handle, and every copy and view of it, stays valid: once
//   a rank restarted, casts and calls reach its new member.
// - While a rank restarts, a call to it fails at once with an error saying
//   "restarting" (the attempt and the cause), and a cast to it is not sent
//   but counted in proc_mesh::health()[rank].dropped_casts.
// - Intensity: more than `max_restarts` restarts within `within` and the
//   supervisor gives up: every proc of the proc mesh is stopped, calls fail
//   with the gave-up cause, and the owner gets a gave_up event.
// - A rank whose host is lost cannot be restarted (a rank stays on its host):
//   one_for_one reports it gave_up, the other ranks stay supervised;
//   all_for_one gives up the mesh.
// - Events (mesh/status.hpp, supervision_action): restarting and restarted
//   (rank, attempt, cause), gave_up (rank, cause), to the on_event handlers
//   of the actor mesh and of its proc mesh, and to subscribed actors.
// - One supervised actor mesh per proc mesh: its supervisor owns the restarts
//   of the proc mesh's procs. Other actor meshes on the proc mesh lose their
//   member on a restarted proc (it is gone for them, as without a
//   supervisor).
// - Supervision lives in the proc mesh's controller: it ends when the
//   proc_mesh object is destroyed.
#pragma once

#include "mesh/export.hpp"

#include "mesh/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

MESH_PUBLIC_BEGIN

namespace mesh {

/// Which members restart when one fails.
enum class restart_strategy : uint8_t {
  /// Only the failed rank: its proc (if it ended) and its actor.
  one_for_one,
  /// Every rank: all procs of the proc mesh are stopped and spawned again,
  /// with every member.
  all_for_one,
};

/// "one_for_one" or "all_for_one".
std::string_view to_string(restart_strategy s);

/// What a supervisor does when a member fails.
struct supervisor_policy {
  restart_strategy strategy = restart_strategy::one_for_one;
  /// At most this many restarts within `within` (an all_for_one restart
  /// counts once); the next failure in that window gives up.
  size_t max_restarts = 3;
  /// The window of the intensity limit.
  duration within = std::chrono::seconds{5};
};

} // namespace mesh

MESH_PUBLIC_END
