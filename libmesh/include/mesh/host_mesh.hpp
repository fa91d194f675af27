// Host meshes: the hosts that run procs (architecture §5; the seed's
// HostMesh / HostMeshRef).
#pragma once

#include "mesh/export.hpp"

#include "mesh/actors.hpp"
#include "mesh/allocator.hpp"
#include "mesh/bootstrap.hpp"
#include "mesh/extent.hpp"
#include "mesh/handles.hpp"
#include "mesh/id.hpp"
#include "mesh/proc_mesh.hpp"
#include "mesh/region.hpp"
#include "mesh/status.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

class shutdown_guard;
struct host_agent_options;

namespace detail {
/// libmesh's own access to the insides of meshes.
struct mesh_access;
} // namespace detail

/// A non-owning, cheap-to-copy view of hosts. Operations fail with
/// ec::not_running once the owner shut the hosts down.
class host_mesh_ref {
public:
  host_mesh_ref();

  /// The host mesh id.
  const host_mesh_id& id() const;
  /// The hosts this view covers (a slice of its owner's region).
  const mesh::region& region() const;
  /// region().extent().
  mesh::extent extent() const;
  /// "host:port" of each host agent, in view-rank order.
  std::vector<std::string> host_addrs() const;
  /// The host agent of a host (view rank).
  host_agent_actor agent(size_t host_rank) const;
  /// Spawns one proc per rank of extent() ⊕ per_host (labels must not
  /// overlap); `bind`, if given, has one entry per per_host rank and applies
  /// to that slot on every host; `per_rank`, if given, chooses the command of
  /// each proc from its point in the combined extent (it wins over
  /// set_bootstrap's command, which wins over the host's default). All procs
  /// start at once; on any failure the procs that did start are stopped.
  caf::expected<proc_mesh>
  spawn(std::string name, mesh::extent per_host,
        std::optional<std::vector<proc_bind>> bind = {},
        per_rank_bootstrap per_rank = {}) const;
  /// A view of the hosts whose `label` coordinate is in [begin, end) by step.
  caf::expected<host_mesh_ref> range(std::string_view label, size_t begin,
                                     size_t end, size_t step = 1) const;
  /// "id:addr0,addr1,...@region", e.g. "local-8xHf3k2a:127.0.0.1:4100@hosts=1/1".
  std::string to_string() const;
  /// Parses to_string() output and connects to each host agent.
  static caf::expected<host_mesh_ref> parse(caf::actor_system& sys,
                                            std::string_view text);
  /// The actor system this mesh is used from.
  caf::actor_system& system() const;

protected:
  friend class host_mesh;
  friend struct detail::mesh_access;
  /// Builds the ref of the calling proc's host (mesh/this_proc.hpp).
  friend caf::expected<host_mesh_ref> this_host();
  struct data;
  explicit host_mesh_ref(std::shared_ptr<data> d);
  std::shared_ptr<data> d_;
};

