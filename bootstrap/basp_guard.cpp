#include "bootstrap/basp_guard.hpp"

#include <algorithm>

namespace mesh::bootstrap {

bool basp_guard::feed(const unsigned char* bytes, size_t n) {
  if (refused_)
    return false;
  while (n > 0) {
    if (payload_left_ > 0) {
      auto skip = static_cast<size_t>(std::min<uint64_t>(payload_left_, n));
      payload_left_ -= skip;
      bytes += skip;
      n -= skip;
      continue;
    }
    auto take = std::min(header_size - header_have_, n);
    std::copy(bytes, bytes + take, header_ + header_have_);
    header_have_ += take;
    bytes += take;
    n -= take;
    if (header_have_ < header_size)
      break;
    header_have_ = 0;
    const unsigned char* p = header_ + payload_len_offset;
    uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16)
                   | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    if (len > max_payload_) {
      refused_ = true;
      refused_size_ = len;
      return false;
    }
    payload_left_ = len;
  }
  return true;
}

} // namespace mesh::bootstrap
