// Identities: labels, base58 uids, mesh ids and proc names (reference §1).
//
// A mesh id is either a *singleton*, whose identity is its label, or an
// *instance*, whose identity is a 64-bit uid; an instance's label is display
// metadata only and never takes part in ==, < or hashing.
//
// String form (ID-1): a singleton is its label; an instance is
// `<label>-<uid>` or, unlabeled, `<default label>-<uid>`, where <uid> is the
// base58 form of the uid left-padded with '1' to at least 8 digits. Padding
// makes every instance re-parse as an instance (the reference reads a short
// suffix as part of a singleton label); `make_singleton` refuses labels that
// would read as an instance. Together, `parse(x.to_string()) == x` for every
// id built through the checked constructors.
//
// Proc names (ID-2) are a pure function of (proc mesh id, rank): the client and
// every host derive the same string independently, in any process and build.
#pragma once

#include "mesh/export.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "mesh/error.hpp"

MESH_PUBLIC_BEGIN

namespace mesh {

// --- labels -----------------------------------------------------------------

/// The longest valid label.
constexpr size_t max_label_length = 63;

/// Checks that `s` is 1..63 characters of [a-z0-9_-], starting with [a-z] and
/// ending with [a-z0-9]; `ec::invalid_label` naming the broken rule otherwise.
caf::error validate_label(std::string_view s);

/// Turns any text into a valid label: lowercase, drop illegal characters,
/// trim invalid leading/trailing characters, cut to 63; "nil" if nothing is
/// left.
std::string strip_label(std::string_view s);

// --- numbers ----------------------------------------------------------------

/// Base58 (Flickr alphabet), most significant digit first; 0 is "1".
std::string base58_encode(uint64_t v);

/// Inverse of base58_encode (leading '1's are zeros); `ec::parse_error` for
/// empty text, a character outside the alphabet, or a value above 2^64-1.
caf::expected<uint64_t> base58_decode(std::string_view s);

/// Minimum number of digits of a uid in an id's string form.
constexpr size_t uid_digits = 8;

/// The uid suffix of an instance id: base58, left-padded with '1' (the zero
/// digit) to `uid_digits`, so that parsing always recognises it as a uid.
std::string encode_uid(uint64_t uid);

/// 64-bit FNV-1a over `bytes`, starting from `seed`. Stable across processes,
/// builds and platforms (unlike std::hash), so it may name shared things.
uint64_t fnv1a64(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ULL);

/// A random 64-bit uid. Thread-safe; a forked child reseeds rather than
/// repeating its parent's sequence.
uint64_t random_uid();

// --- mesh ids ---------------------------------------------------------------

namespace detail {

/// The state of every basic_mesh_id. An instance without a label has an empty
/// `label`; a singleton's label is never empty.
struct id_parts {
  bool singleton = false;
  uint64_t uid = 0;
  std::string label;
};

/// Formats `parts` per ID-1, with `default_label` for unlabeled instances.
std::string format_id(const id_parts& parts, std::string_view default_label);

/// Parses per ID-1; `noun` (e.g. "proc mesh id") names the id in errors.
caf::expected<id_parts> parse_id(std::string_view s,
                                 std::string_view default_label,
                                 std::string_view noun);

/// validate_label, plus: the label must not read as `<label>-<uid>`.
caf::error check_singleton_label(std::string_view label);

/// Hash of the identity only (label for singletons, uid for instances).
size_t identity_hash(const id_parts& parts) noexcept;

} // namespace detail

/// A mesh or resource id; `Tag` supplies `default_label` (shown for unlabeled
/// instances and omitted again by parse) and `noun` (used in error messages).
template <class Tag>
class basic_mesh_id {
public:
  /// The unlabeled instance with uid 0: a placeholder to be assigned.
  basic_mesh_id() = default;

  /// A singleton. Precondition: make_singleton(label) would succeed.
  static basic_mesh_id singleton(std::string label) {
    basic_mesh_id result;
    result.parts_.singleton = true;
    result.parts_.label = std::move(label);
    return result;
  }

  /// A singleton, or `ec::invalid_label` if `label` is not a valid label or
  /// would read as an instance id (e.g. "svc-abcdefgh").
  static caf::expected<basic_mesh_id> make_singleton(std::string_view label) {
    if (auto err = detail::check_singleton_label(label))
      return err;
    return singleton(std::string{label});
  }

  /// A fresh instance with a random uid; `label` is stripped (strip_label),
  /// an empty one leaves the instance unlabeled.
  static basic_mesh_id instance(std::string_view label = {}) {
    if (label.empty())
      return from_uid(random_uid());
    return from_uid(random_uid(), std::string{label});
  }

  /// The instance with this uid; a non-empty `label` is stripped.
  static basic_mesh_id from_uid(uint64_t uid,
                                std::optional<std::string> label = {}) {
    basic_mesh_id result;
    result.parts_.uid = uid;
    if (label && !label->empty())
      result.parts_.label = strip_label(*label);
    return result;
  }

