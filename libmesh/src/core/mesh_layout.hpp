// Where each rank of a proc mesh lives (architecture §1): ranks are laid out
// host-major, `procs_per_host` consecutive ranks on each host of the view.
//
// One layout per proc mesh, built once by the spawn and shared read-only
// (std::shared_ptr<const mesh_layout>) by the mesh controller, the
// proc_mesh and every actor mesh on it, so that all of them name a rank's
// place the same way: where(rank).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mesh {

struct mesh_layout {
  std::string proc_mesh_id;            ///< String form of the proc mesh id.
  size_t procs_per_host = 1;           ///< Ranks per host.
  std::vector<std::string> host_addrs; ///< "host:port", by host view rank.
  std::vector<std::string> proc_names; ///< By rank.
  std::vector<std::string> commands;   ///< By rank, human form; may be empty.

  /// Number of ranks.
  size_t size() const { return proc_names.size(); }
  /// The host view rank that runs `rank`.
  size_t host_of(size_t rank) const;
  /// The address of the host that runs `rank` ("?" if it is unknown).
  std::string host_addr_of(size_t rank) const;
  /// The command of `rank` ("the host's default command" if none is known).
  std::string command_of(size_t rank) const;
  /// How every message names a rank: "rank 2 (proc NAME on host ADDR)".
  std::string where(size_t rank) const { return where(rank, rank); }
  /// The same for a view that calls `rank` by another number, `shown`.
  std::string where(size_t rank, size_t shown) const;
};

} // namespace mesh
