// The mesh controller: the client-side actor of one proc mesh.
//
// It runs the spawn barrier (every rank running; the first failure ends the
// spawn at once; proc_spawn_max_idle without progress ends it with the ranks
// that never came up) and afterwards turns the events its hosts push into
// calls of the mesh's event handlers and forwarded log lines.
#pragma once

#include "mesh/actors.hpp"

#include <caf/typed_response_promise.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mesh {

/// State shared between a proc_mesh (client threads) and its controller.
struct mesh_controller_shared {
  std::mutex mtx;
  /// on_event handlers, called on the controller's thread.
  std::vector<std::function<void(const proc_event&)>> handlers;
  /// Latest known status and proc agent per rank.
  std::vector<proc_info> procs;
};

/// How a proc mesh is laid out over its hosts.
struct mesh_layout {
  std::string proc_mesh_id;
  size_t procs_per_host = 1;
  std::vector<std::string> host_addrs; ///< By host view rank.
  std::vector<std::string> commands;   ///< By rank, human form.
};

struct mesh_controller_state {
  static inline const char* name = "mesh_controller";
  std::shared_ptr<mesh_controller_shared> shared;
  mesh_layout layout;
  /// The spawn in progress, if any.
  caf::typed_response_promise<caf::ok_atom> spawn_promise;
  bool spawning = false;
  size_t hosts_pending = 0;
  uint64_t generation = 0; ///< Idle-timer generation: progress re-arms it.
  duration max_idle{0};
  std::vector<host_agent_actor> hosts;
};

mesh_controller_actor::behavior_type
mesh_controller(mesh_controller_actor::stateful_pointer<mesh_controller_state> self,
                std::shared_ptr<mesh_controller_shared> shared,
                mesh_layout layout);

} // namespace mesh
