// Extents and points: the shape of a mesh and one position in it.
//
// An extent is an ordered list of named dimensions. Its ranks are numbered in
// row-major order: the last dimension varies fastest, so
// rank = sum over i of coord[i] * (product of the sizes after i).
//
// Invariants kept by every constructor:
//   * labels are non-empty and unique;
//   * the product of the non-zero sizes fits in size_t, so every rank and
//     every row-major stride is representable.
//
// Text forms (parsers never throw; malformed text yields ec::parse_error):
//   extent  "{hosts: 2, gpus: 4}"   unity: "{}"
//   point   "hosts=1/2,gpus=3/4"    (label=coord/size), unity: ""
// A label matching [A-Za-z0-9_]+ is written bare; any other label is written
// double-quoted with `\"` and `\\` escapes. Whitespace between tokens is
// ignored by the parsers.
#pragma once

#include "mesh/export.hpp"

#include <cstddef>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

MESH_PUBLIC_BEGIN

namespace mesh {

class point;

/// Ordered named dimensions with row-major ranks.
class extent {
public:
  /// The unity extent: no dimensions, exactly one rank.
  extent() = default;

  /// Literal form, e.g. `extent{{"hosts", 2}, {"gpus", 4}}`. Throws
  /// std::invalid_argument when `make` would fail (duplicate or empty label,
  /// too many ranks); use `make` for data that is not a literal.
  extent(std::initializer_list<std::pair<std::string, size_t>> dims);

  /// Validating constructor. Errors: dimension_mismatch (lengths differ),
  /// invalid_label (empty label), overlapping_label (duplicate label),
  /// invalid_argument (the product of the non-zero sizes exceeds SIZE_MAX).
  static caf::expected<extent> make(std::vector<std::string> labels,
                                    std::vector<size_t> sizes);

  /// The 0-dimensional extent with one rank; the identity of `concat`.
  static extent unity() { return extent{}; }

  /// Dimension labels, outermost first.
  const std::vector<std::string>& labels() const { return labels_; }

  /// Dimension sizes, in the order of `labels()`.
  const std::vector<size_t>& sizes() const { return sizes_; }

  /// Number of dimensions.
  size_t num_dims() const { return labels_.size(); }

  /// Product of the sizes: 1 for unity, 0 if any size is 0.
  size_t num_ranks() const;

  /// Size of the dimension `label`, if there is one.
  std::optional<size_t> size(std::string_view label) const;

  /// Index of the dimension `label` in `labels()`, if there is one.
  std::optional<size_t> position(std::string_view label) const;

  /// This extent's dimensions followed by `other`'s. Not commutative, but
  /// associative, with unity as identity. A label in both ->
  /// ec::overlapping_label naming the first such label of `other`.
  caf::expected<extent> concat(const extent& other) const;

  /// The point at row-major `rank`; ec::out_of_range if rank >= num_ranks().
  caf::expected<point> point_of_rank(size_t rank) const;

  /// Row-major rank of `coords`. Errors: dimension_mismatch (wrong number of
  /// coordinates), out_of_range (a coordinate not below its size).
  caf::expected<size_t> rank_of(const std::vector<size_t>& coords) const;

  /// Every point, ranks 0..num_ranks() in row-major order.
  std::vector<point> points() const;

  /// "{hosts: 2, gpus: 4}"; unity is "{}".
  std::string to_string() const;

  /// Inverse of `to_string`. Errors: parse_error naming the position and the
  /// offending character, or the errors of `make`.
  static caf::expected<extent> parse(std::string_view text);

  friend bool operator==(const extent& x, const extent& y) {
    return x.labels_ == y.labels_ && x.sizes_ == y.sizes_;
  }
  friend bool operator!=(const extent& x, const extent& y) { return !(x == y); }

private:
  std::vector<std::string> labels_;
  std::vector<size_t> sizes_;
};

/// One rank of an extent together with its coordinates.
class point {
public:
  /// Rank 0 of the unity extent.
  point() = default;

  /// The rank within `extent()`.
  size_t rank() const { return rank_; }

  /// Coordinates, one per dimension of `extent()`.
  const std::vector<size_t>& coords() const { return coords_; }

  /// The extent this point belongs to.
  const mesh::extent& extent() const { return extent_; }

  /// Coordinate along the dimension `label`, if there is one.
  std::optional<size_t> coord(std::string_view label) const;

  /// "hosts=1/2,gpus=3/4" (label=coord/size); the unity point is "".
  std::string to_string() const;

  /// Inverse of `to_string`; "" is the unity point. Errors: parse_error,
  /// out_of_range (a coordinate not below its size), or those of
  /// `extent::make`.
  static caf::expected<point> parse(std::string_view text);

  friend bool operator==(const point& x, const point& y) {
    return x.rank_ == y.rank_ && x.extent_ == y.extent_;
  }
  friend bool operator!=(const point& x, const point& y) { return !(x == y); }

private:
  friend class extent;

  // Precondition: rank < ext.num_ranks().
  point(mesh::extent ext, size_t rank);

  mesh::extent extent_;
  size_t rank_ = 0;
  std::vector<size_t> coords_;
};

std::string to_string(const extent& x);
std::string to_string(const point& x);
std::ostream& operator<<(std::ostream& out, const extent& x);
std::ostream& operator<<(std::ostream& out, const point& x);

namespace detail {

/// A label as the text forms write it: bare if it matches [A-Za-z0-9_]+,
/// else double-quoted with `\"` and `\\` escapes.
std::string format_label(std::string_view label);

/// One `label=first/second` item of the point and region text forms.
struct shape_item {
  std::string label;
  size_t first = 0;
  size_t second = 0;
};

/// The grammar shared by points and regions:
/// `[offset+] [item (',' item)*]`, whitespace between tokens ignored.
struct shape_items {
  size_t offset = 0;
  std::vector<shape_item> items;
};

/// Parses `text` in that grammar; the `offset+` prefix is accepted only if
/// `allow_offset`. `kind` ("point", "region") names the form in errors.
caf::expected<shape_items> parse_shape_items(std::string_view kind,
                                             std::string_view text,
                                             bool allow_offset);

} // namespace detail

} // namespace mesh

MESH_PUBLIC_END
