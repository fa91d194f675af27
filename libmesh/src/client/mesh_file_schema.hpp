// The schema of mesh files (config/README.md): a YAML tree checked key by
// key into a mesh_file.
//
// Contracts:
// * Every problem is reported, not only the first, each at the node it is
//   about: the key for an unknown or duplicated key, the value for a bad
//   value, the mapping for a missing key. Unknown keys are rejected, with a
//   guess when one is close.
// * Aliases and explicit tags are refused: what a file says equals what it
//   looks like.
// * A mesh_file comes back only if no problem was found.
#pragma once

#include "libmesh/src/client/mesh_file_yaml.hpp"

#include "mesh/mesh_file.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mesh {

/// Checks the document `root` of `file` against the schema, appending a
/// diagnostic per problem to `diagnostics` (in the order found).
std::optional<mesh_file>
validate_mesh_file(const yaml_node& root, const std::string& file,
                   std::vector<mesh_file_diagnostic>& diagnostics);

} // namespace mesh
