#include "libmesh/src/core/last_lines.hpp"

namespace mesh {

std::vector<std::string> last_lines(std::string_view text, size_t n,
                                    size_t max_line) {
  std::vector<std::string> result;
  // Walk back from the end, line by line, until n are found.
  while (!text.empty() && result.size() < n) {
    auto nl = text.rfind('\n');
    auto line = nl == std::string_view::npos ? text : text.substr(nl + 1);
    text = nl == std::string_view::npos ? std::string_view{}
                                        : text.substr(0, nl);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos)
      result.emplace_back(line.substr(0, max_line));
  }
  return {result.rbegin(), result.rend()};
}

} // namespace mesh
