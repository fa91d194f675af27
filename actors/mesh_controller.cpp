#include "actors/mesh_controller.hpp"

#include "actors/mesh_supervisor.hpp"
#include "bootstrap/network.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

namespace mesh::keys {

// Read by the mesh controller's spawn barrier (declared in
// mesh/config_keys.hpp, architecture §6).
const config_key<duration> proc_spawn_max_idle{
  "proc_spawn_max_idle", std::chrono::seconds{30}, true,
  "spawn barrier: longest time with no progress from any host"};

} // namespace mesh::keys

namespace mesh {

namespace {

/// The error of a request to rank `r`, whose proc ended (`st`).
caf::error proc_ended(const mesh_layout* layout, size_t r,
                      const proc_state& st) {
  return make_error(ec::proc_failed,
                    layout ? layout->where(r) : std::string{"proc mesh"},
                    "its proc " + std::string{to_string(st.status)} + ": "
                      + st.reason);
}

/// Ended, or nothing more can be said of it (its host is gone).
bool has_ended(proc_status s) {
  return is_terminated(s) || s == proc_status::unknown;
}

} // namespace

std::optional<caf::error>
mesh_controller_shared::dead_end(const rank_waiter& w) const {
  if (auto i = lost_hosts.find(w.host); i != lost_hosts.end()) {
    auto what = w.rank && layout ? layout->where(*w.rank)
                : layout && w.host < layout->host_addrs.size()
                  ? "host " + layout->host_addrs[w.host]
                  : std::string{"proc mesh"};
    return make_error(ec::host_unreachable, what, i->second);
  }
  // Only the ranks it waits on: this runs for every request of a call.
  auto ended = [&](size_t r) {
    return r < procs.size() && has_ended(procs[r].state.status);
  };
  if (w.rank && ended(*w.rank))
    return proc_ended(layout.get(), *w.rank, procs[*w.rank].state);
  if (w.fail_fast)
    for (auto r : w.relayed_ranks)
      if (ended(r))
        return proc_ended(layout.get(), r, procs[r].state);
  if (!w.rank || w.actor_mesh.empty())
    return std::nullopt;
  if (auto i = actor_meshes.find(w.actor_mesh); i != actor_meshes.end())
    if (auto sup = i->second.lock()) {
      auto where = layout ? layout->where(*w.rank) : std::string{"proc mesh"};
      if (auto g = sup->restarting.find(*w.rank); g != sup->restarting.end())
        return make_error(ec::proc_failed, where, g->second);
      if (auto g = sup->gone.find(*w.rank); g != sup->gone.end())
        return make_error(ec::proc_failed, where, g->second);
    }
  return std::nullopt;
}

void mesh_controller_shared::abandon(uint64_t call) {
  if (call == 0)
    return;
  for (auto i = waiters.begin(); i != waiters.end();) {
    if (i->second.call == call) {
      answer(i->second, make_error(ec::call_failed, "call", "abandoned"));
      i = waiters.erase(i);
    } else {
      ++i;
    }
  }
}

uint64_t mesh_controller_shared::add_waiter(rank_waiter w) {
  if (auto err = dead_end(w)) {
    answer(w, std::move(*err));
    if (w.fail_fast)
      abandon(w.call);
    return 0;
  }
  auto id = ++next_waiter;
  waiters.emplace(id, std::move(w));
  return id;
}

void mesh_controller_shared::answer(const rank_waiter& w, caf::error err) {
  if (!w.caller)
    return;
  w.caller->enqueue(caf::make_mailbox_element(nullptr, w.response_id, {},
                                              std::move(err)),
                    nullptr);
}

namespace {

/// Records a state; statuses never go down.
void record(controller_ptr self, const proc_info& info) {
  std::lock_guard<std::mutex> guard{self->state.shared->mtx};
  auto& procs = self->state.shared->procs;
  auto r = info.state.rank;
  if (r >= procs.size())
    return;
  auto& cur = procs[r];
  if (is_terminated(cur.state.status) && !is_terminated(info.state.status))
    return;
  auto agent = cur.agent;
  cur = info;
  if (!cur.agent)
    cur.agent = agent;
}

void arm_idle_timer(controller_ptr self) {
  ++self->state.generation;
  self->delayed_send(self, self->state.max_idle, spawn_idle_atom::value,
                     self->state.generation);
}

void finish_spawn(controller_ptr self, caf::error err) {
  if (!self->state.spawning)
    return;
  self->state.spawning = false;
  ++self->state.generation;
  if (err)
    self->state.spawn_promise.deliver(std::move(err));
  else
    self->state.spawn_promise.deliver(caf::ok_atom::value);
}

/// Fails the spawn because `rank` failed, with its full stderr tail fetched
/// from its host.
void fail_rank(controller_ptr self, size_t rank, proc_state st) {
  if (!self->state.spawning)
    return;
  auto h = self->state.layout->host_of(rank);
  auto build = [self, rank](const proc_state& s) {
    auto& layout = *self->state.layout;
    std::string what = s.reason.empty() ? std::string{to_string(s.status)}
                                        : s.reason;
    std::string detail = "command " + layout.command_of(rank);
    if (!s.stderr_tail.empty()) {
      detail += "; last stderr lines:";
      for (auto& line : s.stderr_tail)
        detail += "\n  " + line;
    }
    return make_error(s.status == proc_status::timeout ? ec::spawn_timeout
                                                        : ec::proc_failed,
                      layout.where(rank),
                      what, detail);
  };
  if (h >= self->state.hosts.size()) {
    finish_spawn(self, build(st));
    return;
  }
  // The stderr tail lives with the host; ask for it before failing.
  self
    ->request(self->state.hosts[h], std::chrono::seconds{5},
              proc_state_atom::value, self->state.layout->proc_mesh_id,
              std::vector<std::string>{st.proc_name})
    .then(
      [self, build, st](const std::vector<proc_info>& infos) {
        finish_spawn(self, build(infos.empty() ? st : infos.front().state));
      },
      [self, build, st](caf::error&) { finish_spawn(self, build(st)); });
}

/// Ends the spawn when every rank is running and every host replied.
void check_spawn(controller_ptr self) {
  if (!self->state.spawning || self->state.hosts_pending > 0)
    return;
  std::lock_guard<std::mutex> guard{self->state.shared->mtx};
  for (auto& p : self->state.shared->procs)
    if (p.state.status != proc_status::running)
      return;
  self->state.spawning = false;
  ++self->state.generation;
  self->state.spawn_promise.deliver(caf::ok_atom::value);
}

void on_state(controller_ptr self, const proc_state& st) {
  if (!self->state.spawning)
    return;
  if (is_terminating(st.status) || st.status == proc_status::unknown)
    fail_rank(self, st.rank, st);
  else
    check_spawn(self);
}

using handler_list = std::vector<std::function<void(const proc_event&)>>;

void call_all(const handler_list& handlers, const proc_event& ev) {
  for (auto& f : handlers)
    f(ev);
}

/// The loud default when nobody handles an actor mesh's failure.
void log_unhandled(const proc_event& ev) {
  spdlog::error("actor mesh '{}' ({}): rank {} on proc {}: {} (no on_event "
                "handler installed; calls fail for this rank)",
                ev.actor, ev.actor_mesh, ev.rank, ev.proc_name, ev.reason);
}

/// Whether an actor subscribed to events receives `ev` (it then handles
/// the failure as much as an on_event handler does).
bool has_subscriber_for(controller_ptr self, const proc_event& ev) {
  for (auto& [who, filter] : self->state.subscribers)
    if (filter.empty() || filter == ev.actor_mesh)
      return true;
  return false;
}

/// An actor of an actor mesh failed (reported by its proc agent).
void on_actor_event(controller_ptr self, const proc_event& ev) {
  handler_list proc_handlers;
  handler_list actor_handlers;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    // An actor of a proc that a restart replaced already.
    if (is_stale(*self->state.shared, ev))
      return;
    auto& meshes = self->state.shared->actor_meshes;
    if (auto i = meshes.find(ev.actor_mesh); i != meshes.end())
      if (auto sup = i->second.lock()) {
        sup->gone.emplace(ev.rank, ev.reason);
        sup->any_gone.store(true, std::memory_order_release);
        actor_handlers = sup->handlers;
      }
    proc_handlers = self->state.shared->handlers;
    auto r = ev.rank;
    auto& id = ev.actor_mesh;
    self->state.shared->fail_waiters(
      [r, &id](const rank_waiter& w) {
        return w.actor_mesh == id && w.waits_on(r);
      },
      make_error(ec::proc_failed, self->state.layout->where(r), ev.reason));
  }
  call_all(proc_handlers, ev);
  call_all(actor_handlers, ev);
  notify_subscribers(self, ev);
  if (proc_handlers.empty() && actor_handlers.empty()
      && !has_subscriber_for(self, ev))
    log_unhandled(ev);
  supervise_actor_failure(self, ev);
}

/// A proc ended: every actor mesh with a member on it loses that member.
void attribute_to_actors(controller_ptr self, const proc_event& ev) {
  std::vector<std::pair<proc_event, handler_list>> events;
  bool proc_handled = false;
  auto reason =
    "its proc " + std::string{to_string(ev.status)} + ": " + ev.reason;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    proc_handled = !self->state.shared->handlers.empty();
    auto& meshes = self->state.shared->actor_meshes;
    for (auto i = meshes.begin(); i != meshes.end();) {
      auto sup = i->second.lock();
      if (!sup) {
        i = meshes.erase(i);
        continue;
      }
      ++i;
      // A member that already failed was reported then.
      if (!sup->gone.emplace(ev.rank, reason).second)
        continue;
      sup->any_gone.store(true, std::memory_order_release);
      auto actor_ev = ev;
      actor_ev.reason = reason;
      actor_ev.actor = sup->name;
      actor_ev.actor_mesh = sup->id;
      events.emplace_back(std::move(actor_ev), sup->handlers);
    }
  }
  for (auto& [actor_ev, handlers] : events) {
    call_all(handlers, actor_ev);
    notify_subscribers(self, actor_ev);
    if (handlers.empty() && !proc_handled &&
        !has_subscriber_for(self, actor_ev) &&
        ev.status != proc_status::stopped && ev.status != proc_status::stopping)
      log_unhandled(actor_ev);
  }
}

