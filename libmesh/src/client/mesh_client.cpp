// The mesh client (mesh_client_actor in mesh/actors.hpp): the mesh-level
// protocol, on the same operation actors as the blocking and non-blocking
// API (proc_mesh_ops.hpp).
//
// Contract:
// - Every request starts its own operation at once and is answered when
//   that operation ends: requests run concurrently, and none waits in the
//   client's own handlers.
// - The proc meshes it spawns are kept (their controller lives, their
//   events flow) until they are stopped through it, or it ends.
#include "mesh/actors.hpp"

#include "libmesh/src/client/actor_mesh_core.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
#include "mesh/async.hpp"

#include <caf/all.hpp>

#include <map>

namespace mesh {

namespace {

struct mesh_client_state {
  static inline const char* name = "mesh_client";
  /// The proc meshes spawned here and not stopped, by id.
  std::map<std::string, proc_mesh_ref> owned;
};

using client_ptr = mesh_client_actor::stateful_pointer<mesh_client_state>;

/// The live reference of a proc mesh: the one spawned here if it was (a
/// reference that came in a message knows only what its sender knew).
const proc_mesh_ref& live(client_ptr self, const proc_mesh_ref& procs) {
  auto i = self->state.owned.find(procs.id().to_string());
  return i != self->state.owned.end() ? i->second : procs;
}

/// Answers a request of the client with operation `op`'s answer (an
/// Answer), turned into a T by `convert` on the client.
template <class T, class Answer, class Convert>
caf::result<T> answer_with(client_ptr self, const caf::actor& op,
                           Convert convert) {
  auto rp = self->make_response_promise<T>();
  self->request(op, caf::infinite, caf::get_atom::value)
    .then([rp, convert](Answer& x) mutable { rp.deliver(convert(x)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<proc_mesh_ref> spawn_procs(client_ptr self,
                                       const host_mesh_ref& hosts,
                                       proc_mesh_request& spec) {
  std::optional<std::vector<proc_bind>> bind;
  if (!spec.bind.empty())
    bind = spec.bind;
  auto planned = detail::plan_spawn(hosts, spec.name, spec.per_host, bind, {});
  if (!planned)
    return std::move(planned.error());
  auto& commands = *planned;
  if (!spec.commands.empty()) {
    if (spec.commands.size() != commands.size())
      return make_error(ec::invalid_argument, "spawn of '" + spec.name + "'",
                        "the spec has " + std::to_string(spec.commands.size())
                          + " commands for "
                          + std::to_string(commands.size()) + " ranks");
    for (size_t r = 0; r < commands.size(); ++r)
      if (!spec.commands[r].program.empty())
        commands[r] = std::move(spec.commands[r]);
  }
  auto op = detail::spawn_procs_op(hosts, spec.name, spec.per_host,
                                   std::move(bind), std::move(commands));
  return answer_with<proc_mesh_ref, detail::proc_mesh_handoff>(
    self, op, [self](detail::proc_mesh_handoff& x) {
      auto ref = detail::mesh_access::make_proc_ref(std::move(x.d));
      self->state.owned.emplace(ref.id().to_string(), ref);
      return ref;
    });
}

} // namespace

mesh_client_actor spawn_mesh_client(caf::actor_system& sys) {
  return sys.spawn([](client_ptr self) -> mesh_client_actor::behavior_type {
    return {
      [self](spawn_procs_atom, host_mesh_ref& hosts, proc_mesh_request& spec) {
        return spawn_procs(self, hosts, spec);
      },
      [self](spawn_actor_atom, proc_mesh_ref& procs,
             actor_mesh_request& spec) -> caf::result<actor_mesh<caf::actor>> {
        auto& ref = live(self, procs);
        auto op = detail::spawn_actors_op(
          ref, spec.name, spec.type, spec.args,
          std::set<std::string>(spec.interface.begin(), spec.interface.end()));
        return answer_with<actor_mesh<caf::actor>,
                           detail::actor_mesh_handoff>(
          self, op, [extent = ref.extent()](detail::actor_mesh_handoff& x) {
            return detail::async_access::make_actor_mesh<caf::actor>(
              std::move(x.core), extent);
          });
      },
      [self](proc_state_atom,
             proc_mesh_ref& procs) -> caf::result<std::vector<proc_state>> {
        return answer_with<std::vector<proc_state>, std::vector<proc_state>>(
          self, detail::states_op(procs),
          [](std::vector<proc_state>& states) { return std::move(states); });
      },
      [self](stop_procs_atom, proc_mesh_ref& procs,
             std::string& reason) -> caf::result<caf::ok_atom> {
        auto rp = self->make_response_promise<caf::ok_atom>();
        auto key = procs.id().to_string();
        self->request(detail::stop_op(procs, reason), caf::infinite,
                      caf::get_atom::value)
          .then(
            [self, rp, key]() mutable {
              self->state.owned.erase(key);
              rp.deliver(caf::ok_atom::value);
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](subscribe_events_atom, proc_mesh_ref& procs,
             caf::actor& subscriber) {
        procs.subscribe(subscriber);
      },
    };
  });
}

} // namespace mesh
