#include "actors/mesh_supervisor.hpp"

#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace mesh {

namespace {

using clock_type = std::chrono::steady_clock;
using phase = rank_restart::phase;

/// Ended, or nothing more can be said of it (its host is gone).
bool has_ended(proc_status s) {
  return is_terminated(s) || s == proc_status::unknown;
}

/// The bound of a stop request: one host's whole escalation and slack.
caf::timespan stop_bound(caf::actor_system& sys) {
  auto& store = config_of(sys);
  return caf::timespan{3 * store.get(keys::terminate_timeout) +
                       std::chrono::seconds{5}};
}

caf::timespan spawn_bound(caf::actor_system& sys) {
  return caf::timespan{config_of(sys).get(keys::proc_spawn_max_idle)};
}

caf::timespan call_bound(caf::actor_system& sys) {
  return caf::timespan{config_of(sys).get(keys::call_timeout)};
}

std::string host_addr(controller_ptr self, size_t h) {
  auto& addrs = self->state.layout->host_addrs;
  return h < addrs.size() ? addrs[h] : std::string{"?"};
}

/// The lost-host cause of host `h`, if it was lost.
std::optional<std::string> lost(controller_ptr self, size_t h) {
  std::lock_guard<std::mutex> guard{self->state.shared->mtx};
  auto& hosts = self->state.shared->lost_hosts;
  if (auto i = hosts.find(h); i != hosts.end())
    return i->second;
  return std::nullopt;
}

/// A supervision event of rank `r` for the actor mesh.
proc_event make_event(controller_ptr self, size_t r, supervision_action action,
                      uint32_t attempt, std::string reason) {
  auto& sv = *self->state.supervisor;
  proc_event ev;
  ev.rank = r;
  ev.action = action;
  ev.attempt = attempt;
  ev.reason = std::move(reason);
  ev.actor_mesh = sv.actor_mesh;
  if (auto sup = sv.sup.lock())
    ev.actor = sup->name;
  ev.host = self->state.layout->host_addr_of(r);
  std::lock_guard<std::mutex> guard{self->state.shared->mtx};
  auto& procs = self->state.shared->procs;
  if (r < procs.size()) {
    ev.proc_name = procs[r].state.proc_name;
    ev.status = procs[r].state.status;
  }
  return ev;
}

/// Tells the handlers of the proc mesh and of the actor mesh, and the
/// subscribers, about a supervision event.
void emit(controller_ptr self, const proc_event& ev) {
  std::vector<std::function<void(const proc_event&)>> handlers;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    auto& shared = *self->state.shared;
    // A restarted event's proc is up again: it carries the cause class of
    // the restarting event before it.
    std::string cause{cause_class(ev)};
    if (ev.rank < shared.restart_causes.size()) {
      if (ev.action == supervision_action::restarting)
        shared.restart_causes[ev.rank] = cause;
      else if (ev.action == supervision_action::restarted
               && !shared.restart_causes[ev.rank].empty())
        cause = shared.restart_causes[ev.rank];
    }
    ++shared.supervision[{std::string{to_string(ev.action)}, cause}];
    if (ev.action == supervision_action::restarted
        && ev.rank < shared.restarts.size())
      ++shared.restarts[ev.rank];
    handlers = self->state.shared->handlers;
    if (auto sup = self->state.supervisor->sup.lock())
      handlers.insert(handlers.end(), sup->handlers.begin(),
                      sup->handlers.end());
  }
  for (auto& f : handlers)
    f(ev);
  notify_subscribers(self, ev);
  if (ev.action == supervision_action::gave_up)
    spdlog::log(handlers.empty() ? spdlog::level::err : spdlog::level::debug,
                "actor mesh '{}' ({}): supervision gave up on rank {}: {}",
                ev.actor, ev.actor_mesh, ev.rank, ev.reason);
  else
    spdlog::debug("actor mesh '{}': rank {} {} (attempt {}): {}", ev.actor,
                  ev.rank, to_string(ev.action), ev.attempt, ev.reason);
}

