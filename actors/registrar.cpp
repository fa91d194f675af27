#include "actors/registrar.hpp"

#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

namespace mesh {

registrar_actor::behavior_type
registrar(registrar_actor::stateful_pointer<registrar_state> self,
          host_agent_internal_actor host) {
  self->state.host = std::move(host);
  return {
    [self](register_child_atom,
           child_registration& reg) -> caf::result<caf::ok_atom> {
      auto& sender = self->current_sender();
      if (sender == nullptr || !reg.agent ||
          sender->node() != reg.agent.node()) {
        spdlog::warn("the registrar refused the registration of '{}' (pid "
                     "{}): its agent is not on the node that sent it",
                     reg.name, reg.pid);
        return make_error(ec::handshake_refused,
                          "registration of '" + reg.name + "'",
                          "its agent is not on the node that sent it");
      }
      auto promise = self->make_response_promise<caf::ok_atom>();
      auto name = reg.name;
      auto node = reg.agent.node();
      self
        ->request(self->state.host, caf::infinite, register_child_atom::value,
                  std::move(reg))
        .then(
          [self, promise, name, node](caf::ok_atom) mutable {
            self->state.nodes[name] = node;
            promise.deliver(caf::ok_atom::value);
          },
          [promise](caf::error& err) mutable {
            promise.deliver(std::move(err));
          });
      return promise;
    },
    [self](actor_failed_atom, actor_failure& failure) {
      auto& sender = self->current_sender();
      auto i = self->state.nodes.find(failure.proc_name);
      if (i == self->state.nodes.end() || sender == nullptr ||
          sender->node() != i->second) {
        spdlog::warn("the registrar dropped a report that an actor of '{}' "
                     "failed: not from the node that proc registered from",
                     failure.proc_name);
        return;
      }
      self->send(self->state.host, actor_failed_atom::value,
                 std::move(failure));
    },
  };
}

} // namespace mesh
