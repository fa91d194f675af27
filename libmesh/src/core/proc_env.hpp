// A proc's place in its mesh as environment variables (mesh/this_proc.hpp
// names them): the host agent writes them for each proc it launches, the
// proc reads them back for this_proc().
//
// Contract:
// - proc_env_of(place) and proc_place_of(proc_env_of(place)) agree on every
//   field; a place without an extent writes only the variables that need
//   none (RANK, MESH_RANK, the names, MESH_HOST), and reading such a set
//   gives a place without an extent.
// - proc_place_of never throws: a variable that is missing or does not
//   parse is an ec::parse_error naming it.
#pragma once

#include "mesh/extent.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace mesh {

/// What a host knows about one proc it launches.
struct proc_place {
  std::string proc_mesh_id; ///< String form.
  std::string proc_name;
  uint64_t rank = 0;                  ///< In the whole proc mesh.
  std::optional<mesh::extent> extent; ///< The proc mesh's, if the spawn said.
  uint64_t procs_per_host = 0;        ///< With extent: ranks per host (> 0).
  std::string host_addr;              ///< "host:port" of its host agent.
  std::string host_mesh_id;           ///< String form.
};

/// The variables of mesh::proc_env for `place`.
std::map<std::string, std::string> proc_env_of(const proc_place& place);

/// Reads back what proc_env_of wrote.
caf::expected<proc_place>
proc_place_of(const std::map<std::string, std::string>& env);

} // namespace mesh