/// Intensity: whether one more restart fits in the window (and counts it).
bool allow_restart(mesh_supervisor_state& sv) {
  auto now = clock_type::now();
  while (!sv.restarts.empty() && now - sv.restarts.front() > sv.policy.within)
    sv.restarts.pop_front();
  if (sv.restarts.size() >= sv.policy.max_restarts)
    return false;
  sv.restarts.push_back(now);
  return true;
}

/// Stops every proc of the proc mesh on every host that is not lost.
void stop_all(controller_ptr self, const std::string& why) {
  auto& st = self->state;
  for (size_t h = 0; h < st.hosts.size(); ++h) {
    if (lost(self, h))
      continue;
    self
      ->request(st.hosts[h], stop_bound(self->system()), stop_procs_atom::value,
                st.layout->proc_mesh_id, std::vector<std::string>{}, why)
      .then([](const shutdown_summary&) {}, [](caf::error&) {});
  }
}

/// Overtakes every restart under way: replies to their requests are
/// dropped from now on (their epochs moved on).
void halt_every_restart(mesh_supervisor_state& sv) {
  sv.whole = false;
  ++sv.whole_epoch;
  for (auto& rr : sv.ranks) {
    ++rr.epoch;
    rr.step = phase::idle;
  }
}

/// The supervisor gives up: every rank stays down with `cause`.
void give_up(controller_ptr self, size_t r, const std::string& cause) {
  auto& sv = *self->state.supervisor;
  if (sv.over())
    return;
  sv.gave_up = true;
  halt_every_restart(sv);
  auto text = "its supervisor gave up: " + cause;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    if (auto sup = sv.sup.lock()) {
      sup->restarting.clear();
      for (size_t i = 0; i < sv.ranks.size(); ++i)
        sup->gone[i] = text;
      sup->refresh_flag();
    }
    auto& id = sv.actor_mesh;
    self->state.shared->fail_waiters(
      [&id](const rank_waiter& w) { return w.actor_mesh == id; },
      make_error(ec::proc_failed, "actor mesh " + id, text));
  }
  emit(self, make_event(self, r, supervision_action::gave_up, 0, cause));
  stop_all(self, "its supervisor gave up: " + cause);
}

/// one_for_one: rank `r` cannot be restarted (its host is lost); the other
/// ranks stay supervised.
void rank_lost(controller_ptr self, size_t r, const std::string& cause) {
  auto& sv = *self->state.supervisor;
  auto& rr = sv.ranks[r];
  if (rr.given_up)
    return;
  rr.given_up = true;
  ++rr.epoch;
  rr.step = phase::idle;
  auto text = cause + " (a rank is restarted on its own host only)";
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    if (auto sup = sv.sup.lock()) {
      sup->restarting.erase(r);
      sup->gone[r] = text;
      sup->refresh_flag();
    }
  }
  emit(self,
       make_event(self, r, supervision_action::gave_up, rr.attempt, text));
}

/// Stops the procs a restart that was overtaken still brought up on host
/// `h` (the owner's stop may have reached the host before they existed).
void discard(controller_ptr self, size_t h,
             const std::vector<proc_info>& infos) {
  std::vector<std::string> names;
  for (auto& info : infos)
    if (!has_ended(info.state.status))
      names.push_back(info.state.proc_name);
  if (names.empty() || h >= self->state.hosts.size())
    return;
  self
    ->request(self->state.hosts[h], stop_bound(self->system()),
              stop_procs_atom::value, self->state.layout->proc_mesh_id,
              std::move(names), std::string{"its restart was overtaken"})
    .then([](const shutdown_summary&) {}, [](caf::error&) {});
}

