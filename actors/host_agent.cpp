#include "actors/host_agent.hpp"

#include "actors/bootstrap_proc_manager.hpp"
#include "actors/comm_actor.hpp"
#include "actors/in_process_proc_manager.hpp"
#include "bootstrap/payload.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>

namespace mesh {

namespace {

using agent_ptr = host_agent_actor::stateful_pointer<host_agent_state>;

/// The value of `key` for a proc spawned with the client snapshot `snap`:
/// the host's own settings above client_override win, then the snapshot, then
/// the host's value (default or client override).
template <class T>
T effective(const config_snapshot& snap, const config_key<T>& key) {
  auto& store = config_store::global();
  auto src = store.source_of(key.name());
  if (src < config_source::client_override)
    return store.get(key);
  for (auto& [name, text] : snap) {
    if (name != key.name())
      continue;
    if (auto value = config_registry::instance().validate(name, text))
      return std::get<T>(*value);
  }
  return store.get(key);
}

duration terminate_timeout() {
  return config_store::global().get(keys::terminate_timeout);
}

proc_state to_state(const host_agent_state& st, const proc_record& rec) {
  proc_state result;
  result.rank = rec.rank;
  result.proc_name = rec.name;
  result.host = st.address();
  result.pid = rec.pid;
  result.status = st.shutting_down
                    ? clamp_min(rec.status, proc_status::stopping)
                    : rec.status;
  result.exit_code = rec.exit_code;
  result.signal = rec.signal;
  result.stderr_tail.assign(rec.stderr_tail.begin(), rec.stderr_tail.end());
  result.reason = rec.reason;
  return result;
}

proc_info to_info(const host_agent_state& st, const proc_record& rec) {
  return proc_info{to_state(st, rec), rec.agent, rec.address};
}

void push_event(agent_ptr self, const proc_record& rec) {
  proc_event ev;
  ev.rank = rec.rank;
  ev.proc_name = rec.name;
  ev.status = rec.status;
  ev.exit_code = rec.exit_code;
  ev.signal = rec.signal;
  ev.reason = rec.reason;
  for (auto& [mesh, sub] : self->state.subscribers)
    if (mesh.empty() || mesh == rec.proc_mesh_id)
      caf::anon_send(sub, ev);
}

void flush_waiters(agent_ptr self, const proc_record& rec) {
  auto i = self->state.waiters.find(rec.name);
  if (i == self->state.waiters.end())
    return;
  auto& list = i->second;
  for (auto w = list.begin(); w != list.end();) {
    if (rec.status >= w->min_status) {
      w->promise.deliver(w->rank, to_state(self->state, rec));
      w = list.erase(w);
    } else {
      ++w;
    }
  }
  if (list.empty())
    self->state.waiters.erase(i);
}

void check_spawns(agent_ptr self) {
  auto& st = self->state;
  for (auto i = st.spawns.begin(); i != st.spawns.end();) {
    auto done = std::all_of(i->names.begin(), i->names.end(), [&](auto& n) {
      auto r = st.procs.find(n);
      return r == st.procs.end()
             || r->second.status != proc_status::initializing;
    });
    if (!done) {
      ++i;
      continue;
    }
    std::vector<proc_info> result;
    for (auto& n : i->names)
      if (auto r = st.procs.find(n); r != st.procs.end())
        result.push_back(to_info(st, r->second));
    i->promise.deliver(std::move(result));
    i = st.spawns.erase(i);
  }
}

void check_stops(agent_ptr self) {
  auto& st = self->state;
  bool quit = false;
  for (auto i = st.stops.begin(); i != st.stops.end();) {
    if (!i->names.empty()) {
      ++i;
      continue;
    }
    if (i->quit_after) {
      quit = true;
      st.final_replies.emplace_back(i->promise, i->summary);
    } else {
      i->promise.deliver(i->summary);
    }
    i = st.stops.erase(i);
  }
  if (quit) {
    for (auto& sp : st.spawns)
      sp.promise.deliver(make_error(ec::not_running, "host "
                                                       + st.address()
                                                       + " shut down"));
    st.spawns.clear();
    st.waiters.clear();
    // The replies go out once the manager is down (see the down handler);
    // unlinked first, so that its exit does not take this agent with it.
    self->unlink_from(st.manager);
    self->monitor(st.manager);
    self->send_exit(st.manager, caf::exit_reason::user_shutdown);
  }
}

/// Moves a proc to `status` (never down from a terminal status), tells the
/// subscribers and wakes whoever waits for it.
void set_status(agent_ptr self, proc_record& rec, proc_status status,
                std::string reason = {}) {
  if (is_terminated(rec.status) || status == rec.status)
    return;
  rec.status = status;
  if (!reason.empty())
    rec.reason = std::move(reason);
  push_event(self, rec);
  flush_waiters(self, rec);
  check_spawns(self);
}

void schedule_escalation(agent_ptr self, const std::string& name, int stage) {
  self->delayed_send(self, terminate_timeout(), escalate_atom::value, name,
                     int32_t{stage});
}

/// Starts stopping one proc: a polite stop through its proc agent when it has
/// one, else SIGTERM right away.
void begin_stop(agent_ptr self, proc_record& rec, const std::string& reason) {
  if (rec.exited || rec.stop_stage > 0)
    return;
  if (rec.agent) {
    self->send(rec.agent, stop_proc_atom::value, reason);
    rec.stop_stage = 1;
  } else {
    self->send(self->state.manager, signal_atom::value, rec.name,
               int32_t{SIGTERM});
    rec.stop_stage = 2;
  }
  set_status(self, rec, proc_status::stopping, reason);
  schedule_escalation(self, rec.name, rec.stop_stage);
}

/// Stops `names` and replies the summary to `promise` once all have exited.
void stop_set(agent_ptr self, const std::vector<std::string>& names,
              const std::string& reason,
              caf::typed_response_promise<shutdown_summary> promise,
              bool forget, bool quit_after) {
  auto& st = self->state;
  pending_stop stop;
  stop.promise = std::move(promise);
  stop.forget = forget;
  stop.quit_after = quit_after;
  stop.summary.hosts = 1;
  for (auto& name : names) {
    auto i = st.procs.find(name);
    if (i == st.procs.end())
      continue;
    auto& rec = i->second;
    if (rec.exited) {
      ++stop.summary.already_gone;
      if (forget)
        st.procs.erase(i);
      continue;
    }
    stop.names.insert(name);
    begin_stop(self, rec, reason);
  }
  st.stops.push_back(std::move(stop));
  check_stops(self);
}

/// Removes `name` from every pending stop, counting how it ended.
void settle_stops(agent_ptr self, const proc_record& rec,
                  std::optional<std::string> failure = std::nullopt) {
  auto& st = self->state;
  bool forget = false;
  for (auto& stop : st.stops) {
    if (stop.names.erase(rec.name) == 0)
      continue;
    forget = forget || stop.forget;
    if (failure)
      stop.summary.failures.push_back(*failure);
    else if (rec.stop_stage <= 1)
      ++stop.summary.stopped_politely;
    else if (rec.stop_stage == 2)
      ++stop.summary.terminated;
    else
      ++stop.summary.killed;
  }
  if (forget && !failure)
    st.procs.erase(rec.name);
  check_stops(self);
}

std::string describe_exit(const proc_exit& ex) {
  if (!ex.reason.empty())
    return ex.reason;
  if (ex.signal)
    return "killed by signal " + std::to_string(*ex.signal) + " ("
           + strsignal(*ex.signal) + ")";
  if (ex.exit_code)
    return "exited with code " + std::to_string(*ex.exit_code);
  return "exited";
}

void on_exit(agent_ptr self, const proc_exit& ex) {
  auto i = self->state.procs.find(ex.name);
  if (i == self->state.procs.end())
    return;
  auto& rec = i->second;
  rec.exited = true;
  rec.exit_code = ex.exit_code;
  rec.signal = ex.signal;
  auto what = describe_exit(ex);
  if (rec.stop_stage > 0) {
    set_status(self, rec, proc_status::stopped, rec.reason);
  } else if (rec.status == proc_status::initializing) {
    auto reason = what + " before the bootstrap handshake";
    if (!rec.stderr_tail.empty())
      reason += "; last stderr: " + rec.stderr_tail.back();
    set_status(self, rec, proc_status::failed, reason);
  } else if (ex.signal || (ex.exit_code && *ex.exit_code != 0)) {
    set_status(self, rec, proc_status::failed, what);
  } else {
    set_status(self, rec, proc_status::stopped, "exited cleanly");
  }
  settle_stops(self, rec);
}

/// Has the proc manager start the zygote of the default proc command now, so
/// that the first spawn does not wait for it (e.g. a meshd that serves its
/// first client minutes after it started).
void warm_default_command(agent_ptr self) {
  auto& st = self->state;
  if (!st.options.bootstrap_children || !st.options.default_command
      || st.port == 0
      || !config_store::global().get(keys::bootstrap_zygote))
    return;
  bootstrap::payload p;
  p.child_role = bootstrap::role::proc;
  p.name = "warm-up";
  p.mesh_id = "warm-up";
  p.parent_host = st.host;
  p.parent_port = st.port;
  p.token = bootstrap::make_token();
  launch_request lr;
  lr.name = p.name;
  lr.command = *st.options.default_command;
  lr.payload = bootstrap::encode(p);
  lr.zygote = true;
  self->send(st.manager, warm_atom::value, std::move(lr));
}

std::optional<bootstrap_command>
command_for(const host_agent_state& st, const spawn_procs_request& req,
            const proc_spec& spec) {
  if (spec.command)
    return spec.command;
  if (req.default_command)
    return req.default_command;
  return st.options.default_command;
}

void launch(agent_ptr self, const spawn_procs_request& req,
            const proc_spec& spec) {
  auto& st = self->state;
  auto [pos, added] = st.procs.emplace(spec.name, proc_record{});
  if (!added)
    return; // Spawning is idempotent per name.
  auto& rec = pos->second;
  rec.name = spec.name;
  rec.proc_mesh_id = req.proc_mesh_id;
  rec.host_mesh_id = req.host_mesh_id;
  rec.rank = spec.rank;
  rec.tail_limit = static_cast<size_t>(
    std::max<int64_t>(0, effective(req.config, keys::tail_log_lines)));
  rec.forward_logs = effective(req.config, keys::log_forwarding);
  rec.token = bootstrap::make_token();
  launch_request lr;
  lr.name = spec.name;
  lr.rank = spec.rank;
  lr.token = rec.token;
  lr.config = req.config;
  if (st.options.bootstrap_children) {
    auto cmd = command_for(st, req, spec);
    if (!cmd) {
      rec.exited = true;
      set_status(self, rec, proc_status::failed,
                 "no bootstrap command for rank " + std::to_string(spec.rank));
      return;
    }
    lr.command = spec.bind ? wrap_for_binding(*cmd, *spec.bind,
                                              numa_available())
                           : *cmd;
    rec.command = lr.command.to_string();
    bootstrap::payload p;
    p.child_role = req.host_children ? bootstrap::role::host
                                     : bootstrap::role::proc;
    if (req.host_children)
      p.proc_command = *cmd;
    p.name = spec.name;
    p.mesh_id = req.proc_mesh_id;
    p.host_mesh_id = req.host_mesh_id;
    p.rank = spec.rank;
    p.parent_host = st.host;
    p.parent_port = st.port;
    p.token = rec.token;
    p.config = req.config;
    p.bind = spec.bind;
    lr.payload = bootstrap::encode(p);
    lr.zygote =
      !req.host_children && effective(req.config, keys::bootstrap_zygote);
  }
  auto name = spec.name;
  auto ready_timeout = effective(req.config, keys::host_spawn_ready_timeout);
  rec.ready_timeout = ready_timeout;
  self->request(st.manager, caf::infinite, launch_atom::value, std::move(lr))
    .then(
      [self, name, ready_timeout](int64_t pid) {
        auto i = self->state.procs.find(name);
        if (i == self->state.procs.end())
          return;
        i->second.pid = pid;
        if (ready_timeout.count() > 0
            && i->second.status == proc_status::initializing)
          self->delayed_send(self, ready_timeout, ready_timeout_atom::value,
                             name);
      },
      [self, name](caf::error& err) {
        auto i = self->state.procs.find(name);
        if (i == self->state.procs.end())
          return;
        i->second.exited = true;
        set_status(self, i->second, proc_status::failed,
                   mesh::to_string(err));
        settle_stops(self, i->second);
      });
}

std::vector<std::string> names_of(const host_agent_state& st,
                                  const std::string& mesh_id,
                                  const std::vector<std::string>& names) {
  if (!names.empty())
    return names;
  std::vector<std::string> result;
  for (auto& [name, rec] : st.procs)
    if (mesh_id.empty() || rec.proc_mesh_id == mesh_id)
      result.push_back(name);
  return result;
}

} // namespace

host_agent_actor::behavior_type
host_agent(host_agent_actor::stateful_pointer<host_agent_state> self,
           host_agent_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  auto me = caf::actor_cast<host_agent_actor>(self);
  if (st.options.bootstrap_children)
    st.manager = self->spawn<caf::linked>(bootstrap_proc_manager, me);
  else
    st.manager = self->spawn<caf::linked>(in_process_proc_manager, me);
  st.comm = self->spawn<caf::linked>(comm_actor);
  // A normal quit of the host agent does not end a linked actor, so both are
  // told. The comm actor's handle travels to other nodes (as the sender of
  // what it relays), which registers it in the actor registry for good: it
  // only ends when told, and ~actor_system waits for it. The proc manager
  // must end on a scheduler thread while the system is up: left to die of
  // its last reference, it could be destroyed on its own watcher thread
  // after the actor system is gone.
  self->attach_functor([comm = st.comm, manager = st.manager] {
    caf::anon_send_exit(comm, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    if (!st.final_replies.empty() && msg.source == st.manager.address()) {
      for (auto& [promise, summary] : st.final_replies)
        promise.deliver(summary);
      st.final_replies.clear();
      self->quit();
      return;
    }
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](auto& s) {
                                return s.second.address() == msg.source;
                              }),
               subs.end());
  });
  return {
    [self](spawn_procs_atom, const spawn_procs_request& req)
      -> caf::result<std::vector<proc_info>> {
      if (self->state.shutting_down)
        return make_error(ec::not_running,
                          "host " + self->state.address() + " is shutting down");
      auto promise = self->make_response_promise<std::vector<proc_info>>();
      pending_spawn pending;
      pending.promise = promise;
      for (auto& spec : req.procs)
        pending.names.push_back(spec.name);
      self->state.spawns.push_back(std::move(pending));
      for (auto& spec : req.procs)
        launch(self, req, spec);
      check_spawns(self);
      return promise;
    },
    [self](proc_state_atom, const std::string& mesh_id,
           const std::vector<std::string>& names) {
      std::vector<proc_info> result;
      for (auto& name : names_of(self->state, mesh_id, names)) {
        auto i = self->state.procs.find(name);
        if (i != self->state.procs.end()) {
          result.push_back(to_info(self->state, i->second));
        } else {
          proc_info missing;
          missing.state.proc_name = name;
          missing.state.host = self->state.address();
          result.push_back(std::move(missing));
        }
      }
      std::sort(result.begin(), result.end(), [](auto& x, auto& y) {
        return x.state.rank < y.state.rank;
      });
      return result;
    },
    [self](wait_status_atom, const std::string& name, proc_status min_status,
           uint64_t rank) -> caf::result<uint64_t, proc_state> {
      auto i = self->state.procs.find(name);
      if (i != self->state.procs.end() && i->second.status >= min_status)
        return {rank, to_state(self->state, i->second)};
      auto promise = self->make_response_promise<uint64_t, proc_state>();
      self->state.waiters[name].push_back({min_status, rank, promise});
      return promise;
    },
    [self](stop_procs_atom, const std::string& mesh_id,
           const std::vector<std::string>& names, const std::string& reason) {
      auto promise = self->make_response_promise<shutdown_summary>();
      stop_set(self, names_of(self->state, mesh_id, names), reason, promise,
               false, false);
      return promise;
    },
    [self](drain_atom, const std::string& host_mesh_id) {
      std::vector<std::string> names;
      for (auto& [name, rec] : self->state.procs)
        if (host_mesh_id.empty() || rec.host_mesh_id == host_mesh_id)
          names.push_back(name);
      auto promise = self->make_response_promise<shutdown_summary>();
      stop_set(self, names, "drained", promise, true, false);
      return promise;
    },
    [self](shutdown_host_atom) {
      self->state.shutting_down = true;
      std::vector<std::string> names;
      for (auto& [name, rec] : self->state.procs)
        names.push_back(name);
      auto promise = self->make_response_promise<shutdown_summary>();
      stop_set(self, names, "host shutdown", promise, true, true);
      return promise;
    },
    [](set_config_atom,
       const config_snapshot& snap) -> caf::result<caf::ok_atom> {
      if (auto err = config_store::global().install_client_override(snap))
        return err;
      return caf::ok_atom::value;
    },
    [self](subscribe_events_atom, const std::string& mesh_id,
           const caf::actor& subscriber) {
      if (!subscriber)
        return;
      self->monitor(subscriber);
      self->state.subscribers.emplace_back(mesh_id, subscriber);
    },
    [self](list_procs_atom) {
      std::vector<std::string> result;
      for (auto& [name, rec] : self->state.procs)
        result.push_back(name);
      return result;
    },
    [self](set_endpoint_atom, const std::string& host, uint16_t port) {
      self->state.host = host;
      self->state.port = port;
      warm_default_command(self);
    },
    [self](register_child_atom,
           const child_registration& reg) -> caf::result<caf::ok_atom> {
      auto i = self->state.procs.find(reg.name);
      bool ok = i != self->state.procs.end() && !i->second.token.empty()
                && i->second.token == reg.token
                && i->second.status == proc_status::initializing
                && !i->second.exited && reg.agent;
      if (!ok) {
        spdlog::warn("host {} refused the registration of '{}' (pid {}): "
                     "unknown proc, wrong token or token already used",
                     self->state.address(), reg.name, reg.pid);
        return make_error(ec::handshake_refused,
                          "host " + self->state.address()
                            + " refused the registration of '" + reg.name
                            + "'",
                          "unknown proc, wrong token or token already used");
      }
      auto& rec = i->second;
      rec.token.clear();
      rec.agent = caf::actor_cast<proc_agent_actor>(reg.agent);
      if (reg.pid != 0)
        rec.pid = reg.pid;
      if (reg.port != 0)
        rec.address = reg.host + ":" + std::to_string(reg.port);
      set_status(self, rec, proc_status::running);
      return caf::ok_atom::value;
    },
    [self](proc_exited_atom, const proc_exit& ex) { on_exit(self, ex); },
    [self](proc_output_atom, proc_output& out) {
      auto i = self->state.procs.find(out.name);
      if (i == self->state.procs.end())
        return;
      auto& rec = i->second;
      if (out.is_stderr && rec.tail_limit > 0) {
        rec.stderr_tail.push_back(out.line);
        while (rec.stderr_tail.size() > rec.tail_limit)
          rec.stderr_tail.pop_front();
      }
      if (!rec.forward_logs)
        return;
      out.rank = rec.rank;
      for (auto& [mesh, sub] : self->state.subscribers)
        if (mesh.empty() || mesh == rec.proc_mesh_id)
          caf::anon_send(sub, out);
    },
    [self](ready_timeout_atom, const std::string& name) {
      auto i = self->state.procs.find(name);
      if (i == self->state.procs.end()
          || i->second.status != proc_status::initializing)
        return;
      auto& rec = i->second;
      set_status(self, rec, proc_status::timeout,
                 "did not complete the bootstrap handshake within "
                   + render_duration(rec.ready_timeout));
      // A child that hangs must not outlive its failed spawn.
      self->send(self->state.manager, signal_atom::value, name,
                 int32_t{SIGKILL});
      rec.stop_stage = 3;
    },
    [self](comm_atom) { return self->state.comm; },
    [self](actor_failed_atom, const actor_failure& failure) {
      auto i = self->state.procs.find(failure.proc_name);
      if (i == self->state.procs.end())
        return;
      auto& rec = i->second;
      proc_event ev;
      ev.rank = rec.rank;
      ev.proc_name = rec.name;
      ev.status = proc_status::failed;
      ev.reason = "actor '" + failure.name + "' failed: " + failure.reason;
      ev.actor = failure.name;
      ev.actor_mesh = failure.actor_mesh;
      for (auto& [mesh, sub] : self->state.subscribers)
        if (mesh.empty() || mesh == rec.proc_mesh_id)
          caf::anon_send(sub, ev);
    },
    [self](escalate_atom, const std::string& name, int32_t stage) {
      auto i = self->state.procs.find(name);
      if (i == self->state.procs.end())
        return;
      auto& rec = i->second;
      if (rec.exited || rec.stop_stage != stage)
        return;
      if (stage < 3) {
        rec.stop_stage = stage + 1;
        self->send(self->state.manager, signal_atom::value, name,
                   int32_t{stage == 1 ? SIGTERM : SIGKILL});
        schedule_escalation(self, name, rec.stop_stage);
        return;
      }
      settle_stops(self, rec,
                   "'" + name + "' (pid " + std::to_string(rec.pid)
                     + ") on host " + self->state.address()
                     + " did not exit after SIGKILL");
    },
  };
}

} // namespace mesh
