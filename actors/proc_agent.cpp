#include "actors/proc_agent.hpp"

#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace mesh {

proc_agent_actor::behavior_type
proc_agent(proc_agent_actor::stateful_pointer<proc_agent_state> self,
           std::string proc_name) {
  self->state.proc_name = std::move(proc_name);
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& actors = self->state.actors;
    auto i = std::find_if(actors.begin(), actors.end(), [&](auto& a) {
      return a.address() == msg.source;
    });
    if (i == actors.end())
      return;
    actors.erase(i);
    if (msg.reason && msg.reason != caf::exit_reason::user_shutdown
        && msg.reason != caf::exit_reason::kill)
      self->state.actor_failed = true;
  });
  return {
    [self](stop_proc_atom, const std::string&) {
      for (auto& a : self->state.actors)
        self->send_exit(a, caf::exit_reason::user_shutdown);
      self->state.actors.clear();
      if (self->state.actor_failed)
        self->quit(make_error(ec::proc_failed, "proc '" + self->state.proc_name
                                                 + "'",
                              "an actor failed"));
      else
        self->quit();
    },
    [self](spawn_actor_atom, const std::string& name, const std::string& type,
           caf::message& args) -> caf::result<caf::actor> {
      auto res = self->system().spawn<caf::actor>(type, std::move(args));
      if (!res)
        return make_error(ec::actor_spawn_failed,
                          "actor '" + name + "' of type '" + type
                            + "' on proc '" + self->state.proc_name + "'",
                          self->system().render(res.error()));
      self->monitor(*res);
      self->state.actors.push_back(*res);
      return *res;
    },
    [self](get_config_atom,
           const std::string& key) -> caf::result<std::string> {
      if (config_registry::instance().find(key) == nullptr)
        return make_error(ec::invalid_config,
                          "unknown config key '" + key + "'");
      return render_config_value(config_store::global().get_value(key));
    },
  };
}

} // namespace mesh
