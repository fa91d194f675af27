#include "actors/host_agent.hpp"

#include "actors/bootstrap_proc_manager.hpp"
#include "actors/comm_actor.hpp"
#include "actors/in_process_proc_manager.hpp"
#include "actors/registrar.hpp"
#include "bootstrap/network.hpp"
#include "bootstrap/payload.hpp"
#include "bootstrap/proc_stats.hpp"
#include "bootstrap/tls.hpp"
#include "libmesh/src/core/proc_env.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <tuple>

namespace mesh::keys {

// Read by the host agent (declared in mesh/config_keys.hpp, architecture §6).
// terminate_timeout also sizes the client's stop barrier
// (libmesh/src/client/host_mesh_shutdown.cpp).
const config_key<duration> host_spawn_ready_timeout{
  "host_spawn_ready_timeout", std::chrono::seconds{30}, true,
  "one child's bootstrap handshake (0 = wait forever)"};
const config_key<duration> terminate_timeout{
  "terminate_timeout", std::chrono::seconds{10}, true,
  "grace between polite stop, SIGTERM and SIGKILL"};
const config_key<int64_t> terminate_concurrency{
  "terminate_concurrency", 16, true,
  "children terminated at once per host"};
const config_key<bool> bootstrap_zygote{
  "bootstrap_zygote", true, true,
  "fork procs from a per-host zygote of their bootstrap command"};
const config_key<int64_t> tail_log_lines{
  "tail_log_lines", 100, true,
  "stderr lines kept per proc for error reports"};
const config_key<bool> log_forwarding{
  "log_forwarding", true, true,
  "child stdout/stderr forwarded to the client, prefixed [host/rank]"};

} // namespace mesh::keys

