// The operation actors (ops.hpp) of the API: each starts one operation at
// once and answers one get_atom request with its outcome. The blocking API
// waits for that answer; mesh/async.hpp delivers it as a continuation.
#pragma once

#include "actors/host_agent.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/proc_mesh.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/message.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mesh::detail {

/// libmesh's own access to the insides of host and proc meshes.
struct mesh_access {
  using host_data = host_mesh_ref::data;
  using host_owned = host_mesh::owned;
  using proc_data = proc_mesh_ref::data;
  static const std::shared_ptr<host_data>& data_of(const host_mesh_ref& x) {
    return x.d_;
  }
  static const std::shared_ptr<host_owned>& owned_of(const host_mesh& x) {
    return x.own_;
  }
  static host_mesh make_host_mesh(std::shared_ptr<host_data> d,
                                  std::shared_ptr<host_owned> own);
  static host_mesh_ref make_ref(std::shared_ptr<host_data> d) {
    return host_mesh_ref{std::move(d)};
  }
  static const std::shared_ptr<proc_data>& data_of(const proc_mesh_ref& x) {
    return x.d_;
  }
  static proc_mesh_ref make_proc_ref(std::shared_ptr<proc_data> d) {
    return proc_mesh_ref{std::move(d)};
  }
  static proc_mesh make_proc_mesh(std::shared_ptr<proc_data> d) {
    return proc_mesh{std::move(d)};
  }
};


/// Answers std::vector<proc_state> (proc_mesh_ref::states).
caf::actor states_op(const proc_mesh_ref& mesh);

/// Answers nothing (an empty message) once every proc stopped, or
/// ec::stop_failed (proc_mesh_ref::stop).
caf::actor stop_op(const proc_mesh_ref& mesh, std::string reason);

/// Answers actor_mesh_handoff (proc_mesh_ref::spawn).
caf::actor spawn_actors_op(const proc_mesh_ref& mesh, std::string name,
                           std::string actor_type, caf::message args,
                           std::set<std::string> interface);

/// A proc mesh on its way to its owner (a local message only).
struct proc_mesh_handoff {
  std::shared_ptr<mesh_access::proc_data> d;
};

/// An actor mesh on its way to its owner (a local message only).
struct actor_mesh_handoff {
  std::shared_ptr<actor_mesh_core> core;
};

/// Answers proc_mesh_handoff (host_mesh_ref::spawn). The per-rank commands
/// are chosen by the caller before: `commands` has one entry per rank.
caf::actor spawn_procs_op(const host_mesh_ref& hosts, std::string name,
                          mesh::extent per_host,
                          std::optional<std::vector<proc_bind>> bind,
                          std::vector<std::optional<bootstrap_command>> commands);

/// Checks a proc mesh spawn on the caller's side and chooses each rank's
/// command (per_rank runs here, before anything is launched); the error
/// says what is wrong.
caf::expected<std::vector<std::optional<bootstrap_command>>>
plan_spawn(const host_mesh_ref& hosts, const std::string& name,
           const mesh::extent& per_host,
           const std::optional<std::vector<proc_bind>>& bind,
           const per_rank_bootstrap& per_rank);

/// A host mesh on its way to its owner (a local message only).
struct host_mesh_handoff {
  std::shared_ptr<mesh_access::host_data> d;
  std::shared_ptr<mesh_access::host_owned> own;
};

/// Answers host_mesh_handoff: one host in this process (host_mesh::local,
/// local_with_bootstrap, local_in_process).
caf::actor start_local_op(caf::actor_system& sys, host_agent_options opts);

/// Answers host_mesh_handoff (host_mesh::process).
caf::actor process_op(caf::actor_system& sys, mesh::extent hosts,
                      bootstrap_command cmd);

/// Answers host_mesh_handoff (host_mesh::attach).
caf::actor attach_op(caf::actor_system& sys, host_mesh_id id,
                     std::vector<std::string> addrs);

/// The shutdown operation of the hosts `d` owned by `own`.
caf::actor shutdown_op_of(std::shared_ptr<mesh_access::host_data> d,
                          std::shared_ptr<mesh_access::host_owned> own);

/// Answers shutdown_summary, or ec::stop_failed with the summary
/// (host_mesh::shutdown; idempotent: records its outcome in the owner).
caf::actor shutdown_op(const host_mesh& mesh);

/// The stop operation of the hosts `d` owned by `own`.
caf::actor host_stop_op_of(std::shared_ptr<mesh_access::host_data> d,
                           std::shared_ptr<mesh_access::host_owned> own);

/// Answers shutdown_summary, or ec::stop_failed (host_mesh::stop).
caf::actor host_stop_op(const host_mesh& mesh);

} // namespace mesh::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::detail::proc_mesh_handoff)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::detail::actor_mesh_handoff)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::detail::host_mesh_handoff)
