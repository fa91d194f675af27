// The insides of host_mesh_ref, host_mesh and proc_mesh, shared by their
// sources.
#pragma once

#include "actors/mesh_controller.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/error.hpp"
#include "mesh/proc_mesh.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mesh {

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

  /// Whether destroying the owner must shut the hosts down: not after a
  /// shutdown, nor after a stop() of hosts this process does not run.
  bool shutdown_pending() const {
    return !result && !(stopped && local_agents.empty());
  }
};

struct proc_mesh::data {
  caf::actor_system* sys = nullptr;
  proc_mesh_id id;
  mesh::extent extent;
  /// Where each rank lives (shared with the controller and actor meshes).
  std::shared_ptr<const mesh_layout> layout;
  std::vector<host_agent_actor> hosts; ///< By host view rank.
  std::shared_ptr<mesh_controller_shared> shared;
  mesh_controller_actor controller;
};

/// The one fan-out of the blocking API: sends the same request to every
/// target at once and collects the replies (or errors) in target order.
///
/// - A target that is gone answers at once: its actor ended (an error of
///   caf::sec::request_receiver_down), or the connection to its node is lost
///   (ec::host_unreachable). CAF drops a message to a lost peer's proxy
///   without a bounce, so a plain request to it would only time out.
/// - `idle` is a barrier, not a per-target deadline: the gather ends when
///   every target has answered, or when `idle` passes without an answer
///   from any of them; the rest then fail with ec::host_unreachable.
/// The waiting happens in a short-lived event-based actor; the calling
/// thread only waits for its single reply.
template <class R, class Handle, class... Ts>
std::vector<caf::expected<R>> gather(caf::actor_system& sys,
                                     const std::vector<Handle>& targets,
                                     std::chrono::milliseconds idle,
                                     const Ts&... xs) {
  using gather_idle_atom = caf::atom_constant<caf::atom("gatheridle")>;
  struct barrier {
    std::vector<std::optional<caf::expected<R>>> results;
    size_t pending = 0;
    uint64_t generation = 0;
  };
  auto n = targets.size();
  if (n == 0)
    return {};
  auto st = std::make_shared<barrier>();
  st->results.resize(n);
  st->pending = n;
  caf::scoped_actor waiter{sys};
  auto done = caf::actor_cast<caf::actor>(waiter);
  sys.spawn([st, targets, idle, done,
             xs...](caf::event_based_actor* self) -> caf::behavior {
    auto arm = [self, st, idle] {
      if (idle.count() > 0)
        self->delayed_send(self, idle, gather_idle_atom::value,
                           ++st->generation);
    };
    auto settle = [self, st, done, arm](size_t i, caf::expected<R> r) {
      if (st->results[i])
        return;
      st->results[i] = std::move(r);
      if (--st->pending == 0) {
        self->send(done, caf::ok_atom::value);
        self->quit();
      } else {
        arm();
      }
    };
    self->set_down_handler([self, st, targets, settle](caf::down_msg& msg) {
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
      [st, settle, idle](gather_idle_atom, uint64_t generation) {
        if (generation != st->generation)
          return;
        for (size_t i = 0; i < st->results.size(); ++i)
          if (!st->results[i])
            settle(i, make_error(ec::host_unreachable,
                                 "no answer and no progress from any host "
                                 "for "
                                   + render_duration(idle)));
      },
    };
  });
  waiter->receive([](caf::ok_atom) {});
  std::vector<caf::expected<R>> result;
  result.reserve(n);
  for (auto& r : st->results)
    result.push_back(std::move(*r));
  return result;
}

/// The idle barrier of stops (proc_stop_max_idle), never shorter than one
/// host's whole escalation (polite stop, SIGTERM, SIGKILL: each gets
/// terminate_timeout) plus slack for the replies.
std::chrono::milliseconds stop_timeout(caf::actor_system& sys);

} // namespace mesh
