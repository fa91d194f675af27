// host_mesh_ref::spawn: a proc mesh on every host of a host mesh.
//
// Contract:
// - Everything that can be checked on the client (extents, bindings, the
//   per-rank commands) is checked before anything is launched: a failing
//   per-rank callback starts nothing.
// - One request per host goes through a mesh controller that owns the spawn
//   barrier (proc_spawn_max_idle without progress from any host); the call
//   returns once every rank is running.
// - Nothing of a failed spawn is left running: the procs that did start are
//   stopped before the error is returned.
#include "mesh/host_mesh.hpp"

#include "actors/mesh_controller.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

namespace mesh {

caf::expected<proc_mesh>
host_mesh_ref::spawn(std::string name, mesh::extent per_host,
                     std::optional<std::vector<proc_bind>> bind,
                     per_rank_bootstrap per_rank) const {
  if (!*d_->alive)
    return make_error(ec::not_running,
                      "host mesh " + d_->id.to_string() + " was shut down");
  auto combined = extent().concat(per_host);
  if (!combined)
    return make_error(ec::overlapping_label,
                      "spawn of '" + name + "' on host mesh "
                        + d_->id.to_string(),
                      "per_host dimensions " + per_host.to_string()
                        + " overlap the host dimensions "
                        + extent().to_string());
  auto per = per_host.num_ranks();
  if (per == 0 || combined->num_ranks() == 0)
    return make_error(ec::invalid_argument, "spawn of '" + name + "'",
                      "the proc mesh would be empty");
  if (bind && bind->size() != per)
    return make_error(ec::invalid_argument, "spawn of '" + name + "'",
                      "proc_bind has " + std::to_string(bind->size())
                        + " entries but per_host " + per_host.to_string()
                        + " has " + std::to_string(per) + " ranks");
  auto id = proc_mesh_id::instance(name);
  auto id_text = id.to_string();
  auto total = combined->num_ranks();
  auto nhosts = d_->agents.size();
  // Commands are chosen on the client, before anything is launched, so that
  // a failing per-rank callback starts nothing.
  std::vector<std::optional<bootstrap_command>> commands(total);
  if (per_rank) {
    for (size_t r = 0; r < total; ++r) {
      auto pt = combined->point_of_rank(r);
      if (!pt)
        return std::move(pt.error());
      auto cmd = per_rank(*pt);
      if (!cmd)
        return make_error(ec::invalid_argument,
                          "per-rank bootstrap of '" + name + "' for rank "
                            + std::to_string(r) + " (" + pt->to_string() + ")",
                          mesh::to_string(cmd.error()));
      commands[r] = std::move(*cmd);
    }
  }
  mesh_layout layout;
  layout.proc_mesh_id = id_text;
  layout.procs_per_host = per;
  layout.host_addrs = d_->addrs;
  layout.proc_names.resize(total);
  auto snapshot = config_of(*d_->sys).propagated_snapshot();
  std::vector<spawn_procs_request> requests(nhosts);
  auto shared = std::make_shared<mesh_controller_shared>();
  shared->procs.resize(total);
  shared->dropped.resize(total);
  for (size_t h = 0; h < nhosts; ++h) {
    auto& req = requests[h];
    req.proc_mesh_id = id_text;
    req.host_mesh_id = d_->id.to_string();
    req.default_command = d_->bootstrap;
    req.config = snapshot;
    req.extent = combined->to_string(); // for each proc's RANK etc.
    req.procs_per_host = per;
    for (size_t s = 0; s < per; ++s) {
      auto r = h * per + s;
      proc_spec spec;
      spec.name = proc_name(id, r);
      spec.rank = r;
      spec.command = commands[r];
      if (bind)
        spec.bind = (*bind)[s];
      layout.proc_names[r] = spec.name;
      auto& info = shared->procs[r];
      info.state.rank = r;
      info.state.proc_name = spec.name;
      info.state.host = d_->addrs[h];
      info.state.status = proc_status::not_exist;
      auto& cmd = spec.command ? spec.command : d_->bootstrap;
      layout.commands.push_back(cmd ? cmd->to_string()
                                    : std::string{"the host's default command"});
      req.procs.push_back(std::move(spec));
    }
  }
  auto& sys = *d_->sys;
  auto where = std::make_shared<const mesh_layout>(std::move(layout));
  auto controller = sys.spawn(mesh_controller, shared, where);
  // Subscribing first: the host agents see the subscription before the
  // controller's spawn requests (same sender node, FIFO).
  for (auto& agent : d_->agents)
    caf::anon_send(agent, subscribe_events_atom::value, id_text,
                   caf::actor_cast<caf::actor>(controller));
  caf::error failure;
  {
    caf::scoped_actor self{sys};
    self->request(controller, caf::infinite, spawn_procs_atom::value,
                  d_->agents, std::move(requests))
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { failure = err; });
  }
  auto pm = std::make_unique<proc_mesh::data>();
  pm->sys = &sys;
  pm->id = id;
  pm->extent = *combined;
  pm->layout = std::move(where);
  pm->hosts = d_->agents;
  pm->shared = std::move(shared);
  pm->controller = controller;
  proc_mesh result{std::move(pm)};
  if (failure) {
    // Nothing of a failed spawn may be left running.
    if (auto stopped = result.stop("spawn failed"); !stopped)
      spdlog::error("cleaning up after a failed spawn of '{}': {}", name,
                    mesh::to_string(stopped.error()));
    return failure;
  }
  return result;
}

void host_mesh::set_bootstrap(bootstrap_command cmd) {
  // Copy on write: references taken before keep the old command.
  auto d = std::make_shared<data>(*d_);
  d->bootstrap = std::move(cmd);
  d_ = std::move(d);
}

} // namespace mesh