namespace mesh {

namespace {

using agent_ptr = host_agent_internal_actor::stateful_pointer<host_agent_state>;

/// The value of `key` on this host for a proc spawned with the client
/// snapshot `snap` (empty: the host's own value). Highest first: the host
/// system's settings above client_override (test overrides, environment,
/// runtime, file), the request's snapshot, the snapshot a client pushed to
/// this host (set_config), the host system's store. The pushed snapshot is
/// the host's own, not its system's: a local() host shares its system with
/// the client that owns it.
template <class T>
T effective(const config_store& store, const host_agent_state& st,
            const config_snapshot& snap, const config_key<T>& key) {
  if (store.source_of(key.name()) < config_source::client_override)
    return store.get(key);
  for (auto* layer :
       std::initializer_list<const config_snapshot*>{&snap, &st.pushed_config})
    for (auto& [name, text] : *layer) {
      if (name != key.name())
        continue;
      if (auto value = config_registry::instance().validate(name, text))
        return std::get<T>(*value);
    }
  return store.get(key);
}

/// The host's own value of `key` (no request snapshot).
template <class T>
T host_value(agent_ptr self, const config_key<T>& key) {
  return effective(config_of(self->system()), self->state, {}, key);
}

proc_agent_actor agent_of(const host_agent_state& st, const std::string& name) {
  auto i = st.agents.find(name);
  return i == st.agents.end() ? proc_agent_actor{} : i->second;
}

proc_info to_info(const host_agent_state& st, proc_state state,
                  std::string address) {
  auto agent = agent_of(st, state.proc_name);
  return proc_info{std::move(state), std::move(agent), std::move(address)};
}

/// Ends the proc manager; the held-back shutdown replies go out once it is
/// down (see the down handler).
void end_manager(agent_ptr self) {
  auto& st = self->state;
  // Unlinked first, so that its exit does not take this agent with it.
  self->unlink_from(st.manager);
  self->monitor(st.manager);
  self->send_exit(st.manager, caf::exit_reason::user_shutdown);
}

/// Carries out what the proc table asked for, in the order it lists them.
void execute(agent_ptr self, proc_effects fx) {
  auto& st = self->state;
  for (auto& [id, ev] : fx.events)
    if (auto i = st.subscribers.find(id); i != st.subscribers.end())
      caf::anon_send(i->second, ev);
  for (auto& [name, reason] : fx.polite_stops)
    if (auto agent = agent_of(st, name))
      self->send(agent, stop_proc_atom::value, reason);
  for (auto& [name, sig] : fx.signals)
    self->send(st.manager, signal_atom::value, name, int32_t{sig});
  for (auto& [name, delay] : fx.ready_timers)
    self->delayed_send(self, delay, ready_timeout_atom::value,
                       handshake_deadline{name});
  for (auto& [name, stage] : fx.escalations)
    self->delayed_send(self, host_value(self, keys::terminate_timeout), escalate_atom::value, name,
                       stage);
  for (auto& answer : fx.answers)
    if (auto i = st.waiters.find(answer.id); i != st.waiters.end()) {
      i->second.deliver(answer.rank, std::move(answer.state));
      st.waiters.erase(i);
    }
  for (auto& done : fx.spawns_done)
    if (auto i = st.spawns.find(done.id); i != st.spawns.end()) {
      std::vector<proc_info> result;
      for (auto& p : done.procs)
        result.push_back(to_info(st, std::move(p.state), p.address));
      i->second.deliver(std::move(result));
      st.spawns.erase(i);
    }
  bool quit = false;
  for (auto& done : fx.stops_done)
    if (auto i = st.stops.find(done.id); i != st.stops.end()) {
      if (done.quit_after) {
        quit = true;
        st.final_replies.emplace_back(i->second, std::move(done.summary));
      } else {
        i->second.deliver(std::move(done.summary));
      }
      st.stops.erase(i);
    }
  for (auto id : fx.spawns_failed)
    if (auto i = st.spawns.find(id); i != st.spawns.end()) {
      i->second.deliver(
        make_error(ec::not_running, "host " + st.address() + " shut down"));
      st.spawns.erase(i);
    }
  for (auto id : fx.waiters_dropped)
    st.waiters.erase(id);
  for (auto& name : fx.forgotten) {
    st.agents.erase(name);
    st.clocks.erase(name);
  }
  if (quit)
    end_manager(self);
}

/// The child connects and serves as this process does: with its mesh key
/// (mutual TLS), or over plain TCP if the operator chose that.
void set_transport(bootstrap::payload& p) {
  auto& t = tls::process_transport();
  p.insecure = t.insecure;
  p.mesh_key = t.key;
}

/// Has the proc manager start the zygote of the default proc command now, so
/// that the first spawn does not wait for it (e.g. a meshd that serves its
/// first client minutes after it started).
void warm_default_command(agent_ptr self) {
  auto& st = self->state;
  if (!st.options.bootstrap_children || !st.options.default_command ||
      st.port == 0 || !host_value(self, keys::bootstrap_zygote))
    return;
  bootstrap::payload p;
  p.child_role = bootstrap::role::proc;
  p.name = "warm-up";
  p.parent_host = st.host;
  p.parent_port = st.port;
  p.token = bootstrap::make_token();
  set_transport(p);
  launch_request lr;
  lr.name = p.name;
  lr.command = *st.options.default_command;
  lr.payload = bootstrap::encode(p);
  lr.zygote = true;
  self->send(st.manager, warm_atom::value, std::move(lr));
}

std::optional<bootstrap_command> command_for(const host_agent_state& st,
                                             const spawn_procs_request& req,
                                             const proc_spec& spec) {
  if (spec.command)
    return spec.command;
  if (req.default_command)
    return req.default_command;
  return st.options.default_command;
}

/// Where a proc of a spawn sits, for its environment (mesh/this_proc.hpp).
/// A request whose extent does not parse, or does not hold the rank, gives
/// no extent: the proc then gets only the variables that need none.
proc_place place_of(const host_agent_state& st, const spawn_procs_request& req,
                    const proc_spec& spec) {
  proc_place place;
  place.proc_mesh_id = req.proc_mesh_id;
  place.proc_name = spec.name;
  place.rank = spec.rank;
  place.host_addr = st.address();
  place.host_mesh_id = req.host_mesh_id;
  if (!req.extent.empty() && req.procs_per_host > 0) {
    if (auto ext = extent::parse(req.extent);
        ext && spec.rank < ext->num_ranks()) {
      place.extent = std::move(*ext);
      place.procs_per_host = req.procs_per_host;
    } else {
      spdlog::warn("host {}: spawn of {} names the extent '{}', which does not "
                   "hold rank {}: its procs get no WORLD_SIZE or MESH_POINT",
                   st.address(), req.proc_mesh_id, req.extent, spec.rank);
    }
  }
  return place;
}

/// The table record and the launch request of one proc of a spawn.
std::pair<proc_launch, launch_request>
plan_launch(const host_agent_state& st, const config_store& store,
            const spawn_procs_request& req, const proc_spec& spec) {
  proc_launch pl;
  auto& rec = pl.record;
  rec.name = spec.name;
  rec.proc_mesh_id = req.proc_mesh_id;
  rec.host_mesh_id = req.host_mesh_id;
  rec.rank = spec.rank;
  rec.tail_limit = static_cast<size_t>(
    std::max<int64_t>(0, effective(store, st, req.config, keys::tail_log_lines)));
  rec.forward_logs = effective(store, st, req.config, keys::log_forwarding);
  rec.token = bootstrap::make_token();
  rec.ready_timeout = effective(store, st, req.config, keys::host_spawn_ready_timeout);
  launch_request lr;
  lr.name = spec.name;
  lr.rank = spec.rank;
  lr.token = rec.token;
  if (!st.options.bootstrap_children)
    return {std::move(pl), std::move(lr)};
  auto cmd = command_for(st, req, spec);
  if (!cmd) {
    pl.error = "no bootstrap command for rank " + std::to_string(spec.rank);
    return {std::move(pl), std::move(lr)};
  }
  lr.command =
    spec.bind ? wrap_for_binding(*cmd, *spec.bind, numa_available()) : *cmd;
  rec.command = lr.command.to_string();
  bootstrap::payload p;
  p.child_role =
    req.host_children ? bootstrap::role::host : bootstrap::role::proc;
  if (req.host_children)
    p.proc_command = *cmd;
  p.name = spec.name;
  p.parent_host = st.host;
  p.parent_port = st.port;
  p.token = rec.token;
  p.config = req.config;
  set_transport(p);
  if (!req.host_children)
    p.proc_env = lr.proc_env = proc_env_of(place_of(st, req, spec));
  lr.payload = bootstrap::encode(p);
  lr.zygote =
    !req.host_children && effective(store, st, req.config, keys::bootstrap_zygote);
  return {std::move(pl), std::move(lr)};
}

void launch(agent_ptr self, launch_request lr) {
  auto name = lr.name;
  self->state.clocks[name] = proc_clock{proc_clock::clock::now(), {}, {}};
  self
    ->request(self->state.manager, caf::infinite, launch_atom::value,
              std::move(lr))
    .then(
      [self, name](int64_t pid) {
        execute(self, self->state.table.launched(name, pid));
      },
      [self, name](caf::error& err) {
        if (auto i = self->state.clocks.find(name);
            i != self->state.clocks.end() && !i->second.exited)
          i->second.exited = proc_clock::clock::now();
        execute(self,
                self->state.table.launch_failed(name, mesh::to_string(err)));
      });
}

/// The table, told how many procs this host may stop at once (PT-12) as
/// the host's configuration says now.
proc_table& stopping_table(agent_ptr self) {
  auto limit = host_value(self, keys::terminate_concurrency);
  self->state.table.set_terminate_concurrency(
    static_cast<size_t>(std::max<int64_t>(0, limit)));
  return self->state.table;
}

/// The proc manager's reports: from this node (HA-2) and from the manager
/// itself, whose handle never leaves the process (so that not even a routed
/// BASP message can claim to come from it).
bool from_manager(agent_ptr self, const char* what) {
  if (!from_this_node(self, what))
    return false;
  if (self->current_sender() ==
      caf::actor_cast<caf::strong_actor_ptr>(self->state.manager))
    return true;
  spdlog::warn("host {} refused {} from an actor other than its proc manager",
               self->state.address(), what);
  return false;
}

/// A proc whose agent became unreachable is looked at this long after, and
/// again as long as its process is gone but its exit not reported, at most
/// exit_report_checks times. A proc that died closed its connection at once
/// and its exit (with the code or signal: the better report) is on its way
/// from the proc manager, which a loaded machine can delay; a proc whose
/// process is still there is lost (PT-13) at the first look.
constexpr std::chrono::milliseconds exit_report_grace{100};
constexpr int32_t exit_report_checks = 20;

/// True if process `pid` of this machine is still there, running or stopped:
/// neither gone nor a zombie that waits to be reaped.
bool process_lives(int64_t pid) {
  if (pid <= 0)
    return false;
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return false;
  // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
  auto pos = line.rfind(')');
  if (pos == std::string::npos || pos + 2 >= line.size())
    return false;
  auto state = line[pos + 2];
  return state != 'Z' && state != 'X';
}

/// The proc_unresponsive_timeout this process's actor system started with
/// (0: off): apply_liveness (libmesh/src/client/liveness.hpp) set CAF's
/// cut-off to it minus one heartbeat interval. Read from the system rather
/// than from the key: it is what set the cut-off, even if a client pushed
/// another value since.
duration connection_timeout(agent_ptr self) {
  auto& cfg = self->system().config();
  auto cut = caf::get_or(cfg, "middleman.connection-timeout", caf::timespan{0});
  if (cut <= caf::timespan{0})
    return duration::zero();
  auto beat = caf::get_or(cfg, "middleman.heartbeat-interval", caf::timespan{0});
  return std::chrono::duration_cast<duration>(cut + beat);
}

/// Why a proc whose agent became unreachable while its process lived on
/// failed.
std::string lost_reason(agent_ptr self) {
  auto timeout = connection_timeout(self);
  if (timeout <= duration::zero())
    return "lost its connection to its host while its process was still "
           "running; killed (SIGKILL)";
  return "unresponsive for " + render_duration(timeout) +
         ": no heartbeat or message from it reached its host for "
         "proc_unresponsive_timeout; killed (SIGKILL) so that it cannot "
         "come back";
}

/// The agent of registered proc `name` is down. A lost connection
/// (remote_link_unreachable: the proc died, or was silent for the
/// connection timeout) is looked at after exit_report_grace; any other end
/// of the agent (a stop, the proc's own shutdown) precedes the exit that the
/// proc manager reports.
void agent_down(agent_ptr self, const std::string& name,
                const caf::error& reason) {
  auto* rec = self->state.table.find(name);
  if (rec == nullptr || rec->exited ||
      reason != caf::exit_reason::remote_link_unreachable)
    return;
  self->delayed_send(self, exit_report_grace, proc_lost_atom::value,
                     connection_lost{name, rec->pid});
}

// -- introspection --------------------------------------------------------------

int64_t ms_between(proc_clock::clock::time_point from,
                   proc_clock::clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from)
    .count();
}

/// Every key as this host resolves it (as effective() does: the host's own
/// layers above client_override, then the snapshot a client pushed, then
/// the rest).
std::vector<config_entry> config_dump(agent_ptr self) {
  auto& store = config_of(self->system());
  auto& pushed = self->state.pushed_config;
  std::vector<config_entry> out;
  for (auto* info : config_registry::instance().keys()) {
    config_entry e;
    e.key = info->name;
    e.env = info->env_name();
    e.default_value = render_config_value(info->fallback);
    auto src = store.source_of(info->name);
    auto value = store.get_value(info->name);
    if (src >= config_source::client_override)
      for (auto& [name, text] : pushed)
        if (name == info->name)
          if (auto v = config_registry::instance().validate(name, text)) {
            value = std::move(*v);
            src = config_source::client_override;
          }
    e.value = render_config_value(value);
    e.layer = std::string{to_string(src)};
    out.push_back(std::move(e));
  }
  return out;
}

/// One proc as the table and /proc see it (its actors come from its agent).
/// Advances the proc's CPU sample (cpu_percent covers the time since the
/// previous introspection of it, or since its launch).
proc_snapshot proc_of(agent_ptr self, const proc_record& rec,
                      proc_clock::clock::time_point now) {
  auto& st = self->state;
  proc_snapshot p;
  p.rank = rec.rank;
  p.name = rec.name;
  p.proc_mesh = rec.proc_mesh_id;
  p.host_mesh = rec.host_mesh_id;
  p.host = st.address();
  p.address = rec.address;
  p.pid = rec.pid;
  p.status = st.table.state_of(rec).status; // clamped while shutting down
  p.reason = rec.reason;
  p.exit_code = rec.exit_code;
  p.signal = rec.signal;
  p.stderr_tail.assign(rec.stderr_tail.begin(), rec.stderr_tail.end());
  auto c = st.clocks.find(rec.name);
  if (c != st.clocks.end())
    p.uptime_ms =
      ms_between(c->second.launched, c->second.exited.value_or(now));
  if (rec.pid <= 0 || rec.exited)
    return p;
  auto s = bootstrap::sample_process(rec.pid);
  if (!s)
    return p; // gone between its exit and the report of it: not known
  p.rss_bytes = s->rss_bytes;
  p.cpu_time_ms = s->cpu_time_ms;
  p.threads = s->threads;
  p.open_fds = s->open_fds;
  if (c != st.clocks.end()) {
    auto& clk = c->second;
    auto [cpu0, t0] =
      clk.last_cpu.value_or(std::make_pair(int64_t{0}, clk.launched));
    // Microseconds: two rounds can come within a millisecond. With no time
    // between them there is no rate (-1), and the earlier sample stays.
    auto wall_us =
      std::chrono::duration_cast<std::chrono::microseconds>(now - t0).count();
    if (wall_us > 0) {
      p.cpu_percent = 100.0 * 1000.0 *
                      static_cast<double>(std::max<int64_t>(
                        0, s->cpu_time_ms - cpu0)) /
                      static_cast<double>(wall_us);
      clk.last_cpu = std::make_pair(s->cpu_time_ms, now);
    }
  }
  return p;
}

/// One introspection round in flight: the snapshot and how many agents it
/// still waits for.
struct introspection_round {
  caf::typed_response_promise<host_snapshot> promise;
  host_snapshot snap;
  size_t pending = 0;

