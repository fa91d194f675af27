// The insides of actor_mesh<Handle>, shared by proc_mesh.cpp (which spawns
// actor meshes) and actor_mesh.cpp (which messages them).
#pragma once

#include "actors/mesh_controller.hpp"
#include "mesh/actor_mesh.hpp"
#include "mesh/actors.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace mesh::detail {

/// What every view of one actor mesh shares.
struct actor_mesh_core {
  caf::actor_system* sys = nullptr;
  std::string name;
  actor_mesh_id id;
  std::string proc_mesh_id;
  /// The proc mesh's extent: the base rank space of every view.
  mesh::extent extent;
  size_t procs_per_host = 1;
  std::vector<std::string> proc_names; ///< By proc mesh rank.
  std::vector<std::string> host_addrs; ///< By host.
  std::vector<caf::actor> members;     ///< By proc mesh rank.
  std::vector<comm_actor_actor> comms; ///< By host.
  /// Guards `supervision` (the proc mesh controller's mutex).
  std::shared_ptr<mesh_controller_shared> controller;
  std::shared_ptr<actor_mesh_supervision> supervision;
  /// Casts sent to each host, for the credit points.
  std::unique_ptr<std::atomic<uint64_t>[]> casts_per_host;
};

/// The members of one host within a view.
struct host_group {
  size_t host = 0;
  std::vector<size_t> view_ranks;
  std::vector<comm_member> members; ///< With their view ranks.
};

/// A view and its members grouped by host, computed once per view.
struct actor_mesh_plan {
  mesh::region view;
  std::vector<size_t> base_ranks; ///< By view rank.
  std::vector<host_group> groups; ///< By ascending host.
};

} // namespace mesh::detail

namespace mesh::detail {

/// Why a libmesh error happened, without its phrase: the last part of its
/// context (e.g. what a proc agent said); other errors as `sys` renders them.
std::string reason_of(caf::actor_system& sys, const caf::error& err);

/// Joins per-rank failures into one clause: "a; b; c", at most ten of them
/// followed by "and N more".
std::string join_failures(const std::vector<std::string>& failures);

} // namespace mesh::detail
