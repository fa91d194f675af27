// Value meshes: one value per rank of a mesh or of a view of one, e.g. the
// replies of an actor mesh call.
//
// Values are kept in rank order (row-major over the extent); iterating yields
// (point, value) pairs in that order. to_string() renders a compact table:
// the last dimension across, the other dimensions down.
#pragma once

#include "mesh/export.hpp"

#include "mesh/error.hpp"
#include "mesh/extent.hpp"

#include <caf/deep_to_string.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

namespace detail {

/// Renders `cells` (one per rank of `ext`, in rank order) as a table whose
/// columns are the last dimension and whose rows are the other coordinates;
/// a cell longer than 32 characters is cut with "...". Precondition:
/// cells.size() == ext.num_ranks().
std::string format_table(const mesh::extent& ext,
                         const std::vector<std::string>& cells);

/// One value as a table cell: strings as they are, anything else as CAF
/// renders it.
template <class T>
std::string render_cell(const T& x) {
  if constexpr (std::is_same_v<T, std::string>)
    return x;
  else
    return caf::deep_to_string(x);
}

} // namespace detail

/// One value of type T per rank of an extent.
template <class T>
class value_mesh {
public:
  using value_type = T;

  /// Iterates the ranks in order, yielding (point, value).
  class const_iterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = std::pair<point, const T&>;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = value_type;

    const_iterator() = default;
    /// The point of the current rank and its value.
    reference operator*() const {
      return {*mesh_->extent_.point_of_rank(rank_), mesh_->values_[rank_]};
    }
    const_iterator& operator++() {
      ++rank_;
      return *this;
    }
    const_iterator operator++(int) {
      auto old = *this;
      ++rank_;
      return old;
    }
    friend bool operator==(const const_iterator& x, const const_iterator& y) {
      return x.mesh_ == y.mesh_ && x.rank_ == y.rank_;
    }
    friend bool operator!=(const const_iterator& x, const const_iterator& y) {
      return !(x == y);
    }

  private:
    friend class value_mesh;
    const_iterator(const value_mesh* mesh, size_t rank)
      : mesh_(mesh), rank_(rank) {}
    const value_mesh* mesh_ = nullptr;
    size_t rank_ = 0;
  };

  /// The values of every rank of `ext`, in rank order. Error
  /// (dimension_mismatch) if there is not exactly one value per rank.
  static caf::expected<value_mesh> make(mesh::extent ext,
                                        std::vector<T> values) {
    if (values.size() != ext.num_ranks())
      return make_error(ec::dimension_mismatch,
                        "value mesh over " + ext.to_string(),
                        std::to_string(values.size()) + " values for " +
                          std::to_string(ext.num_ranks()) + " ranks");
    return value_mesh{std::move(ext), std::move(values)};
  }

  /// Number of ranks (and values).
  size_t size() const { return values_.size(); }
  /// The value of `rank`. Precondition: rank < size().
  const T& operator[](size_t rank) const { return values_[rank]; }
  /// The shape the values are laid out in.
  mesh::extent extent() const { return extent_; }
  /// Every value, in rank order.
  const std::vector<T>& values() const { return values_; }
  /// First (point, value) pair.
  const_iterator begin() const { return {this, 0}; }
  /// Past the last pair.
  const_iterator end() const { return {this, values_.size()}; }
  /// The compact table, e.g. for {hosts: 2, procs: 2}:
  /// "hosts\\procs  0  1\n0            a  b\n1            c  d\n".
  std::string to_string() const {
    std::vector<std::string> cells;
    cells.reserve(values_.size());
    for (auto& v : values_)
      cells.push_back(detail::render_cell(v));
    return detail::format_table(extent_, cells);
  }

private:
  value_mesh(mesh::extent ext, std::vector<T> values)
    : extent_(std::move(ext)), values_(std::move(values)) {}
  mesh::extent extent_;
  std::vector<T> values_;
};

} // namespace mesh

MESH_PUBLIC_END
