// The MESH_BOOTSTRAP payload: what a bootstrap child learns from its
// environment about its role, its identity and its parent (architecture §2).
//
// Wire form: base64 (standard alphabet, padded) of a binary record
//
//   magic "MESH" | version (1 byte) | field* | end marker (tag 0)
//   field = tag (1 byte) | length (u32, big endian) | value (length bytes)
//
// Fields appear at most once, in increasing tag order; unknown and retired
// tags are rejected, so a record is either understood completely or refused.
// Integers are big endian; a string inside a structured field is a u32 length
// followed by its bytes, an optional one is a presence byte (0 or 1) before it.
// The encoding is canonical: decode(x) succeeds only if encode(decode(x)) == x.
// Strings longer than 4 GiB cannot be encoded (no environment holds them).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "mesh/bootstrap.hpp"
#include "mesh/config.hpp"

namespace mesh::bootstrap {

/// The environment variable that carries the payload.
constexpr const char* payload_env = "MESH_BOOTSTRAP";

/// The record version this binary writes and reads. Version 2 retired the
/// fields no child read (mesh_id, host_mesh_id, rank, bind); version 3 added
/// the required transport field; version 4 the optional proc_env field.
/// Records of other versions are refused.
constexpr uint8_t payload_version = 4;

/// Bytes of the mesh key in the transport field (bootstrap/tls.hpp).
constexpr size_t mesh_key_size = 32;

/// What the child runs: a host (host agent for its own procs), one proc, or
/// a zygote that forks procs (bootstrap/zygote.hpp; its other fields are
/// those of the proc it was first started for, and unused).
enum class role : uint8_t { host = 1, proc = 2, zygote = 3 };

/// Tags of the record's fields (part of the wire format: never renumber, and
/// never reuse a retired tag). Tags role_tag..config_tag that are not retired
/// and transport_tag are required, proc_command_tag and proc_env_tag are
/// optional.
enum field_tag : uint8_t {
  end_marker = 0,
  role_tag = 1,                 ///< 1 byte: 1 host, 2 proc, 3 zygote.
  name_tag = 2,                 ///< The bytes of the name.
  retired_mesh_id_tag = 3,      ///< Retired in v2 (was the mesh id).
  retired_host_mesh_id_tag = 4, ///< Retired in v2 (was the host mesh id).
  retired_rank_tag = 5,         ///< Retired in v2 (was the rank, u64).
  parent_host_tag = 6,          ///< The bytes of the host name or address.
  parent_port_tag = 7,          ///< u16.
  token_tag = 8,                ///< The bytes of the token.
  config_tag = 9,               ///< (key string, value string)*.
  retired_bind_tag = 10,        ///< Retired in v2 (was the proc_bind).
  proc_command_tag = 11, ///< program, optional arg0, u32 n + n args, u32 m + m
                         ///< (name, value) in name order.
  transport_tag = 12,    ///< 1 byte: 1 = mesh key (32 bytes follow), 2 =
                         ///< plain TCP (nothing follows).
  proc_env_tag = 13,     ///< (name, value)* in name order.
};

/// Whether `tag` belongs to a field that a later version retired: a record
/// that carries one is refused.
constexpr bool is_retired(uint8_t tag) {
  return tag == retired_mesh_id_tag || tag == retired_host_mesh_id_tag ||
         tag == retired_rank_tag || tag == retired_bind_tag;
}

struct payload {
  role child_role = role::proc;
  /// Proc name (or host name for a host child); non-empty.
  std::string name;
  /// Where the parent's host agent listens; non-empty.
  std::string parent_host;
  /// Port of the parent's host agent; non-zero.
  uint16_t parent_port = 0;
  /// One-time token proving the child to its parent; non-empty.
  std::string token;
  /// Installed as the child's client_override layer.
  config_snapshot config;
  /// Host role only: the default command for the host's procs.
  std::optional<bootstrap_command> proc_command;
  /// Proc role only: the proc's place as environment variables (RANK,
  /// MESH_POINT, ...: mesh/this_proc.hpp), which the proc sets in its own
  /// environment (a forked proc has only its zygote's) and reads for
  /// this_proc(). Empty: not written.
  std::map<std::string, std::string> proc_env;
  /// How the child connects and serves: plain TCP (the operator's choice),
  /// or mutual TLS with the mesh key (mesh_key_size bytes) of its parent.
  bool insecure = false;
  std::string mesh_key;

  friend bool operator==(const payload& x, const payload& y);
  friend bool operator!=(const payload& x, const payload& y) {
    return !(x == y);
  }
};

/// The value of MESH_BOOTSTRAP for `p`: base64 of encode_record(p).
std::string encode(const payload& p);

/// Parses the value of MESH_BOOTSTRAP. Fails with ec::bad_payload and a
/// message that says exactly what is wrong and where (a position in the
/// text for base64 errors, a byte offset in the record otherwise); never
/// throws.
caf::expected<payload> decode(std::string_view text);

/// The MESH_BOOTSTRAP value of a zygote that may fork the proc whose value is
/// `proc`: the same record with role zygote, name "zygote", a token of its
/// own and no proc_env (its other fields are unused: a zygote only forks).
/// Empty if `proc` does not decode.
std::string zygote_payload_of(std::string_view proc);

/// The binary record of `p` (before base64). Deterministic.
std::string encode_record(const payload& p);

/// Parses a binary record; the inverse of encode_record. Fails with
/// ec::bad_payload naming the field and byte offset of the problem.
caf::expected<payload> decode_record(std::string_view bytes);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Strict inverse of base64_encode: rejects characters outside the alphabet,
/// misplaced or missing padding and non-zero unused bits (ec::bad_payload,
/// "not base64: ..." with the offending position).
caf::expected<std::string> base64_decode(std::string_view text);

/// 128 random bits from the kernel as 32 lowercase hex characters. Aborts if
/// the kernel offers no randomness: a guessable token would let anyone on
/// the host pose as a child.
std::string make_token();

} // namespace mesh::bootstrap
