// The BASP frame guard (bootstrap/basp_guard.hpp) over arbitrary streams cut
// into arbitrary reads. Input: one byte choosing the limit, one byte seeding
// the read sizes, then the stream. Properties: the verdict (and where the
// stream is refused, and the size named) does not depend on how the stream
// is cut, and equals that of a plain reference walk over the frames.
#include "bootstrap/basp_guard.hpp"
#include "check.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

using mesh::bootstrap::basp_guard;

namespace {

struct verdict {
  bool ok = true;
  size_t refused_at = 0; ///< Bytes fed in full before the refusing read.
  uint32_t size = 0;
};

/// The reference: walk header, payload, header... over the whole stream;
/// the offset just past the header that is refused.
verdict reference(const uint8_t* data, size_t n, uint64_t limit) {
  size_t pos = 0;
  while (n - pos >= basp_guard::header_size) {
    auto p = data + pos + basp_guard::payload_len_offset;
    uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                   (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    pos += basp_guard::header_size;
    if (len > limit)
      return {false, pos, len};
    if (n - pos < len)
      break;
    pos += len;
  }
  return {};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  uint64_t limit = data[0] % 40 == 39 ? 0 : uint64_t{1} << (data[0] % 40);
  uint8_t seed = data[1];
  data += 2;
  size -= 2;
  auto expected = reference(data, size, limit);
  basp_guard guard{limit};
  size_t pos = 0;
  std::optional<size_t> refused_end;
  uint32_t step = seed;
  while (pos < size) {
    step = step * 1103515245u + 12345u;
    size_t chunk = 1 + (step >> 16) % 97;
    if (chunk > size - pos)
      chunk = size - pos;
    bool ok = guard.feed(data + pos, chunk);
    pos += chunk;
    if (!ok) {
      refused_end = pos;
      break;
    }
  }
  FUZZ_CHECK(expected.ok == !refused_end.has_value());
  FUZZ_CHECK(guard.refused() == !expected.ok);
  if (!expected.ok) {
    // Refused in the read that completed the offending header.
    FUZZ_CHECK(*refused_end >= expected.refused_at);
    FUZZ_CHECK(*refused_end - expected.refused_at < 97);
    FUZZ_CHECK(guard.refused_size() == expected.size);
    // Once refused, it stays refused.
    FUZZ_CHECK(!guard.feed(data, size));
  }
  return 0;
}