/// The owner stops the proc mesh: the supervisor restarts nothing more, and
/// the ranks it was restarting are gone.
void retire(controller_ptr self) {
  auto& sv = *self->state.supervisor;
  if (sv.over())
    return;
  sv.retired = true;
  halt_every_restart(sv);
  for (auto& a : sv.fresh)
    if (a)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sv.fresh.clear();
  std::lock_guard<std::mutex> guard{self->state.shared->mtx};
  if (auto sup = sv.sup.lock()) {
    for (auto& [r, text] : sup->restarting)
      sup->gone[r] = "its proc mesh is being stopped";
    sup->restarting.clear();
    sup->refresh_flag();
  }
}

void failure(controller_ptr self, size_t r, const std::string& cause,
             bool need_proc);

/// A step of rank `r`'s restart failed: one more failure.
void fail_attempt(controller_ptr self, size_t r, const std::string& cause,
                  bool need_proc) {
  self->state.supervisor->ranks[r].step = phase::idle;
  failure(self, r, cause, need_proc);
}

/// Marks `ranks` restarting in the actor mesh with `text`.
void mark_restarting(controller_ptr self, const std::vector<size_t>& ranks,
                     const std::string& text) {
  std::lock_guard<std::mutex> guard{self->state.shared->mtx};
  if (auto sup = self->state.supervisor->sup.lock()) {
    for (auto r : ranks)
      sup->restarting[r] = text;
    sup->refresh_flag();
  }
}

/// A fresh incarnation of rank `r`: its name, and its proc_info reset to
/// initializing (events of the earlier one are stale from now on).
std::string next_incarnation(controller_ptr self, size_t r) {
  auto& st = self->state;
  auto& rr = st.supervisor->ranks[r];
  ++rr.incarnation;
  rr.stop_asked = false;
  auto name = st.layout->proc_names[r] + "-r" + std::to_string(rr.incarnation);
  std::lock_guard<std::mutex> guard{st.shared->mtx};
  auto& info = st.shared->procs[r];
  info = proc_info{};
  info.state.rank = r;
  info.state.proc_name = name;
  info.state.host = st.layout->host_addr_of(r);
  info.state.status = proc_status::initializing;
  return name;
}

/// The proc_spec of rank `r` in its host's original request, renamed.
proc_spec spec_of(controller_ptr self, size_t r, std::string name) {
  auto& st = self->state;
  auto h = st.layout->host_of(r);
  proc_spec spec;
  spec.rank = r;
  if (h < st.requests.size())
    for (auto& s : st.requests[h].procs)
      if (s.rank == r)
        spec = s;
  spec.name = std::move(name);
  return spec;
}

/// Records a respawned proc's info if it runs; why not otherwise.
std::optional<std::string> take_info(controller_ptr self,
                                     const proc_info& info) {
  auto r = info.state.rank;
  if (info.state.status != proc_status::running || !info.agent)
    return "its new proc " + std::string{to_string(info.state.status)} +
           (info.state.reason.empty() ? "" : ": " + info.state.reason);
  std::lock_guard<std::mutex> guard{self->state.shared->mtx};
  auto& procs = self->state.shared->procs;
  if (r < procs.size() && procs[r].state.proc_name == info.state.proc_name)
    procs[r] = info;
  return std::nullopt;
}

/// Whether an actor spawn's error says the proc agent answered (the actor
/// failed, its proc runs on).
bool proc_answered(const caf::error& err) {
  return is(err, ec::actor_spawn_failed);
}

// -- one_for_one --------------------------------------------------------------

void swap_in(controller_ptr self, size_t r, caf::actor member) {
  auto& sv = *self->state.supervisor;
  auto& rr = sv.ranks[r];
  rr.step = phase::idle;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    if (auto sup = sv.sup.lock()) {
      sup->replaced[r] = std::move(member);
      sup->restarting.erase(r);
      sup->gone.erase(r);
      sup->refresh_flag();
      sup->replaced_epoch.fetch_add(1, std::memory_order_acq_rel);
    }
  }
  emit(self, make_event(self, r, supervision_action::restarted, rr.attempt,
                        rr.cause));
}

