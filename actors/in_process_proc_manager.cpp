#include "actors/in_process_proc_manager.hpp"

#include "actors/proc_agent.hpp"

#include <caf/all.hpp>

#include <csignal>

namespace mesh {

proc_manager_actor::behavior_type in_process_proc_manager(
  proc_manager_actor::stateful_pointer<in_process_proc_manager_state> self,
  proc_listener_actor listener, registrar_actor registrar) {
  self->state.listener = std::move(listener);
  self->state.registrar = std::move(registrar);
  // A proc ends when its proc agent does: cleanly (exit code 0) when it was
  // stopped and all its actors ended well, with 1 otherwise.
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& procs = self->state.procs;
    for (auto i = procs.begin(); i != procs.end(); ++i) {
      if (i->second.address() != msg.source)
        continue;
      proc_exit ex;
      ex.name = i->first;
      if (msg.reason == caf::exit_reason::kill)
        ex.signal = SIGKILL;
      else
        ex.exit_code = msg.reason ? 1 : 0;
      procs.erase(i);
      self->send(self->state.listener, proc_exited_atom::value, ex);
      return;
    }
  });
  self->attach_functor([self] {
    for (auto& [name, agent] : self->state.procs)
      caf::anon_send_exit(agent, caf::exit_reason::kill);
  });
  return {
    [self](launch_atom, const launch_request& req) -> caf::result<int64_t> {
      auto agent = self->spawn(proc_agent, req.name, self->state.registrar);
      self->monitor(agent);
      self->state.procs.emplace(req.name, agent);
      // The same handshake as a child process: the proc proves its token.
      child_registration reg{req.name, req.token, 0,
                             caf::actor_cast<caf::actor>(agent), "", 0};
      self
        ->request(self->state.registrar, caf::infinite,
                  register_child_atom::value, std::move(reg))
        .then([](caf::ok_atom) {},
              [self, agent](caf::error&) {
                // Refused (the host is shutting down): the proc ends.
                self->send_exit(agent, caf::exit_reason::kill);
              });
      return int64_t{0};
    },
    [](launched_atom, uint64_t, int64_t, const caf::error&) {
      // Launches complete inside the launch handler: nothing reports later.
    },
    [](warm_atom, const launch_request&) {
      // In-process procs start no process: nothing to prepare.
    },
    [self](signal_atom, const std::string& name, int32_t sig) {
      auto i = self->state.procs.find(name);
      if (i == self->state.procs.end())
        return;
      if (sig == SIGKILL)
        self->send_exit(i->second, caf::exit_reason::kill);
      else
        self->send(i->second, stop_proc_atom::value, std::string{"signal"});
    },
    [self](proc_exited_atom, const proc_exit& ex) {
      self->send(self->state.listener, proc_exited_atom::value, ex);
    },
    [self](proc_output_atom, const proc_output& out) {
      self->send(self->state.listener, proc_output_atom::value, out);
    },
  };
}

} // namespace mesh
