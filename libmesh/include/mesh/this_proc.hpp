// Inside a proc: where the calling process sits in its mesh (the seed's
// this_proc() / this_host() / current_rank()).
//
// A proc learns its place twice, from what its host put in its bootstrap:
// - in its environment, for any program (a wrapper script, a library that
//   reads RANK or LOCAL_RANK): the variables named below, set by the host
//   for every proc it launches (not for host processes);
// - through this_proc() and this_host(), for actors running in it.
//
// The environment. libmesh's values always win: they replace what the
// host's own environment or the bootstrap command's `env` says for the same
// names (a command taken with bootstrap_command::current() inside a proc
// carries that proc's RANK; a host started under torchrun has one of its
// own; either would be stale). To give a program other numbers, wrap it:
// `sh -c 'RANK=$((MESH_RANK + 8)) exec prog'` (this_proc() still says
// what libmesh set). A proc forked by a zygote gets them set before
// run_bootstrap_child returns to its own code; a proc that is exec'd (and
// every wrapper) has them from its first instruction.
//
// Contract:
// - this_proc() and this_host() answer in a process started as a proc by a
//   host (run_bootstrap_child), from the moment its actors can run until it
//   stops; anywhere else (the client, a host process, a proc of
//   local_in_process(), which shares its host's process) they fail with
//   ec::not_running saying so.
// - An actor mesh member learns its rank and point at spawn by calling
//   this_proc() in its constructor or factory: the proc knows its place
//   before its proc agent accepts any spawn.
#pragma once

#include "mesh/export.hpp"

#include "mesh/actors.hpp"
#include "mesh/extent.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/id.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <string>

MESH_PUBLIC_BEGIN

namespace mesh {

/// The environment variables a host sets in each proc it launches. The
/// first four are PyTorch's (torchrun's) names, which distributed libraries
/// already read; the MESH_ ones say the same in libmesh's terms and more,
/// and never collide with a launcher's variables of the same meaning.
namespace proc_env {
/// Rank in the whole proc mesh (row-major over hosts ⊕ per_host), "0".."N-1".
inline constexpr const char* rank = "RANK";
/// Number of procs in the mesh.
inline constexpr const char* world_size = "WORLD_SIZE";
/// Rank among the procs of the same host: RANK % LOCAL_WORLD_SIZE (ranks
/// are laid out host-major: rank r lives on host r / LOCAL_WORLD_SIZE).
inline constexpr const char* local_rank = "LOCAL_RANK";
/// Number of procs of the mesh on each host (the per_host extent's size).
inline constexpr const char* local_world_size = "LOCAL_WORLD_SIZE";
/// RANK again, under libmesh's name.
inline constexpr const char* mesh_rank = "MESH_RANK";
/// WORLD_SIZE again, under libmesh's name.
inline constexpr const char* mesh_world_size = "MESH_WORLD_SIZE";
/// The proc's point, point::to_string() form: "hosts=1/2,gpus=3/4"
/// (label=coordinate/size per dimension; point::parse reads it back).
inline constexpr const char* mesh_point = "MESH_POINT";
/// The mesh's extent, extent::to_string() form: "{hosts: 2, gpus: 4}"
/// (extent::parse reads it back).
inline constexpr const char* mesh_extent = "MESH_EXTENT";
/// The proc mesh id, proc_mesh_id::to_string() form ("workers-3vQB7xYz").
inline constexpr const char* mesh_proc_mesh_id = "MESH_PROC_MESH_ID";
/// The proc's name (proc_name(mesh id, rank)).
inline constexpr const char* mesh_proc_name = "MESH_PROC_NAME";
/// "host:port" of the host agent that launched the proc.
inline constexpr const char* mesh_host = "MESH_HOST";
/// The id of the host mesh the proc was spawned on (its owner's shutdown
/// stops it).
inline constexpr const char* mesh_host_mesh_id = "MESH_HOST_MESH_ID";
} // namespace proc_env

/// Where the calling proc sits.
struct proc_context {
  proc_mesh_id mesh;           ///< Its proc mesh.
  std::string proc_name;       ///< Its name, proc_name(mesh, rank).
  size_t rank = 0;             ///< Its rank in the proc mesh.
  mesh::point point;           ///< Its point (point.extent() == extent).
  mesh::extent extent;         ///< The proc mesh's extent.
  size_t local_rank = 0;       ///< Its rank among the procs of its host.
  size_t local_world_size = 0; ///< Procs of the mesh per host.
  std::string host_addr;       ///< "host:port" of its host agent.
  host_mesh_id host_mesh;      ///< The host mesh it was spawned on.
  host_agent_actor host;       ///< Its host agent.
};

/// Where the calling proc sits; ec::not_running outside a proc (see the
/// contract above), or if its host did not say (a spawn_procs_request
/// without `extent`). Cheap: no message is sent.
caf::expected<proc_context> this_proc();

/// The host of the calling proc as a one-host host_mesh_ref (extent
/// {hosts: 1}, the host mesh id of this_proc().host_mesh), used from the
/// proc's actor system: `this_host()->spawn("more", extent{{"procs", 2}})`
/// launches procs on the same host, which its owner's shutdown stops too.
/// Errors as this_proc().
///
/// From an event-based actor, use the non-blocking twins (mesh/async.hpp):
/// `mesh::async::spawn(self, *mesh::this_host(), "more", ...)`. The
/// blocking calls hold their thread until the hosts answer, and a proc's
/// actor system has a single scheduler thread: made from an actor's handler
/// or constructor, they would wait for actors that cannot run, and never
/// return (call them from a thread of your own).
caf::expected<host_mesh_ref> this_host();

} // namespace mesh

MESH_PUBLIC_END