void respawn_actor(controller_ptr self, size_t r) {
  auto& sv = *self->state.supervisor;
  auto& rr = sv.ranks[r];
  auto sup = sv.sup.lock();
  if (!sup)
    return;
  rr.step = phase::actor;
  proc_agent_actor agent;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    agent = self->state.shared->procs[r].agent;
  }
  if (!agent) {
    fail_attempt(self, r, "its proc has no proc agent", true);
    return;
  }
  auto epoch = rr.epoch;
  self
    ->request(agent, call_bound(self->system()), spawn_actor_atom::value,
              sup->request)
    .then(
      [self, r, epoch](caf::actor& member) {
        auto& sv = *self->state.supervisor;
        if (sv.over() || sv.ranks[r].epoch != epoch) {
          caf::anon_send_exit(member, caf::exit_reason::user_shutdown);
          return;
        }
        swap_in(self, r, std::move(member));
      },
      [self, r, epoch](caf::error& err) {
        auto& sv = *self->state.supervisor;
        if (sv.over() || sv.ranks[r].epoch != epoch)
          return;
        fail_attempt(self, r,
                     "its new actor did not start: " + mesh::to_string(err),
                     !proc_answered(err));
      });
}

void respawn_proc(controller_ptr self, size_t r) {
  auto& st = self->state;
  auto& rr = st.supervisor->ranks[r];
  auto h = st.layout->host_of(r);
  if (auto cause = lost(self, h)) {
    rank_lost(self, r, *cause);
    return;
  }
  // An earlier incarnation that still runs (its actor did not come up in
  // time) must not be left behind.
  std::string old_name;
  bool old_alive = false;
  {
    std::lock_guard<std::mutex> guard{st.shared->mtx};
    auto& cur = st.shared->procs[r].state;
    old_name = cur.proc_name;
    old_alive = !has_ended(cur.status);
  }
  if (old_alive)
    self
      ->request(st.hosts[h], stop_bound(self->system()), stop_procs_atom::value,
                st.layout->proc_mesh_id, std::vector<std::string>{old_name},
                std::string{"replaced by a restart"})
      .then([](const shutdown_summary&) {}, [](caf::error&) {});
  rr.step = phase::proc;
  auto req = h < st.requests.size() ? st.requests[h] : spawn_procs_request{};
  req.procs = {spec_of(self, r, next_incarnation(self, r))};
  auto epoch = rr.epoch;
  self
    ->request(st.hosts[h], spawn_bound(self->system()), spawn_procs_atom::value,
              std::move(req))
    .then(
      [self, r, epoch, h](std::vector<proc_info>& infos) {
        auto& sv = *self->state.supervisor;
        if (sv.over() || sv.ranks[r].epoch != epoch) {
          discard(self, h, infos);
          return;
        }
        if (infos.size() != 1) {
          fail_attempt(self, r,
                       "its host answered the respawn with " +
                         std::to_string(infos.size()) + " procs",
                       true);
          return;
        }
        if (auto why = take_info(self, infos.front())) {
          fail_attempt(self, r, *why, true);
          return;
        }
        respawn_actor(self, r);
      },
      [self, r, epoch](caf::error& err) {
        auto& sv = *self->state.supervisor;
        if (sv.over() || sv.ranks[r].epoch != epoch)
          return;
        fail_attempt(
          self, r, "its new proc did not start: " + mesh::to_string(err), true);
      });
}

// -- all_for_one --------------------------------------------------------------

void start_whole(controller_ptr self, size_t r, const std::string& cause);

/// A step of the whole restart failed: one more failure of the mesh.
void fail_whole(controller_ptr self, const std::string& cause) {
  auto& sv = *self->state.supervisor;
  sv.whole = false;
  ++sv.whole_epoch;
  for (auto& a : sv.fresh)
    if (a)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sv.fresh.clear();
  failure(self, sv.whole_rank, cause, true);
}

