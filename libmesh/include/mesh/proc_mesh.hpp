// Proc meshes: procs spawned on a host mesh, one per rank of
// hosts ⊕ per_host.
#pragma once

#include "mesh/actors.hpp"
#include "mesh/extent.hpp"
#include "mesh/id.hpp"
#include "mesh/status.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mesh {

class host_mesh_ref;
struct mesh_controller_shared;

/// An owned mesh of procs. Move-only. Destroying it does not stop the procs
/// (their host mesh's shutdown does), but no event handler runs afterwards.
class proc_mesh {
public:
  proc_mesh(proc_mesh&&) noexcept;
  proc_mesh& operator=(proc_mesh&&) noexcept;
  ~proc_mesh();

  /// The mesh id (a fresh random uid per spawn, labelled with its name).
  const proc_mesh_id& id() const;
  /// hosts ⊕ per_host.
  mesh::extent extent() const;
  /// Number of procs.
  size_t size() const;
  /// Fresh state of every rank, asked from the hosts (a host that does not
  /// answer in time gives `unknown` for its ranks).
  caf::expected<std::vector<proc_state>> states() const;
  /// Stops every proc (polite stop, SIGTERM, SIGKILL) and waits until all
  /// have exited. Error (with the summary) if some could not be stopped.
  caf::expected<void> stop(std::string reason = "stopped by client");
  /// Calls `handler` for every status change of every rank, pushed by the
  /// hosts as it happens (on a libmesh thread; keep it short).
  void on_event(std::function<void(const proc_event&)> handler);
  /// The proc agent of a rank (empty if that proc is not running).
  proc_agent_actor agent(size_t rank) const;
  /// The actor system this mesh lives in.
  caf::actor_system& system() const;

private:
  friend class host_mesh_ref;
  struct data;
  explicit proc_mesh(std::unique_ptr<data> d);
  std::unique_ptr<data> d_;
};

} // namespace mesh
