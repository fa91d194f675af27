// proc_mesh and proc_mesh_ref: a mesh of procs, and what is done to it.
//
// Contract:
// - Every operation that waits (states, stop, spawning an actor mesh) is
//   an operation actor (ops.hpp) started by its non-blocking face
//   (mesh/async.hpp); the blocking methods here ask that same actor and
//   wait for its answer.
// - A reference shares the owner's state; the controller ends with the
//   last of them in this process (proc_mesh_ref::data).
#include "mesh/proc_mesh.hpp"

#include "actors/comm_actor.hpp"
#include "actors/mesh_controller.hpp"
#include "libmesh/src/client/actor_mesh_core.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

namespace mesh {

proc_mesh_ref::proc_mesh_ref() : d_(std::make_shared<data>()) {
}

proc_mesh_ref::proc_mesh_ref(std::shared_ptr<data> d) : d_(std::move(d)) {
}

proc_mesh::proc_mesh(std::shared_ptr<data> d) : proc_mesh_ref(std::move(d)) {
}

proc_mesh::proc_mesh(proc_mesh&&) noexcept = default;

proc_mesh& proc_mesh::operator=(proc_mesh&&) noexcept = default;

proc_mesh::~proc_mesh() = default;

proc_mesh proc_mesh::take(proc_mesh_ref ref) {
  return proc_mesh{detail::mesh_access::data_of(ref)};
}

const proc_mesh_id& proc_mesh_ref::id() const {
  return d_->id;
}

mesh::extent proc_mesh_ref::extent() const {
  return d_->extent;
}

size_t proc_mesh_ref::size() const {
  return d_->extent.num_ranks();
}

caf::actor_system& proc_mesh_ref::system() const {
  return *d_->sys;
}

proc_agent_actor proc_mesh_ref::agent(size_t rank) const {
  std::lock_guard<std::mutex> guard{d_->shared->mtx};
  auto& procs = d_->shared->procs;
  return rank < procs.size() && procs[rank].state.status == proc_status::running
           ? procs[rank].agent
           : proc_agent_actor{};
}

void proc_mesh_ref::on_event(
  std::function<void(const proc_event&)> handler) const {
  std::lock_guard<std::mutex> guard{d_->shared->mtx};
  d_->shared->handlers.push_back(std::move(handler));
}

caf::expected<std::vector<proc_state>> proc_mesh_ref::states() const {
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  return detail::await_op<std::vector<proc_state>>(*d_->sys,
                                                   detail::states_op(*this));
}

std::vector<rank_health> proc_mesh_ref::health() const {
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

caf::expected<void> proc_mesh_ref::stop(std::string reason) const {
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  auto res = detail::await_op<caf::unit_t>(
    *d_->sys, detail::stop_op(*this, std::move(reason)));
  if (!res)
    return std::move(res.error());
  return caf::unit;
}

namespace detail {

caf::actor states_op(const proc_mesh_ref& mesh) {
  auto d = mesh_access::data_of(mesh);
  // A rank a supervisor restarted: its host also knows its earlier procs.
  std::vector<std::string> current(d->extent.num_ranks());
  {
    std::lock_guard<std::mutex> guard{d->shared->mtx};
    for (size_t r = 0; r < current.size() && r < d->shared->procs.size(); ++r)
      current[r] = d->shared->procs[r].state.proc_name;
  }
  return spawn_op(*d->sys, [d, current](caf::event_based_actor* self,
                                        op_outcome out) {
    gather_then<std::vector<proc_info>>(
      self, d->hosts, std::chrono::seconds{10},
      [d, out, current](
        std::vector<caf::expected<std::vector<proc_info>>>& replies) {
        std::vector<proc_state> result(d->extent.num_ranks());
        for (size_t r = 0; r < result.size(); ++r) {
          result[r].rank = r;
          result[r].proc_name = d->layout->proc_names[r];
          result[r].host = d->layout->host_addr_of(r);
          result[r].status = proc_status::unknown;
          if (auto& reply = replies[d->layout->host_of(r)]; !reply)
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
        out.done(std::move(result));
      },
      proc_state_atom::value, d->id.to_string(), std::vector<std::string>{});
    return caf::message_handler{};
  });
}

caf::actor stop_op(const proc_mesh_ref& mesh, std::string reason) {
  auto d = mesh_access::data_of(mesh);
  return spawn_op(*d->sys, [d, reason](caf::event_based_actor* self,
                                       op_outcome out) {
    gather_then<shutdown_summary>(
      self, d->hosts, stop_timeout(*d->sys),
      [d, out](std::vector<caf::expected<shutdown_summary>>& replies) {
        shutdown_summary total;
        for (size_t h = 0; h < replies.size(); ++h) {
          if (replies[h])
            total += *replies[h];
          else
            total.failures.push_back("host " + d->layout->host_addrs[h] + ": "
                                     + mesh::to_string(replies[h].error()));
        }
        if (!total.failures.empty())
          out.fail(make_error(ec::stop_failed,
                              "proc mesh " + d->id.to_string(),
                              total.to_string()));
        else
          out.done();
      },
      stop_procs_atom::value, d->id.to_string(), std::vector<std::string>{},
      reason);
    return caf::message_handler{};
  });
}

} // namespace detail

caf::expected<std::shared_ptr<detail::actor_mesh_core>>
proc_mesh_ref::spawn_actors(std::string name, std::string actor_type,
                            caf::message args,
                            std::set<std::string> interface) const {
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  auto handoff = detail::await_op<detail::actor_mesh_handoff>(
    *d_->sys, detail::spawn_actors_op(*this, std::move(name),
                                      std::move(actor_type), std::move(args),
                                      std::move(interface)));
  if (!handoff)
    return std::move(handoff.error());
  return std::move(handoff->core);
}

namespace detail {

namespace {

/// Why one member of an actor mesh did not start, after its where().
std::string spawn_failure(caf::actor_system& sys, const caf::error& err,
                          duration timeout) {
  if (err == caf::sec::request_timeout
      || err == caf::sec::request_receiver_down)
    return "its proc agent " + explain_member_error(sys, err, timeout);
  if (err.category() == error_category
      && (err.code() == static_cast<uint8_t>(ec::proc_failed)
          || err.code() == static_cast<uint8_t>(ec::host_unreachable)))
    return "is gone: " + reason_of(sys, err);
  return reason_of(sys, err);
}

/// The steps of an actor mesh spawn, run by its operation actor: comm
/// actors, the types remote hosts relay, then one spawn request per rank.
struct actor_spawn {
  std::shared_ptr<mesh_access::proc_data> d;
  std::shared_ptr<actor_mesh_core> core;
  std::string what;
  spawn_actor_request req;
  std::vector<proc_agent_actor> agents;
  duration timeout{0};
  std::vector<std::optional<caf::expected<caf::actor>>> spawned;
  size_t pending = 0;
  std::vector<uint64_t> waiter_ids;
};

void finish_spawn(const std::shared_ptr<actor_spawn>& st, op_outcome out) {
  auto& d = *st->d;
  auto& sys = *d.sys;
  {
    std::lock_guard<std::mutex> guard{d.shared->mtx};
    for (auto id : st->waiter_ids)
      d.shared->remove_waiter(id);
  }
  std::vector<std::string> failures;
  for (size_t r = 0; r < st->spawned.size(); ++r)
    if (!*st->spawned[r])
      failures.push_back(d.layout->where(r) + ": "
                         + spawn_failure(sys, st->spawned[r]->error(),
                                         st->timeout));
  if (!failures.empty()) {
    // Nothing of a failed spawn may be left running; a stop is not a
    // failure of the actor, so it reports nothing.
    for (auto& a : st->spawned)
      if (*a && **a)
        caf::anon_send_exit(**a, caf::exit_reason::user_shutdown);
    std::lock_guard<std::mutex> guard{d.shared->mtx};
    d.shared->actor_meshes.erase(st->core->id.to_string());
    out.fail(make_error(ec::actor_spawn_failed, st->what,
                        join_failures(failures)));
    return;
  }
  for (auto& a : st->spawned)
    st->core->members.push_back(std::move(**a));
  out.done(actor_mesh_handoff{st->core});
}

void spawn_members(caf::event_based_actor* self,
                   const std::shared_ptr<actor_spawn>& st, op_outcome out) {
  auto& d = *st->d;
  auto n = st->agents.size();
  // Registered before any actor exists: a failure right after the spawn is
  // still routed to this actor mesh.
  {
    std::lock_guard<std::mutex> guard{d.shared->mtx};
    d.shared->actor_meshes[st->core->id.to_string()] = st->core->supervision;
  }
  st->spawned.resize(n);
  st->pending = n;
  auto me = caf::actor_cast<caf::strong_actor_ptr>(self);
  // No supervisor: each proc agent reports its actors' failures to its
  // host's registrar, which pushes them to this mesh's controller.
  std::vector<caf::message_id> ids;
  for (size_t r = 0; r < n; ++r) {
    auto settle = [st, out, r](caf::expected<caf::actor> x) {
      if (st->spawned[r])
        return;
      st->spawned[r] = std::move(x);
      if (--st->pending == 0)
        finish_spawn(st, out);
    };
    auto h = self->request(st->agents[r], st->timeout,
                           spawn_actor_atom::value, st->req);
    ids.push_back(h.id());
    h.then([settle](caf::actor& a) { settle(std::move(a)); },
           [settle](caf::error& err) { settle(std::move(err)); });
  }
  // Supervision answers the request of a rank whose proc or host dies
  // meanwhile, at once.
  std::lock_guard<std::mutex> guard{d.shared->mtx};
  for (size_t r = 0; r < n; ++r) {
    rank_waiter w;
    w.caller = me;
    w.response_id = ids[r];
    w.host = d.layout->host_of(r);
    w.rank = r;
    st->waiter_ids.push_back(d.shared->add_waiter(std::move(w)));
  }
}

} // namespace

caf::actor spawn_actors_op(const proc_mesh_ref& mesh, std::string name,
                           std::string actor_type, caf::message args,
                           std::set<std::string> interface) {
  auto d = mesh_access::data_of(mesh);
  auto& sys = *d->sys;
  if (auto err = validate_label(name))
    return failed_op(sys, make_error(ec::invalid_label, "actor mesh name",
                                     reason_of(sys, err)));
  auto st = std::make_shared<actor_spawn>();
  st->d = d;
  auto n = mesh.size();
  auto nhosts = d->hosts.size();
  auto core = std::make_shared<actor_mesh_core>();
  core->sys = d->sys;
  core->name = name;
  core->id = actor_mesh_id::instance(name);
  core->layout = d->layout;
  core->config = &config_of(sys);
  core->extent = d->extent;
  core->controller = d->shared;
  core->supervision = std::make_shared<actor_mesh_supervision>();
  core->supervision->name = name;
  core->supervision->id = core->id.to_string();
  core->supervision->size_messages(n);
  core->casts_per_host = std::make_unique<std::atomic<uint64_t>[]>(nhosts);
  core->callers = std::make_unique<caller_pool>(sys);
  st->core = core;
  st->what = "actor mesh '" + name + "' of type '" + actor_type
             + "' on proc mesh " + d->id.to_string();
  st->agents.resize(n);
  {
    std::vector<std::string> down;
    std::lock_guard<std::mutex> guard{d->shared->mtx};
    for (size_t r = 0; r < n; ++r) {
      auto& info = d->shared->procs[r];
      if (info.state.status == proc_status::running && info.agent)
        st->agents[r] = info.agent;
      else
        down.push_back(d->layout->where(r) + " is not running (status "
                       + std::string{to_string(info.state.status)} + ")");
    }
    if (!down.empty())
      return failed_op(sys, make_error(ec::actor_spawn_failed, st->what,
                                       join_failures(down)));
  }
  st->timeout = config_of(sys).get(keys::call_timeout);
  st->req.name = name;
  st->req.actor_mesh = core->id.to_string();
  st->req.type = std::move(actor_type);
  st->req.args = std::move(args);
  st->req.interface.assign(interface.begin(), interface.end());
  core->supervision->request = st->req; // what a supervisor's restart spawns
  return spawn_op(sys, [st](caf::event_based_actor* self, op_outcome out) {
    auto& d = *st->d;
    auto timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(st->timeout);
    gather_then<comm_actor_actor>(
      self, d.hosts, timeout,
      [self, st, out, timeout](
        std::vector<caf::expected<comm_actor_actor>>& comms) {
        auto& d = *st->d;
        auto& core = *st->core;
        for (size_t h = 0; h < comms.size(); ++h) {
          if (!comms[h]) {
            out.fail(make_error(ec::actor_spawn_failed, st->what,
                                "host " + d.layout->host_addrs[h]
                                  + " did not name its comm actor: "
                                  + reason_of(*d.sys, comms[h].error())));
            return;
          }
          core.comms.push_back(*comms[h]);
        }
        // Which types each host can relay, asked once here so that no
        // cast ever waits for the answer. A host that does not answer
        // relays everything (and so reports its own problem when it fails
        // to).
        core.host_types.resize(comms.size());
        std::vector<size_t> remote_index;
        std::vector<comm_actor_actor> remote_comms;
        for (size_t h = 0; h < comms.size(); ++h)
          if (core.comms[h]->node() != d.sys->node()) {
            remote_index.push_back(h);
            remote_comms.push_back(core.comms[h]);
          }
        gather_then<std::vector<std::string>>(
          self, remote_comms, timeout,
          [self, st, out, remote_index](
            std::vector<caf::expected<std::vector<std::string>>>& types) {
            for (size_t i = 0; i < remote_index.size(); ++i)
              if (types[i])
                st->core->host_types[remote_index[i]] =
                  std::set<std::string>(types[i]->begin(), types[i]->end());
            spawn_members(self, st, out);
          },
          known_types_atom::value);
      },
      comm_atom::value);
    return caf::message_handler{};
  });
}

} // namespace detail

} // namespace mesh
