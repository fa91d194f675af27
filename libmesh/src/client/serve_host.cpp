// mesh::prepare_host / serve_host (mesh/serve.hpp): the host side of attach,
// shared by meshd and applications that embed a host.
#include "mesh/serve.hpp"

#include "actors/host_agent.hpp"
#include "bootstrap/network.hpp"
#include "bootstrap/tls.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace mesh {

namespace {

std::string absolute(const std::string& path) {
  std::error_code err;
  auto abs = std::filesystem::absolute(path, err);
  return err ? path : abs.lexically_normal().string();
}

caf::error refuse(std::string what) {
  return make_error(ec::invalid_argument, std::move(what));
}

/// The TLS credentials to serve with: the options' files (all three or
/// none), else the tls.* configuration keys; checked as CAF will use them.
caf::expected<std::optional<tls::credentials>>
credentials_of(const host_options& opts) {
  int given = !opts.tls_certificate.empty() + !opts.tls_key.empty()
              + !opts.tls_cafile.empty();
  std::optional<tls::credentials> creds;
  if (given == 3) {
    creds = tls::credentials{absolute(opts.tls_certificate),
                             absolute(opts.tls_key), absolute(opts.tls_cafile)};
  } else if (given > 0) {
    std::string missing;
    for (auto [what, value] : {std::pair{"certificate", &opts.tls_certificate},
                               std::pair{"key", &opts.tls_key},
                               std::pair{"CA file", &opts.tls_cafile}})
      if (value->empty())
        missing += std::string{missing.empty() ? "" : ", "} + what;
    return make_error(ec::tls_error,
                      "the TLS certificate, key and CA file go together",
                      "missing " + missing);
  } else {
    auto configured = tls::from_config();
    if (!configured)
      return std::move(configured.error());
    creds = std::move(*configured);
  }
  if (creds)
    if (auto err = tls::check(*creds))
      return err;
  return creds;
}

/// The environment is where children look for settings this process has and
/// a client's config push must not override (env beats client_override).
void export_setting(const config_key<std::string>& key,
                    const std::string& value) {
  auto info = config_registry::instance().find(key.name());
  ::setenv(info->env_name().c_str(), value.c_str(), 1);
}

} // namespace

caf::error prepare_host(const host_options& opts) {
  auto where = net::parse_endpoint(opts.listen, true);
  if (!where)
    return refuse("listen: " + mesh::to_string(where.error()));
  if (opts.owner_timeout < duration{0})
    return refuse("owner timeout: must not be negative");
  auto creds = credentials_of(opts);
  if (!creds)
    return std::move(creds.error());
  if (!opts.mesh_key_file.empty()) {
    if (opts.insecure)
      return refuse("a mesh key file and insecure (plain TCP) contradict "
                    "each other");
    auto key = tls::read_key_file(opts.mesh_key_file);
    if (!key)
      return std::move(key.error());
    if (auto err = tls::adopt(tls::transport{false, std::move(*key)}))
      return err;
  }
  if (!*creds && !opts.insecure && opts.mesh_key_file.empty())
    return refuse("refusing to serve " + where->to_string()
                  + " without credentials; create them with `meshctl cert "
                    "init DIR` and pass --tls-cert/--tls-key/--tls-ca (or "
                    "--mesh-key-file), or pass --insecure");
  if (opts.proc_command
      && ::access(opts.proc_command->program.c_str(), X_OK) != 0)
    return refuse("proc command '" + opts.proc_command->program
                  + "' is not an executable file");
  // Plain TCP only when the operator asked for it and gave no credentials;
  // the children follow this process (their payload says so).
  if (opts.insecure && !*creds)
    if (auto err = tls::adopt(tls::transport{true, {}}))
      return err;
  // Everything children must share with this process goes into the
  // environment before the actor system (and its threads) exists.
  export_setting(keys::listen_address, where->host);
  if (*creds) {
    export_setting(keys::tls_certificate, (*creds)->certificate);
    export_setting(keys::tls_key, (*creds)->key);
    export_setting(keys::tls_cafile, (*creds)->cafile);
  }
  return config_store::global().load_env();
}

served_host::served_host(caf::actor_system& sys, host_agent_actor agent,
                         std::string address, bool tls)
  : sys_(&sys),
    agent_(std::move(agent)),
    address_(std::move(address)),
    tls_(tls) {
  // nop
}

void served_host::shutdown() const {
  if (agent_)
    caf::anon_send(agent_, shutdown_host_atom::value);
}

caf::error served_host::wait() const {
  if (sys_ == nullptr || !agent_)
    return caf::none;
  caf::error reason;
  // blocking: a host process's main thread (meshd)
  caf::scoped_actor self{*sys_};
  self->monitor(agent_);
  self->receive([&](caf::down_msg& msg) { reason = msg.reason; });
  if (reason == caf::exit_reason::normal)
    return caf::none;
  return reason;
}

caf::expected<served_host> serve_host(caf::actor_system& sys,
                                      const host_options& opts) {
  auto where = net::parse_endpoint(opts.listen, true);
  if (!where)
    return refuse("listen: " + mesh::to_string(where.error()));
  if (auto err = net::check_transport(sys))
    return err;
  host_agent_options agent_opts;
  agent_opts.bootstrap_children = true;
  agent_opts.owner_timeout = opts.owner_timeout;
  if (opts.proc_command) {
    agent_opts.default_command = *opts.proc_command;
    agent_opts.default_command->program =
      absolute(opts.proc_command->program);
  } else {
    auto cmd = bootstrap_command::current();
    if (!cmd)
      return std::move(cmd.error());
    agent_opts.default_command = std::move(*cmd);
  }
  auto published =
    // blocking: a host process's main thread (meshd)
    publish_host_agent(sys, std::move(agent_opts), where->host, where->port);
  if (!published)
    return std::move(published.error());
  auto [agent, port] = *published;
  bool tls = net::uses_tls(sys);
  net::endpoint bound{where->host, port};
  return served_host{sys, agent, bound.to_string(), tls};
}

} // namespace mesh