void whole_swap(controller_ptr self) {
  auto& sv = *self->state.supervisor;
  sv.whole = false;
  auto n = sv.ranks.size();
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    if (auto sup = sv.sup.lock()) {
      for (size_t r = 0; r < n; ++r)
        sup->replaced[r] = std::move(sv.fresh[r]);
      sup->restarting.clear();
      sup->gone.clear();
      sup->refresh_flag();
      sup->replaced_epoch.fetch_add(1, std::memory_order_acq_rel);
    }
  }
  sv.fresh.clear();
  for (size_t r = 0; r < n; ++r)
    emit(self, make_event(self, r, supervision_action::restarted,
                          sv.whole_attempt, sv.whole_cause));
}

void whole_spawn_actors(controller_ptr self) {
  auto& sv = *self->state.supervisor;
  auto sup = sv.sup.lock();
  if (!sup)
    return;
  auto n = sv.ranks.size();
  sv.fresh.assign(n, caf::actor{});
  sv.pending = n;
  auto epoch = sv.whole_epoch;
  for (size_t r = 0; r < n; ++r) {
    proc_agent_actor agent;
    {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      agent = self->state.shared->procs[r].agent;
    }
    self
      ->request(agent, call_bound(self->system()), spawn_actor_atom::value,
                sup->request)
      .then(
        [self, r, epoch](caf::actor& member) {
          auto& sv = *self->state.supervisor;
          if (sv.over() || sv.whole_epoch != epoch) {
            caf::anon_send_exit(member, caf::exit_reason::user_shutdown);
            return;
          }
          sv.fresh[r] = std::move(member);
          if (--sv.pending == 0)
            whole_swap(self);
        },
        [self, r, epoch](caf::error& err) {
          auto& sv = *self->state.supervisor;
          if (sv.over() || sv.whole_epoch != epoch)
            return;
          fail_whole(
            self, self->state.layout->where(r) +
                    ": its new actor did not start: " + mesh::to_string(err));
        });
  }
}

void whole_spawn_procs(controller_ptr self) {
  auto& st = self->state;
  auto& sv = *st.supervisor;
  auto n = sv.ranks.size();
  std::vector<spawn_procs_request> reqs = st.requests;
  for (auto& req : reqs)
    req.procs.clear();
  for (size_t r = 0; r < n; ++r) {
    auto h = st.layout->host_of(r);
    if (h < reqs.size())
      reqs[h].procs.push_back(spec_of(self, r, next_incarnation(self, r)));
  }
  sv.pending = reqs.size();
  auto epoch = sv.whole_epoch;
  for (size_t h = 0; h < reqs.size(); ++h)
    self
      ->request(st.hosts[h], spawn_bound(self->system()),
                spawn_procs_atom::value, std::move(reqs[h]))
      .then(
        [self, epoch, h](std::vector<proc_info>& infos) {
          auto& sv = *self->state.supervisor;
          if (sv.over() || sv.whole_epoch != epoch) {
            discard(self, h, infos);
            return;
          }
          for (auto& info : infos)
            if (auto why = take_info(self, info)) {
              fail_whole(self, self->state.layout->where(info.state.rank) +
                                 ": " + *why);
              return;
            }
          if (--sv.pending == 0)
            whole_spawn_actors(self);
        },
        [self, epoch, h](caf::error& err) {
          auto& sv = *self->state.supervisor;
          if (sv.over() || sv.whole_epoch != epoch)
            return;
          fail_whole(self,
                     "host " + host_addr(self, h) +
                       ": its procs did not start: " + mesh::to_string(err));
        });
}