  /// True for a singleton, false for an instance.
  bool is_singleton() const { return parts_.singleton; }

  /// The uid of an instance; nullopt for a singleton.
  std::optional<uint64_t> uid() const {
    if (parts_.singleton)
      return std::nullopt;
    return parts_.uid;
  }

  /// The explicit label: a singleton's label or an instance's, if it has one.
  std::optional<std::string> label() const {
    if (parts_.label.empty())
      return std::nullopt;
    return parts_.label;
  }

  /// The label, or Tag::default_label for an unlabeled instance.
  std::string display_label() const {
    return parts_.label.empty() ? std::string{Tag::default_label}
                                : parts_.label;
  }

  /// The string form (ID-1): "label", "label-<uid>" or "<default>-<uid>".
  std::string to_string() const {
    return detail::format_id(parts_, Tag::default_label);
  }

  /// Reads the string form; `ec::parse_error` saying why if it is neither a
  /// valid label nor `<label>-<base58 uid of at least 8 digits>`.
  static caf::expected<basic_mesh_id> parse(std::string_view s) {
    auto parts = detail::parse_id(s, Tag::default_label, Tag::noun);
    if (!parts)
      return std::move(parts.error());
    basic_mesh_id result;
    result.parts_ = std::move(*parts);
    return result;
  }

  /// The same identity and label under another id type (e.g. a proc mesh id
  /// as a resource id).
  template <class OtherTag>
  basic_mesh_id<OtherTag> retag() const {
    if (parts_.singleton)
      return basic_mesh_id<OtherTag>::singleton(parts_.label);
    return basic_mesh_id<OtherTag>::from_uid(parts_.uid, label());
  }

  /// Hash of the identity; the label of an instance does not count.
  size_t hash() const noexcept { return detail::identity_hash(parts_); }

  /// Equal identities: same singleton label, or same instance uid.
  friend bool operator==(const basic_mesh_id& x, const basic_mesh_id& y) {
    if (x.parts_.singleton != y.parts_.singleton)
      return false;
    return x.parts_.singleton ? x.parts_.label == y.parts_.label
                              : x.parts_.uid == y.parts_.uid;
  }

  friend bool operator!=(const basic_mesh_id& x, const basic_mesh_id& y) {
    return !(x == y);
  }

  /// Singletons before instances; singletons by label, instances by uid.
  friend bool operator<(const basic_mesh_id& x, const basic_mesh_id& y) {
    if (x.parts_.singleton != y.parts_.singleton)
      return x.parts_.singleton;
    return x.parts_.singleton ? x.parts_.label < y.parts_.label
                              : x.parts_.uid < y.parts_.uid;
  }

  /// The string form, for CAF's and the caller's rendering.
  friend std::string to_string(const basic_mesh_id& x) { return x.to_string(); }

private:
  detail::id_parts parts_;
};

struct host_mesh_tag {
  static constexpr const char* default_label = "host";
  static constexpr const char* noun = "host mesh id";
};

struct proc_mesh_tag {
  static constexpr const char* default_label = "proc";
  static constexpr const char* noun = "proc mesh id";
};

struct actor_mesh_tag {
  static constexpr const char* default_label = "actor";
  static constexpr const char* noun = "actor mesh id";
};

struct resource_tag {
  static constexpr const char* default_label = "resource";
  static constexpr const char* noun = "resource id";
};

using host_mesh_id = basic_mesh_id<host_mesh_tag>;
using proc_mesh_id = basic_mesh_id<proc_mesh_tag>;
using actor_mesh_id = basic_mesh_id<actor_mesh_tag>;
using resource_id = basic_mesh_id<resource_tag>;

// --- proc names -------------------------------------------------------------

/// The id of the proc at `rank` of `mesh` (ID-2). Its label is
/// strip_label(display_label + "-" + rank), the display label cut first so
/// that the rank always survives the 63-character limit. A singleton mesh
/// gives the singleton of that label; an instance mesh gives the instance
/// with that label and uid fnv1a64(uid as 8 LE bytes, rank as 8 LE bytes).
resource_id proc_resource_id(const proc_mesh_id& mesh, size_t rank);

/// proc_resource_id(mesh, rank).to_string(), e.g. "test-0" or
/// "workers-3-<uid>"; it parses back with resource_id::parse (for a singleton
/// mesh: while the rank has fewer than 8 digits, i.e. below 10^7).
std::string proc_name(const proc_mesh_id& mesh, size_t rank);

} // namespace mesh

namespace std {

template <class Tag>
struct hash<mesh::basic_mesh_id<Tag>> {
  size_t operator()(const mesh::basic_mesh_id<Tag>& x) const noexcept {
    return x.hash();
  }
};

} // namespace std

MESH_PUBLIC_END
