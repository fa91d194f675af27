#include "mesh/host_mesh.hpp"

#include "actors/host_agent.hpp"
#include "actors/mesh_controller.hpp"
#include "bootstrap/network.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mesh {

std::chrono::milliseconds stop_timeout(caf::actor_system& sys) {
  auto& store = config_of(sys);
  auto escalation =
    3 * store.get(keys::terminate_timeout) + std::chrono::seconds{5};
  return std::max<std::chrono::milliseconds>(
    store.get(keys::proc_stop_max_idle), escalation);
}

// -- host_mesh_ref ---------------------------------------------------------------

host_mesh_ref::host_mesh_ref() : d_(std::make_shared<data>()) {
}

host_mesh_ref::host_mesh_ref(std::shared_ptr<data> d) : d_(std::move(d)) {
}

const host_mesh_id& host_mesh_ref::id() const {
  return d_->id;
}

const mesh::region& host_mesh_ref::region() const {
  return d_->region;
}

mesh::extent host_mesh_ref::extent() const {
  return d_->region.extent();
}

std::vector<std::string> host_mesh_ref::host_addrs() const {
  return d_->addrs;
}

host_agent_actor host_mesh_ref::agent(size_t host_rank) const {
  return host_rank < d_->agents.size() ? d_->agents[host_rank]
                                       : host_agent_actor{};
}

caf::actor_system& host_mesh_ref::system() const {
  return *d_->sys;
}

caf::expected<host_mesh_ref>
host_mesh_ref::range(std::string_view label, size_t begin, size_t end,
                     size_t step) const {
  auto sliced = d_->region.range(label, begin, end, step);
  if (!sliced)
    return std::move(sliced.error());
  auto d = std::make_shared<data>(*d_);
  d->region = *sliced;
  d->agents.clear();
  d->addrs.clear();
  for (auto base : sliced->base_ranks()) {
    auto view = d_->region.view_rank_of(base);
    if (!view)
      return make_error(ec::invalid_argument, "range of host mesh "
                                                + d_->id.to_string(),
                        "selects a host outside the mesh");
    d->agents.push_back(d_->agents[*view]);
    d->addrs.push_back(d_->addrs[*view]);
  }
  return host_mesh_ref{std::move(d)};
}

std::string host_mesh_ref::to_string() const {
  std::string result = d_->id.to_string() + ":";
  for (size_t i = 0; i < d_->addrs.size(); ++i)
    result += (i == 0 ? "" : ",") + d_->addrs[i];
  return result + "@" + d_->region.to_string();
}

caf::expected<host_mesh_ref> host_mesh_ref::parse(caf::actor_system& sys,
                                                  std::string_view text) {
  auto colon = text.find(':');
  auto at = text.rfind('@');
  if (colon == std::string_view::npos)
    return make_error(ec::parse_error, "host mesh '" + std::string{text} + "'",
                      "missing the mesh id before ':'");
  if (at == std::string_view::npos || at < colon)
    return make_error(ec::parse_error, "host mesh '" + std::string{text} + "'",
                      "missing the region after '@'");
  auto id = host_mesh_id::parse(text.substr(0, colon));
  if (!id)
    return std::move(id.error());
  auto region = region::parse(text.substr(at + 1));
  if (!region)
    return std::move(region.error());
  auto d = std::make_shared<data>();
  d->sys = &sys;
  d->id = *id;
  d->region = *region;
  auto hosts = text.substr(colon + 1, at - colon - 1);
  while (!hosts.empty()) {
    auto comma = hosts.find(',');
    auto addr = hosts.substr(0, comma);
    d->addrs.emplace_back(addr);
    hosts = comma == std::string_view::npos ? std::string_view{}
                                            : hosts.substr(comma + 1);
  }
  if (d->addrs.size() != region->num_ranks())
    return make_error(ec::parse_error, "host mesh '" + std::string{text} + "'",
                      "lists " + std::to_string(d->addrs.size())
                        + " hosts for a region of "
                        + std::to_string(region->num_ranks()) + " ranks");
  std::vector<net::endpoint> targets;
  for (auto& addr : d->addrs) {
    auto ep = net::parse_endpoint(addr);
    if (!ep)
      return std::move(ep.error());
    targets.push_back(std::move(*ep));
  }
  auto timeout = config_of(sys).get(keys::attach_config_timeout);
  for (auto& agent :
       net::connect_all<host_agent_actor>(sys, targets, timeout)) {
    if (!agent)
      return std::move(agent.error());
    d->agents.push_back(std::move(*agent));
  }
  return host_mesh_ref{std::move(d)};
}