/// Tells the handlers of the proc mesh (and, for an ended proc, of its
/// actor meshes) about `ev`, which record() already holds, and moves a
/// spawn in progress on.
void publish(controller_ptr self, const proc_event& ev) {
  handler_list handlers;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    handlers = self->state.shared->handlers;
  }
  // The actor meshes lose the member before anyone hears of it: a handler
  // that casts or calls at once already finds the rank gone.
  if (has_ended(ev.status))
    attribute_to_actors(self, ev);
  call_all(handlers, ev);
  notify_subscribers(self, ev);
  // After everyone heard of the end: the restart's own events follow it.
  supervise_proc_event(self, ev);
  if (self->state.spawning) {
    arm_idle_timer(self);
    proc_state st;
    {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      if (ev.rank < self->state.shared->procs.size())
        st = self->state.shared->procs[ev.rank].state;
    }
    on_state(self, st);
  }
}

/// Every rank of host `h` that had not ended fails with `cause`: one event
/// per rank, and every request waiting on the host is released.
void host_lost(controller_ptr self, size_t h, const std::string& cause) {
  auto& st = self->state;
  auto addr = h < st.layout->host_addrs.size() ? st.layout->host_addrs[h]
                                               : std::string{"?"};
  std::vector<proc_event> events;
  {
    std::lock_guard<std::mutex> guard{st.shared->mtx};
    auto& shared = *st.shared;
    if (!shared.lost_hosts.emplace(h, cause).second)
      return;
    for (size_t r = 0; r < shared.procs.size(); ++r) {
      if (st.layout->host_of(r) != h)
        continue;
      auto& cur = shared.procs[r].state;
      if (is_terminated(cur.status))
        continue;
      cur.rank = r;
      if (cur.proc_name.empty()) // else a restart's incarnation
        cur.proc_name = st.layout->proc_names[r];
      cur.host = addr;
      cur.status = proc_status::failed;
      cur.reason = cause;
      proc_event ev;
      ev.rank = r;
      ev.proc_name = cur.proc_name;
      ev.status = cur.status;
      ev.reason = cause;
      ev.host = addr;
      events.push_back(std::move(ev));
    }
    shared.fail_waiters([h](const rank_waiter& w) { return w.host == h; },
                        make_error(ec::host_unreachable, "host " + addr,
                                   cause));
  }
  if (!events.empty() || !st.spawning)
    spdlog::debug("proc mesh {}: {}", st.layout->proc_mesh_id, cause);
  for (auto& ev : events)
    publish(self, ev);
  if (st.spawning)
    finish_spawn(self, make_error(ec::spawn_failed, "host " + addr, cause));
}

