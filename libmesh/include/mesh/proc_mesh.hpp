// Proc meshes: procs spawned on a host mesh, one per rank of
// hosts ⊕ per_host.
#pragma once

#include "mesh/export.hpp"

#include "mesh/actor_mesh.hpp"
#include "mesh/actors.hpp"
#include "mesh/extent.hpp"
#include "mesh/handles.hpp"
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

namespace detail {
struct mesh_access;
} // namespace detail

/// A copyable reference to a proc mesh: everything but ownership. Copies
/// (and the owning proc_mesh) share one state, whose mesh controller (the
/// client-side actor that receives the hosts' events) ends with the last of
/// them in this process. A reference can be sent in a message to another
/// actor, in this process or another (a proc, another client): there it
/// reaches the same procs and controller (its states(), stop(), spawn<>()
/// and subscribe() work; its health() knows only what was sent with it).
class proc_mesh_ref {
public:
  /// An empty reference (size() == 0).
  proc_mesh_ref();

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
  caf::expected<void> stop(std::string reason = "stopped by client") const;
  /// Calls `handler` for every status change of every rank, pushed by the
  /// hosts as it happens (on a libmesh thread; keep it short), and for every
  /// failure of an actor spawned on this mesh (an event naming the actor).
  void on_event(std::function<void(const proc_event&)> handler) const;
  /// Sends every event the on_event handlers get from now on (proc events,
  /// actor events, supervision events) to `subscriber` as a `proc_event`
  /// message, in the order the handlers see them. The subscriber is
  /// monitored and dropped when it ends.
  void subscribe(caf::actor subscriber) const;
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

protected:
  friend struct detail::mesh_access;
  struct data;
  explicit proc_mesh_ref(std::shared_ptr<data> d);
  /// The non-template part of spawn: `interface` is the expected messaging
  /// interface (empty for dynamically typed actors).
  caf::expected<std::shared_ptr<detail::actor_mesh_core>>
  spawn_actors(std::string name, std::string actor_type, caf::message args,
               std::set<std::string> interface) const;
  std::shared_ptr<data> d_;
};

/// An owned mesh of procs. Move-only. Destroying it does not stop the procs
/// (their host mesh's shutdown does); once it and every proc_mesh_ref of it
/// in this process are gone, no event handler runs any more.
class proc_mesh : public proc_mesh_ref {
public:
  proc_mesh(proc_mesh&&) noexcept;
  proc_mesh& operator=(proc_mesh&&) noexcept;
  proc_mesh(const proc_mesh&) = delete;
  proc_mesh& operator=(const proc_mesh&) = delete;
  ~proc_mesh();

  /// This mesh as a copyable reference.
  const proc_mesh_ref& as_ref() const { return *this; }
  /// Takes a reference as an owner (as host_mesh::take).
  static proc_mesh take(proc_mesh_ref ref);

private:
  friend class host_mesh_ref;
  friend struct detail::mesh_access;
  explicit proc_mesh(std::shared_ptr<data> d);
};

namespace detail {

/// A reference's wire form, and the reference a process rebuilds from it
/// (handles.hpp): it does not own the controller.
proc_mesh_wire to_wire(const proc_mesh_ref& x);
proc_mesh_ref from_wire(caf::actor_system* sys, proc_mesh_wire w);

} // namespace detail

/// A proc_mesh_ref travels in messages (handles.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_mesh_ref& x) {
  return detail::inspect_wire<detail::proc_mesh_wire>(
    f, [&] { return detail::to_wire(x); },
    [&](caf::actor_system* sys, detail::proc_mesh_wire&& w) {
      x = detail::from_wire(sys, std::move(w));
    });
}

} // namespace mesh

MESH_PUBLIC_END