caf::expected<proc_mesh>
host_mesh_ref::spawn(std::string name, mesh::extent per_host,
                     std::optional<std::vector<proc_bind>> bind,
                     per_rank_bootstrap per_rank) const {
  if (!*d_->alive)
    return make_error(ec::not_running,
                      "host mesh " + d_->id.to_string() + " was shut down");
  auto combined = extent().concat(per_host);
  if (!combined)
    return make_error(ec::overlapping_label,
                      "spawn of '" + name + "' on host mesh "
                        + d_->id.to_string(),
                      "per_host dimensions " + per_host.to_string()
                        + " overlap the host dimensions "
                        + extent().to_string());
  auto per = per_host.num_ranks();
  if (per == 0 || combined->num_ranks() == 0)
    return make_error(ec::invalid_argument, "spawn of '" + name + "'",
                      "the proc mesh would be empty");
  if (bind && bind->size() != per)
    return make_error(ec::invalid_argument, "spawn of '" + name + "'",
                      "proc_bind has " + std::to_string(bind->size())
                        + " entries but per_host " + per_host.to_string()
                        + " has " + std::to_string(per) + " ranks");
  auto id = proc_mesh_id::instance(name);
  auto id_text = id.to_string();
  auto total = combined->num_ranks();
  auto nhosts = d_->agents.size();
  // Commands are chosen on the client, before anything is launched, so that
  // a failing per-rank callback starts nothing.
  std::vector<std::optional<bootstrap_command>> commands(total);
  if (per_rank) {
    for (size_t r = 0; r < total; ++r) {
      auto pt = combined->point_of_rank(r);
      if (!pt)
        return std::move(pt.error());
      auto cmd = per_rank(*pt);
      if (!cmd)
        return make_error(ec::invalid_argument,
                          "per-rank bootstrap of '" + name + "' for rank "
                            + std::to_string(r) + " (" + pt->to_string() + ")",
                          mesh::to_string(cmd.error()));
      commands[r] = std::move(*cmd);
    }
  }
  mesh_layout layout;
  layout.proc_mesh_id = id_text;
  layout.procs_per_host = per;
  layout.host_addrs = d_->addrs;
  layout.proc_names.resize(total);
  auto snapshot = config_of(*d_->sys).propagated_snapshot();
  std::vector<spawn_procs_request> requests(nhosts);
  auto shared = std::make_shared<mesh_controller_shared>();
  shared->procs.resize(total);
  for (size_t h = 0; h < nhosts; ++h) {
    auto& req = requests[h];
    req.proc_mesh_id = id_text;
    req.host_mesh_id = d_->id.to_string();
    req.default_command = d_->bootstrap;
    req.config = snapshot;
    for (size_t s = 0; s < per; ++s) {
      auto r = h * per + s;
      proc_spec spec;
      spec.name = proc_name(id, r);
      spec.rank = r;
      spec.command = commands[r];
      if (bind)
        spec.bind = (*bind)[s];
      layout.proc_names[r] = spec.name;
      auto& info = shared->procs[r];
      info.state.rank = r;
      info.state.proc_name = spec.name;
      info.state.host = d_->addrs[h];
      info.state.status = proc_status::not_exist;
      auto& cmd = spec.command ? spec.command : d_->bootstrap;
      layout.commands.push_back(cmd ? cmd->to_string()
                                    : std::string{"the host's default command"});
      req.procs.push_back(std::move(spec));
    }
  }
  auto& sys = *d_->sys;
  auto where = std::make_shared<const mesh_layout>(std::move(layout));
  auto controller = sys.spawn(mesh_controller, shared, where);
  // Subscribing first: the host agents see the subscription before the
  // controller's spawn requests (same sender node, FIFO).
  for (auto& agent : d_->agents)
    caf::anon_send(agent, subscribe_events_atom::value, id_text,
                   caf::actor_cast<caf::actor>(controller));
  caf::error failure;
  {
    caf::scoped_actor self{sys};
    self->request(controller, caf::infinite, spawn_procs_atom::value,
                  d_->agents, std::move(requests))
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { failure = err; });
  }
  auto pm = std::make_unique<proc_mesh::data>();
  pm->sys = &sys;
  pm->id = id;
  pm->extent = *combined;
  pm->layout = std::move(where);
  pm->hosts = d_->agents;
  pm->shared = std::move(shared);
  pm->controller = controller;
  proc_mesh result{std::move(pm)};
  if (failure) {
    // Nothing of a failed spawn may be left running.
    if (auto stopped = result.stop("spawn failed"); !stopped)
      spdlog::error("cleaning up after a failed spawn of '{}': {}", name,
                    mesh::to_string(stopped.error()));
    return failure;
  }
  return result;
}

// -- host_mesh -------------------------------------------------------------------

struct host_mesh::owned {
  /// Host agents living in this process, with the port each is published on.
  std::vector<std::pair<host_agent_actor, uint16_t>> local_agents;
  /// host_mesh::process: the local agent that launched the host processes.
  host_agent_actor launcher;
  std::vector<std::string> host_proc_names;
  std::optional<caf::expected<shutdown_summary>> result;
  /// stop() ran: hosts that live elsewhere (attach) are left to their daemons.
  bool stopped = false;

  /// Whether destroying the owner must shut the hosts down: not after a
  /// shutdown, nor after a stop() of hosts this process does not run.
  bool shutdown_pending() const {
    return !result && !(stopped && local_agents.empty());
  }
};

host_mesh::host_mesh(std::shared_ptr<data> d)
  : host_mesh_ref(std::move(d)), own_(std::make_unique<owned>()) {
}

host_mesh::host_mesh(host_mesh&&) noexcept = default;

