// host_mesh_ref::spawn: a proc mesh on every host of a host mesh.
//
// Contract:
// - Everything that can be checked on the client (extents, bindings, the
//   per-rank commands) is checked before anything is launched: a failing
//   per-rank callback starts nothing.
// - One request per host goes through a mesh controller that owns the spawn
//   barrier (proc_spawn_max_idle without progress from any host); the
//   operation (spawn_procs_op, asked by both faces of the API) answers once
//   every rank is running.
// - Nothing of a failed spawn is left running: the procs that did start are
//   stopped before the error is returned.
#include "mesh/host_mesh.hpp"

#include "actors/mesh_controller.hpp"
#include "libmesh/src/client/admin_server.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

namespace mesh {

namespace detail {

caf::expected<std::vector<std::optional<bootstrap_command>>>
plan_spawn(const host_mesh_ref& hosts, const std::string& name,
           const mesh::extent& per_host,
           const std::optional<std::vector<proc_bind>>& bind,
           const per_rank_bootstrap& per_rank) {
  auto& d = *mesh_access::data_of(hosts);
  if (!*d.alive)
    return make_error(ec::not_running,
                      "host mesh " + d.id.to_string() + " was shut down");
  auto combined = hosts.extent().concat(per_host);
  if (!combined)
    return make_error(ec::overlapping_label,
                      "spawn of '" + name + "' on host mesh "
                        + d.id.to_string(),
                      "per_host dimensions " + per_host.to_string()
                        + " overlap the host dimensions "
                        + hosts.extent().to_string());
  auto per = per_host.num_ranks();
  if (per == 0 || combined->num_ranks() == 0)
    return make_error(ec::invalid_argument, "spawn of '" + name + "'",
                      "the proc mesh would be empty");
  if (bind && bind->size() != per)
    return make_error(ec::invalid_argument, "spawn of '" + name + "'",
                      "proc_bind has " + std::to_string(bind->size())
                        + " entries but per_host " + per_host.to_string()
                        + " has " + std::to_string(per) + " ranks");
  auto total = combined->num_ranks();
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
  return commands;
}

caf::actor
spawn_procs_op(const host_mesh_ref& hosts, std::string name,
               mesh::extent per_host,
               std::optional<std::vector<proc_bind>> bind,
               std::vector<std::optional<bootstrap_command>> commands) {
  auto hd = mesh_access::data_of(hosts);
  auto& sys = *hd->sys;
  // plan_spawn checked the shapes.
  auto combined = *hosts.extent().concat(per_host);
  auto per = per_host.num_ranks();
  auto id = proc_mesh_id::instance(name);
  auto id_text = id.to_string();
  auto total = combined.num_ranks();
  auto nhosts = hd->agents.size();
  mesh_layout layout;
  layout.proc_mesh_id = id_text;
  layout.procs_per_host = per;
  layout.host_addrs = hd->addrs;
  layout.proc_names.resize(total);
  auto snapshot = config_of(sys).propagated_snapshot();
  std::vector<spawn_procs_request> requests(nhosts);
  auto shared = std::make_shared<mesh_controller_shared>();
  shared->size_ranks(total);
  for (size_t h = 0; h < nhosts; ++h) {
    auto& req = requests[h];
    req.proc_mesh_id = id_text;
    req.host_mesh_id = hd->id.to_string();
    req.default_command = hd->bootstrap;
    req.config = snapshot;
    req.extent = combined.to_string(); // for each proc's RANK etc.
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
      info.state.host = hd->addrs[h];
      info.state.status = proc_status::not_exist;
      auto& cmd = spec.command ? spec.command : hd->bootstrap;
      layout.commands.push_back(cmd ? cmd->to_string()
                                    : std::string{"the host's default command"});
      req.procs.push_back(std::move(spec));
    }
  }
  auto where = std::make_shared<const mesh_layout>(std::move(layout));
  auto pm = std::make_shared<mesh_access::proc_data>();
  pm->sys = &sys;
  pm->id = id;
  pm->extent = combined;
  pm->layout = where;
  pm->hosts = hd->agents;
  pm->shared = std::move(shared);
  auto index = hd->proc_meshes;
  return spawn_op(sys, [pm, where, requests = std::move(requests), name,
                        index](caf::event_based_actor* self,
                              op_outcome out) mutable {
    auto controller = self->spawn(mesh_controller, pm->shared, where);
    pm->controller = controller;
    // Subscribing first: the host agents see the subscription before the
    // controller's spawn requests (same sender node, FIFO).
    for (auto& agent : pm->hosts)
      self->send(agent, subscribe_events_atom::value, pm->id.to_string(),
                 caf::actor_cast<caf::actor>(controller));
    self
      ->request(controller, caf::infinite, spawn_procs_atom::value, pm->hosts,
                std::move(requests))
      .then(
        [pm, out, index](caf::ok_atom) {
          index->add(pm->id.to_string(), pm, pm->shared);
          out.done(proc_mesh_handoff{pm});
        },
            [self, pm, out, name](caf::error& failure) {
              // Nothing of a failed spawn may be left running.
              self->request(stop_op(mesh_access::make_proc_ref(pm), "spawn failed"),
                            caf::infinite, caf::get_atom::value)
                .then([out, failure]() { out.fail(failure); },
                      [out, failure, name](caf::error& err) {
                        spdlog::error("cleaning up after a failed spawn of "
                                      "'{}': {}",
                                      name, mesh::to_string(err));
                        out.fail(failure);
                      });
            });
    return caf::message_handler{};
  });
}

host_mesh mesh_access::make_host_mesh(std::shared_ptr<host_data> d,
                                      std::shared_ptr<host_owned> own) {
  // Registered, and served, once up (admin_server.hpp).
  if (!own->admin)
    own->admin = admin_service::start(d);
  host_mesh result{std::move(d)};
  result.own_ = std::move(own);
  return result;
}

} // namespace detail

caf::expected<proc_mesh>
host_mesh_ref::spawn(std::string name, mesh::extent per_host,
                     std::optional<std::vector<proc_bind>> bind,
                     per_rank_bootstrap per_rank) const {
  auto commands = detail::plan_spawn(*this, name, per_host, bind, per_rank);
  if (!commands)
    return std::move(commands.error());
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  auto handoff = detail::await_op<detail::proc_mesh_handoff>(
    *d_->sys, detail::spawn_procs_op(*this, std::move(name),
                                     std::move(per_host), std::move(bind),
                                     std::move(*commands)));
  if (!handoff)
    return std::move(handoff.error());
  return detail::mesh_access::make_proc_mesh(std::move(handoff->d));
}

void host_mesh::set_bootstrap(bootstrap_command cmd) {
  // Copy on write: references taken before keep the old command.
  auto d = std::make_shared<data>(*d_);
  d->bootstrap = std::move(cmd);
  d_ = std::move(d);
}

} // namespace mesh
