#include "actors/bootstrap_proc_manager.hpp"

#include "bootstrap/launcher.hpp"
#include "bootstrap/payload.hpp"
#include "mesh/config_keys.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/result.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <optional>
#include <utility>

namespace mesh {

namespace {

using manager_ptr =
  proc_manager_actor::stateful_pointer<bootstrap_proc_manager_state>;

/// Callbacks that turn the watcher's events into messages to the manager.
/// They run on the watcher thread and hold only the manager's address (a weak
/// reference): a strong handle, owned by the watcher that the manager's state
/// owns, would keep the manager alive forever. Once the manager is gone, its
/// events are dropped.
bootstrap::child_events events_for(const caf::actor_addr& manager) {
  auto post = [manager](auto&&... xs) {
    // If `strong` turns out to be the manager's last reference, the manager
    // is destroyed right here, on the watcher thread, when it goes out of
    // scope: the watcher's destructor allows for being called from its own
    // callback.
    if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(manager))
      caf::anon_send(caf::actor_cast<proc_manager_actor>(std::move(strong)),
                     std::forward<decltype(xs)>(xs)...);
  };
  bootstrap::child_events events;
  events.on_line = [post](const std::string& name, bool is_stderr,
                          std::string line) {
    // The rank is filled in by the manager, which owns the name -> rank map.
    post(proc_output_atom::value,
         proc_output{name, 0, is_stderr, std::move(line)});
  };
  events.on_exit = [post](const std::string& name, int64_t,
                          std::optional<int> exit_code,
                          std::optional<int> signal) {
    post(proc_exited_atom::value, proc_exit{name, exit_code, signal, {}});
  };
  return events;
}

bootstrap::launch_spec spec_of(const launch_request& req) {
  bootstrap::launch_spec spec;
  spec.name = req.name;
  spec.command = req.command;
  spec.extra_env = {{"MESH_BOOTSTRAP", req.payload}};
  spec.pdeathsig = config_store::global().get(keys::bootstrap_enable_pdeathsig);
  if (req.zygote)
    spec.zygote_payload = [payload = req.payload] {
      return bootstrap::zygote_payload_of(payload);
    };
  return spec;
}

} // namespace

bootstrap_proc_manager_state::bootstrap_proc_manager_state() = default;

bootstrap_proc_manager_state::~bootstrap_proc_manager_state() = default;

proc_manager_actor::behavior_type
bootstrap_proc_manager(manager_ptr self, proc_listener_actor listener) {
  auto& st = self->state;
  st.listener = std::move(listener);
  st.watcher =
    std::make_unique<bootstrap::child_watcher>(events_for(self->address()));
  return {
    [self](warm_atom, const launch_request& req) {
      self->state.watcher->warm(spec_of(req));
    },
    [self](launch_atom, const launch_request& req) -> caf::result<int64_t> {
      auto spec = spec_of(req);
      // Blocks this worker for the fork/exec only (vfork on the watcher
      // thread). Events the child causes meanwhile queue up behind this
      // handler, so the rank is known before its first line is forwarded.
      auto pid = self->state.watcher->launch(spec);
      if (!pid)
        return std::move(pid.error());
      self->state.ranks[req.name] = req.rank;
      return *pid;
    },
    [self](signal_atom, const std::string& name, int32_t sig) {
      // An unknown or already reaped proc: nothing to signal, its exit has
      // been (or is being) reported.
      self->state.watcher->signal(name, sig);
    },
    [self](proc_exited_atom, const proc_exit& ex) {
      self->state.ranks.erase(ex.name);
      self->send(self->state.listener, proc_exited_atom::value, ex);
    },
    [self](proc_output_atom, proc_output& out) {
      if (auto i = self->state.ranks.find(out.name);
          i != self->state.ranks.end())
        out.rank = i->second;
      self->send(self->state.listener, proc_output_atom::value, std::move(out));
    },
  };
}

} // namespace mesh
