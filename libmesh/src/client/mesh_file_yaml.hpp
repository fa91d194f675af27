// The YAML layer of mesh files: the first document of a text as a tree of
// nodes that keep their positions (yaml-cpp's own node API drops them for
// keys and empty values).
//
// Contracts:
// * parse_yaml never throws, whatever the input: malformed YAML, binary
//   data, deep nesting and a second document become problems with positions.
// * Building never recurses (an explicit stack), and stops at
//   `max_nesting` levels, so hostile input stays cheap.
// * An empty value in a mapping carries the position of its key (yaml-cpp
//   would mark the next token).
#pragma once

#include "mesh/mesh_file.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mesh {

/// One node of a YAML document.
struct yaml_node {
  enum class kind { null, scalar, sequence, mapping, alias };
  kind type = kind::null;
  source_position pos;
  std::string tag;   ///< Explicit tag; empty for the non-specific "?" and "!".
  std::string value; ///< Scalar text.
  bool quoted = false;
  /// Sequence: the items. Mapping: key, value, key, value, ...
  std::vector<yaml_node> children;
};

/// What parse_yaml found: the first document's root (if there is one and
/// no problem), and every problem.
struct yaml_document {
  std::optional<yaml_node> root;
  std::vector<mesh_file_diagnostic> problems; ///< `file` left empty.
};

/// Deepest nesting of collections that parse_yaml builds.
constexpr size_t max_nesting = 64;

/// Parses the first document of `text`.
yaml_document parse_yaml(std::string_view text);

} // namespace mesh
