// How a host_mesh comes into being: local (one host in this process, procs
// as child processes or in-process), process (one host child process per
// rank) and attach (hosts that run already, e.g. meshd).
//
// Contract:
// - Each returns an owning host_mesh only once every host is up (and, for
//   attach, has installed the client's propagated config: HM-1..HM-4 below).
// - On failure nothing it started is left running: host children that came
//   up are shut down with their launcher before the error is returned.
// - Host agents that live in this process are published on listen_address
//   and recorded in the owner, which unpublishes them at shutdown.
#include "mesh/host_mesh.hpp"

#include "actors/host_agent.hpp"
#include "bootstrap/network.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mesh::keys {

// Read by the bring-up of hosts (declared in mesh/config_keys.hpp,
// architecture §6). attach_config_timeout also bounds host_mesh_ref::parse;
// listen_address is also where bootstrap children and served hosts listen
// (bootstrap_child.cpp, serve_host.cpp).
const config_key<duration> attach_config_timeout{
  "attach_config_timeout", std::chrono::seconds{60}, true,
  "attach config-push barrier"};
const config_key<std::string> listen_address{
  "listen_address", std::string{"127.0.0.1"}, true,
  "where host agents and procs listen"};

} // namespace mesh::keys

namespace mesh {

namespace {

/// Spawns a host agent in this process and publishes its public face.
caf::expected<std::pair<host_agent_actor, uint16_t>>
start_local_agent(caf::actor_system& sys, host_agent_options opts) {
  auto listen = config_of(sys).get(keys::listen_address);
  return publish_host_agent(sys, std::move(opts), listen);
}

} // namespace

caf::expected<host_mesh> host_mesh::start_local(caf::actor_system& sys,
                                                host_agent_options opts) {
  auto cmd = opts.default_command;
  auto started = start_local_agent(sys, std::move(opts));
  if (!started)
    return std::move(started.error());
  auto d = std::make_shared<data>();
  d->sys = &sys;
  d->id = host_mesh_id::instance("local");
  d->region = mesh::region{mesh::extent{{"hosts", 1}}};
  d->agents.push_back(started->first);
  d->addrs.push_back(config_of(sys).get(keys::listen_address) + ":"
                     + std::to_string(started->second));
  d->bootstrap = std::move(cmd);
  host_mesh result{std::move(d)};
  result.own_->local_agents.push_back(*started);
  return result;
}

caf::expected<host_mesh> host_mesh::local(caf::actor_system& sys) {
  auto cmd = bootstrap_command::current();
  if (!cmd)
    return std::move(cmd.error());
  return local_with_bootstrap(sys, std::move(*cmd));
}

caf::expected<host_mesh>
host_mesh::local_with_bootstrap(caf::actor_system& sys, bootstrap_command cmd) {
  host_agent_options opts;
  opts.bootstrap_children = true;
  opts.default_command = std::move(cmd);
  return start_local(sys, std::move(opts));
}

caf::expected<host_mesh> host_mesh::local_in_process(caf::actor_system& sys) {
  host_agent_options opts;
  opts.bootstrap_children = false;
  return start_local(sys, std::move(opts));
}

caf::expected<host_mesh> host_mesh::process(caf::actor_system& sys,
                                            mesh::extent hosts,
                                            bootstrap_command cmd) {
  auto n = hosts.num_ranks();
  if (n == 0)
    return make_error(ec::invalid_argument, "host_mesh::process",
                      "the host extent " + hosts.to_string() + " is empty");
  // A local agent launches the host processes like procs (same launcher,
  // handshake, parent-death signal and reaping), with the host role.
  host_agent_options opts;
  opts.bootstrap_children = true;
  opts.default_command = cmd;
  auto launcher = start_local_agent(sys, std::move(opts));
  if (!launcher)
    return std::move(launcher.error());
  auto id = host_mesh_id::instance("process");
  spawn_procs_request req;
  req.proc_mesh_id = "hosts-of-" + id.to_string();
  req.host_mesh_id = id.to_string();
  req.host_children = true;
  req.default_command = cmd;
  req.config = config_of(sys).propagated_snapshot();
  for (size_t r = 0; r < n; ++r) {
    proc_spec spec;
    spec.name = id.to_string() + "-host-" + std::to_string(r);
    spec.rank = r;
    req.procs.push_back(std::move(spec));
  }
  auto d = std::make_shared<data>();
  d->sys = &sys;
  d->id = id;
  d->region = mesh::region{hosts};
  d->bootstrap = cmd;
  host_mesh result{std::move(d)};
  result.own_->local_agents.push_back(*launcher);
  result.own_->launcher = launcher->first;
  for (auto& spec : req.procs)
    result.own_->host_proc_names.push_back(spec.name);
  auto replies = gather<std::vector<proc_info>>(
    sys, std::vector<host_agent_actor>{launcher->first}, stop_timeout(sys) * 2,
    spawn_procs_atom::value, req);
  caf::error failure;
  if (!replies.front()) {
    failure = std::move(replies.front().error());
  } else {
    for (auto& info : *replies.front()) {
      if (info.state.status != proc_status::running) {
        failure = make_error(ec::proc_failed,
                             "host " + std::to_string(info.state.rank)
                               + " of host_mesh::process (pid "
                               + std::to_string(info.state.pid) + ")",
                             info.state.reason, "command " + cmd.to_string());
        break;
      }
      result.d_->agents.push_back(
        caf::actor_cast<host_agent_actor>(info.agent));
      result.d_->addrs.push_back(info.address);
    }
  }
  if (failure) {
    // Stops whatever host came up, then the launcher.
    if (auto res = result.shutdown(); !res)
      spdlog::error("cleaning up after a failed host_mesh::process: {}",
                    mesh::to_string(res.error()));
    return failure;
  }
  return result;
}

// attach: the seed's HostMesh::attach (reference §5.6, §6.2). The daemons
// were started by someone else (meshd); this connects to them and pushes the
// client's propagated config, which each host installs as its
// client_override layer. The invariants, each pinned by a test named after it
// (test/attach_test.cpp):
//
// HM-1  attach returns a mesh only if every host acknowledged the snapshot.
// HM-2  any failure (connect, TLS, push, acknowledgement) makes attach an
//       error; a partly configured mesh is never returned.
// HM-3  an unreachable or silent host surfaces as that error within
//       attach_config_timeout, never as a crash, a hang or a stray message in
//       the caller: every host connects and takes the push on its own thread
//       under one deadline (bootstrap/network.hpp never lets CAF block on an
//       unproven address), from scoped actors of its own that drop late
//       replies.
// HM-4  the error names each failing host by address with its cause
//       (refused, unreachable, TLS failure, timed out, snapshot refused).
caf::expected<host_mesh> host_mesh::attach(caf::actor_system& sys,
                                           host_mesh_id id,
                                           std::vector<std::string> addrs) {
  auto what = "attach of host mesh " + id.to_string();
  std::vector<net::endpoint> targets;
  for (auto& addr : addrs) {
    auto ep = net::parse_endpoint(addr);
    if (!ep)
      return make_error(ec::invalid_argument, what,
                        mesh::to_string(ep.error()));
    if (std::find(targets.begin(), targets.end(), *ep) != targets.end())
      return make_error(ec::invalid_argument, what,
                        "address " + ep->to_string() + " is listed twice");
    targets.push_back(std::move(*ep));
  }
  auto n = targets.size();
  auto d = std::make_shared<data>();
  d->sys = &sys;
  d->id = std::move(id);
  d->region = mesh::region{mesh::extent{{"hosts", n}}};
  for (auto& ep : targets)
    d->addrs.push_back(ep.to_string());
  if (n == 0)
    return host_mesh{std::move(d)};
  // Bad local credentials are this process's problem, not the hosts'.
  if (auto err = net::check_transport(sys))
    return err;
  auto timeout = config_of(sys).get(keys::attach_config_timeout);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto snapshot = config_of(sys).propagated_snapshot();
  std::vector<caf::error> failures(n);
  std::vector<host_agent_actor> agents(n);
  net::connect_each<host_agent_actor>(
    sys, targets, timeout,
    [&](size_t i, caf::expected<host_agent_actor> agent) {
      if (!agent) {
        failures[i] = std::move(agent.error());
        return;
      }
      agents[i] = std::move(*agent);
      auto left = std::max(std::chrono::duration_cast<duration>(
                             deadline - std::chrono::steady_clock::now()),
                           duration{0});
      caf::scoped_actor self{sys};
      self->request(agents[i], left, set_config_atom::value, snapshot)
        .receive([](caf::ok_atom) {},
                 [&](caf::error& err) {
                   if (err == caf::sec::request_timeout)
                     failures[i] = make_error(
                       ec::host_unreachable, d->addrs[i],
                       "timed out: the config push was not acknowledged "
                       "within "
                         + render_duration(timeout));
                   else
                     failures[i] = make_error(
                       ec::config_push_failed, d->addrs[i],
                       "the host did not install the snapshot: "
                         + mesh::to_string(err));
                 });
    });
  std::string listed;
  size_t failed = 0;
  for (auto& err : failures)
    if (err)
      listed += (failed++ == 0 ? "" : "; ") + mesh::to_string(err);
  if (failed > 0)
    return make_error(ec::config_push_failed, what,
                      std::to_string(failed) + " of " + std::to_string(n)
                        + " hosts failed",
                      listed);
  d->agents = std::move(agents);
  return host_mesh{std::move(d)};
}

} // namespace mesh
