#include "libmesh/src/core/shell_quote.hpp"

#include <cstring>

namespace mesh {

namespace {

// Characters that never need quoting in a POSIX shell word (not at the
// start of a command, where NAME=value would be an assignment: libmesh's
// scripts never put a quoted word there).
bool is_shell_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("_@%+=:,./-", c) != nullptr);
}

} // namespace

// Single quotes keep everything literal; an embedded quote closes the
// quoted part, adds an escaped quote and reopens it.
std::string shell_quote(std::string_view word) {
  bool safe = !word.empty();
  for (char c : word)
    safe = safe && is_shell_safe(c);
  if (safe)
    return std::string{word};
  std::string result = "'";
  for (char c : word) {
    if (c == '\'')
      result += "'\\''";
    else
      result += c;
  }
  result += '\'';
  return result;
}

} // namespace mesh