void start_whole(controller_ptr self, size_t r, const std::string& cause) {
  auto& st = self->state;
  auto& sv = *st.supervisor;
  sv.whole = true;
  ++sv.whole_epoch;
  ++sv.whole_attempt;
  sv.whole_rank = r;
  sv.whole_cause = st.layout->where(r) + ": " + cause;
  for (auto& rr : sv.ranks) {
    ++rr.epoch;
    rr.step = phase::idle;
  }
  std::vector<size_t> all(sv.ranks.size());
  for (size_t i = 0; i < all.size(); ++i)
    all[i] = i;
  mark_restarting(self, all,
                  "restarting (all_for_one, attempt " +
                    std::to_string(sv.whole_attempt) +
                    "; cause: " + sv.whole_cause + ")");
  emit(self, make_event(self, r, supervision_action::restarting,
                        sv.whole_attempt, sv.whole_cause));
  for (size_t h = 0; h < st.hosts.size(); ++h)
    if (auto lost_cause = lost(self, h)) {
      give_up(self, r,
              "host " + host_addr(self, h) +
                " is lost, and a rank is "
                "restarted on its own host only: " +
                *lost_cause);
      return;
    }
  // Every proc of the mesh ends first (the members with them); then every
  // rank is spawned again.
  sv.pending = st.hosts.size();
  auto epoch = sv.whole_epoch;
  for (size_t h = 0; h < st.hosts.size(); ++h) {
    auto next = [self, epoch] {
      auto& sv = *self->state.supervisor;
      if (sv.over() || sv.whole_epoch != epoch)
        return;
      if (--sv.pending == 0)
        whole_spawn_procs(self);
    };
    self
      ->request(st.hosts[h], stop_bound(self->system()), stop_procs_atom::value,
                st.layout->proc_mesh_id, std::vector<std::string>{},
                std::string{"all_for_one restart"})
      .then([next](const shutdown_summary&) { next(); },
            [next](caf::error&) { next(); });
  }
}

// -- both ---------------------------------------------------------------------

/// Rank `r` failed with `cause`: restart it (or the mesh), or give up.
void failure(controller_ptr self, size_t r, const std::string& cause,
             bool need_proc) {
  auto& st = self->state;
  auto& sv = *st.supervisor;
  if (sv.over())
    return;
  if (!allow_restart(sv)) {
    give_up(self, r,
            std::to_string(sv.policy.max_restarts) + " restarts within " +
              render_duration(sv.policy.within) +
              " already; the last "
              "failure: " +
              st.layout->where(r) + ": " + cause);
    return;
  }
  if (sv.policy.strategy == restart_strategy::all_for_one) {
    start_whole(self, r, cause);
    return;
  }
  auto& rr = sv.ranks[r];
  ++rr.attempt;
  ++rr.epoch;
  rr.cause = cause;
  mark_restarting(self, {r},
                  "restarting (attempt " + std::to_string(rr.attempt) +
                    "; cause: " + cause + ")");
  emit(self,
       make_event(self, r, supervision_action::restarting, rr.attempt, cause));
  if (need_proc)
    respawn_proc(self, r);
  else
    respawn_actor(self, r);
}

} // namespace

bool is_stale(const mesh_controller_shared& shared, const proc_event& ev) {
  if (ev.rank >= shared.procs.size())
    return false;
  auto& current = shared.procs[ev.rank].state.proc_name;
  return !current.empty() && !ev.proc_name.empty() && ev.proc_name != current;
}

void notify_subscribers(controller_ptr self, const proc_event& ev) {
  for (auto& [who, filter] : self->state.subscribers)
    if (filter.empty() || filter == ev.actor_mesh)
      caf::anon_send(who, ev);
}

