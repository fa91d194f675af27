// Regions: a labelled, strided selection of ranks of a base rank space.
//
// A region has the labels and sizes of an extent plus an offset and one
// stride per dimension. The view rank of a point is its row-major rank in
// `extent()`; its base rank is `offset + sum of coord[i] * stride[i]`. A
// region made from an extent is dense (offset 0, row-major strides, base rank
// == view rank); `range` narrows a dimension and yields a region over the
// same base rank space, so views of views keep addressing the original ranks.
//
// Invariants kept by every constructor (so base_rank is injective and
// view_rank_of is exact):
//   * the labels and sizes form a valid extent;
//   * for a region with ranks, the dimensions of size >= 2 sorted by stride
//     each have a stride greater than the largest offset the smaller-stride
//     dimensions reach together (sum of stride * (size - 1));
//   * the largest base rank fits in size_t.
// `range` preserves these, so slicing a valid region never fails on them.
//
// Text form: "[offset+]label=size/stride,...", the offset written only when
// non-zero, labels as in mesh/extent.hpp; e.g. "2+replica=1/2,host=2/1".
// The unity region is "".
#pragma once

#include "mesh/export.hpp"

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "mesh/extent.hpp"

MESH_PUBLIC_BEGIN

namespace mesh {

/// Labels + (offset, sizes, strides) over a base rank space.
class region {
public:
  /// The unity region: one rank, base rank 0.
  region() = default;

  /// The dense region of `ext`: offset 0, row-major strides.
  explicit region(const mesh::extent& ext);

  /// Validating constructor. Errors: dimension_mismatch (lengths differ),
  /// those of `extent::make` for labels and sizes, invalid_argument (strides
  /// that map two points to one base rank, or base ranks beyond SIZE_MAX).
  static caf::expected<region> make(std::vector<std::string> labels,
                                    size_t offset, std::vector<size_t> sizes,
                                    std::vector<size_t> strides);

  /// Dimension labels, outermost first.
  const std::vector<std::string>& labels() const { return extent_.labels(); }

  /// Base rank of the view's rank 0 (all coordinates 0).
  size_t offset() const { return offset_; }

  /// Dimension sizes, in the order of `labels()`.
  const std::vector<size_t>& sizes() const { return extent_.sizes(); }

  /// Base-rank distance between neighbours along each dimension.
  const std::vector<size_t>& strides() const { return strides_; }

  /// Labels and sizes: the shape of the view.
  mesh::extent extent() const { return extent_; }

  /// Number of ranks in the view.
  size_t num_ranks() const { return extent_.num_ranks(); }

  /// Base rank of the view's `view_rank`. Precondition: view_rank <
  /// num_ranks().
  size_t base_rank(size_t view_rank) const;

  /// Every base rank, in view-rank order.
  std::vector<size_t> base_ranks() const;

  /// View rank of `base_rank`, or nullopt if it is not in the region.
  std::optional<size_t> view_rank_of(size_t base_rank) const;

  /// True if `base_rank` is in the region.
  bool contains(size_t base_rank) const;

  /// The point of the view at `base_rank`; ec::out_of_range if not a member.
  caf::expected<point> point_of_base_rank(size_t base_rank) const;

  /// Narrows `label` to indices begin, begin+step, ... below min(end, size).
  /// Errors: invalid_dimension (unknown label), invalid_argument (step 0, or
  /// a step so large the stride overflows), empty_range (nothing selected).
  caf::expected<region> range(std::string_view label, size_t begin, size_t end,
                              size_t step = 1) const;

  /// Narrows `label` to the single index `index`.
  caf::expected<region> range(std::string_view label, size_t index) const;

  /// True if every base rank of this region is in `other`.
  bool is_subset(const region& other) const;

  /// For each rank of `target` (in view order), its view rank in this
  /// region; nullopt if `target` is not a subset of this region.
  std::optional<std::vector<size_t>> remap(const region& target) const;

  /// "[offset+]label=size/stride,...", e.g. "2+replica=1/2,host=2/1".
  std::string to_string() const;

  /// Inverse of `to_string`. Errors: parse_error naming the position and the
  /// offending character, or the errors of `make`.
  static caf::expected<region> parse(std::string_view text);

  friend bool operator==(const region& x, const region& y) {
    return x.offset_ == y.offset_ && x.strides_ == y.strides_ &&
           x.extent_ == y.extent_;
  }
  friend bool operator!=(const region& x, const region& y) { return !(x == y); }

private:
  // Coordinates of the point at base rank `base`, if it is a member.
  std::optional<std::vector<size_t>> coords_of(size_t base) const;

  mesh::extent extent_;
  size_t offset_ = 0;
  std::vector<size_t> strides_;
};

std::string to_string(const region& x);
std::ostream& operator<<(std::ostream& out, const region& x);

} // namespace mesh

MESH_PUBLIC_END