/// A host mesh that owns its hosts: it must shut them down. Move-only.
/// Destroying one that is still up shuts it down (prefer calling shutdown()
/// to see the summary and errors).
class host_mesh : public host_mesh_ref {
public:
  /// One host in this process; procs are child processes running this
  /// executable (bootstrap_command::current()).
  static caf::expected<host_mesh> local(caf::actor_system& sys);
  /// As local(), with the given command for procs.
  static caf::expected<host_mesh> local_with_bootstrap(caf::actor_system& sys,
                                                       bootstrap_command cmd);
  /// One host in this process whose procs live in this process too (same API;
  /// bootstrap commands and bindings are ignored).
  static caf::expected<host_mesh> local_in_process(caf::actor_system& sys);
  /// One child process per rank of `hosts`, each a host that launches its
  /// procs from `cmd`, which must reach run_bootstrap_child().
  static caf::expected<host_mesh>
  process(caf::actor_system& sys, mesh::extent hosts, bootstrap_command cmd);
  /// Connects to running hosts (e.g. `meshd --listen HOST:PORT` on each
  /// machine; addresses "host:port", over TLS when tls.* is configured) and
  /// pushes this process's propagated config to each, which installs it as
  /// its client_override layer. Succeeds only if every host acknowledged
  /// within attach_config_timeout; otherwise ec::config_push_failed naming
  /// each failing host with its cause. No address: an empty mesh; an address
  /// listed twice: ec::invalid_argument.
  static caf::expected<host_mesh> attach(caf::actor_system& sys,
                                         host_mesh_id id,
                                         std::vector<std::string> addrs);
  /// Hosts a scheduler hands out (mesh/allocator.hpp, mesh/slurm.hpp): runs
  /// `a.allocate(progress)`, attaches to the hosts it reports (as attach())
  /// and owns the allocation. shutdown() then releases it (the job ends),
  /// stop() keeps it for another attach, and a failed attach cancels it,
  /// as does an allocation that reports no host (ec::allocation_failed).
  /// Blocks until the hosts are up or the allocation failed; a.cancel() from
  /// another thread gives up (ec::cancelled).
  static caf::expected<host_mesh> allocate(caf::actor_system& sys,
                                           host_mesh_id id, allocator& a,
                                           allocation_progress progress = {});
  /// Takes ownership of the hosts of a reference.
  static host_mesh take(host_mesh_ref ref);

  host_mesh(host_mesh&&) noexcept;
  host_mesh& operator=(host_mesh&&) noexcept;
  ~host_mesh();

  /// Two-phase shutdown: drain every host concurrently (networking stays up),
  /// then shut the hosts down. Idempotent (later calls return the first
  /// summary). Error if something could not be stopped.
  caf::expected<shutdown_summary> shutdown();
  /// Stops only this mesh's procs; the hosts stay up. Hosts this process
  /// does not run (attach) are then left to their daemons, re-attachable:
  /// destroying this mesh no longer shuts them down (shutdown() still does).
  caf::expected<shutdown_summary> stop();
  /// Wraps this mesh in a guard that shuts it down when destroyed.
  shutdown_guard into_shutdown_guard() &&;
  /// The default command for procs of future spawns.
  void set_bootstrap(bootstrap_command cmd);
  /// This mesh as a non-owning reference.
  const host_mesh_ref& as_ref() const;
  /// The allocation this mesh owns (allocate()) as it was when its hosts
  /// came up, e.g. its Slurm job id; nullopt for other meshes.
  std::optional<allocation_status> allocated() const;

private:
  friend struct detail::mesh_access;
  explicit host_mesh(std::shared_ptr<data> d);
  static caf::expected<host_mesh> start_local(caf::actor_system& sys,
                                              host_agent_options opts);
  struct owned;
  std::shared_ptr<owned> own_;
};

namespace detail {

/// A reference's wire form, and the reference a process rebuilds from it
/// (handles.hpp).
host_mesh_wire to_wire(const host_mesh_ref& x);
host_mesh_ref from_wire(caf::actor_system* sys, host_mesh_wire w);

} // namespace detail

/// A host_mesh_ref travels in messages (handles.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, host_mesh_ref& x) {
  return detail::inspect_wire<detail::host_mesh_wire>(
    f, [&] { return detail::to_wire(x); },
    [&](caf::actor_system* sys, detail::host_mesh_wire&& w) {
      x = detail::from_wire(sys, std::move(w));
    });
}

/// Shuts its host mesh down when destroyed, unless that was already done
/// (the shutdown is the host mesh's own, run by its destructor).
class shutdown_guard {
public:
  explicit shutdown_guard(host_mesh mesh);
  shutdown_guard(shutdown_guard&&) noexcept = default;
  ~shutdown_guard();
  host_mesh& operator*() { return mesh_; }
  host_mesh* operator->() { return &mesh_; }

private:
  host_mesh mesh_;
};

} // namespace mesh

MESH_PUBLIC_END
