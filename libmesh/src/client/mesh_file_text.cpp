// Rendering of user text in mesh file messages
// (libmesh/src/client/mesh_file_text.hpp).
#include "libmesh/src/client/mesh_file_text.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace mesh::mesh_file_text {

namespace {

size_t edit_distance(std::string_view x, std::string_view y) {
  std::vector<size_t> row(y.size() + 1);
  for (size_t j = 0; j <= y.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= x.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= y.size(); ++j) {
      size_t above = row[j];
      size_t substitute = diagonal + (x[i - 1] == y[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[y.size()];
}

} // namespace

// Quotes text from the file for a message: printable ASCII as is, anything
// else escaped, long text cut, so garbage input yields a readable line.
std::string quote(std::string_view text) {
  constexpr size_t max_shown = 60;
  std::string out = "'";
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == max_shown) {
      out += "...";
      break;
    }
    auto ch = static_cast<unsigned char>(text[i]);
    if (ch == '\'' || ch == '\\')
      out += fmt::format("\\{}", static_cast<char>(ch));
    else if (ch >= 0x20 && ch < 0x7f)
      out += static_cast<char>(ch);
    else
      out += fmt::format("\\x{:02x}", ch);
  }
  out += "'";
  return out;
}

// The same escaping for messages that come from yaml-cpp.
std::string sanitize(std::string_view text) {
  auto quoted = quote(text);
  return quoted.substr(1, quoted.size() - 2);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty())
      out += sep;
    out += item;
  }
  return out;
}

// The closest candidate if it is close enough to be a likely typo.
std::optional<std::string> closest(std::string_view key,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    auto distance = edit_distance(key, candidate);
    if (distance < best_distance && distance < candidate.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

} // namespace mesh::mesh_file_text
