// mesh::region: dense and strided views of a base rank space, slicing,
// subset algebra, remapping and the text form.
#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

#include "mesh/error.hpp"
#include "mesh/extent.hpp"
#include "mesh/region.hpp"

using mesh::ec;
using mesh::extent;
using mesh::region;

namespace {

struct bad_input {
  std::string text;
  ec code;
  std::string fragment; // part of the rendered error that says what is wrong
};

template <class T>
void check_fails(const caf::expected<T>& result, const bad_input& input) {
  INFO("input: ", input.text);
  REQUIRE_FALSE(result);
  CHECK(mesh::is(result.error(), input.code));
  auto message = mesh::to_string(result.error());
  INFO("message: ", message);
  CHECK(message.find(input.fragment) != std::string::npos);
}

region parse(std::string_view text) {
  auto result = region::parse(text);
  REQUIRE_MESSAGE(result, "cannot parse ", std::string{text}, ": ",
                  mesh::to_string(result.error()));
  return *result;
}

region slice(const region& r, std::string_view label, size_t begin, size_t end,
             size_t step = 1) {
  auto result = r.range(label, begin, end, step);
  REQUIRE_MESSAGE(result, "cannot slice ", r, ": ",
                  mesh::to_string(result.error()));
  return *result;
}

region slice(const region& r, std::string_view label, size_t index) {
  auto result = r.range(label, index);
  REQUIRE_MESSAGE(result, "cannot slice ", r, ": ",
                  mesh::to_string(result.error()));
  return *result;
}

// The indices begin, begin+step, ... of `xs` below min(end, xs.size()).
std::vector<size_t> pick(const std::vector<size_t>& xs, size_t begin,
                         size_t end, size_t step) {
  std::vector<size_t> result;
  for (size_t i = begin; i < end && i < xs.size(); i += step)
    result.push_back(xs[i]);
  return result;
}

// Row-major ranks in `ext` of the product of the allowed coordinates.
std::vector<size_t>
product_ranks(const extent& ext,
              const std::vector<std::vector<size_t>>& allowed) {
  std::vector<size_t> result;
  for (auto& p : ext.points()) {
    bool member = true;
    for (size_t d = 0; d < allowed.size(); ++d) {
      bool found = false;
      for (auto c : allowed[d])
        found = found || c == p.coords()[d];
      member = member && found;
    }
    if (member)
      result.push_back(p.rank());
  }
  return result;
}

std::vector<size_t> iota(size_t n) {
  std::vector<size_t> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back(i);
  return result;
}

} // namespace

// -- construction -------------------------------------------------------------

TEST_CASE("region default is the unity region at base rank 0") {
  region unity;
  CHECK(unity.num_ranks() == 1);
  CHECK(unity.labels().empty());
  CHECK(unity.offset() == 0);
  CHECK(unity.base_ranks() == std::vector<size_t>{0});
  CHECK(unity.extent() == extent::unity());
  CHECK(unity == region{extent::unity()});
}

TEST_CASE("region of an extent is dense with row-major strides") {
  extent ext{{"hosts", 2}, {"gpus", 3}, {"nics", 4}};
  region r{ext};
  CHECK(r.labels() == ext.labels());
  CHECK(r.sizes() == ext.sizes());
  CHECK(r.strides() == std::vector<size_t>{12, 4, 1});
  CHECK(r.offset() == 0);
  CHECK(r.extent() == ext);
  CHECK(r.num_ranks() == 24);
  CHECK(r.base_ranks() == iota(24));
}

TEST_CASE("region make validates lengths, labels and sizes") {
  check_fails(
    region::make({"a", "b"}, 0, {2, 2}, {2}),
    {"lengths", ec::dimension_mismatch, "2 labels, 2 sizes and 1 strides"});
  check_fails(region::make({"a", "a"}, 0, {2, 2}, {2, 1}),
              {"duplicate", ec::overlapping_label, "'a'"});
  check_fails(region::make({""}, 0, {2}, {1}),
              {"empty label", ec::invalid_label, "empty label"});
}

