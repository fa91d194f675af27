// Loading a mesh file: reading it (bounded), parsing and validating it, and
// its diagnostics as one error (mesh/mesh_file.hpp).
#include "mesh/mesh_file.hpp"

#include "libmesh/src/client/mesh_file_schema.hpp"
#include "libmesh/src/client/mesh_file_text.hpp"
#include "libmesh/src/client/mesh_file_yaml.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <tuple>
#include <utility>

#include <caf/message_builder.hpp>
#include <fmt/format.h>

namespace mesh {

namespace {

// Files are read up to this size: a mesh file is a short description.
constexpr size_t max_file_bytes = 1 << 20;

} // namespace

mesh_file_result parse_mesh_file(std::string_view yaml_text,
                                 std::string file_name) {
  mesh_file_result result;
  auto doc = parse_yaml(yaml_text);
  auto& diagnostics = result.diagnostics;
  diagnostics = std::move(doc.problems);
  for (auto& problem : diagnostics)
    problem.file = file_name;
  auto problem = [&](source_position pos, std::string message) {
    diagnostics.push_back(
      {file_name, pos.line, pos.column, std::move(message)});
  };
  if (diagnostics.empty() && !doc.root)
    problem({1, 1}, "the file is empty; expected a mapping with the keys "
                    "hosts and proc_meshes");
  if (diagnostics.empty()) {
    // Whatever the input, the validator may only report, never throw past
    // this function.
    try {
      result.file = validate_mesh_file(*doc.root, file_name, diagnostics);
    } catch (const std::exception& e) {
      problem({}, "cannot validate the file: " +
                    mesh_file_text::sanitize(e.what()));
    } catch (...) {
      problem({}, "cannot validate the file");
    }
  }
  std::stable_sort(
    diagnostics.begin(), diagnostics.end(), [](const auto& x, const auto& y) {
      return std::tie(x.line, x.column) < std::tie(y.line, y.column);
    });
  if (!diagnostics.empty())
    result.file.reset();
  return result;
}

mesh_file_result load_mesh_file(const std::string& path) {
  auto fail = [&](std::string why) {
    mesh_file_result result;
    result.diagnostics.push_back({path, 0, 0, std::move(why)});
    return result;
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return fail("cannot read the file: it is a directory");
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return fail(fmt::format("cannot open the file: {}", std::strerror(errno)));
  std::string text;
  std::array<char, 4096> buf;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    text.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > max_file_bytes)
      return fail(fmt::format("the file is larger than {} bytes; a mesh file "
                              "is a short description",
                              max_file_bytes));
  }
  if (in.bad())
    return fail(fmt::format("cannot read the file: {}", std::strerror(errno)));
  return parse_mesh_file(text, path);
}

caf::error to_error(const mesh_file_result& result) {
  if (result.diagnostics.empty())
    return caf::error{};
  // One context string per diagnostic: their number is only known here, so
  // the context is built the way mesh::make_error would build it.
  caf::message_builder context;
  for (const auto& diagnostic : result.diagnostics)
    context.append(diagnostic.to_string());
  return caf::error{static_cast<uint8_t>(ec::invalid_mesh_file), error_category,
                    context.to_message()};
}

} // namespace mesh
