// The child side of the bootstrap protocol: what a process launched by a
// host agent (or by host_mesh::process) does with its MESH_BOOTSTRAP payload.
#include "actors/host_agent.hpp"
#include "actors/proc_agent.hpp"
#include "bootstrap/network.hpp"
#include "bootstrap/payload.hpp"
#include "bootstrap/tls.hpp"
#include "bootstrap/zygote.hpp"
#include "libmesh/src/client/liveness.hpp"
#include "libmesh/src/client/this_proc_state.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"
#include "mesh/system.hpp"

#include <caf/all.hpp>
#include <caf/detail/scope_guard.hpp>
#include <caf/io/all.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace mesh {

namespace {

/// How long a child waits to connect to its parent and for the parent to
/// accept the handshake.
constexpr duration registration_timeout = std::chrono::seconds{30};

void fail_line(const std::string& what) {
  std::fprintf(stderr, "libmesh bootstrap: %s\n", what.c_str());
  std::fflush(stderr);
}

/// The registrar of the parent host, where this child registers.
caf::expected<registrar_actor> registrar_of(caf::actor_system& sys,
                                            const host_agent_actor& parent) {
  // blocking: a bootstrap child's main thread, before its agent runs
  caf::scoped_actor self{sys};
  caf::expected<registrar_actor> result{caf::error{}};
  // blocking: a bootstrap child's main thread, before its agent runs
  self->request(parent, registration_timeout, registrar_atom::value)
    .receive([&](registrar_actor& r) { result = std::move(r); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Proves the token to the parent's registrar with `agent`, published on
/// listen:port, and then waits until either the agent ends (exit code from
/// its exit reason) or the parent is lost (the agent is killed; exit code 1).
int serve(caf::actor_system& sys, const bootstrap::payload& p,
          const host_agent_actor& parent, const registrar_actor& registrar,
          const caf::actor& agent, const std::string& listen, uint16_t port) {
  int code = 0;
  {
    // blocking: a bootstrap child's main thread, before its agent runs
    caf::scoped_actor self{sys};
    self->monitor(agent);
    self->monitor(parent);
    child_registration reg{p.name, p.token, static_cast<int64_t>(::getpid()),
                           agent, listen, port};
    bool accepted = false;
    self
      ->request(registrar, registration_timeout, register_child_atom::value,
                reg)
      // blocking: a bootstrap child's main thread, before its agent runs
      .receive([&](caf::ok_atom) { accepted = true; },
               [&](caf::error& err) {
                 fail_line("registration of '" + p.name + "' with "
                           + p.parent_host + ":"
                           + std::to_string(p.parent_port)
                           + " failed: " + sys.render(err));
               });
    if (!accepted) {
      self->send_exit(agent, caf::exit_reason::kill);
      code = 2;
    }
    bool parent_lost = false;
    bool done = false;
    self->receive_while([&] { return !done; })(
      [&](caf::down_msg& msg) {
        if (msg.source == agent.address()) {
          done = true;
          if (code == 0)
            code = parent_lost || msg.reason ? 1 : 0;
        } else if (msg.source == parent.address()) {
          parent_lost = true;
          self->send_exit(agent, caf::exit_reason::kill);
        }
      });
  }
  return code;
}

} // namespace

std::optional<int> run_bootstrap_child(caf::actor_system_config& cfg) {
  const char* raw = std::getenv(bootstrap::payload_env);
  if (raw == nullptr)
    return std::nullopt;
  auto p = bootstrap::decode(raw);
  if (!p) {
    fail_line("bad " + std::string{bootstrap::payload_env}
              + " payload: " + mesh::to_string(p.error()));
    return 2;
  }
  // What this child launches must not mistake itself for this child (and
  // the payload holds the mesh key, which nothing else needs to see).
  ::unsetenv(bootstrap::payload_env);
  // The parent's transport, before anything connects: a zygote builds its
  // TLS context here, once, and every proc it forks inherits it.
  if (auto err = tls::adopt(tls::transport{p->insecure, p->mesh_key})) {
    fail_line("cannot use the parent's transport: " + mesh::to_string(err));
    return 2;
  }
  if (p->child_role == bootstrap::role::zygote) {
    // Returns here in the zygote when it is done, and in each proc it forks,
    // which then goes on as if it had been exec'd with its own payload.
    std::string forked;
    if (int code = bootstrap::zygote::serve(forked); code >= 0)
      return code;
    p = bootstrap::decode(forked);
    if (!p || p->child_role != bootstrap::role::proc) {
      fail_line("bad payload from the zygote: "
                + (p ? std::string{"not a proc"} : mesh::to_string(p.error())));
      return 2;
    }
    if (auto err = tls::adopt(tls::transport{p->insecure, p->mesh_key})) {
      fail_line("the zygote forked a proc of another transport: "
                + mesh::to_string(err));
      return 2;
    }
    // Its place, in its environment before its program's code runs on: a
    // forked proc has only its zygote's environment, which leaves it out.
    // (An exec'd proc has it from its launch, perhaps changed by a wrapper,
    // which is not undone.)
    detail::export_proc_env(p->proc_env);
  }
  if (auto err = config_of(cfg).install_client_override(p->config)) {
    fail_line("bad configuration in payload: " + mesh::to_string(err));
    return 2;
  }
  // The parent's liveness settings: a proc sends heartbeats as often as its
  // host expects them.
  apply_liveness(cfg, config_of(cfg));
  // A proc needs one scheduler thread; a host child serves many procs.
  if (p->child_role == bootstrap::role::proc)
    cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  // blocking: a bootstrap child's main thread, before its agent runs
  auto parent = net::connect<host_agent_actor>(
    sys, net::endpoint{p->parent_host, p->parent_port}, registration_timeout,
    /*probe=*/false);
  if (!parent) {
    fail_line("cannot reach the parent host agent: "
              + mesh::to_string(parent.error()));
    return 1;
  }
  auto registrar = registrar_of(sys, *parent);
  if (!registrar) {
    fail_line("the parent host agent did not name its registrar: "
              + mesh::to_string(registrar.error()));
    return 1;
  }
  auto listen = config_of(sys).get(keys::listen_address);
  if (p->child_role == bootstrap::role::proc) {
    // this_proc() answers before the proc agent can spawn any actor, and
    // stops answering before the actor system goes.
    detail::enter_proc(sys, p->proc_env, *parent);
    auto left = caf::detail::make_scope_guard([] { detail::leave_proc(); });
    auto agent = sys.spawn(proc_agent, p->name, *registrar);
    // Published with its typed interface: connecting peers check it.
    // blocking: a bootstrap child's main thread, before its agent runs
    auto port = net::publish(sys, agent, listen);
    if (!port) {
      fail_line(mesh::to_string(port.error()));
      caf::anon_send_exit(agent, caf::exit_reason::kill);
      return 1;
    }
    return serve(sys, *p, *parent, *registrar,
                 caf::actor_cast<caf::actor>(agent), listen, *port);
  }
  host_agent_options opts;
  opts.bootstrap_children = true;
  opts.default_command = p->proc_command;
  if (!opts.default_command)
    if (auto cmd = bootstrap_command::current())
      opts.default_command = std::move(*cmd);
  // Only the host agent's public face is published and registered.
  // blocking: a bootstrap child's main thread, before its agent runs
  auto published = publish_host_agent(sys, std::move(opts), listen);
  if (!published) {
    fail_line(mesh::to_string(published.error()));
    return 1;
  }
  return serve(sys, *p, *parent, *registrar,
               caf::actor_cast<caf::actor>(published->first), listen,
               published->second);
}

} // namespace mesh