host_mesh& host_mesh::operator=(host_mesh&& other) noexcept {
  if (this != &other) {
    if (own_ && own_->shutdown_pending())
      static_cast<void>(shutdown());
    host_mesh_ref::operator=(std::move(other));
    own_ = std::move(other.own_);
  }
  return *this;
}

host_mesh::~host_mesh() {
  if (own_ && own_->shutdown_pending()) {
    auto res = shutdown();
    if (!res)
      spdlog::error("shutting down host mesh {} on destruction: {}",
                    d_->id.to_string(), mesh::to_string(res.error()));
  }
}

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

host_mesh host_mesh::take(host_mesh_ref ref) {
  return host_mesh{std::move(ref.d_)};
}

void host_mesh::set_bootstrap(bootstrap_command cmd) {
  // Copy on write: references taken before keep the old command.
  auto d = std::make_shared<data>(*d_);
  d->bootstrap = std::move(cmd);
  d_ = std::move(d);
}

const host_mesh_ref& host_mesh::as_ref() const {
  return *this;
}

shutdown_guard host_mesh::into_shutdown_guard() && {
  return shutdown_guard{std::move(*this)};
}

namespace {

/// Adds up per-host replies; a host that failed to answer is a failure.
caf::expected<shutdown_summary>
summarize(const std::vector<caf::expected<shutdown_summary>>& replies,
          const std::vector<std::string>& addrs, const std::string& what) {
  shutdown_summary total;
  for (size_t i = 0; i < replies.size(); ++i) {
    if (replies[i])
      total += *replies[i];
    // A host agent that no longer exists was shut down already (e.g. by
    // another owner of a taken reference): nothing is left to stop there.
    else if (replies[i].error() != caf::sec::request_receiver_down)
      total.failures.push_back("host " + addrs[i] + " (" + what + "): "
                               + mesh::to_string(replies[i].error()));
  }
  return total;
}

caf::expected<shutdown_summary> as_result(shutdown_summary s,
                                          const std::string& what) {
  if (s.failures.empty())
    return s;
  return make_error(ec::stop_failed, what, s.to_string());
}

} // namespace

caf::expected<shutdown_summary> host_mesh::stop() {
  if (!own_)
    return make_error(ec::not_running, "host mesh was moved from");
  if (own_->result)
    return make_error(ec::not_running,
                      "host mesh " + d_->id.to_string() + " was shut down");
  auto replies = gather<shutdown_summary>(
    *d_->sys, d_->agents, stop_timeout(*d_->sys), drain_atom::value,
    d_->id.to_string());
  own_->stopped = true;
  auto total = summarize(replies, d_->addrs, "stop");
  return as_result(std::move(*total), "stop of host mesh "
                                        + d_->id.to_string());
}

caf::expected<shutdown_summary> host_mesh::shutdown() {
  if (!own_)
    return make_error(ec::not_running, "host mesh was moved from");
  if (own_->result)
    return *own_->result;
  *d_->alive = false;
  auto& sys = *d_->sys;
  // Phase 1: every host terminates its procs while all networking is up.
  auto drained = gather<shutdown_summary>(
    sys, d_->agents, stop_timeout(sys), drain_atom::value, std::string{});
  auto total = *summarize(drained, d_->addrs, "drain");
  // Phase 2: the hosts themselves; nothing is left to flush.
  auto acks = gather<shutdown_summary>(sys, d_->agents, stop_timeout(sys),
                                             shutdown_host_atom::value);
  auto phase2 = *summarize(acks, d_->addrs, "shutdown");
  phase2.hosts = 0;
  total += phase2;
  total.hosts = 0;
  for (auto& ack : acks)
    if (ack)
      ++total.hosts;
  // host_mesh::process: the host processes exit once acked; wait for that,
  // then let the launcher reap them.
  if (own_->launcher) {
    caf::scoped_actor self{sys};
    for (size_t r = 0; r < own_->host_proc_names.size(); ++r)
      self
        ->request(own_->launcher, stop_timeout(sys), wait_status_atom::value,
                  own_->host_proc_names[r], proc_status::stopped, uint64_t{r})
        .receive([](uint64_t, proc_state&) {}, [](caf::error&) {});
  }
  for (auto& [agent, port] : own_->local_agents) {
    if (agent == own_->launcher) {
      auto res = gather<shutdown_summary>(
        sys, std::vector<host_agent_actor>{agent}, stop_timeout(sys),
        shutdown_host_atom::value);
      if (!res.front())
        total.failures.push_back("the launcher of the host processes: "
                                 + mesh::to_string(res.front().error()));
      else
        total.failures.insert(total.failures.end(),
                              res.front()->failures.begin(),
                              res.front()->failures.end());
    }
    static_cast<void>(sys.middleman().unpublish(agent, port));
  }
  own_->result = as_result(total, "shutdown of host mesh " + d_->id.to_string());
  return *own_->result;
}

// -- shutdown_guard --------------------------------------------------------------

shutdown_guard::shutdown_guard(host_mesh mesh) : mesh_(std::move(mesh)) {
}

shutdown_guard::~shutdown_guard() = default;

} // namespace mesh