caf::error attach_supervisor(controller_ptr self, const std::string& id,
                             supervisor_policy policy) {
  auto& st = self->state;
  if (policy.max_restarts == 0 || policy.within <= duration::zero())
    return make_error(ec::invalid_argument, "supervisor of actor mesh " + id,
                      "max_restarts must be at least 1 and within positive");
  if (st.supervisor) {
    if (st.supervisor->actor_mesh != id)
      return make_error(ec::invalid_argument, "supervisor of actor mesh " + id,
                        "actor mesh " + st.supervisor->actor_mesh +
                          " of proc "
                          "mesh " +
                          st.layout->proc_mesh_id +
                          " is supervised "
                          "already (one supervised actor mesh per proc mesh)");
    if (st.supervisor->over())
      return make_error(ec::not_running, "supervisor of actor mesh " + id,
                        st.supervisor->gave_up ? "it gave up"
                                               : "its proc mesh was stopped");
    st.supervisor->policy = policy;
    return caf::none;
  }
  std::shared_ptr<actor_mesh_supervision> sup;
  std::map<size_t, std::string> gone;
  std::vector<proc_status> statuses;
  {
    std::lock_guard<std::mutex> guard{st.shared->mtx};
    if (auto i = st.shared->actor_meshes.find(id);
        i != st.shared->actor_meshes.end())
      sup = i->second.lock();
    if (sup)
      gone = sup->gone;
    for (auto& p : st.shared->procs)
      statuses.push_back(p.state.status);
  }
  if (!sup)
    return make_error(ec::not_running, "supervisor of actor mesh " + id,
                      "no such actor mesh on proc mesh " +
                        st.layout->proc_mesh_id);
  auto& sv = st.supervisor.emplace();
  sv.actor_mesh = id;
  sv.sup = sup;
  sv.policy = policy;
  sv.ranks.resize(statuses.size());
  for (size_t r = 0; r < statuses.size(); ++r)
    sv.ranks[r].stop_asked =
      is_terminating(statuses[r]) && !has_ended(statuses[r]);
  // What is down already is restarted now.
  for (auto& [r, why] : gone) {
    if (r >= sv.ranks.size() || sv.over() || sv.whole)
      continue;
    if (auto cause = lost(self, st.layout->host_of(r))) {
      if (policy.strategy == restart_strategy::all_for_one)
        give_up(self, r, *cause);
      else
        rank_lost(self, r, *cause);
      continue;
    }
    failure(self, r, why, has_ended(statuses[r]));
  }
  return caf::none;
}

void supervise_proc_event(controller_ptr self, const proc_event& ev) {
  auto& st = self->state;
  if (!st.supervisor || st.supervisor->over() || !ev.actor_mesh.empty())
    return;
  auto& sv = *st.supervisor;
  auto r = ev.rank;
  if (r >= sv.ranks.size())
    return;
  auto& rr = sv.ranks[r];
  if (ev.status == proc_status::stopping) {
    rr.stop_asked = true;
    // Only the owner stops a current proc outside a whole restart (a
    // respawn stops an earlier incarnation, whose events are stale).
    if (!sv.whole)
      retire(self);
    return;
  }
  if (!has_ended(ev.status) || rr.stop_asked || rr.given_up)
    return;
  // A whole restart, and a rank whose new proc is coming up, learn of
  // failures from the replies they wait for.
  if (sv.whole || rr.step == phase::proc)
    return;
  auto cause = "its proc " + std::string{to_string(ev.status)} +
               (ev.reason.empty() ? "" : ": " + ev.reason);
  if (auto lost_cause = lost(self, st.layout->host_of(r))) {
    if (sv.policy.strategy == restart_strategy::all_for_one)
      give_up(self, r, st.layout->where(r) + ": " + *lost_cause);
    else
      rank_lost(self, r, *lost_cause);
    return;
  }
  failure(self, r, cause, true);
}

void supervise_actor_failure(controller_ptr self, const proc_event& ev) {
  auto& st = self->state;
  if (!st.supervisor || st.supervisor->over())
    return;
  auto& sv = *st.supervisor;
  auto r = ev.rank;
  if (ev.actor_mesh != sv.actor_mesh || r >= sv.ranks.size())
    return;
  auto& rr = sv.ranks[r];
  // A member that fails while its restart runs fails that restart's spawn.
  if (sv.whole || rr.given_up || rr.step != phase::idle)
    return;
  failure(self, r, "its actor failed: " + ev.reason, false);
}

} // namespace mesh