/// The connection to host `h` is gone: a host that ended normally (a local
/// one at shutdown) is lost at once; otherwise a knock at its port tells a
/// host process that is gone from one that hangs or cannot be reached.
void on_host_down(controller_ptr self, size_t h, const caf::error& reason) {
  auto& st = self->state;
  if (st.probing.count(h) > 0)
    return;
  {
    std::lock_guard<std::mutex> guard{st.shared->mtx};
    if (st.shared->lost_hosts.count(h) > 0)
      return;
  }
  auto addr = h < st.layout->host_addrs.size() ? st.layout->host_addrs[h]
                                               : std::string{"?"};
  if (reason != caf::exit_reason::remote_link_unreachable) {
    host_lost(self, h,
              "its host " + addr + " ended (" + self->system().render(reason)
                + ")");
    return;
  }
  auto ep = net::parse_endpoint(addr);
  if (!ep) {
    host_lost(self, h, "its host " + addr + " was lost: its connection closed");
    return;
  }
  st.probing.insert(h);
  auto me = caf::actor_cast<caf::actor>(self);
  self->spawn<caf::detached>([me, h, ep = *ep](caf::blocking_actor* knocker) {
    // blocking: on a detached actor's own thread, at most 500 ms
    auto answer = net::knock(ep, std::chrono::milliseconds{500});
    knocker->send(me, host_knocked_atom::value, uint64_t{h},
                  static_cast<int32_t>(answer));
  });
}