TEST_CASE("region make rejects strides that map two points to one rank") {
  check_fails(region::make({"a", "b"}, 0, {2, 2}, {1, 1}),
              {"equal strides", ec::invalid_argument,
               "dimension 'b' with stride 1 overlaps"});
  check_fails(region::make({"a", "b"}, 0, {3, 2}, {1, 2}),
              {"b overlaps a", ec::invalid_argument, "reach offset 2"});
  check_fails(region::make({"a"}, 0, {2}, {0}),
              {"stride 0", ec::invalid_argument, "with stride 0 overlaps"});
}

TEST_CASE("region make accepts any stride for dimensions that cannot vary") {
  auto r = region::make({"a", "b", "c"}, 5, {1, 3, 1}, {0, 1, 1});
  REQUIRE(r);
  CHECK(r->base_ranks() == std::vector<size_t>{5, 6, 7});
  // An empty region maps nothing, so its strides cannot collide.
  auto empty = region::make({"a", "b"}, 0, {0, 2}, {0, 0});
  REQUIRE(empty);
  CHECK(empty->num_ranks() == 0);
  CHECK(empty->base_ranks().empty());
}

TEST_CASE("region make accepts strided regions that interleave") {
  // Ranks {0, 3, 4, 7}: what slicing host=4/1 with step 3 leaves under
  // replica=2/4. Valid although 4 is neither a multiple of 3 nor >= 2*3.
  auto r = region::make({"replica", "host"}, 0, {2, 2}, {4, 3});
  REQUIRE(r);
  CHECK(r->base_ranks() == std::vector<size_t>{0, 3, 4, 7});
}

TEST_CASE("region make rejects base ranks beyond SIZE_MAX") {
  constexpr auto max = std::numeric_limits<size_t>::max();
  check_fails(region::make({"a"}, max, {2}, {1}),
              {"offset", ec::invalid_argument, "largest base rank"});
  check_fails(region::make({"a"}, 0, {3}, {max / 2 + 1}),
              {"stride", ec::invalid_argument, "largest base rank"});
  auto last = region::make({"a"}, max - 1, {2}, {1});
  REQUIRE(last);
  CHECK(last->base_ranks() == std::vector<size_t>{max - 1, max});
}

// -- slicing ------------------------------------------------------------------

TEST_CASE("host mesh subset: range replica 1 of replica=2/2,host=2/1") {
  auto r = parse("replica=2/2,host=2/1");
  auto subset = r.range("replica", 1);
  REQUIRE(subset);
  CHECK(subset->to_string() == "2+replica=1/2,host=2/1");
  CHECK(subset->base_ranks() == std::vector<size_t>{2, 3});
  CHECK(subset->labels() == r.labels());
}

TEST_CASE("region range applies offset, size and stride arithmetic") {
  region r{extent{{"x", 4}, {"y", 10}}};
  auto s = slice(r, "y", 1, 8, 3); // y in {1, 4, 7}
  CHECK(s.offset() == 1);
  CHECK(s.sizes() == std::vector<size_t>{4, 3});
  CHECK(s.strides() == std::vector<size_t>{10, 3});
  CHECK(s.to_string() == "1+x=4/10,y=3/3");
  CHECK(s.base_ranks() ==
        std::vector<size_t>{1, 4, 7, 11, 14, 17, 21, 24, 27, 31, 34, 37});
}

TEST_CASE("region range clamps the end to the size") {
  region r{extent{{"x", 4}}};
  CHECK(slice(r, "x", 2, 100) == slice(r, "x", 2, 4));
  CHECK(slice(r, "x", 1, std::numeric_limits<size_t>::max(), 2).base_ranks() ==
        std::vector<size_t>{1, 3});
}

