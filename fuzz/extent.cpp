// Fuzzes the text forms of extents and points (mesh/extent.hpp): the input
// is given to extent::parse and to point::parse. Properties:
//   * to_string is the inverse of parse: parse(to_string(x)) == x, and
//     to_string(parse(to_string(x))) == to_string(x) (a canonical form);
//   * a parsed extent keeps its invariants (labels non-empty and unique, the
//     product of the non-zero sizes fits in size_t), and its ranks, points
//     and coordinates agree;
//   * failures are mesh errors of the documented codes, never exceptions.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "fuzz/check.hpp"
#include "mesh/error.hpp"
#include "mesh/extent.hpp"

using mesh::ec;
using mesh::extent;
using mesh::point;

namespace {

void check_parse_error(const caf::error& err) {
  FUZZ_CHECK(mesh::is(err, ec::parse_error) ||
             mesh::is(err, ec::invalid_label) ||
             mesh::is(err, ec::overlapping_label) ||
             mesh::is(err, ec::invalid_argument) ||
             mesh::is(err, ec::out_of_range));
  FUZZ_CHECK(!mesh::to_string(err).empty());
}

// The point at `rank` of `ext`, checked against its extent and text form.
void check_point(const extent& ext, size_t rank) {
  auto p = ext.point_of_rank(rank);
  FUZZ_CHECK(p);
  FUZZ_CHECK(p->rank() == rank && p->extent() == ext);
  FUZZ_CHECK(p->coords().size() == ext.num_dims());
  for (size_t i = 0; i < ext.num_dims(); ++i) {
    FUZZ_CHECK(p->coords()[i] < ext.sizes()[i]);
    FUZZ_CHECK(p->coord(ext.labels()[i]) == p->coords()[i]);
  }
  auto back = ext.rank_of(p->coords());
  FUZZ_CHECK(back && *back == rank);
  auto text = p->to_string();
  auto reparsed = point::parse(text);
  FUZZ_CHECK(reparsed && *reparsed == *p);
  FUZZ_CHECK(reparsed->to_string() == text);
}

void check_extent(const extent& ext) {
  auto& labels = ext.labels();
  auto& sizes = ext.sizes();
  FUZZ_CHECK(labels.size() == sizes.size() && ext.num_dims() == labels.size());
  size_t product = 1;
  size_t ranks = 1;
  for (size_t i = 0; i < labels.size(); ++i) {
    FUZZ_CHECK(!labels[i].empty());
    FUZZ_CHECK(ext.position(labels[i]) == i);
    FUZZ_CHECK(ext.size(labels[i]) == sizes[i]);
    if (sizes[i] != 0)
      FUZZ_CHECK(!__builtin_mul_overflow(product, sizes[i], &product));
    ranks *= sizes[i];
  }
  FUZZ_CHECK(ext.num_ranks() == ranks);

  auto text = ext.to_string();
  auto reparsed = extent::parse(text);
  FUZZ_CHECK(reparsed && *reparsed == ext);
  FUZZ_CHECK(reparsed->to_string() == text);

  // Unity is the identity of concat; an extent overlaps itself unless unity.
  auto left = extent::unity().concat(ext);
  auto right = ext.concat(extent::unity());
  FUZZ_CHECK(left && *left == ext && right && *right == ext);
  FUZZ_CHECK(static_cast<bool>(ext.concat(ext)) == (ext.num_dims() == 0));

  // Ranks: a few everywhere, all of them in a small extent.
  constexpr size_t all_below = 64;
  if (ranks <= all_below) {
    auto points = ext.points();
    FUZZ_CHECK(points.size() == ranks);
    for (size_t r = 0; r < ranks; ++r) {
      FUZZ_CHECK(points[r].rank() == r);
      check_point(ext, r);
    }
  } else {
    for (auto r : {size_t{0}, size_t{1}, ranks / 2, ranks - 2, ranks - 1})
      check_point(ext, r);
  }
  auto past = ext.point_of_rank(ranks);
  FUZZ_CHECK(!past && mesh::is(past.error(), ec::out_of_range));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};

  auto ext = extent::parse(text);
  if (ext)
    check_extent(*ext);
  else
    check_parse_error(ext.error());

  auto p = point::parse(text);
  if (p) {
    check_extent(p->extent());
    FUZZ_CHECK(p->rank() < p->extent().num_ranks());
    check_point(p->extent(), p->rank());
    auto same = p->extent().point_of_rank(p->rank());
    FUZZ_CHECK(same && *same == *p && same->coords() == p->coords());
  } else {
    check_parse_error(p.error());
  }
  return 0;
}
