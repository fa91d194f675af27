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
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
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

namespace detail {

namespace {

using agent_started = caf::expected<std::pair<host_agent_actor, uint16_t>>;

/// Spawns a host agent in this process and publishes its public face on
/// listen_address without blocking `self`; `then(result)` runs on `self`.
template <class F>
void start_agent_then(caf::event_based_actor* self, host_agent_options opts,
                      F then) {
  auto& sys = self->system();
  auto listen = config_of(sys).get(keys::listen_address);
  if (auto err = net::check_transport(sys)) {
    then(agent_started{std::move(err)});
    return;
  }
  auto agent = sys.spawn(host_agent, std::move(opts));
  // Narrowed before publishing: peers see (and can check) only this face.
  host_agent_actor published = agent;
  net::endpoint where{listen, 0};
  self
    ->request(net::publisher(sys), caf::infinite, caf::publish_atom::value,
              uint16_t{0}, caf::actor_cast<caf::strong_actor_ptr>(published),
              sys.message_types(published), listen, true)
    .then(
      [self, agent, published, where, then](uint16_t bound) mutable {
        auto port = net::on_published(self->system(), where, bound);
        if (!port) {
          caf::anon_send_exit(agent, caf::exit_reason::kill);
          then(agent_started{std::move(port.error())});
          return;
        }
        // From a sender of this node: the agent refuses an anonymous one.
        self->send(agent, set_endpoint_atom::value, where.host, *port);
        then(agent_started{std::make_pair(published, *port)});
      },
      [self, agent, where, then](caf::error& err) mutable {
        caf::anon_send_exit(agent, caf::exit_reason::kill);
        then(agent_started{
          net::on_published(self->system(), where, std::move(err)).error()});
      });
}

} // namespace

caf::actor start_local_op(caf::actor_system& sys, host_agent_options opts) {
  return spawn_op(sys, [opts](caf::event_based_actor* self, op_outcome out) {
    auto cmd = opts.default_command;
    start_agent_then(self, opts, [self, cmd, out](agent_started started) {
      if (!started) {
        out.fail(std::move(started.error()));
        return;
      }
      auto& sys = self->system();
      auto d = std::make_shared<mesh_access::host_data>();
      d->sys = &sys;
      d->id = host_mesh_id::instance("local");
      d->region = mesh::region{mesh::extent{{"hosts", 1}}};
      d->agents.push_back(started->first);
      d->addrs.push_back(config_of(sys).get(keys::listen_address) + ":"
                         + std::to_string(started->second));
      d->bootstrap = cmd;
      auto own = std::make_shared<mesh_access::host_owned>();
      own->local_agents.push_back(*started);
      out.done(host_mesh_handoff{std::move(d), std::move(own)});
    });
    return caf::message_handler{};
  });
}

caf::actor process_op(caf::actor_system& sys, mesh::extent hosts,
                      bootstrap_command cmd) {
  auto n = hosts.num_ranks();
  if (n == 0)
    return failed_op(sys, make_error(ec::invalid_argument,
                                     "host_mesh::process",
                                     "the host extent " + hosts.to_string()
                                       + " is empty"));
  return spawn_op(sys, [hosts, cmd, n](caf::event_based_actor* self,
                                       op_outcome out) {
    // A local agent launches the host processes like procs (same launcher,
    // handshake, parent-death signal and reaping), with the host role.
    host_agent_options opts;
    opts.bootstrap_children = true;
    opts.default_command = cmd;
    start_agent_then(self, opts, [self, hosts, cmd, n,
                                  out](agent_started launcher) {
      if (!launcher) {
        out.fail(std::move(launcher.error()));
        return;
      }
      auto& sys = self->system();
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
      auto d = std::make_shared<mesh_access::host_data>();
      d->sys = &sys;
      d->id = id;
      d->region = mesh::region{hosts};
      d->bootstrap = cmd;
      auto own = std::make_shared<mesh_access::host_owned>();
      own->local_agents.push_back(*launcher);
      own->launcher = launcher->first;
      for (auto& spec : req.procs)
        own->host_proc_names.push_back(spec.name);
      gather_then<std::vector<proc_info>>(
        self, std::vector<host_agent_actor>{launcher->first},
        stop_timeout(sys) * 2,
        [self, d, own, cmd,
         out](std::vector<caf::expected<std::vector<proc_info>>>& replies) {
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
                                     info.state.reason,
                                     "command " + cmd.to_string());
                break;
              }
              d->agents.push_back(
                caf::actor_cast<host_agent_actor>(info.agent));
              d->addrs.push_back(info.address);
            }
          }
          if (!failure) {
            out.done(host_mesh_handoff{d, own});
            return;
          }
          // Stops whatever host came up, then the launcher.
          self
            ->request(shutdown_op_of(d, own), caf::infinite,
                      caf::get_atom::value)
            .then([out, failure](shutdown_summary&) { out.fail(failure); },
                  [out, failure](caf::error& err) {
                    spdlog::error("cleaning up after a failed "
                                  "host_mesh::process: {}",
                                  mesh::to_string(err));
                    out.fail(failure);
                  });
        },
        spawn_procs_atom::value, req);
    });
    return caf::message_handler{};
  });
}

} // namespace detail

