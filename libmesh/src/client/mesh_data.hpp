// The insides of host_mesh_ref, host_mesh and proc_mesh, shared by their
// sources.
#pragma once

#include "actors/mesh_controller.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/error.hpp"
#include "mesh/proc_mesh.hpp"

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mesh {

namespace detail {
class admin_service;
} // namespace detail

/// A proc mesh as its host mesh's owner sees it (the admin endpoint).
struct indexed_proc_mesh {
  std::string id;
  std::shared_ptr<mesh_controller_shared> shared;
};

/// The proc meshes spawned from one host mesh in this process, for its
/// owner's admin endpoint. Weak: a proc mesh ends with its handles.
struct proc_mesh_index {
  struct entry {
    std::string id;
    std::weak_ptr<void> handle; ///< The proc mesh's data.
    std::weak_ptr<mesh_controller_shared> shared;
  };
  std::mutex mtx;
  std::vector<entry> meshes; ///< Oldest first.

  void add(std::string id, const std::shared_ptr<void>& handle,
           const std::shared_ptr<mesh_controller_shared>& shared) {
    std::lock_guard<std::mutex> guard{mtx};
    meshes.erase(std::remove_if(meshes.begin(), meshes.end(),
                                [](auto& e) { return e.handle.expired(); }),
                 meshes.end());
    meshes.push_back(entry{std::move(id), handle, shared});
  }
  /// The live ones, oldest first.
  std::vector<indexed_proc_mesh> live() {
    std::lock_guard<std::mutex> guard{mtx};
    std::vector<indexed_proc_mesh> out;
    for (auto& e : meshes)
      if (!e.handle.expired())
        if (auto shared = e.shared.lock())
          out.push_back(indexed_proc_mesh{e.id, std::move(shared)});
    return out;
  }
};

struct host_mesh_ref::data {
  caf::actor_system* sys = nullptr;
  host_mesh_id id;
  mesh::region region;
  /// By view rank.
  std::vector<host_agent_actor> agents;
  std::vector<std::string> addrs;
  /// Default command for procs of future spawns (set_bootstrap, local()).
  std::optional<bootstrap_command> bootstrap;
  /// Cleared by the owner's shutdown; shared by every ref of the mesh.
  std::shared_ptr<std::atomic<bool>> alive
    = std::make_shared<std::atomic<bool>>(true);
  /// Proc meshes spawned from it by this process (the admin endpoint).
  std::shared_ptr<proc_mesh_index> proc_meshes
    = std::make_shared<proc_mesh_index>();
};

/// What an owning host_mesh holds besides its data: the hosts it runs in
/// this process and how far its shutdown got (host_mesh_start.cpp fills it,
/// host_mesh_shutdown.cpp ends it).
struct host_mesh::owned {
  /// Host agents living in this process, with the port each is published on.
  std::vector<std::pair<host_agent_actor, uint16_t>> local_agents;
  /// host_mesh::process: the local agent that launched the host processes.
  host_agent_actor launcher;
  std::vector<std::string> host_proc_names;
  std::optional<caf::expected<shutdown_summary>> result;
  /// stop() ran: hosts that live elsewhere (attach) are left to their daemons.
  bool stopped = false;
  /// A shutdown is under way (its operation sets `result`).
  bool shutting_down = false;
  /// The mesh's registry entry and admin endpoint (admin_server.hpp);
  /// ended by the shutdown, or with the owner.
  std::shared_ptr<detail::admin_service> admin;
  /// attach: the actor that stands for this owner at its hosts (claim_atom):
  /// they monitor it, so a client that dies is noticed (meshd
  /// --owner-timeout). Lives as long as this owner.
  caf::actor owner_token;
  /// allocate(): the scheduler's allocation this mesh owns, released by the
  /// shutdown (mesh/allocator.hpp), and its status when the hosts came up.
  std::shared_ptr<allocation> alloc;
  std::optional<allocation_status> alloc_status;

  owned() = default;
  owned(const owned&) = delete;
  owned& operator=(const owned&) = delete;
  ~owned() {
    if (owner_token)
      caf::anon_send_exit(owner_token, caf::exit_reason::user_shutdown);
  }

  /// Whether destroying the owner must shut the hosts down: not after a
  /// shutdown, nor after a stop() of hosts this process does not run.
  bool shutdown_pending() const {
    return !result && !(stopped && local_agents.empty());
  }
};

struct proc_mesh_ref::data {
  caf::actor_system* sys = nullptr;
  proc_mesh_id id;
  mesh::extent extent;
  /// Where each rank lives (shared with the controller and actor meshes).
  std::shared_ptr<const mesh_layout> layout;
  std::vector<host_agent_actor> hosts; ///< By host view rank.
  std::shared_ptr<mesh_controller_shared> shared;
  mesh_controller_actor controller;
  /// Whether the last reference in this process ends the controller (not
  /// so for a reference that came from another process).
  bool owns_controller = true;

  data() = default;
  data(const data&) = delete;
  ~data() {
    // The controller must end with its mesh: ~actor_system waits for every
    // actor.
    if (owns_controller && controller)
      caf::anon_send_exit(controller, caf::exit_reason::user_shutdown);
  }
};

/// The results of a gather, one per target in target order (shared: it
/// travels in a local message).
template <class R>
using gathered = std::shared_ptr<std::vector<caf::expected<R>>>;

/// What a gatherer answers (a local message only).
template <class R>
struct gathered_box {
  gathered<R> results;
};

/// The one fan-out of the API: an event-based actor that sends the same
/// request to every target at once, collects the replies (or errors) in
/// target order and answers one `get_atom` request with them (gathered<R>),
/// then quits. Both faces of the API ask it: gather_then() from an
/// event-based actor (a continuation), gather() from a blocking caller.
///
/// - A target that is gone answers at once: its actor ended (an error of
///   caf::sec::request_receiver_down), or the connection to its node is lost
///   (ec::host_unreachable). CAF drops a message to a lost peer's proxy
///   without a bounce, so a plain request to it would only time out.
/// - `idle` is a barrier, not a per-target deadline: the gather ends when
///   every target has answered, or when `idle` passes without an answer
///   from any of them; the rest then fail with ec::host_unreachable.
template <class R, class Handle, class... Ts>
caf::actor spawn_gatherer(caf::actor_system& sys,
                          const std::vector<Handle>& targets,
                          std::chrono::milliseconds idle, const Ts&... xs) {
  using gather_idle_atom = caf::atom_constant<caf::atom("gatheridle")>;
  struct barrier {
    gathered<R> results = std::make_shared<std::vector<caf::expected<R>>>();
    std::vector<bool> settled;
    size_t pending = 0;
    uint64_t generation = 0;
    caf::response_promise promise;
    bool asked = false;
  };
  auto st = std::make_shared<barrier>();
  auto n = targets.size();
  st->results->reserve(n);
  for (size_t i = 0; i < n; ++i)
    st->results->emplace_back(caf::sec::runtime_error);
  st->settled.resize(n);
  st->pending = n;
  return sys.spawn([st, targets, idle,
                    xs...](caf::event_based_actor* self) -> caf::behavior {
    auto finish = [self, st] {
      if (st->asked && st->pending == 0) {
        st->promise.deliver(gathered_box<R>{st->results});
        self->quit();
      }
    };
    auto arm = [self, st, idle] {
      if (idle.count() > 0)
        self->delayed_send(self, idle, gather_idle_atom::value,
                           ++st->generation);
    };
    auto settle = [st, finish, arm](size_t i, caf::expected<R> r) {
      if (st->settled[i])
        return;
      st->settled[i] = true;
      (*st->results)[i] = std::move(r);
      if (--st->pending == 0)
        finish();
      else
        arm();
    };
    self->set_down_handler([targets, settle](caf::down_msg& msg) {
      for (size_t i = 0; i < targets.size(); ++i)
        if (targets[i].address() == msg.source)
          settle(i, msg.reason == caf::exit_reason::remote_link_unreachable
                      ? make_error(ec::host_unreachable,
                                   "the connection to the host was lost")
                      : caf::make_error(caf::sec::request_receiver_down));
    });
    for (size_t i = 0; i < targets.size(); ++i) {
      self->monitor(targets[i]);
      self->request(targets[i], caf::infinite, xs...)
        .then([settle, i](R& r) { settle(i, std::move(r)); },
              [settle, i](caf::error& err) { settle(i, std::move(err)); });
    }
    arm();
    return {
      [self, st, finish](caf::get_atom) {
        st->promise = self->make_response_promise();
        st->asked = true;
        finish();
        return st->promise;
      },
      [st, settle, idle](gather_idle_atom, uint64_t generation) {
        if (generation != st->generation)
          return;
        for (size_t i = 0; i < st->settled.size(); ++i)
          if (!st->settled[i])
            settle(i, make_error(ec::host_unreachable,
                                 "no answer and no progress from any host "
                                 "for "
                                   + render_duration(idle)));
      },
    };
  });
}

/// The gather for an event-based actor: `then(results)` runs on `self`
/// once every target answered, failed or the idle barrier passed.
template <class R, class Self, class Handle, class F, class... Ts>
void gather_then(Self* self, const std::vector<Handle>& targets,
                 std::chrono::milliseconds idle, F then, const Ts&... xs) {
  if (targets.empty()) {
    std::vector<caf::expected<R>> none;
    then(none);
    return;
  }
  auto g = spawn_gatherer<R>(self->system(), targets, idle, xs...);
  self->request(g, caf::infinite, caf::get_atom::value)
    .then([then](gathered_box<R>& box) mutable { then(*box.results); },
          [then, n = targets.size()](caf::error& err) mutable {
            std::vector<caf::expected<R>> failed(n, caf::expected<R>{err});
            then(failed);
          });
}

/// The blocking face of the gather: the calling thread waits for its one
/// reply.
template <class R, class Handle, class... Ts>
std::vector<caf::expected<R>> gather(caf::actor_system& sys,
                                     const std::vector<Handle>& targets,
                                     std::chrono::milliseconds idle,
                                     const Ts&... xs) {
  if (targets.empty())
    return {};
  auto g = spawn_gatherer<R>(sys, targets, idle, xs...);
  std::vector<caf::expected<R>> result;
  // blocking: the blocking face of the gather, on an application thread
  caf::scoped_actor self{sys};
  self->request(g, caf::infinite, caf::get_atom::value)
    .receive([&](gathered_box<R>& box) { result = std::move(*box.results); },
             [&](caf::error& err) {
               result.assign(targets.size(), caf::expected<R>{err});
             });
  return result;
}

/// The idle barrier of stops (proc_stop_max_idle), never shorter than one
/// host's whole escalation (polite stop, SIGTERM, SIGKILL: each gets
/// terminate_timeout) plus slack for the replies.
std::chrono::milliseconds stop_timeout(caf::actor_system& sys);

} // namespace mesh

namespace caf {

/// Gathers answer within this process only.
template <class R>
struct allowed_unsafe_message_type<mesh::gathered_box<R>> : std::true_type {};

} // namespace caf
