// Line framing of a child's output stream: bytes in, lines out.
//
// Contracts:
// * Lines are cut at '\n' (not included); a line longer than `max_line` is
//   cut into `max_line` pieces and a rest, the same way whatever the read
//   boundaries (a line of exactly `max_line` is one piece).
// * No more than `max_line` bytes are ever held: a writer that never writes
//   '\n' cannot make the framer buffer without bound.
// * What is left without '\n' comes out as a last line from `finish`.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace mesh::bootstrap {

/// Splits one stream into lines.
class line_framer {
public:
  using sink = std::function<void(std::string line)>;

  explicit line_framer(size_t max_line) : max_line_(max_line) {}

  /// Adds `size` bytes and passes every completed line to `emit`.
  void feed(const char* data, size_t size, const sink& emit);

  /// Passes the unterminated rest, if any, to `emit` as a last line.
  void finish(const sink& emit);

private:
  size_t max_line_;
  std::string pending_; ///< Bytes after the last '\n'.
};

} // namespace mesh::bootstrap
