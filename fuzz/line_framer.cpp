// Fuzzes the line framing of a child's output (bootstrap/line_framer.hpp).
//
// Input: byte 0 picks max_line, byte 1 seeds the read boundaries, the rest
// is the stream. Properties (the contracts of line_framer.hpp):
//   * the lines are the same whatever the read boundaries: the stream fed
//     whole, byte by byte and in pseudo-random chunks gives the same lines;
//   * they are exactly those of a plain model: cut at '\n', a longer line
//     cut into max_line pieces and a rest, an unterminated rest last;
//   * no line holds '\n' or more than max_line bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bootstrap/line_framer.hpp"
#include "fuzz/check.hpp"

using mesh::bootstrap::line_framer;

namespace {

using lines = std::vector<std::string>;

// Feeds `stream` in chunks of the sizes `next_chunk` returns.
template <class NextChunk>
lines frame(size_t max_line, std::string_view stream, NextChunk next_chunk) {
  line_framer framer{max_line};
  lines out;
  auto emit = [&](std::string line) { out.push_back(std::move(line)); };
  size_t pos = 0;
  while (pos < stream.size()) {
    auto n = std::min(next_chunk(), stream.size() - pos);
    framer.feed(stream.data() + pos, n, emit);
    pos += n;
  }
  framer.finish(emit);
  return out;
}

lines model(size_t max_line, std::string_view stream) {
  lines out;
  size_t begin = 0;
  for (;;) {
    auto nl = stream.find('\n', begin);
    auto end = nl == std::string_view::npos ? stream.size() : nl;
    auto line = stream.substr(begin, end - begin);
    while (line.size() > max_line) {
      out.emplace_back(line.substr(0, max_line));
      line.remove_prefix(max_line);
    }
    if (nl == std::string_view::npos) {
      if (!line.empty())
        out.emplace_back(line);
      return out;
    }
    out.emplace_back(line);
    begin = nl + 1;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  // Mostly short lines, so that cutting is exercised; sometimes long ones.
  size_t first = data[0];
  size_t max_line = first < 0xf0 ? first % 16 + 1 : (first - 0xf0) * 512 + 1;
  uint32_t seed = data[1];
  std::string_view stream{reinterpret_cast<const char*>(data) + 2, size - 2};

  auto expected = model(max_line, stream);
  for (const auto& line : expected)
    FUZZ_CHECK(line.size() <= max_line && line.find('\n') == std::string::npos);

  auto whole = frame(max_line, stream, [&] { return stream.size(); });
  FUZZ_CHECK(whole == expected);
  auto bytes = frame(max_line, stream, [] { return size_t{1}; });
  FUZZ_CHECK(bytes == expected);
  uint32_t state = seed * 2654435761u + 1;
  auto chunks = frame(max_line, stream, [&] {
    state = state * 1664525u + 1013904223u;
    return size_t{(state >> 24) % (2 * max_line + 3)} + 1;
  });
  FUZZ_CHECK(chunks == expected);
  return 0;
}
