// mesh/async.hpp: the non-blocking face, on the same operation actors as
// the blocking one (proc_mesh_ops.hpp). Each twin asks its operation from
// the caller's actor and turns the answer into the public result there.
#include "mesh/async.hpp"

#include "libmesh/src/client/actor_mesh_core.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"

#include <caf/all.hpp>

namespace mesh {

namespace detail {

void async_access::ask(caf::scheduled_actor* self, const caf::actor& op,
                       caf::behavior handlers) {
  request_as(self, op, caf::make_message(caf::get_atom::value), caf::infinite,
             std::move(handlers));
}

void async_access::ask_core(
  caf::scheduled_actor* self, const caf::actor& op,
  std::function<void(std::shared_ptr<actor_mesh_core>&)> on_value,
  std::function<void(caf::error&)> on_error) {
  ask(self, op,
      caf::behavior{[on_value](actor_mesh_handoff& x) { on_value(x.core); },
                    [on_error](caf::error& err) { on_error(err); }});
}

caf::actor async_access::spawn_actors(const proc_mesh_ref& procs,
                                      std::string name, std::string type,
                                      caf::message args,
                                      std::set<std::string> interface) {
  return spawn_actors_op(procs, std::move(name), std::move(type),
                         std::move(args), std::move(interface));
}

namespace {

/// A pending host mesh from an operation that answers host_mesh_handoff.
/// Operations start when then() is called: one never asked for would wait
/// for its question forever (and keep its actor system from ending).
using op_factory = std::function<caf::actor()>;

pending<host_mesh> host_mesh_of(caf::scheduled_actor* self, op_factory op) {
  return pending<host_mesh>{[self, op](auto on_value, auto on_error) {
    async_access::ask(
      self, op(),
      caf::behavior{[on_value](host_mesh_handoff& x) {
                      auto hosts = mesh_access::make_host_mesh(std::move(x.d),
                                                               std::move(x.own));
                      on_value(hosts);
                    },
                    [on_error](caf::error& err) { on_error(err); }});
  }};
}

/// A pending value of type T from an operation that answers one T.
template <class T>
pending<T> value_of(caf::scheduled_actor* self, op_factory op) {
  return pending<T>{[self, op](auto on_value, auto on_error) {
    async_access::ask(self, op(),
                      caf::behavior{[on_value](T& x) { on_value(x); },
                                    [on_error](caf::error& err) {
                                      on_error(err);
                                    }});
  }};
}

} // namespace

} // namespace detail

namespace async {

pending<host_mesh> local(caf::scheduled_actor* self) {
  auto cmd = bootstrap_command::current();
  if (!cmd)
    return detail::host_mesh_of(self, [self, err = cmd.error()] {
      return detail::failed_op(self->system(), err);
    });
  return local_with_bootstrap(self, std::move(*cmd));
}

pending<host_mesh> local_with_bootstrap(caf::scheduled_actor* self,
                                        bootstrap_command cmd) {
  host_agent_options opts;
  opts.bootstrap_children = true;
  opts.default_command = std::move(cmd);
  return detail::host_mesh_of(self, [self, opts] {
    return detail::start_local_op(self->system(), opts);
  });
}

pending<host_mesh> local_in_process(caf::scheduled_actor* self) {
  host_agent_options opts;
  opts.bootstrap_children = false;
  return detail::host_mesh_of(self, [self, opts] {
    return detail::start_local_op(self->system(), opts);
  });
}

pending<host_mesh> process(caf::scheduled_actor* self, mesh::extent hosts,
                           bootstrap_command cmd) {
  return detail::host_mesh_of(self, [self, hosts, cmd] {
    return detail::process_op(self->system(), hosts, cmd);
  });
}

pending<host_mesh> attach(caf::scheduled_actor* self, host_mesh_id id,
                          std::vector<std::string> addrs) {
  return detail::host_mesh_of(self, [self, id, addrs] {
    return detail::attach_op(self->system(), id, addrs);
  });
}

namespace {

using owner_op = caf::actor (*)(std::shared_ptr<detail::mesh_access::host_data>,
                                std::shared_ptr<detail::mesh_access::host_owned>);

/// An owner's operation (shutdown, stop), refused for a moved-from owner.
pending<shutdown_summary> of_owner(caf::scheduled_actor* self,
                                   host_mesh& hosts, owner_op op) {
  auto d = detail::mesh_access::data_of(hosts);
  auto own = detail::mesh_access::owned_of(hosts);
  return detail::value_of<shutdown_summary>(self, [self, d, own, op] {
    if (!own)
      return detail::failed_op(self->system(),
                               make_error(ec::not_running,
                                          "host mesh was moved from"));
    return op(d, own);
  });
}

} // namespace

pending<shutdown_summary> shutdown(caf::scheduled_actor* self,
                                   host_mesh& hosts) {
  return of_owner(self, hosts, detail::shutdown_op_of);
}

pending<shutdown_summary> stop(caf::scheduled_actor* self, host_mesh& hosts) {
  return of_owner(self, hosts, detail::host_stop_op_of);
}

pending<proc_mesh> spawn(caf::scheduled_actor* self,
                         const host_mesh_ref& hosts, std::string name,
                         mesh::extent per_host,
                         std::optional<std::vector<proc_bind>> bind,
                         per_rank_bootstrap per_rank) {
  auto commands = detail::plan_spawn(hosts, name, per_host, bind, per_rank);
  auto op = [=]() {
    return commands ? detail::spawn_procs_op(hosts, name, per_host, bind,
                                             *commands)
                    : detail::failed_op(self->system(), commands.error());
  };
  return pending<proc_mesh>{[self, op](auto on_value, auto on_error) {
    detail::async_access::ask(
      self, op(),
      caf::behavior{[on_value](detail::proc_mesh_handoff& x) {
                      auto procs = detail::mesh_access::make_proc_mesh(
                        std::move(x.d));
                      on_value(procs);
                    },
                    [on_error](caf::error& err) { on_error(err); }});
  }};
}

pending<std::vector<proc_state>> states(caf::scheduled_actor* self,
                                        const proc_mesh_ref& procs) {
  return detail::value_of<std::vector<proc_state>>(
    self, [procs] { return detail::states_op(procs); });
}

pending<void> stop(caf::scheduled_actor* self, const proc_mesh_ref& procs,
                   std::string reason) {
  return pending<void>{[self, procs, reason](auto on_value, auto on_error) {
    detail::async_access::ask(self, detail::stop_op(procs, reason),
                              caf::behavior{[on_value]() { on_value(); },
                                            [on_error](caf::error& err) {
                                              on_error(err);
                                            }});
  }};
}

} // namespace async

} // namespace mesh
