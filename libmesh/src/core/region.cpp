#include "mesh/region.hpp"

#include <algorithm>
#include <limits>
#include <ostream>

#include "mesh/error.hpp"

namespace mesh {

namespace {

// The dimensions that can vary (size >= 2), smallest stride first. Under the
// region invariant this is also the order of significance of the dimensions
// in a base rank, which is what makes the greedy inverse in coords_of exact.
std::vector<size_t> varying_dims_by_stride(const std::vector<size_t>& sizes,
                                           const std::vector<size_t>& strides) {
  std::vector<size_t> dims;
  for (size_t i = 0; i < sizes.size(); ++i)
    if (sizes[i] >= 2)
      dims.push_back(i);
  std::stable_sort(dims.begin(), dims.end(),
                   [&](size_t x, size_t y) { return strides[x] < strides[y]; });
  return dims;
}

std::string quoted(const std::string& label) {
  return "'" + label + "'";
}

caf::error too_large() {
  return make_error(ec::invalid_argument,
                    "the largest base rank of the region exceeds " +
                      std::to_string(std::numeric_limits<size_t>::max()));
}

} // namespace

region::region(const mesh::extent& ext)
  : extent_(ext), strides_(ext.num_dims()) {
  // The extent invariant bounds the product of its non-zero sizes, so these
  // suffix products cannot overflow.
  size_t stride = 1;
  auto& sizes = ext.sizes();
  for (size_t i = sizes.size(); i-- > 0;) {
    strides_[i] = stride;
    stride *= sizes[i];
  }
}

caf::expected<region> region::make(std::vector<std::string> labels,
                                   size_t offset, std::vector<size_t> sizes,
                                   std::vector<size_t> strides) {
  if (labels.size() != sizes.size() || sizes.size() != strides.size())
    return make_error(ec::dimension_mismatch,
                      std::to_string(labels.size()) + " labels, " +
                        std::to_string(sizes.size()) + " sizes and " +
                        std::to_string(strides.size()) + " strides");
  auto ext = mesh::extent::make(std::move(labels), std::move(sizes));
  if (!ext)
    return ext.error();
  // A region without ranks maps nothing, so its strides cannot collide.
  if (ext->num_ranks() > 0) {
    auto& dim_sizes = ext->sizes();
    size_t reach = 0; // largest offset the dimensions checked so far reach
    for (auto i : varying_dims_by_stride(dim_sizes, strides)) {
      if (strides[i] <= reach)
        return make_error(ec::invalid_argument,
                          "dimension " + quoted(ext->labels()[i]) +
                            " with stride " + std::to_string(strides[i]) +
                            " overlaps the dimensions of smaller stride",
                          "they reach offset " + std::to_string(reach));
      size_t span = 0;
      if (__builtin_mul_overflow(strides[i], dim_sizes[i] - 1, &span) ||
          __builtin_add_overflow(reach, span, &reach))
        return too_large();
    }
    size_t last = 0;
    if (__builtin_add_overflow(offset, reach, &last))
      return too_large();
  }
  region result;
  result.extent_ = std::move(*ext);
  result.offset_ = offset;
  result.strides_ = std::move(strides);
  return result;
}

size_t region::base_rank(size_t view_rank) const {
  auto& sizes = extent_.sizes();
  size_t result = offset_;
  for (size_t i = sizes.size(); i-- > 0;) {
    result += (view_rank % sizes[i]) * strides_[i];
    view_rank /= sizes[i];
  }
  return result;
}

std::vector<size_t> region::base_ranks() const {
  std::vector<size_t> result;
  auto total = num_ranks();
  result.reserve(total);
  for (size_t view_rank = 0; view_rank < total; ++view_rank)
    result.push_back(base_rank(view_rank));
  return result;
}

std::optional<std::vector<size_t>> region::coords_of(size_t base) const {
  if (num_ranks() == 0 || base < offset_)
    return std::nullopt;
  auto& sizes = extent_.sizes();
  std::vector<size_t> coords(sizes.size(), 0);
  size_t rest = base - offset_;
  auto dims = varying_dims_by_stride(sizes, strides_);
  for (auto i = dims.rbegin(); i != dims.rend(); ++i) {
    auto coord = rest / strides_[*i];
    if (coord >= sizes[*i])
      return std::nullopt;
    coords[*i] = coord;
    rest -= coord * strides_[*i];
  }
  if (rest != 0)
    return std::nullopt;
  return coords;
}

std::optional<size_t> region::view_rank_of(size_t base) const {
  auto coords = coords_of(base);
  if (!coords)
    return std::nullopt;
  auto rank = extent_.rank_of(*coords);
  if (!rank)
    return std::nullopt;
  return *rank;
}

bool region::contains(size_t base) const {
  return coords_of(base).has_value();
}

caf::expected<point> region::point_of_base_rank(size_t base) const {
  if (auto view_rank = view_rank_of(base))
    return extent_.point_of_rank(*view_rank);
  return make_error(ec::out_of_range, "base rank " + std::to_string(base),
                    "not in region '" + to_string() + "'");
}

caf::expected<region> region::range(std::string_view label, size_t begin,
                                    size_t end, size_t step) const {
  auto dim = extent_.position(label);
  if (!dim)
    return make_error(ec::invalid_dimension, "region '" + to_string() +
                                               "' has no dimension " +
                                               quoted(std::string{label}));
  auto name = quoted(std::string{label});
  if (step == 0)
    return make_error(ec::invalid_argument,
                      "range of dimension " + name + " has step 0");
  auto size = extent_.sizes()[*dim];
  auto stop = std::min(end, size);
  if (stop <= begin)
    return make_error(ec::empty_range, "range [" + std::to_string(begin) +
                                         ", " + std::to_string(end) +
                                         ") of dimension " + name +
                                         " of size " + std::to_string(size) +
                                         " selects no index");
  auto sizes = extent_.sizes();
  auto strides = strides_;
  sizes[*dim] = (stop - begin - 1) / step + 1;
  size_t offset = 0;
  if (__builtin_mul_overflow(strides[*dim], begin, &offset) ||
      __builtin_add_overflow(offset, offset_, &offset))
    return too_large();
  // A dimension left with one index never uses its stride; keeping the old
  // one when the product overflows makes a huge step select just `begin`.
  size_t stride = 0;
  if (!__builtin_mul_overflow(strides[*dim], step, &stride))
    strides[*dim] = stride;
  else if (sizes[*dim] > 1)
    return too_large();
  return make(extent_.labels(), offset, std::move(sizes), std::move(strides));
}

caf::expected<region> region::range(std::string_view label,
                                    size_t index) const {
  // end = index + 1 without wrapping; SIZE_MAX is past every size anyway.
  auto end = index < std::numeric_limits<size_t>::max() ? index + 1 : index;
  return range(label, index, end);
}

bool region::is_subset(const region& other) const {
  auto total = num_ranks();
  for (size_t view_rank = 0; view_rank < total; ++view_rank)
    if (!other.contains(base_rank(view_rank)))
      return false;
  return true;
}

std::optional<std::vector<size_t>> region::remap(const region& target) const {
  std::vector<size_t> result;
  auto total = target.num_ranks();
  result.reserve(total);
  for (size_t view_rank = 0; view_rank < total; ++view_rank) {
    auto mine = view_rank_of(target.base_rank(view_rank));
    if (!mine)
      return std::nullopt;
    result.push_back(*mine);
  }
  return result;
}

std::string region::to_string() const {
  std::string result;
  if (offset_ != 0) {
    result += std::to_string(offset_);
    result += '+';
  }
  auto& labels = extent_.labels();
  auto& sizes = extent_.sizes();
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0)
      result += ',';
    result += detail::format_label(labels[i]);
    result += '=';
    result += std::to_string(sizes[i]);
    result += '/';
    result += std::to_string(strides_[i]);
  }
  return result;
}

caf::expected<region> region::parse(std::string_view text) {
  auto parsed = detail::parse_shape_items("region", text, true);
  if (!parsed)
    return parsed.error();
  std::vector<std::string> labels;
  std::vector<size_t> sizes;
  std::vector<size_t> strides;
  for (auto& item : parsed->items) {
    labels.push_back(std::move(item.label));
    sizes.push_back(item.first);
    strides.push_back(item.second);
  }
  return make(std::move(labels), parsed->offset, std::move(sizes),
              std::move(strides));
}

std::string to_string(const region& x) {
  return x.to_string();
}

std::ostream& operator<<(std::ostream& out, const region& x) {
  return out << x.to_string();
}

} // namespace mesh
