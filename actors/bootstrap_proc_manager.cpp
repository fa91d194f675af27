#include "actors/bootstrap_proc_manager.hpp"

#include "bootstrap/launcher.hpp"
#include "bootstrap/payload.hpp"
#include "bootstrap/tls.hpp"
#include "mesh/config_keys.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/actor_cast.hpp>
#include <caf/result.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <optional>
#include <utility>

namespace mesh::keys {

// Read by the bootstrap proc manager (declared in mesh/config_keys.hpp,
// architecture §6).
const config_key<bool> bootstrap_enable_pdeathsig{
  "bootstrap_enable_pdeathsig", true, true,
  "children die with their parent"};

} // namespace mesh::keys

namespace mesh {

namespace {

using manager_ptr =
  proc_manager_actor::stateful_pointer<bootstrap_proc_manager_state>;

/// Callbacks that turn the watcher's events into messages to the manager.
/// They run on the watcher thread and hold only the manager's address (a weak
/// reference): a strong handle, owned by the watcher that the manager's state
/// owns, would keep the manager alive forever. Once the manager is gone, its
/// events are dropped.
/// Sends a message to the manager if it is still alive (see events_for).
auto poster(const caf::actor_addr& manager) {
  return [manager](auto&&... xs) {
    // If `strong` turns out to be the manager's last reference, the manager
    // is destroyed right here, on the watcher thread, when it goes out of
    // scope: the watcher's destructor allows for being called from its own
    // callback.
    if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(manager))
      caf::anon_send(caf::actor_cast<proc_manager_actor>(std::move(strong)),
                     std::forward<decltype(xs)>(xs)...);
  };
}

bootstrap::child_events events_for(const caf::actor_addr& manager) {
  auto post = poster(manager);
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

/// What every child inherits from its host whatever this process's
/// environment says: the certificate credentials of this process's TLS
/// context, which it also uses towards peers outside the mesh (empty when
/// there are none). They never travel in config snapshots, and configure()
/// does not export them (no setenv). The mesh key travels in the payload.
std::map<std::string, std::string> child_env_of(const caf::actor_system&) {
  auto var = [](const config_key<std::string>& key) {
    return config_registry::instance().find(key.name())->env_name();
  };
  auto creds = tls::current_credentials().value_or(tls::credentials{});
  return {{var(keys::tls_certificate), creds.certificate},
          {var(keys::tls_key), creds.key},
          {var(keys::tls_cafile), creds.cafile}};
}

bootstrap::launch_spec spec_of(const bootstrap_proc_manager_state& st,
                               const launch_request& req) {
  bootstrap::launch_spec spec;
  spec.name = req.name;
  spec.command = req.command;
  spec.extra_env = st.child_env;
  spec.extra_env.insert_or_assign("MESH_BOOTSTRAP", req.payload);
  spec.proc_env = req.proc_env;
  spec.pdeathsig = st.pdeathsig;
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
  st.child_env = child_env_of(self->system());
  st.pdeathsig =
    config_of(self->system()).get(keys::bootstrap_enable_pdeathsig);
  st.watcher =
    std::make_unique<bootstrap::child_watcher>(events_for(self->address()));
  return {
    [self](warm_atom, const launch_request& req) {
      self->state.watcher->warm(spec_of(self->state, req));
    },
    [self](launch_atom, const launch_request& req) -> caf::result<int64_t> {
      // Never blocks this worker: the watcher thread forks and reports the
      // outcome as a launched message, which it posts before any line or
      // exit of the child, so the rank is known before its first line.
      auto& st = self->state;
      auto id = ++st.last_launch;
      auto promise = self->make_response_promise<int64_t>();
      st.launching.emplace(id, std::make_pair(req.name, promise));
      st.ranks[req.name] = req.rank;
      st.watcher->launch_async(
        spec_of(st, req), [post = poster(self->address()),
                       id](caf::expected<int64_t> pid) {
          if (pid)
            post(launched_atom::value, id, *pid, caf::error{});
          else
            post(launched_atom::value, id, int64_t{-1},
                 std::move(pid.error()));
        });
      return promise;
    },
    [self](launched_atom, uint64_t id, int64_t pid, caf::error& err) {
      auto& st = self->state;
      auto i = st.launching.find(id);
      if (i == st.launching.end())
        return;
      auto [name, promise] = std::move(i->second);
      st.launching.erase(i);
      if (err) {
        st.ranks.erase(name);
        promise.deliver(std::move(err));
      } else {
        promise.deliver(pid);
      }
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
