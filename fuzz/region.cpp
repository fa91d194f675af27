// Fuzzes the text form of regions (mesh/region.hpp) with region::parse.
// Properties:
//   * to_string is the inverse of parse, and a canonical form;
//   * a parsed region keeps its invariants: base_rank is injective and
//     view_rank_of is its exact inverse (checked on a sample of ranks and
//     on base ranks around them), and every rank lies within size_t;
//   * range() narrows to a subset, and remap() finds every rank of it;
//   * failures are mesh errors of the documented codes, never exceptions.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.hpp"
#include "mesh/error.hpp"
#include "mesh/region.hpp"

using mesh::ec;
using mesh::region;

namespace {

constexpr size_t max_size = std::numeric_limits<size_t>::max();

void check_error(const caf::error& err) {
  FUZZ_CHECK(mesh::is(err, ec::parse_error) ||
             mesh::is(err, ec::invalid_label) ||
             mesh::is(err, ec::overlapping_label) ||
             mesh::is(err, ec::invalid_argument) ||
             mesh::is(err, ec::dimension_mismatch));
  FUZZ_CHECK(!mesh::to_string(err).empty());
}

// The view ranks to look at: all of a small region, else a few everywhere.
std::vector<size_t> sample(size_t ranks) {
  std::vector<size_t> result;
  constexpr size_t all_below = 64;
  if (ranks <= all_below) {
    for (size_t r = 0; r < ranks; ++r)
      result.push_back(r);
  } else {
    result = {0, 1, 2, ranks / 3, ranks / 2, ranks - 2, ranks - 1};
  }
  return result;
}

// `x` is a member exactly when view_rank_of finds a rank that maps back.
void check_membership(const region& r, size_t x) {
  auto view = r.view_rank_of(x);
  FUZZ_CHECK(r.contains(x) == view.has_value());
  if (view) {
    FUZZ_CHECK(*view < r.num_ranks());
    FUZZ_CHECK(r.base_rank(*view) == x);
    auto p = r.point_of_base_rank(x);
    FUZZ_CHECK(p && p->rank() == *view);
  } else {
    auto p = r.point_of_base_rank(x);
    FUZZ_CHECK(!p && mesh::is(p.error(), ec::out_of_range));
  }
}

void check_ranks(const region& r) {
  auto ranks = r.num_ranks();
  FUZZ_CHECK(ranks == r.extent().num_ranks());
  FUZZ_CHECK(r.strides().size() == r.sizes().size());
  for (auto v : sample(ranks)) {
    auto b = r.base_rank(v);
    FUZZ_CHECK(b >= r.offset());
    FUZZ_CHECK(r.view_rank_of(b) == v);
    check_membership(r, b);
    if (b > 0)
      check_membership(r, b - 1);
    if (b < max_size)
      check_membership(r, b + 1);
  }
  for (auto x : {size_t{0}, r.offset(), max_size})
    check_membership(r, x);
}

// A range of a valid region is a valid subset of it (or a documented error).
void check_range(const region& r, const caf::expected<region>& sub) {
  if (!sub) {
    FUZZ_CHECK(mesh::is(sub.error(), ec::empty_range) ||
               mesh::is(sub.error(), ec::invalid_argument) ||
               mesh::is(sub.error(), ec::invalid_dimension));
    return;
  }
  FUZZ_CHECK(sub->labels() == r.labels());
  FUZZ_CHECK(sub->num_ranks() <= r.num_ranks());
  check_ranks(*sub);
  for (auto v : sample(sub->num_ranks()))
    FUZZ_CHECK(r.contains(sub->base_rank(v)));
  constexpr size_t walk_below = 1024;
  if (sub->num_ranks() <= walk_below) {
    FUZZ_CHECK(sub->is_subset(r));
    auto map = r.remap(*sub);
    FUZZ_CHECK(map && map->size() == sub->num_ranks());
    for (size_t v = 0; v < map->size(); ++v)
      FUZZ_CHECK(r.base_rank((*map)[v]) == sub->base_rank(v));
  }
  auto text = sub->to_string();
  auto reparsed = region::parse(text);
  FUZZ_CHECK(reparsed && *reparsed == *sub);
}

void check_region(const region& r) {
  auto text = r.to_string();
  auto reparsed = region::parse(text);
  FUZZ_CHECK(reparsed && *reparsed == r);
  FUZZ_CHECK(reparsed->to_string() == text);
  auto made = region::make(r.labels(), r.offset(), r.sizes(), r.strides());
  FUZZ_CHECK(made && *made == r);

  check_ranks(r);

  // The dense region of the same shape: base rank == view rank.
  region dense{r.extent()};
  for (auto v : sample(dense.num_ranks()))
    FUZZ_CHECK(dense.base_rank(v) == v);

  for (size_t i = 0; i < r.labels().size(); ++i) {
    auto& label = r.labels()[i];
    auto n = r.sizes()[i];
    check_range(r, r.range(label, 0, max_size));
    check_range(r, r.range(label, 1, n, 2));
    check_range(r, r.range(label, n / 2, max_size, 3));
    check_range(r, r.range(label, 0, n, max_size));
    if (n > 0)
      check_range(r, r.range(label, n - 1));
  }
  constexpr std::string_view stranger = "\x01 no such label";
  if (!r.extent().position(stranger)) {
    auto none = r.range(stranger, 0, 1);
    FUZZ_CHECK(!none && mesh::is(none.error(), ec::invalid_dimension));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto r = region::parse(text);
  if (r)
    check_region(*r);
  else
    check_error(r.error());
  return 0;
}