TEST_CASE("region range selecting nothing is empty_range") {
  region r{extent{{"hosts", 2}, {"gpus", 4}}};
  check_fails(r.range("gpus", 3, 3),
              {"3..3", ec::empty_range,
               "range [3, 3) of dimension 'gpus' of size 4 selects no index"});
  check_fails(r.range("gpus", 3, 1), {"3..1", ec::empty_range, "[3, 1)"});
  check_fails(r.range("hosts", 2), {"index 2", ec::empty_range, "size 2"});
  check_fails(r.range("hosts", std::numeric_limits<size_t>::max()),
              {"index SIZE_MAX", ec::empty_range, "selects no index"});
}

TEST_CASE("region range of an unknown label is invalid_dimension") {
  region r{extent{{"hosts", 2}}};
  check_fails(r.range("gpus", 0, 1),
              {"gpus", ec::invalid_dimension,
               "region 'hosts=2/1' has no dimension 'gpus'"});
  check_fails(region{}.range("x", 0), {"unity", ec::invalid_dimension, "'x'"});
}

TEST_CASE("region range with step 0 is invalid_argument") {
  region r{extent{{"hosts", 2}}};
  check_fails(r.range("hosts", 0, 2, 0),
              {"step 0", ec::invalid_argument, "'hosts' has step 0"});
}

TEST_CASE("region range with a huge step selects only its begin") {
  region r{extent{{"x", 3}, {"y", 4}}};
  auto s = slice(r, "x", 1, 3, std::numeric_limits<size_t>::max());
  CHECK(s.sizes() == std::vector<size_t>{1, 4});
  CHECK(s.base_ranks() == std::vector<size_t>{4, 5, 6, 7});
  CHECK(region::parse(s.to_string()) == s);
}

TEST_CASE("region ranges of ranges address the original base ranks") {
  // Every slice and every slice of a slice of a 3x4x2 extent selects exactly
  // the product of the chosen coordinates, and stays a valid region (its
  // text form parses back to it).
  extent ext{{"a", 3}, {"b", 4}, {"c", 2}};
  region whole{ext};
  auto for_each_slice = [](const std::vector<std::vector<size_t>>& allowed,
                           auto&& fn) {
    for (size_t d = 0; d < allowed.size(); ++d) {
      auto n = allowed[d].size();
      for (size_t begin = 0; begin < n; ++begin)
        for (size_t end = begin + 1; end <= n; ++end)
          for (size_t step = 1; step <= n; ++step)
            fn(d, begin, end, step);
    }
  };
  std::vector<std::vector<size_t>> all{iota(3), iota(4), iota(2)};
  size_t checked = 0;
  for_each_slice(all, [&](size_t d, size_t b, size_t e, size_t s) {
    auto first = slice(whole, ext.labels()[d], b, e, s);
    auto allowed = all;
    allowed[d] = pick(all[d], b, e, s);
    REQUIRE(first.base_ranks() == product_ranks(ext, allowed));
    REQUIRE(region::parse(first.to_string()) == first);
    for_each_slice(allowed, [&](size_t d2, size_t b2, size_t e2, size_t s2) {
      auto second = slice(first, ext.labels()[d2], b2, e2, s2);
      auto allowed2 = allowed;
      allowed2[d2] = pick(allowed[d2], b2, e2, s2);
      REQUIRE(second.base_ranks() == product_ranks(ext, allowed2));
      REQUIRE(region::parse(second.to_string()) == second);
      REQUIRE(second.is_subset(first));
      ++checked;
    });
  });
  CHECK(checked > 1000);
}

// -- membership ---------------------------------------------------------------

TEST_CASE("region view_rank_of and contains invert base_rank") {
  auto r = parse("5+x=3/7,y=2/2"); // base ranks 5,7,12,14,19,21
  CHECK(r.base_ranks() == std::vector<size_t>{5, 7, 12, 14, 19, 21});
  for (size_t view = 0; view < r.num_ranks(); ++view) {
    CHECK(r.view_rank_of(r.base_rank(view)) == view);
    CHECK(r.contains(r.base_rank(view)));
  }
  for (size_t base : {0u, 4u, 6u, 8u, 13u, 20u, 22u, 26u, 1000u}) {
    INFO("base rank ", base);
    CHECK_FALSE(r.view_rank_of(base));
    CHECK_FALSE(r.contains(base));
  }
}