std::string lost_cause(controller_ptr self, size_t h, net::knock_answer a) {
  auto& st = self->state;
  auto addr = h < st.layout->host_addrs.size() ? st.layout->host_addrs[h]
                                               : std::string{"?"};
  auto timeout = config_of(self->system()).get(keys::proc_unresponsive_timeout);
  switch (a) {
    case net::knock_answer::refuses:
      return "its host " + addr + " was lost: the host process is gone (its "
             "connection closed and its port refuses connections)";
    case net::knock_answer::accepts:
      if (timeout > duration::zero())
        return "its host " + addr + " was lost: unresponsive for "
               + render_duration(timeout) + " (no message or heartbeat; "
               "its port still accepts connections: hung or stopped)";
      return "its host " + addr + " was lost: it closed the connection";
    case net::knock_answer::silent:
    default:
      return "its host " + addr + " was lost: unreachable (its connection "
             "closed or went silent, and a new connection got no answer "
             "within 500 ms: network or machine down)";
  }
}

} // namespace

mesh_controller_internal_actor::behavior_type
mesh_controller(controller_ptr self,
                std::shared_ptr<mesh_controller_shared> shared,
                std::shared_ptr<const mesh_layout> layout) {
  self->state.shared = std::move(shared);
  self->state.layout = std::move(layout);
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    self->state.shared->layout = self->state.layout;
    self->state.shared->controller = self->address();
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](auto& s) {
                                return s.first.address() == msg.source;
                              }),
               subs.end());
    auto& hosts = self->state.hosts;
    for (size_t h = 0; h < hosts.size(); ++h)
      if (hosts[h].address() == msg.source)
        on_host_down(self, h, msg.reason);
  });
  return {
    [self](proc_event& ev) {
      if (!ev.actor_mesh.empty()) {
        on_actor_event(self, ev);
        return;
      }
      proc_info info;
      {
        std::lock_guard<std::mutex> guard{self->state.shared->mtx};
        auto& procs = self->state.shared->procs;
        if (ev.rank < procs.size())
          info = procs[ev.rank];
        // A host that was lost said all there is to say about its ranks.
        if (self->state.shared->lost_hosts.count(
              self->state.layout->host_of(ev.rank)) > 0)
          return;
        // A proc that a restart replaced says nothing of its rank any more.
        if (is_stale(*self->state.shared, ev))
          return;
      }
      info.state.rank = ev.rank;
      info.state.proc_name = ev.proc_name;
      info.state.status = ev.status;
      info.state.exit_code = ev.exit_code;
      info.state.signal = ev.signal;
      info.state.reason = ev.reason;
      if (!ev.stderr_tail.empty())
        info.state.stderr_tail = ev.stderr_tail;
      record(self, info);
      if (has_ended(ev.status)) {
        // Released before any handler runs: nobody waits on the dead.
        std::lock_guard<std::mutex> guard{self->state.shared->mtx};
        auto r = ev.rank;
        self->state.shared->fail_waiters(
          [r](const rank_waiter& w) { return w.waits_on(r); },
          proc_ended(self->state.layout.get(), r, info.state));
      }
      publish(self, ev);
    },
    [self](const proc_output& out) {
      std::shared_ptr<log_buffer> buf;
      {
        std::lock_guard<std::mutex> guard{self->state.shared->mtx};
        auto& logs = self->state.shared->logs;
        if (out.rank < logs.size())
          buf = logs[out.rank];
      }
      if (buf)
        buf->append(out.is_stderr, out.line);
      auto h = self->state.layout->host_of(out.rank);
      auto text = fmt::format("[{}/{}] {}\n", h, out.rank, out.line);
      std::fputs(text.c_str(), out.is_stderr ? stderr : stdout);
    },
    [self](
      spawn_procs_atom, std::vector<host_agent_actor>& hosts,
      std::vector<spawn_procs_request>& requests) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      st.spawn_promise = self->make_response_promise<caf::ok_atom>();
      st.spawning = true;
      st.hosts = hosts;
      st.requests = requests;
      st.hosts_pending = hosts.size();
      // A host's connection that is lost (its process ended, it hung past
      // proc_unresponsive_timeout, the network went down) fails its ranks.
      for (auto& h : hosts)
        self->monitor(h);
      st.max_idle = config_of(self->system()).get(keys::proc_spawn_max_idle);
      arm_idle_timer(self);
      for (size_t h = 0; h < hosts.size(); ++h) {
        auto addr = h < st.layout->host_addrs.size() ? st.layout->host_addrs[h]
                                                     : std::string{"?"};
        self
          ->request(hosts[h], caf::infinite, spawn_procs_atom::value,
                    std::move(requests[h]))
          .then(
            [self](std::vector<proc_info>& infos) {
              --self->state.hosts_pending;
              for (auto& info : infos)
                record(self, info);
              if (!self->state.spawning)
                return;
              arm_idle_timer(self);
              for (auto& info : infos)
                if (is_terminating(info.state.status)) {
                  fail_rank(self, info.state.rank, info.state);
                  return;
                }
              check_spawn(self);
            },
            [self, addr](caf::error& err) {
              --self->state.hosts_pending;
              finish_spawn(self, make_error(ec::spawn_failed,
                                            "host " + addr,
                                            mesh::to_string(err)));
            });
      }
      check_spawn(self);
      return st.spawn_promise;
    },
    [self](subscribe_events_atom, std::string& filter, caf::actor& who) {
      if (!who)
        return;
      self->monitor(who);
      self->state.subscribers.emplace_back(std::move(who), std::move(filter));
    },
    [self](supervise_atom, const std::string& id, uint8_t strategy,
           uint64_t max_restarts,
           caf::timespan within) -> caf::result<caf::ok_atom> {
      if (!from_this_node(self, "supervise"))
        return make_error(ec::invalid_argument, "supervise",
                          "refused from another node");
      supervisor_policy policy;
      policy.strategy = strategy == 1 ? restart_strategy::all_for_one
                                      : restart_strategy::one_for_one;
      policy.max_restarts = static_cast<size_t>(max_restarts);
      policy.within = std::chrono::duration_cast<duration>(within);
      if (auto err = attach_supervisor(self, id, policy))
        return err;
      return caf::ok_atom::value;
    },
    [self](host_knocked_atom, uint64_t h, int32_t answer) {
      if (!from_this_node(self, "host_knocked"))
        return;
      self->state.probing.erase(h);
      host_lost(self, h,
                lost_cause(self, h, static_cast<net::knock_answer>(answer)));
    },
    [self](spawn_idle_atom, uint64_t generation) {
      auto& st = self->state;
      if (!st.spawning || generation != st.generation)
        return;
      std::string ranks;
      std::string hosts;
      size_t missing = 0;
      {
        std::lock_guard<std::mutex> guard{st.shared->mtx};
        for (size_t r = 0; r < st.shared->procs.size(); ++r) {
          if (st.shared->procs[r].state.status == proc_status::running)
            continue;
          ++missing;
          ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
          auto addr = st.layout->host_addr_of(r);
          if (hosts.find(addr) == std::string::npos)
            hosts += (hosts.empty() ? "" : ", ") + addr;
        }
      }
      finish_spawn(self,
                   make_error(ec::spawn_timeout,
                              "proc mesh " + st.layout->proc_mesh_id,
                              std::string{missing == 1 ? "rank " : "ranks "}
                                + ranks + " on host " + hosts
                                + " did not come up within "
                                + render_duration(st.max_idle)
                                + " without progress (command "
                                + st.layout->command_of(0) + ")"));
    },
  };
}

} // namespace mesh
