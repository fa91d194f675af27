// The mesh controller: the client-side actor of one proc mesh.
//
// It runs the spawn barrier (every rank running; the first failure ends the
// spawn at once; proc_spawn_max_idle without progress ends it with the ranks
// that never came up) and afterwards turns the events its hosts push into
// calls of the mesh's event handlers and forwarded log lines.
//
// Supervision of actor meshes: an actor event (a proc_event naming an actor
// mesh, pushed by a host when a proc agent reports a failed actor) goes to
// the handlers of the proc mesh and of that actor mesh; a proc that ends
// yields an actor event for every actor mesh with a member on it, for the
// actor meshes' handlers. Either way the rank is marked gone in the actor
// mesh so that calls fail fast for it, and with no handler to tell, a failure
// is logged as an error.
#pragma once

#include "actors/internal_interfaces.hpp"
#include "libmesh/src/core/mesh_layout.hpp"

#include <caf/typed_response_promise.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mesh {

/// The supervision state of one actor mesh, shared by its views (client
/// threads) and its proc mesh's controller; guarded by the controller's
/// mutex.
struct actor_mesh_supervision {
  std::string name; ///< The actor mesh's name.
  std::string id;   ///< The actor mesh's id.
  /// The actor mesh's on_event handlers.
  std::vector<std::function<void(const proc_event&)>> handlers;
  /// Proc-mesh ranks whose member failed or ended with its proc, and why:
  /// calls fail fast for them.
  std::map<size_t, std::string> gone;
};

/// State shared between a proc_mesh (client threads) and its controller.
struct mesh_controller_shared {
  std::mutex mtx;
  /// on_event handlers, called on the controller's thread.
  std::vector<std::function<void(const proc_event&)>> handlers;
  /// Latest known status and proc agent per rank.
  std::vector<proc_info> procs;
  /// The actor meshes spawned on this proc mesh, by id. Weak: once every
  /// handle of an actor mesh is gone, nobody is left to tell.
  std::map<std::string, std::weak_ptr<actor_mesh_supervision>> actor_meshes;
};

struct mesh_controller_state {
  static inline const char* name = "mesh_controller";
  std::shared_ptr<mesh_controller_shared> shared;
  /// Where each rank lives; shared with the proc mesh and its actor meshes.
  std::shared_ptr<const mesh_layout> layout;
  /// The spawn in progress, if any.
  caf::typed_response_promise<caf::ok_atom> spawn_promise;
  bool spawning = false;
  size_t hosts_pending = 0;
  uint64_t generation = 0; ///< Idle-timer generation: progress re-arms it.
  duration max_idle{0};
  std::vector<host_agent_actor> hosts;
};

/// Spawned as the internal interface (its timer); kept and handed out as
/// the public mesh_controller_actor.
mesh_controller_internal_actor::behavior_type mesh_controller(
  mesh_controller_internal_actor::stateful_pointer<mesh_controller_state> self,
  std::shared_ptr<mesh_controller_shared> shared,
  std::shared_ptr<const mesh_layout> layout);

} // namespace mesh
