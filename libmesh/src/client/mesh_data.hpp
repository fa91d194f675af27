// The insides of host_mesh_ref and proc_mesh, shared by their sources.
#pragma once

#include "actors/mesh_controller.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/proc_mesh.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <atomic>
#include <chrono>

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

struct proc_mesh::data {
  caf::actor_system* sys = nullptr;
  proc_mesh_id id;
  mesh::extent extent;
  size_t procs_per_host = 1;
  std::vector<host_agent_actor> hosts; ///< By host view rank.
  std::vector<std::string> host_addrs;
  std::vector<std::string> names;      ///< By rank.
  std::shared_ptr<mesh_controller_shared> shared;
  mesh_controller_actor controller;
};

/// Sends the same request to every actor at once, then collects the replies
/// (or errors) in order: the requests run concurrently.
template <class R, class Handle, class... Ts>
std::vector<caf::expected<R>> gather(caf::actor_system& sys,
                                     const std::vector<Handle>& targets,
                                     std::chrono::milliseconds timeout,
                                     const Ts&... xs) {
  caf::scoped_actor self{sys};
  std::vector<decltype(self->request(targets.front(), timeout, xs...))> handles;
  handles.reserve(targets.size());
  for (auto& t : targets)
    handles.push_back(self->request(t, timeout, xs...));
  std::vector<caf::expected<R>> result;
  for (auto& h : handles)
    h.receive([&](R& r) { result.emplace_back(std::move(r)); },
              [&](caf::error& err) { result.emplace_back(std::move(err)); });
  return result;
}

/// Generous bound for a stop: polite stop, SIGTERM and SIGKILL each get
/// terminate_timeout, plus slack for the replies.
std::chrono::milliseconds stop_timeout(caf::actor_system& sys);

} // namespace mesh
