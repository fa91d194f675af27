#include "mesh/proc_mesh.hpp"

#include "actors/comm_actor.hpp"
#include "actors/mesh_controller.hpp"
#include "libmesh/src/client/actor_mesh_core.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

namespace mesh {

proc_mesh::proc_mesh(std::unique_ptr<data> d) : d_(std::move(d)) {
}

proc_mesh::proc_mesh(proc_mesh&&) noexcept = default;

proc_mesh& proc_mesh::operator=(proc_mesh&& other) noexcept {
  if (this != &other) {
    if (d_ && d_->controller)
      caf::anon_send_exit(d_->controller, caf::exit_reason::user_shutdown);
    d_ = std::move(other.d_);
  }
  return *this;
}

proc_mesh::~proc_mesh() {
  // The controller must end with its mesh: ~actor_system waits for every
  // actor.
  if (d_ && d_->controller)
    caf::anon_send_exit(d_->controller, caf::exit_reason::user_shutdown);
}

const proc_mesh_id& proc_mesh::id() const {
  return d_->id;
}

mesh::extent proc_mesh::extent() const {
  return d_->extent;
}

size_t proc_mesh::size() const {
  return d_->extent.num_ranks();
}

caf::actor_system& proc_mesh::system() const {
  return *d_->sys;
}

proc_agent_actor proc_mesh::agent(size_t rank) const {
  std::lock_guard<std::mutex> guard{d_->shared->mtx};
  auto& procs = d_->shared->procs;
  return rank < procs.size() && procs[rank].state.status == proc_status::running
           ? procs[rank].agent
           : proc_agent_actor{};
}

void proc_mesh::on_event(std::function<void(const proc_event&)> handler) {
  std::lock_guard<std::mutex> guard{d_->shared->mtx};
  d_->shared->handlers.push_back(std::move(handler));
}

caf::expected<std::vector<proc_state>> proc_mesh::states() const {
  auto replies = gather<std::vector<proc_info>>(
    *d_->sys, d_->hosts, std::chrono::seconds{10}, proc_state_atom::value,
    d_->id.to_string(), std::vector<std::string>{});
  std::vector<proc_state> result(size());
  // A rank a supervisor restarted: its host also knows its earlier procs.
  std::vector<std::string> current(size());
  {
    std::lock_guard<std::mutex> guard{d_->shared->mtx};
    for (size_t r = 0; r < current.size() && r < d_->shared->procs.size(); ++r)
      current[r] = d_->shared->procs[r].state.proc_name;
  }
  for (size_t r = 0; r < result.size(); ++r) {
    result[r].rank = r;
    result[r].proc_name = d_->layout->proc_names[r];
    result[r].host = d_->layout->host_addr_of(r);
    result[r].status = proc_status::unknown;
    if (auto& reply = replies[d_->layout->host_of(r)]; !reply)
      result[r].reason = "host did not answer: "
                         + mesh::to_string(reply.error());
  }
  for (auto& reply : replies)
    if (reply)
      for (auto& info : *reply)
        if (info.state.rank < result.size()
            && (current[info.state.rank].empty()
                || current[info.state.rank] == info.state.proc_name))
          result[info.state.rank] = info.state;
  return result;
}

std::vector<rank_health> proc_mesh::health() const {
  std::lock_guard<std::mutex> guard{d_->shared->mtx};
  auto& procs = d_->shared->procs;
  std::vector<rank_health> result(procs.size());
  for (size_t r = 0; r < procs.size(); ++r) {
    auto& st = procs[r].state;
    auto& h = result[r];
    h.rank = r;
    h.proc_name = st.proc_name.empty() ? d_->layout->proc_names[r]
                                       : st.proc_name; // a restart's
    h.host = d_->layout->host_addr_of(r);
    h.status = st.status;
    h.reason = st.reason;
    if (r < d_->shared->dropped.size())
      h.dropped_casts = d_->shared->dropped[r];
  }
  return result;
}

caf::expected<void> proc_mesh::stop(std::string reason) {
  auto replies = gather<shutdown_summary>(
    *d_->sys, d_->hosts, stop_timeout(*d_->sys), stop_procs_atom::value,
    d_->id.to_string(), std::vector<std::string>{}, reason);
  shutdown_summary total;
  for (size_t h = 0; h < replies.size(); ++h) {
    if (replies[h])
      total += *replies[h];
    else
      total.failures.push_back("host " + d_->layout->host_addrs[h] + ": "
                               + mesh::to_string(replies[h].error()));
  }
  if (!total.failures.empty())
    return make_error(ec::stop_failed, "proc mesh " + d_->id.to_string(),
                      total.to_string());
  return caf::unit;
}

caf::expected<std::shared_ptr<detail::actor_mesh_core>>
proc_mesh::spawn_actors(std::string name, std::string actor_type,
                        caf::message args,
                        std::set<std::string> interface) const {
  if (auto err = validate_label(name))
    return make_error(ec::invalid_label, "actor mesh name",
                      detail::reason_of(*d_->sys, err));
  auto& sys = *d_->sys;
  auto n = size();
  auto nhosts = d_->hosts.size();
  auto core = std::make_shared<detail::actor_mesh_core>();
  core->sys = d_->sys;
  core->name = name;
  core->id = actor_mesh_id::instance(name);
  core->layout = d_->layout;
  core->config = &config_of(sys);
  core->extent = d_->extent;
  core->controller = d_->shared;
  core->supervision = std::make_shared<actor_mesh_supervision>();
  core->supervision->name = name;
  core->supervision->id = core->id.to_string();
  core->casts_per_host = std::make_unique<std::atomic<uint64_t>[]>(nhosts);
  core->callers = std::make_unique<detail::caller_pool>(sys);
  auto what = "actor mesh '" + name + "' of type '" + actor_type +
              "' on proc mesh " + d_->id.to_string();
  auto where = [&](size_t r) { return d_->layout->where(r); };
  std::vector<proc_agent_actor> agents(n);
  {
    std::vector<std::string> down;
    std::lock_guard<std::mutex> guard{d_->shared->mtx};
    for (size_t r = 0; r < n; ++r) {
      auto& info = d_->shared->procs[r];
      if (info.state.status == proc_status::running && info.agent)
        agents[r] = info.agent;
      else
        down.push_back(where(r) + " is not running (status " +
                       std::string{to_string(info.state.status)} + ")");
    }
    if (!down.empty())
      return make_error(ec::actor_spawn_failed, what,
                        detail::join_failures(down));
  }
  auto timeout = config_of(sys).get(keys::call_timeout);
  auto comms =
    gather<comm_actor_actor>(sys, d_->hosts, timeout, comm_atom::value);
  for (size_t h = 0; h < nhosts; ++h) {
    if (!comms[h])
      return make_error(ec::actor_spawn_failed, what,
                        "host " + d_->layout->host_addrs[h] +
                          " did not name its comm actor: " +
                          detail::reason_of(sys, comms[h].error()));
    core->comms.push_back(*comms[h]);
  }
  // Which types each host can relay, asked once here so that no cast ever
  // waits for the answer. A host that does not answer relays everything
  // (and so reports its own problem when it fails to).
  core->host_types.resize(nhosts);
  std::vector<size_t> remote_index;
  for (size_t h = 0; h < nhosts; ++h)
    if (core->comms[h]->node() != sys.node())
      remote_index.push_back(h);
  if (!remote_index.empty()) {
    std::vector<comm_actor_actor> remote_comms;
    for (auto h : remote_index)
      remote_comms.push_back(core->comms[h]);
    auto types = gather<std::vector<std::string>>(sys, remote_comms, timeout,
                                                  known_types_atom::value);
    for (size_t i = 0; i < remote_index.size(); ++i)
      if (types[i])
        core->host_types[remote_index[i]] =
          std::set<std::string>(types[i]->begin(), types[i]->end());
  }
  // Registered before any actor exists: a failure right after the spawn is
  // still routed to this actor mesh.
  auto key = core->id.to_string();
  {
    std::lock_guard<std::mutex> guard{d_->shared->mtx};
    d_->shared->actor_meshes[key] = core->supervision;
  }
  spawn_actor_request req;
  req.name = name;
  req.actor_mesh = key;
  req.type = actor_type;
  req.args = std::move(args);
  req.interface.assign(interface.begin(), interface.end());
  core->supervision->request = req; // what a supervisor's restart spawns
  std::vector<caf::expected<caf::actor>> spawned;
  {
    caf::scoped_actor self{sys};
    using handle_t = decltype(self->request(agents.front(), timeout,
                                            spawn_actor_atom::value, req));
    std::vector<handle_t> pending;
    pending.reserve(n);
    // No supervisor: each proc agent reports its actors' failures to its
    // host's registrar, which pushes them to this mesh's controller.
    for (size_t r = 0; r < n; ++r) {
      pending.push_back(
        self->request(agents[r], timeout, spawn_actor_atom::value, req));
    }
    // Supervision answers the request of a rank whose proc or host dies
    // meanwhile, at once.
    auto me = caf::actor_cast<caf::strong_actor_ptr>(self);
    std::vector<uint64_t> ids;
    {
      std::lock_guard<std::mutex> guard{d_->shared->mtx};
      for (size_t r = 0; r < n; ++r) {
        rank_waiter w;
        w.caller = me;
        w.response_id = pending[r].id();
        w.host = d_->layout->host_of(r);
        w.rank = r;
        ids.push_back(d_->shared->add_waiter(std::move(w)));
      }
    }
    for (auto& h : pending)
      h.receive([&](caf::actor& a) { spawned.emplace_back(std::move(a)); },
                [&](caf::error& err) { spawned.emplace_back(std::move(err)); });
    std::lock_guard<std::mutex> guard{d_->shared->mtx};
    for (auto id : ids)
      d_->shared->remove_waiter(id);
  }
  std::vector<std::string> failures;
  for (size_t r = 0; r < n; ++r)
    if (!spawned[r])
      failures.push_back(
        where(r) + ": " +
        (spawned[r].error() == caf::sec::request_timeout ||
             spawned[r].error() == caf::sec::request_receiver_down
           ? "its proc agent " +
               explain_member_error(sys, spawned[r].error(), timeout)
         : spawned[r].error().category() == error_category
             && (spawned[r].error().code()
                   == static_cast<uint8_t>(ec::proc_failed)
                 || spawned[r].error().code()
                      == static_cast<uint8_t>(ec::host_unreachable))
           ? "is gone: " + detail::reason_of(sys, spawned[r].error())
           : detail::reason_of(sys, spawned[r].error())));
  if (!failures.empty()) {
    // Nothing of a failed spawn may be left running; a stop is not a
    // failure of the actor, so it reports nothing.
    for (auto& a : spawned)
      if (a && *a)
        caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
    std::lock_guard<std::mutex> guard{d_->shared->mtx};
    d_->shared->actor_meshes.erase(key);
    return make_error(ec::actor_spawn_failed, what,
                      detail::join_failures(failures));
  }
  for (auto& a : spawned)
    core->members.push_back(std::move(*a));
  return core;
}

} // namespace mesh