  void settle() {
    if (--pending == 0)
      promise.deliver(std::move(snap));
  }
};

caf::result<host_snapshot> introspect(agent_ptr self,
                                      const std::string& host_mesh_id,
                                      caf::timespan deadline) {
  auto& st = self->state;
  auto now = proc_clock::clock::now();
  host_snapshot snap;
  snap.address = st.address();
  snap.pid = static_cast<int64_t>(::getpid());
  snap.uptime_ms = ms_between(st.started, now);
  if (auto s = bootstrap::sample_self()) {
    snap.rss_bytes = s->rss_bytes;
    snap.cpu_time_ms = s->cpu_time_ms;
  }
  snap.config = config_dump(self);
  for (auto& name : st.table.names()) {
    auto* rec = st.table.find(name);
    if (rec == nullptr ||
        (!host_mesh_id.empty() && rec->host_mesh_id != host_mesh_id))
      continue;
    snap.procs.push_back(proc_of(self, *rec, now));
  }
  std::sort(snap.procs.begin(), snap.procs.end(),
            [](const proc_snapshot& a, const proc_snapshot& b) {
              return std::tie(a.proc_mesh, a.rank, a.name) <
                     std::tie(b.proc_mesh, b.rank, b.name);
            });
  std::map<std::string, uint64_t> counts;
  for (auto& p : snap.procs)
    ++counts[std::string{to_string(p.status)}];
  snap.procs_by_status.assign(counts.begin(), counts.end());
  // Every running proc's agent is asked; the others have none to ask.
  std::vector<std::pair<size_t, proc_agent_actor>> asks;
  for (size_t i = 0; i < snap.procs.size(); ++i)
    if (snap.procs[i].status == proc_status::running)
      if (auto agent = agent_of(st, snap.procs[i].name))
        asks.emplace_back(i, agent);
  if (asks.empty())
    return snap;
  auto round = std::make_shared<introspection_round>();
  round->promise = self->make_response_promise<host_snapshot>();
  round->snap = std::move(snap);
  round->pending = asks.size();
  for (auto& [index, agent] : asks)
    self->request(agent, deadline, introspect_atom::value)
      .then(
        [round, i = index](std::vector<actor_snapshot>& actors) {
          auto& p = round->snap.procs[i];
          p.actors = std::move(actors);
          p.responsive = true;
          round->settle();
        },
        // Timed out, or its agent is gone: unresponsive.
        [round](caf::error&) { round->settle(); });
  return round->promise;
}


caf::typed_response_promise<shutdown_summary>
start_stop(agent_ptr self, proc_table::stop_start started) {
  auto promise = self->make_response_promise<shutdown_summary>();
  self->state.stops.emplace(started.id, promise);
  execute(self, std::move(started.effects));
  return promise;
}

/// A stop that nobody asked for (the owner timeout): its summary goes
/// nowhere (a promise without a requester), yet the table's quit_after is
/// honored as for a requested one.
void start_unrequested_stop(agent_ptr self, proc_table::stop_start started) {
  self->state.stops.emplace(started.id,
                            caf::typed_response_promise<shutdown_summary>{});
  execute(self, std::move(started.effects));
}

/// Arms the owner timer if this host has an owner timeout and no owner; a
/// timer armed before (another generation) goes stale.
void arm_owner_timer(agent_ptr self) {
  auto& st = self->state;
  ++st.owner_generation;
  if (st.options.owner_timeout <= duration{0} || !st.owners.empty()
      || st.table.shutting_down())
    return;
  self->delayed_send(self, st.options.owner_timeout,
                     owner_timeout_atom::value,
                     owner_deadline{st.owner_generation});
}

/// Removes `owner` from the owners (and stops monitoring it); false if it
/// was not one.
bool drop_owner(agent_ptr self, const caf::actor_addr& owner) {
  auto& owners = self->state.owners;
  auto i = std::find_if(owners.begin(), owners.end(),
                        [&](const caf::actor& x) { return x.address() == owner; });
  if (i == owners.end())
    return false;
  self->demonitor(*i);
  owners.erase(i);
  return true;
}

} // namespace

