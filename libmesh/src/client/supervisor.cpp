// The client's side of supervisors (mesh/supervisor.hpp) and event
// subscriptions: attaching a supervisor and subscribing are messages to the
// proc mesh's controller (actors/mesh_supervisor.hpp runs the restarts); the
// call and cast path reaches restarted members through current_groups and
// current_member.
//
// Contract:
// - An actor mesh that no supervisor ever restarted pays one atomic load per
//   cast or call for this (actor_mesh_supervision::replaced_epoch == 0).
// - supervise() waits for the controller's answer (bounded), so that the
//   supervisor is in place when it returns.
#include "mesh/actor_mesh.hpp"
#include "mesh/proc_mesh.hpp"

#include "actors/internal_interfaces.hpp"
#include "actors/mesh_controller.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/actor_mesh_core.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

namespace mesh::detail {

const std::vector<host_group>&
current_groups(const actor_mesh_core& core, const actor_mesh_plan& plan,
               std::vector<host_group>& storage) {
  auto& sup = *core.supervision;
  if (sup.replaced_epoch.load(std::memory_order_acquire) == 0)
    return plan.groups;
  storage = plan.groups;
  std::lock_guard<std::mutex> guard{core.controller->mtx};
  for (auto& g : storage)
    for (size_t i = 0; i < g.members.size(); ++i)
      if (auto r = sup.replaced.find(plan.base_ranks[g.view_ranks[i]]);
          r != sup.replaced.end())
        g.members[i].actor = r->second;
  return storage;
}

caf::actor current_member(const actor_mesh_core& core, size_t base) {
  auto& sup = *core.supervision;
  if (sup.replaced_epoch.load(std::memory_order_acquire) != 0) {
    std::lock_guard<std::mutex> guard{core.controller->mtx};
    if (auto r = sup.replaced.find(base); r != sup.replaced.end())
      return r->second;
  }
  return base < core.members.size() ? core.members[base] : caf::actor{};
}

namespace {

/// The proc mesh's controller, if it still runs.
mesh_controller_internal_actor controller_of(const actor_mesh_core& core) {
  caf::actor_addr addr;
  {
    std::lock_guard<std::mutex> guard{core.controller->mtx};
    addr = core.controller->controller;
  }
  return caf::actor_cast<mesh_controller_internal_actor>(addr);
}

} // namespace

void actor_mesh_base::subscribe(caf::actor subscriber) const {
  if (auto ctrl = controller_of(*core_))
    caf::anon_send(ctrl, subscribe_events_atom::value, core_->supervision->id,
                   std::move(subscriber));
}

caf::actor actor_mesh_base::supervise_op(supervisor_policy policy) const {
  auto what = "supervisor of actor mesh '" + core_->name + "'";
  auto ctrl = controller_of(*core_);
  auto& sys = *core_->sys;
  if (!ctrl)
    return failed_op(sys, make_error(ec::not_running, what,
                                     "its proc mesh object was destroyed"));
  auto id = core_->supervision->id;
  return spawn_op(sys, [ctrl, id, policy, what](caf::event_based_actor* self,
                                                op_outcome out) {
    self
      ->request(ctrl, std::chrono::seconds{10}, supervise_atom::value, id,
                static_cast<uint8_t>(policy.strategy
                                     == restart_strategy::all_for_one),
                static_cast<uint64_t>(policy.max_restarts),
                caf::timespan{policy.within})
      .then([out](caf::ok_atom) { out.done(); },
            [self, out, what](caf::error& err) {
              if (err.category() == error_category)
                out.fail(err);
              else
                out.fail(make_error(ec::not_running, what,
                                    self->system().render(err)));
            });
    return caf::message_handler{};
  });
}

caf::expected<void> actor_mesh_base::supervise(supervisor_policy policy) const {
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  auto res = await_op<caf::unit_t>(*core_->sys, supervise_op(policy));
  if (!res)
    return std::move(res.error());
  return caf::unit;
}

} // namespace mesh::detail

namespace mesh {

void proc_mesh_ref::subscribe(caf::actor subscriber) const {
  if (d_->controller)
    caf::anon_send(d_->controller, subscribe_events_atom::value, std::string{},
                   std::move(subscriber));
}

} // namespace mesh
