// host_mesh::allocate (mesh/allocator.hpp): hosts a scheduler hands out,
// attached as attach() does, owned with their allocation. The mesh code
// never sees the scheduler: the allocation reports addresses, and the
// shutdown releases it (host_mesh_shutdown.cpp, phase 5).
#include "mesh/allocator.hpp"
#include "mesh/host_mesh.hpp"

#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
#include "mesh/error.hpp"

namespace mesh {

allocation::~allocation() = default;

allocator::~allocator() = default;

caf::expected<host_mesh> host_mesh::allocate(caf::actor_system& sys,
                                             host_mesh_id id, allocator& a,
                                             allocation_progress progress) {
  auto what = "allocation of host mesh " + id.to_string() + " from "
              + a.scheduler();
  auto alloc = a.allocate(progress);
  if (!alloc)
    return std::move(alloc.error());
  std::shared_ptr<allocation> owned_alloc{std::move(*alloc)};
  auto status = owned_alloc->status();
  auto addresses = owned_alloc->addresses();
  if (addresses.empty()) {
    // attach() accepts an empty list (an empty mesh), but an allocation is
    // a request for hosts: one without any is the allocator's failure.
    owned_alloc->cancel();
    return make_error(ec::allocation_failed, what,
                      status.scheduler + " job " + status.id
                        + " reported no host; it was cancelled");
  }
  auto hosts = attach(sys, std::move(id), std::move(addresses));
  if (!hosts) {
    // Nobody will own those daemons: end them now, not at their owner
    // timeout.
    owned_alloc->cancel();
    return make_error(ec::allocation_failed, what,
                      "cannot attach to the hosts of " + status.scheduler
                        + " job " + status.id + ", which was cancelled: "
                        + mesh::to_string(hosts.error()));
  }
  auto& own = detail::mesh_access::owned_of(*hosts);
  own->alloc = std::move(owned_alloc);
  own->alloc_status = std::move(status);
  return hosts;
}

std::optional<allocation_status> host_mesh::allocated() const {
  if (!own_)
    return std::nullopt;
  return own_->alloc_status;
}

} // namespace mesh
