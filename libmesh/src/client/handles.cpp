// Mesh handles to and from their wire forms (mesh/handles.hpp).
//
// Contract:
// - to_wire(x) then from_wire(sys, w) in another process gives a handle
//   that reaches the same hosts, procs and actors.
// - A rebuilt handle owns nothing: a proc mesh's controller is not ended by
//   it, and its supervision state starts from the ranks' state the sender
//   knew when it sent the handle.
// - A malformed wire form (an id, region or extent that does not parse, a
//   layout that does not match the extent) gives an empty handle, never a
//   crash: it came from the network.
#include "libmesh/src/client/actor_mesh_core.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
#include "mesh/actor_mesh.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/proc_mesh.hpp"

#include <caf/all.hpp>

namespace mesh::detail {

namespace {

layout_wire wire_of(const mesh_layout& x) {
  return layout_wire{x.proc_mesh_id, x.procs_per_host, x.host_addrs,
                     x.proc_names, x.commands};
}

/// The layout of a wire form, if it fits `ranks` ranks.
std::shared_ptr<const mesh_layout> layout_of(layout_wire w, size_t ranks) {
  if (w.proc_names.size() != ranks || w.procs_per_host == 0
      || w.host_addrs.size() * w.procs_per_host != ranks)
    return nullptr;
  auto result = std::make_shared<mesh_layout>();
  result->proc_mesh_id = std::move(w.proc_mesh_id);
  result->procs_per_host = w.procs_per_host;
  result->host_addrs = std::move(w.host_addrs);
  result->proc_names = std::move(w.proc_names);
  result->commands = std::move(w.commands);
  return result;
}

/// A fresh supervision state for `ranks` ranks, from what the sender knew.
std::shared_ptr<mesh_controller_shared>
shared_of(size_t ranks, std::vector<proc_info> procs,
          std::shared_ptr<const mesh_layout> layout) {
  auto shared = std::make_shared<mesh_controller_shared>();
  shared->procs = std::move(procs);
  shared->size_ranks(ranks);
  shared->layout = std::move(layout);
  return shared;
}

} // namespace

host_mesh_wire to_wire(const host_mesh_ref& x) {
  auto& d = *mesh_access::data_of(x);
  return host_mesh_wire{d.id.to_string(), d.region.to_string(), d.agents,
                        d.addrs, d.bootstrap};
}

host_mesh_ref from_wire(caf::actor_system* sys, host_mesh_wire w) {
  auto id = host_mesh_id::parse(w.id);
  auto region = region::parse(w.region);
  if (!id || !region || w.agents.size() != region->num_ranks()
      || w.addrs.size() != w.agents.size())
    return host_mesh_ref{};
  auto d = std::make_shared<mesh_access::host_data>();
  d->sys = sys;
  d->id = std::move(*id);
  d->region = std::move(*region);
  d->agents = std::move(w.agents);
  d->addrs = std::move(w.addrs);
  d->bootstrap = std::move(w.bootstrap);
  return mesh_access::make_ref(std::move(d));
}

proc_mesh_wire to_wire(const proc_mesh_ref& x) {
  auto& d = *mesh_access::data_of(x);
  proc_mesh_wire w;
  w.id = d.id.to_string();
  w.extent = d.extent.to_string();
  if (d.layout)
    w.layout = wire_of(*d.layout);
  w.hosts = d.hosts;
  w.controller = caf::actor_cast<caf::actor>(d.controller);
  if (d.shared) {
    std::lock_guard<std::mutex> guard{d.shared->mtx};
    w.procs = d.shared->procs;
  }
  return w;
}

proc_mesh_ref from_wire(caf::actor_system* sys, proc_mesh_wire w) {
  auto id = proc_mesh_id::parse(w.id);
  auto ext = extent::parse(w.extent);
  if (!id || !ext)
    return proc_mesh_ref{};
  auto ranks = ext->num_ranks();
  auto layout = layout_of(std::move(w.layout), ranks);
  if (!layout || w.hosts.size() != layout->host_addrs.size())
    return proc_mesh_ref{};
  auto d = std::make_shared<mesh_access::proc_data>();
  d->sys = sys;
  d->id = std::move(*id);
  d->extent = std::move(*ext);
  d->layout = layout;
  d->hosts = std::move(w.hosts);
  d->controller = caf::actor_cast<mesh_controller_actor>(w.controller);
  d->owns_controller = false;
  d->shared = shared_of(ranks, std::move(w.procs), std::move(layout));
  return mesh_access::make_proc_ref(std::move(d));
}

} // namespace mesh::detail

namespace mesh::detail {

actor_mesh_wire actor_mesh_base::wire() const {
  auto& core = *core_;
  actor_mesh_wire w;
  w.name = core.name;
  w.id = core.id.to_string();
  w.extent = core.extent.to_string();
  if (core.layout)
    w.layout = wire_of(*core.layout);
  w.members = core.members;
  w.comms = core.comms;
  for (auto& types : core.host_types) {
    w.host_types_known.push_back(types.has_value());
    w.host_types.emplace_back(types ? std::vector<std::string>(types->begin(),
                                                               types->end())
                                    : std::vector<std::string>{});
  }
  w.view = plan_->view.to_string();
  return w;
}

actor_mesh_base actor_mesh_base::from_wire(caf::actor_system* sys,
                                           actor_mesh_wire w) {
  auto id = actor_mesh_id::parse(w.id);
  auto ext = extent::parse(w.extent);
  auto view = region::parse(w.view);
  if (!sys || !id || !ext || !view)
    return actor_mesh_base{};
  auto ranks = ext->num_ranks();
  auto layout = layout_of(std::move(w.layout), ranks);
  auto nhosts = layout ? layout->host_addrs.size() : 0;
  if (!layout || w.members.size() != ranks || w.comms.size() != nhosts
      || w.host_types_known.size() != nhosts
      || w.host_types.size() != nhosts)
    return actor_mesh_base{};
  // Every rank of the view must be a rank of the mesh.
  for (auto base : view->base_ranks())
    if (base >= ranks)
      return actor_mesh_base{};
  auto core = std::make_shared<actor_mesh_core>();
  core->sys = sys;
  core->config = &config_of(*sys);
  core->name = std::move(w.name);
  core->id = std::move(*id);
  core->extent = std::move(*ext);
  core->layout = layout;
  core->members = std::move(w.members);
  core->comms = std::move(w.comms);
  core->controller = shared_of(ranks, {}, layout);
  core->supervision = std::make_shared<actor_mesh_supervision>();
  core->supervision->name = core->name;
  core->supervision->id = core->id.to_string();
  core->supervision->size_messages(ranks);
  core->casts_per_host = std::make_unique<std::atomic<uint64_t>[]>(nhosts);
  core->callers = std::make_unique<caller_pool>(*sys);
  core->host_types.resize(nhosts);
  for (size_t h = 0; h < nhosts; ++h)
    if (w.host_types_known[h])
      core->host_types[h] = std::set<std::string>(w.host_types[h].begin(),
                                                  w.host_types[h].end());
  return actor_mesh_base{std::move(core), std::move(*view)};
}

} // namespace mesh::detail
