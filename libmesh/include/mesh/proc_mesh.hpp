// Proc meshes: procs spawned on a host mesh, one per rank of
// hosts ⊕ per_host.
#pragma once

#include "mesh/export.hpp"

#include "mesh/actor_mesh.hpp"
#include "mesh/actors.hpp"
#include "mesh/extent.hpp"
#include "mesh/id.hpp"
#include "mesh/status.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

MESH_PUBLIC_BEGIN

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
  /// What supervision knows of every rank now (pushed events and lost
  /// hosts; no message is sent), with the casts dropped for ranks known gone.
  std::vector<rank_health> health() const;
  /// Stops every proc (polite stop, SIGTERM, SIGKILL) and waits until all
  /// have exited. Error (with the summary) if some could not be stopped.
  caf::expected<void> stop(std::string reason = "stopped by client");
  /// Calls `handler` for every status change of every rank, pushed by the
  /// hosts as it happens (on a libmesh thread; keep it short), and for every
  /// failure of an actor spawned on this mesh (an event naming the actor).
  void on_event(std::function<void(const proc_event&)> handler);
  /// Spawns one actor per proc from the factory registered as `actor_type`
  /// (`cfg.add_actor_type(...)` in the procs' actor_system_config) with
  /// `init_args`, and waits until every one has run its initialisation.
  /// Errors (actor_spawn_failed) name each failing rank and why: unknown
  /// type, an interface that does not match Handle, arguments the factory
  /// does not take, an initialisation that threw or quit with an error, or
  /// no answer within call_timeout; the actors that did start are stopped.
  /// A member learns its own rank and point by calling mesh::this_proc()
  /// (mesh/this_proc.hpp) in its constructor or factory.
  template <class Handle, class... Ts>
  caf::expected<actor_mesh<Handle>>
  spawn(std::string name, std::string actor_type, Ts&&... init_args) const {
    auto core = spawn_actors(std::move(name), std::move(actor_type),
                             caf::make_message(std::forward<Ts>(init_args)...),
                             system().message_types<Handle>());
    if (!core)
      return std::move(core.error());
    return actor_mesh<Handle>{
      detail::actor_mesh_base{std::move(*core), mesh::region{extent()}}};
  }
  /// The proc agent of a rank (empty if that proc is not running).
  proc_agent_actor agent(size_t rank) const;
  /// The actor system this mesh lives in.
  caf::actor_system& system() const;

private:
  friend class host_mesh_ref;
  /// The non-template part of spawn: `interface` is the expected messaging
  /// interface (empty for dynamically typed actors).
  caf::expected<std::shared_ptr<detail::actor_mesh_core>>
  spawn_actors(std::string name, std::string actor_type, caf::message args,
               std::set<std::string> interface) const;
  struct data;
  explicit proc_mesh(std::unique_ptr<data> d);
  std::unique_ptr<data> d_;
};

} // namespace mesh

MESH_PUBLIC_END