TEST_CASE("region point_of_base_rank gives the view point or out_of_range") {
  auto r = parse("2+replica=1/2,host=2/1");
  auto p = r.point_of_base_rank(3);
  REQUIRE(p);
  CHECK(p->rank() == 1);
  CHECK(p->to_string() == "replica=0/1,host=1/2");
  check_fails(r.point_of_base_rank(1),
              {"base 1", ec::out_of_range,
               "base rank 1: not in region '2+replica=1/2,host=2/1'"});
}

TEST_CASE("region with a size-0 dimension has no members") {
  region r{extent{{"x", 0}, {"y", 3}}};
  CHECK(r.num_ranks() == 0);
  CHECK(r.base_ranks().empty());
  CHECK_FALSE(r.contains(0));
  CHECK(r.is_subset(region{}));
}

// -- subset algebra and remap -------------------------------------------------

TEST_CASE("region is_subset algebra") {
  region whole{extent{{"x", 4}, {"y", 4}}};
  auto rows = slice(whole, "x", 1, 3);
  auto block = slice(rows, "y", 0, 2);
  auto evens = slice(whole, "y", 0, 4, 2);
  auto odds = slice(whole, "y", 1, 4, 2);
  // reflexive
  CHECK(whole.is_subset(whole));
  CHECK(block.is_subset(block));
  // a slice is in what it was sliced from, not the reverse
  CHECK(rows.is_subset(whole));
  CHECK_FALSE(whole.is_subset(rows));
  // transitive
  CHECK(block.is_subset(rows));
  CHECK(block.is_subset(whole));
  // disjoint
  CHECK_FALSE(evens.is_subset(odds));
  CHECK_FALSE(odds.is_subset(evens));
  // set inclusion, whatever the shape: {0,4,8,12} = column 0 of the evens
  CHECK(slice(whole, "y", 0).is_subset(evens));
  CHECK(parse("x=4/4").is_subset(evens));
  // the unity region is base rank 0
  CHECK(region{}.is_subset(whole));
  CHECK_FALSE(region{}.is_subset(odds));
}

TEST_CASE("region remap gives the target's ranks as view ranks of this") {
  region whole{extent{{"x", 3}, {"y", 4}}};
  auto target = slice(slice(whole, "x", 1, 3), "y", 1, 4, 2);
  // target base ranks: 5, 7, 9, 11 -> in `whole` they are the same numbers
  CHECK(whole.remap(target) == std::vector<size_t>{5, 7, 9, 11});
  // relative to an intermediate view, ranks renumber densely
  auto rows = slice(whole, "x", 1, 3); // base 4..11
  CHECK(rows.remap(target) == std::vector<size_t>{1, 3, 5, 7});
  CHECK(target.remap(target) == iota(4));
}

TEST_CASE("region remap to a region that is not a subset is nullopt") {
  region whole{extent{{"x", 3}, {"y", 4}}};
  auto rows = slice(whole, "x", 1, 3);
  CHECK_FALSE(rows.remap(whole));
  CHECK_FALSE(slice(whole, "y", 0).remap(slice(whole, "y", 1)));
}

// -- text form ----------------------------------------------------------------

TEST_CASE("region display writes the offset only when non-zero") {
  CHECK(region{extent{{"replica", 2}, {"host", 2}}}.to_string() ==
        "replica=2/2,host=2/1");
  CHECK(region{}.to_string() == "");
  CHECK(mesh::to_string(parse("2+replica=1/2,host=2/1")) ==
        "2+replica=1/2,host=2/1");
  CHECK(parse("0+a=2/1").to_string() == "a=2/1");
  CHECK(parse("7+").to_string() == "7+");
}

