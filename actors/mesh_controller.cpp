#include "actors/mesh_controller.hpp"

#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

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

using controller_ptr =
  mesh_controller_internal_actor::stateful_pointer<mesh_controller_state>;

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

/// An actor of an actor mesh failed (reported by its proc agent).
void on_actor_event(controller_ptr self, const proc_event& ev) {
  handler_list proc_handlers;
  handler_list actor_handlers;
  {
    std::lock_guard<std::mutex> guard{self->state.shared->mtx};
    auto& meshes = self->state.shared->actor_meshes;
    if (auto i = meshes.find(ev.actor_mesh); i != meshes.end())
      if (auto sup = i->second.lock()) {
        sup->gone.emplace(ev.rank, ev.reason);
        actor_handlers = sup->handlers;
      }
    proc_handlers = self->state.shared->handlers;
  }
  call_all(proc_handlers, ev);
  call_all(actor_handlers, ev);
  if (proc_handlers.empty() && actor_handlers.empty())
    log_unhandled(ev);
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
      auto actor_ev = ev;
      actor_ev.reason = reason;
      actor_ev.actor = sup->name;
      actor_ev.actor_mesh = sup->id;
      events.emplace_back(std::move(actor_ev), sup->handlers);
    }
  }
  for (auto& [actor_ev, handlers] : events) {
    call_all(handlers, actor_ev);
    if (handlers.empty() && !proc_handled &&
        ev.status != proc_status::stopped && ev.status != proc_status::stopping)
      log_unhandled(actor_ev);
  }
}

} // namespace

mesh_controller_internal_actor::behavior_type
mesh_controller(controller_ptr self,
                std::shared_ptr<mesh_controller_shared> shared,
                std::shared_ptr<const mesh_layout> layout) {
  self->state.shared = std::move(shared);
  self->state.layout = std::move(layout);
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
      }
      info.state.rank = ev.rank;
      info.state.proc_name = ev.proc_name;
      info.state.status = ev.status;
      info.state.exit_code = ev.exit_code;
      info.state.signal = ev.signal;
      info.state.reason = ev.reason;
      record(self, info);
      std::vector<std::function<void(const proc_event&)>> handlers;
      {
        std::lock_guard<std::mutex> guard{self->state.shared->mtx};
        handlers = self->state.shared->handlers;
      }
      for (auto& f : handlers)
        f(ev);
      if (is_terminated(ev.status) || ev.status == proc_status::unknown)
        attribute_to_actors(self, ev);
      if (self->state.spawning) {
        arm_idle_timer(self);
        on_state(self, info.state);
      }
    },
    [self](const proc_output& out) {
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
      st.hosts_pending = hosts.size();
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