namespace {

/// The blocking face of the operations that make an owning host mesh.
caf::expected<host_mesh> await_host_mesh(caf::actor_system& sys,
                                         caf::actor op) {
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  auto handoff = detail::await_op<detail::host_mesh_handoff>(sys, op);
  if (!handoff)
    return std::move(handoff.error());
  return detail::mesh_access::make_host_mesh(std::move(handoff->d),
                                             std::move(handoff->own));
}

} // namespace

caf::expected<host_mesh> host_mesh::start_local(caf::actor_system& sys,
                                                host_agent_options opts) {
  return await_host_mesh(sys, detail::start_local_op(sys, std::move(opts)));
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
  return await_host_mesh(sys, detail::process_op(sys, std::move(hosts),
                                                 std::move(cmd)));
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
namespace detail {

namespace {

/// The work of attach, on a thread of its own (attach_op): connecting
/// blocks until each host answered or its deadline passed.
caf::expected<host_mesh_handoff> attach_blocking(caf::actor_system& sys,
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
  auto d = std::make_shared<mesh_access::host_data>();
  d->sys = &sys;
  d->id = std::move(id);
  d->region = mesh::region{mesh::extent{{"hosts", n}}};
  for (auto& ep : targets)
    d->addrs.push_back(ep.to_string());
  auto own = std::make_shared<mesh_access::host_owned>();
  if (n == 0)
    return host_mesh_handoff{std::move(d), std::move(own)};
  // Bad local credentials are this process's problem, not the hosts'.
  if (auto err = net::check_transport(sys))
    return err;
  auto timeout = config_of(sys).get(keys::attach_config_timeout);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto snapshot = config_of(sys).propagated_snapshot();
  // Stands for this owner at every host, which monitors it (claim_atom):
  // a host learns that its client died from the token's connection, and
  // meshd --owner-timeout ends such a host. It does nothing but live.
  own->owner_token = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](caf::ok_atom) {}};
  });
  std::vector<caf::error> failures(n);
  std::vector<host_agent_actor> agents(n);
  // blocking: attach_blocking runs on attach_op's detached actor's own thread
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
      // blocking: attach_blocking runs on attach_op's detached actor's own thread
      caf::scoped_actor self{sys};
      // Claimed before the push: the push's acknowledgement (same sender,
      // same connection) means the host has the claim too.
      self->send(agents[i], claim_atom::value, own->owner_token);
      // blocking: attach_blocking runs on attach_op's detached actor's own thread
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
  return host_mesh_handoff{std::move(d), std::move(own)};
}

} // namespace

caf::actor attach_op(caf::actor_system& sys, host_mesh_id id,
                     std::vector<std::string> addrs) {
  // Connecting blocks (CAF's connect, the probe of a remote address): the
  // operation runs on a thread of its own, as CAF's middleman does, so no
  // scheduler worker waits.
  return sys.spawn<caf::detached>(
    [id, addrs](caf::blocking_actor* self) mutable {
      auto result = attach_blocking(self->system(), std::move(id),
                                    std::move(addrs));
      self->receive([&](caf::get_atom) {
        auto rp = self->make_response_promise();
        if (result)
          rp.deliver(std::move(*result));
        else
          rp.deliver(std::move(result.error()));
      });
    });
}

} // namespace detail

caf::expected<host_mesh> host_mesh::attach(caf::actor_system& sys,
                                           host_mesh_id id,
                                           std::vector<std::string> addrs) {
  return await_host_mesh(sys, detail::attach_op(sys, std::move(id),
                                                std::move(addrs)));
}

} // namespace mesh