TEST_CASE("region parse inverts display") {
  std::vector<region> cases{
    region{},
    region{extent{{"replica", 2}, {"host", 2}}},
    parse("2+replica=1/2,host=2/1"),
    parse("1+x=4/10,y=3/3"),
    parse("9+"),
    region{extent{{"0", 2}, {"1", 3}}}, // all-digit labels
    region{extent{{"a b", 2}, {"q\"t\\", 3}, {"1+", 2}, {"x=1/2", 1}}},
    region{extent{{"empty", 0}}},
  };
  for (auto& r : cases) {
    INFO("region: ", r);
    auto parsed = region::parse(r.to_string());
    REQUIRE(parsed);
    CHECK(*parsed == r);
  }
}

TEST_CASE("region parse tells an offset from an all-digit label") {
  auto labelled = parse("12=2/1");
  CHECK(labelled.offset() == 0);
  CHECK(labelled.labels() == std::vector<std::string>{"12"});
  auto offset = parse("12 + 3=2/1");
  CHECK(offset.offset() == 12);
  CHECK(offset.labels() == std::vector<std::string>{"3"});
}

TEST_CASE("region parse tolerates whitespace between tokens") {
  auto r = parse("  2 + replica = 1 / 2 ,\thost=2/1 ");
  CHECK(r == parse("2+replica=1/2,host=2/1"));
  CHECK(parse("   ") == region{});
}

TEST_CASE("region equality compares labels, offset, sizes and strides") {
  auto r = parse("2+a=2/1");
  CHECK(r == parse("2+a=2/1"));
  CHECK(r != parse("3+a=2/1"));
  CHECK(r != parse("2+b=2/1"));
  CHECK(r != parse("2+a=2/3"));
  CHECK(r != parse("2+a=1/1"));
}

TEST_CASE("region parse rejects malformed text with a clean error") {
  std::vector<bad_input> inputs{
    {"replica", ec::parse_error,
     "expected '=' at position 7, found end of input"},
    {"replica=2", ec::parse_error, "expected '/' at position 9"},
    {"replica=2/", ec::parse_error, "expected a number at position 10"},
    {"replica=/2", ec::parse_error,
     "expected a number at position 8, found '/'"},
    {"+replica=2/1", ec::parse_error,
     "expected a label at position 0, found '+'"},
    {"2++replica=1/1", ec::parse_error,
     "expected a label at position 2, found '+'"},
    {"-2+replica=1/1", ec::parse_error, "found '-'"},
    {"99999999999999999999+a=1/1", ec::parse_error,
     "number at position 0 exceeds 18446744073709551615"},
    {"a=1/99999999999999999999", ec::parse_error, "exceeds"},
    {"a=1/1+2", ec::parse_error,
     "expected end of input at position 5, found '+'"},
    {"a=2/1,,b=2/2", ec::parse_error,
     "expected a label at position 6, found ','"},
    {"a=2/1,", ec::parse_error, "expected a label at position 6"},
    {"a=2/1 b=2/2", ec::parse_error, "found 'b'"},
    {"\"a=2/1", ec::parse_error, "unterminated quoted label at position 0"},
    {"a=2/1,\"b\\n\"=2/2", ec::parse_error, "invalid escape"},
    {"{a=2/1}", ec::parse_error, "expected a label at position 0, found '{'"},
    {"a:2/1", ec::parse_error, "expected '=' at position 1, found ':'"},
    {"a=2.0/1", ec::parse_error, "expected '/' at position 3, found '.'"},
    {"[a=2/1]", ec::parse_error, "found '['"},
    {"a=2/1,b=2/1", ec::invalid_argument, "dimension 'b' with stride 1"},
    {"a=2/0", ec::invalid_argument, "stride 0"},
    {"a=2/1,a=1/2", ec::overlapping_label, "'a'"},
    {"\"\"=1/1", ec::invalid_label, "empty label"},
    {"18446744073709551615+a=2/1", ec::invalid_argument, "largest base rank"},
  };
  for (auto& input : inputs)
    check_fails(region::parse(input.text), input);
}
