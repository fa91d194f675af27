// A bound on what one authenticated peer can make this process allocate.
//
// CAF 0.17's BASP reads a 32-byte header and then allocates a buffer of the
// size that the header's payload_len field announces, up to 4 GiB, before a
// byte of it arrives (so a peer that announces 4 GiB and sends nothing holds
// that much memory, measured ~110 MiB of RSS per connection as the zeroed
// buffer is touched). Over TLS, libmesh sees every byte CAF reads in its
// SSL_read (bootstrap/tls_interpose.cpp) and runs this guard over them: it
// follows the frames (header, then payload_len bytes) and refuses a header
// that announces more than the limit, before CAF has read it.
//
// Pure: no I/O, no OpenSSL, no CAF. Wire layout of the header, CAF 0.17.6
// libcaf_io/caf/io/basp/header.hpp, network byte order: operation (1),
// padding (2), flags (1), payload_len (u32), operation_data (u64),
// source_actor (u64), dest_actor (u64).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mesh::bootstrap {

class basp_guard {
public:
  /// The size of a BASP header in CAF 0.17.6.
  static constexpr size_t header_size = 32;
  /// Offset of the big-endian payload_len field within the header.
  static constexpr size_t payload_len_offset = 4;

  explicit basp_guard(uint64_t max_payload) : max_payload_(max_payload) {}

  /// Follows `n` more bytes of the stream. False once a header announces a
  /// payload larger than the limit (and from then on: the stream is lost).
  bool feed(const unsigned char* bytes, size_t n);

  /// True once a header was refused.
  bool refused() const { return refused_; }

  /// The payload_len of the refused header (0 if none was refused).
  uint32_t refused_size() const { return refused_size_; }

private:
  uint64_t max_payload_;
  unsigned char header_[header_size] = {};
  size_t header_have_ = 0;
  uint64_t payload_left_ = 0;
  bool refused_ = false;
  uint32_t refused_size_ = 0;
};

} // namespace mesh::bootstrap