host_agent_internal_actor::behavior_type
host_agent(host_agent_internal_actor::stateful_pointer<host_agent_state> self,
           host_agent_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  auto me = caf::actor_cast<host_agent_internal_actor>(self);
  st.registrar = self->spawn<caf::linked>(registrar, me);
  if (st.options.bootstrap_children)
    st.manager =
      self->spawn<caf::linked>(bootstrap_proc_manager, proc_listener_actor{me});
  else
    st.manager = self->spawn<caf::linked>(
      in_process_proc_manager, proc_listener_actor{me}, st.registrar);
  st.comm = self->spawn<caf::linked>(comm_actor);
  // A normal quit of the host agent does not end a linked actor, so all are
  // told. The handles of the comm actor and the registrar travel to other
  // nodes, which registers them in the actor registry for good: they only
  // end when told, and ~actor_system waits for them. The proc manager must
  // end on a scheduler thread while the system is up: left to die of its
  // last reference, it could be destroyed on its own watcher thread after
  // the actor system is gone.
  self->attach_functor(
    [comm = st.comm, manager = st.manager, registrar = st.registrar] {
      caf::anon_send_exit(comm, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(registrar, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
    });
  arm_owner_timer(self);
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    if (drop_owner(self, msg.source)) {
      // Lost without a release: the client died or its connection did.
      if (st.owners.empty() && st.options.owner_timeout > duration{0}
          && !st.table.shutting_down())
        spdlog::warn("host {}: its owner is gone ({}); the host ends in {} "
                     "unless a client attaches",
                     st.address(), self->system().render(msg.reason),
                     render_duration(st.options.owner_timeout));
      arm_owner_timer(self);
      return;
    }
    if (!st.final_replies.empty() && msg.source == st.manager.address()) {
      for (auto& [promise, summary] : st.final_replies)
        promise.deliver(summary);
      st.final_replies.clear();
      self->quit();
      return;
    }
    for (auto i = st.subscribers.begin(); i != st.subscribers.end();) {
      if (i->second.address() == msg.source) {
        st.table.unsubscribe(i->first);
        i = st.subscribers.erase(i);
      } else {
        ++i;
      }
    }
    // A proc agent (monitored since its registration): its handle is dead,
    // so nobody is handed it or asked through it any more.
    for (auto i = st.agents.begin(); i != st.agents.end(); ++i) {
      if (i->second.address() != msg.source)
        continue;
      auto name = i->first;
      st.agents.erase(i);
      agent_down(self, name, msg.reason);
      break;
    }
  });
  return {
    // -- the public protocol (host_agent_actor) -------------------------------
    [self](spawn_procs_atom, const spawn_procs_request& req)
      -> caf::result<std::vector<proc_info>> {
      auto& st = self->state;
      if (st.table.shutting_down())
        return make_error(ec::not_running,
                          "host " + st.address() + " is shutting down");
      std::vector<proc_launch> procs;
      std::map<std::string, launch_request> requests;
      for (auto& spec : req.procs) {
        if (st.table.find(spec.name) != nullptr || requests.count(spec.name)) {
          // Known already: counted in this spawn, not launched again.
          proc_launch known;
          known.record.name = spec.name;
          procs.push_back(std::move(known));
          continue;
        }
        auto [pl, lr] = plan_launch(st, config_of(self->system()), req, spec);
        procs.push_back(std::move(pl));
        requests.emplace(spec.name, std::move(lr));
      }
      auto started = st.table.spawn(std::move(procs));
      auto promise = self->make_response_promise<std::vector<proc_info>>();
      st.spawns.emplace(started.id, promise);
      for (auto& name : started.to_launch)
        launch(self, std::move(requests[name]));
      execute(self, std::move(started.effects));
      return promise;
    },
    [self](proc_state_atom, const std::string& mesh_id,
           const std::vector<std::string>& names) {
      auto& st = self->state;
      std::vector<proc_info> result;
      for (auto& state : st.table.states(mesh_id, names)) {
        auto* rec = st.table.find(state.proc_name);
        auto address = rec != nullptr ? rec->address : std::string{};
        result.push_back(to_info(st, std::move(state), std::move(address)));
      }
      return result;
    },
    [self](wait_status_atom, const std::string& name, proc_status min_status,
           uint64_t rank) -> caf::result<uint64_t, proc_state> {
      auto w = self->state.table.wait(name, min_status, rank);
      if (w.now)
        return {w.now->rank, std::move(w.now->state)};
      auto promise = self->make_response_promise<uint64_t, proc_state>();
      self->state.waiters.emplace(w.id, promise);
      return promise;
    },
    [self](stop_procs_atom, const std::string& mesh_id,
           const std::vector<std::string>& names, const std::string& reason) {
      auto& table = stopping_table(self);
      return start_stop(self,
                        table.stop(table.names_of(mesh_id, names), reason));
    },
    [self](drain_atom, const std::string& host_mesh_id) {
      return start_stop(self, stopping_table(self).drain(host_mesh_id));
    },
    [self](shutdown_host_atom) {
      return start_stop(self, stopping_table(self).shutdown());
    },
    [self](set_config_atom,
           const config_snapshot& snap) -> caf::result<caf::ok_atom> {
      // All or nothing: every entry must be a known key with a valid value.
      for (auto& [name, text] : snap)
        if (auto value = config_registry::instance().validate(name, text);
            !value)
          return std::move(value.error());
      self->state.pushed_config = snap;
      return caf::ok_atom::value;
    },
    [self](subscribe_events_atom, const std::string& mesh_id,
           const caf::actor& subscriber) {
      if (!subscriber)
        return;
      self->monitor(subscriber);
      auto id = self->state.table.subscribe(mesh_id);
      self->state.subscribers.emplace(id, subscriber);
    },
    [self](list_procs_atom) { return self->state.table.names(); },
    [self](comm_atom) { return self->state.comm; },
    [self](registrar_atom) { return self->state.registrar; },
    [self](introspect_atom, const std::string& host_mesh_id,
           const relay_timeout& deadline) -> caf::result<host_snapshot> {
      // At least a millisecond: a zero or negative deadline would give every
      // proc up before it could answer.
      auto d = std::max(deadline.value(),
                        caf::timespan{std::chrono::milliseconds{1}});
      return introspect(self, host_mesh_id, d);
    },
    // -- internal: from actors of this node only (HA-2) -----------------------
    [self](proc_exited_atom, const proc_exit& ex) {
      if (!from_manager(self, "proc_exited"))
        return;
      if (auto i = self->state.clocks.find(ex.name);
          i != self->state.clocks.end() && !i->second.exited)
        i->second.exited = proc_clock::clock::now();
      execute(self, self->state.table.exited(ex.name, ex.exit_code, ex.signal,
                                             ex.reason));
    },
    [self](proc_output_atom, proc_output& out) {
      if (!from_manager(self, "proc_output"))
        return;
      auto& st = self->state;
      auto route = st.table.output(out.name, out.is_stderr, out.line);
      if (!route)
        return;
      out.rank = route->rank;
      for (auto id : route->to)
        if (auto i = st.subscribers.find(id); i != st.subscribers.end())
          caf::anon_send(i->second, out);
    },
    [self](set_endpoint_atom, const std::string& host, uint16_t port) {
      if (!from_this_node(self, "set_endpoint"))
        return;
      auto& st = self->state;
      if (st.port != 0) {
        spdlog::warn("host {} ignored a second set_endpoint ({}:{})",
                     st.address(), host, port);
        return;
      }
      st.host = host;
      st.port = port;
      st.table.set_address(st.address());
      warm_default_command(self);
    },
    [self](register_child_atom,
           const child_registration& reg) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto refuse = [&](const std::string& why) {
        return make_error(ec::handshake_refused,
                          "host " + st.address() +
                            " refused the registration of '" + reg.name + "'",
                          why);
      };
      if (!from_this_node(self, "register_child"))
        return refuse("it did not come through the host's registrar");
      proc_registration pr;
      pr.name = reg.name;
      pr.token = reg.token;
      pr.pid = reg.pid;
      pr.has_agent = static_cast<bool>(reg.agent);
      if (reg.port != 0)
        pr.address = reg.host + ":" + std::to_string(reg.port);
      auto accepted = st.table.register_proc(pr);
      if (!accepted) {
        spdlog::warn("host {} refused the registration of '{}' (pid {}): "
                     "unknown proc, wrong token or token already used",
                     st.address(), reg.name, reg.pid);
        return refuse("unknown proc, wrong token or token already used");
      }
      st.agents[reg.name] = caf::actor_cast<proc_agent_actor>(reg.agent);
      // Its connection is how a hung proc shows (PT-13): CAF closes it after
      // proc_unresponsive_timeout of silence, which fires this monitor.
      self->monitor(reg.agent);
      execute(self, std::move(*accepted));
      return caf::ok_atom::value;
    },
    [self](actor_failed_atom, const actor_failure& failure) {
      if (!from_this_node(self, "actor_failed"))
        return;
      execute(self, self->state.table.actor_failed(
                      failure.proc_name, failure.name, failure.actor_mesh,
                      failure.reason));
    },
    [self](ready_timeout_atom, const handshake_deadline& deadline) {
      if (!from_this_node(self, "ready_timeout"))
        return;
      auto& name = deadline.name;
      auto& table = self->state.table;
      auto* rec = table.find(name);
      if (rec == nullptr)
        return;
      auto why = "did not complete the bootstrap handshake within " +
                 render_duration(rec->ready_timeout);
      execute(self, table.ready_timeout(name, why));
    },
    [self](escalate_atom, const std::string& name, stop_stage stage) {
      if (!from_this_node(self, "escalate"))
        return;
      execute(self, self->state.table.escalate(name, stage));
    },
    [self](claim_atom, const caf::actor& owner) {
      auto& st = self->state;
      if (!owner)
        return;
      if (std::none_of(st.owners.begin(), st.owners.end(),
                       [&](const caf::actor& x) { return x == owner; })) {
        self->monitor(owner);
        st.owners.push_back(owner);
      }
      // Disarms a pending owner timer.
      ++st.owner_generation;
    },
    [self](release_atom, const caf::actor& owner) {
      // Let go on purpose: no timer, the host waits for another attach.
      if (owner)
        drop_owner(self, owner.address());
      ++self->state.owner_generation;
      return caf::ok_atom::value;
    },
    [self](owner_timeout_atom, const owner_deadline& due) {
      if (!from_this_node(self, "owner_timeout"))
        return;
      auto& st = self->state;
      if (due.generation != st.owner_generation || !st.owners.empty()
          || st.table.shutting_down())
        return;
      spdlog::warn("host {}: no client has owned it for {}: stopping its "
                   "procs and ending (owner timeout)",
                   st.address(), render_duration(st.options.owner_timeout));
      start_unrequested_stop(self, stopping_table(self).shutdown());
    },
    [self](proc_lost_atom, const connection_lost& lost) {
      if (!from_this_node(self, "proc_lost"))
        return;
      auto& table = self->state.table;
      auto* rec = table.find(lost.name);
      // Gone, exited in the grace, or forgotten and spawned again since.
      if (rec == nullptr || rec->exited || rec->pid != lost.pid)
        return;
      if (!process_lives(lost.pid) && lost.checks < exit_report_checks) {
        // Dead: its exit report is on its way. (Bounded: a pid this host
        // cannot see, e.g. from another pid namespace, is not waited on
        // for ever.)
        auto next = lost;
        ++next.checks;
        self->delayed_send(self, exit_report_grace, proc_lost_atom::value,
                           std::move(next));
        return;
      }
      auto why = lost_reason(self);
      auto fx = table.lost(lost.name, why);
      if (!fx.empty())
        spdlog::warn("host {}: proc '{}' (pid {}) {}", self->state.address(),
                     lost.name, lost.pid, why);
      execute(self, std::move(fx));
    },
  };
}

caf::expected<std::pair<host_agent_actor, uint16_t>>
// blocking: a host process's main thread (meshd, a host child); clients publish through start_local_op
publish_host_agent(caf::actor_system& sys, host_agent_options options,
                   const std::string& host, uint16_t port) {
  auto agent = sys.spawn(host_agent, std::move(options));
  // Narrowed before publishing: peers see (and can check) only this face.
  host_agent_actor published = agent;
  // blocking: a host process's main thread (meshd, a host child); clients publish through start_local_op
  auto bound = net::publish(sys, published, host, port);
  if (!bound) {
    caf::anon_send_exit(agent, caf::exit_reason::kill);
    return std::move(bound.error());
  }
  {
    // From a sender of this node: the agent refuses an anonymous one.
    // blocking: a host process's main thread (meshd, a host child); clients publish through start_local_op
    caf::scoped_actor self{sys};
    self->send(agent, set_endpoint_atom::value, host, *bound);
  }
  return std::make_pair(std::move(published), *bound);
}

} // namespace mesh
