// mesh::extent and mesh::point: row-major ranks, concat, text forms.
#include <doctest/doctest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mesh/error.hpp"
#include "mesh/extent.hpp"

using mesh::ec;
using mesh::extent;
using mesh::point;

namespace {

constexpr size_t size_max = std::numeric_limits<size_t>::max();

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

std::vector<std::vector<size_t>> coords_of(const std::vector<point>& points) {
  std::vector<std::vector<size_t>> result;
  for (auto& p : points)
    result.push_back(p.coords());
  return result;
}

} // namespace

// -- construction -------------------------------------------------------------

TEST_CASE("extent literal keeps dimensions in order") {
  extent ext{{"hosts", 2}, {"gpus", 4}};
  CHECK(ext.labels() == std::vector<std::string>{"hosts", "gpus"});
  CHECK(ext.sizes() == std::vector<size_t>{2, 4});
  CHECK(ext.num_dims() == 2);
  CHECK(ext.num_ranks() == 8);
}

TEST_CASE("extent 0d: unity has no dimensions and one rank") {
  auto unity = extent::unity();
  CHECK(unity.num_dims() == 0);
  CHECK(unity.num_ranks() == 1);
  auto points = unity.points();
  REQUIRE(points.size() == 1);
  CHECK(points[0].rank() == 0);
  CHECK(points[0].coords().empty());
  CHECK(points[0] == point{});
}

TEST_CASE("extent unity is equivalent to the 0d extent however it is made") {
  auto made = extent::make({}, {});
  REQUIRE(made);
  CHECK(*made == extent::unity());
  CHECK(extent{} == extent::unity());
  CHECK(extent{} != extent{{"x", 1}});
}

TEST_CASE("extent with a size-0 dimension has no ranks") {
  extent ext{{"x", 3}, {"y", 0}};
  CHECK(ext.num_ranks() == 0);
  CHECK(ext.points().empty());
  CHECK_FALSE(ext.point_of_rank(0));
}

TEST_CASE("extent size and position look dimensions up by label") {
  extent ext{{"hosts", 2}, {"gpus", 4}};
  CHECK(ext.size("gpus") == 4u);
  CHECK(ext.position("gpus") == 1u);
  CHECK(ext.position("hosts") == 0u);
  CHECK_FALSE(ext.size("cpus"));
  CHECK_FALSE(ext.position("cpus"));
}

TEST_CASE("extent make rejects inconsistent input with the fitting error") {
  check_fails(extent::make({"x", "y"}, {2}),
              {"lengths", ec::dimension_mismatch, "2 labels but 1 sizes"});
  check_fails(extent::make({"x", ""}, {2, 3}),
              {"empty label", ec::invalid_label, "dimension 1"});
  check_fails(extent::make({"x", "y", "x"}, {1, 2, 3}),
              {"duplicate", ec::overlapping_label, "'x'"});
  check_fails(extent::make({"a", "b"}, {size_t{1} << 32, size_t{1} << 32}),
              {"overflow", ec::invalid_argument, "exceeds"});
}

TEST_CASE("extent make bounds the non-zero sizes even when a size is 0") {
  // The strides of such an extent must stay representable.
  check_fails(extent::make({"a", "b", "c"}, {0, size_max, 2}),
              {"overflow", ec::invalid_argument, "exceeds"});
  auto ok = extent::make({"a", "b"}, {0, size_max});
  REQUIRE(ok);
  CHECK(ok->num_ranks() == 0);
}

TEST_CASE("extent literal throws invalid_argument on a duplicate label") {
  CHECK_THROWS_AS((extent{{"x", 2}, {"x", 3}}), std::invalid_argument);
  CHECK_THROWS_WITH_AS((extent{{"x", 2}, {"", 3}}),
                       doctest::Contains("empty label"), std::invalid_argument);
}

// -- row-major ranks ----------------------------------------------------------

TEST_CASE("extent rank_of is row-major") {
  extent ext{{"x", 4}, {"y", 5}, {"z", 6}};
  CHECK(ext.rank_of({0, 0, 0}) == 0u);
  CHECK(ext.rank_of({0, 0, 1}) == 1u);
  CHECK(ext.rank_of({0, 1, 0}) == 6u);
  CHECK(ext.rank_of({1, 0, 0}) == 30u);
  CHECK(ext.rank_of({1, 2, 3}) == 1u * 30 + 2 * 6 + 3);
  CHECK(ext.rank_of({3, 4, 5}) == 119u);
}

TEST_CASE("extent point_of_rank inverts rank_of for every rank") {
  extent ext{{"x", 3}, {"y", 1}, {"z", 4}};
  for (size_t rank = 0; rank < ext.num_ranks(); ++rank) {
    auto p = ext.point_of_rank(rank);
    REQUIRE(p);
    CHECK(p->rank() == rank);
    CHECK(p->extent() == ext);
    CHECK(ext.rank_of(p->coords()) == rank);
  }
}

TEST_CASE("extent point_of_rank beyond the last rank is out_of_range") {
  extent ext{{"hosts", 2}, {"gpus", 4}};
  check_fails(ext.point_of_rank(8), {"rank 8", ec::out_of_range,
                                     "rank 8: extent {hosts: 2, gpus: "
                                     "4} has 8 ranks"});
  check_fails(extent::unity().point_of_rank(1),
              {"rank 1 of unity", ec::out_of_range, "has 1 ranks"});
}

TEST_CASE("extent rank_of rejects wrong arity and coordinates out of range") {
  extent ext{{"hosts", 2}, {"gpus", 4}};
  check_fails(ext.rank_of({1}), {"arity", ec::dimension_mismatch,
                                 "1 coordinates for extent {hosts: 2, gpus: "
                                 "4} of 2 dimensions"});
  check_fails(ext.rank_of({1, 4}),
              {"gpus=4", ec::out_of_range,
               "coordinate 4 of dimension 'gpus' is not below its size 4"});
  CHECK(extent::unity().rank_of({}) == 0u);
}

TEST_CASE("points iterates ranks in row-major order") {
  extent ext{{"x", 2}, {"y", 3}};
  auto points = ext.points();
  REQUIRE(points.size() == 6);
  for (size_t i = 0; i < points.size(); ++i)
    CHECK(points[i].rank() == i);
  CHECK(coords_of(points) == std::vector<std::vector<size_t>>{
                               {0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}});
}

// -- concat -------------------------------------------------------------------

TEST_CASE("extent concat appends the other's dimensions in order") {
  extent x{{"x", 2}};
  extent y{{"y", 3}, {"z", 4}};
  auto xy = x.concat(y);
  REQUIRE(xy);
  CHECK(*xy == extent{{"x", 2}, {"y", 3}, {"z", 4}});
  auto yx = y.concat(x);
  REQUIRE(yx);
  CHECK(*yx == extent{{"y", 3}, {"z", 4}, {"x", 2}});
  CHECK(*xy != *yx); // not commutative
}

TEST_CASE("extent concat with unity is the identity on both sides") {
  extent ext{{"hosts", 2}, {"gpus", 4}};
  CHECK(ext.concat(extent::unity()) == ext);
  CHECK(extent::unity().concat(ext) == ext);
  CHECK(extent::unity().concat(extent::unity()) == extent::unity());
}

TEST_CASE("extent concat is associative") {
  extent a{{"a", 2}};
  extent b{{"b", 3}};
  extent c{{"c", 4}, {"d", 1}};
  auto left = a.concat(b)->concat(c);
  auto right = a.concat(*b.concat(c));
  REQUIRE(left);
  REQUIRE(right);
  CHECK(*left == *right);
}

TEST_CASE("extent concat with a shared label fails naming the label") {
  extent xy{{"x", 2}, {"y", 3}};
  check_fails(xy.concat(extent{{"x", 5}}),
              {"x", ec::overlapping_label, "both have label 'x'"});
  // The first offending label of `other` is the one named.
  check_fails(xy.concat(extent{{"z", 1}, {"y", 1}, {"x", 1}}),
              {"y then x", ec::overlapping_label, "both have label 'y'"});
}

TEST_CASE("extent concat fails cleanly when the ranks would overflow") {
  extent big{{"a", size_t{1} << 40}};
  check_fails(big.concat(extent{{"b", size_t{1} << 40}}),
              {"2^80 ranks", ec::invalid_argument, "exceeds"});
}

// -- text form ----------------------------------------------------------------

TEST_CASE("extent display") {
  CHECK(extent{{"x", 4}, {"y", 5}}.to_string() == "{x: 4, y: 5}");
  CHECK(extent::unity().to_string() == "{}");
  CHECK(mesh::to_string(extent{{"hosts_2", 0}}) == "{hosts_2: 0}");
}

TEST_CASE("extent display quotes labels outside [A-Za-z0-9_]+") {
  CHECK(extent{{"a b", 2}}.to_string() == "{\"a b\": 2}");
  CHECK(extent{{"host-x", 1}}.to_string() == "{\"host-x\": 1}");
  CHECK(extent{{"q\"t", 1}, {"b\\s", 2}}.to_string() ==
        "{\"q\\\"t\": 1, \"b\\\\s\": 2}");
}

TEST_CASE("extent parse inverts display") {
  std::vector<extent> cases{
    extent::unity(),
    extent{{"x", 4}, {"y", 5}},
    extent{{"hosts", 0}},
    extent{{"big", size_max}},
    extent{{"0", 3}, {"_", 1}},
    extent{{"a b", 2}, {"q\"t\\", 3}, {"{x: 1}", 4}, {"é", 5}},
  };
  for (auto& ext : cases) {
    INFO("extent: ", ext);
    auto parsed = extent::parse(ext.to_string());
    REQUIRE(parsed);
    CHECK(*parsed == ext);
  }
}

TEST_CASE("extent parse tolerates whitespace between tokens") {
  auto parsed = extent::parse("  {\thosts :2 ,\n gpus:  4 }  ");
  REQUIRE(parsed);
  CHECK(*parsed == extent{{"hosts", 2}, {"gpus", 4}});
  auto empty = extent::parse(" { } ");
  REQUIRE(empty);
  CHECK(*empty == extent::unity());
  auto spaced = extent::parse("{\" a \": 1}");
  REQUIRE(spaced);
  CHECK(spaced->labels() == std::vector<std::string>{" a "});
}

TEST_CASE("extent parse rejects malformed text with a clean parse_error") {
  std::vector<bad_input> inputs{
    {"", ec::parse_error, "expected '{' at position 0, found end of input"},
    {"hosts: 2", ec::parse_error, "expected '{' at position 0, found 'h'"},
    {"{hosts: 2", ec::parse_error,
     "expected '}' at position 9, found end of input"},
    {"{hosts 2}", ec::parse_error, "expected ':' at position 7, found '2'"},
    {"{hosts: }", ec::parse_error,
     "expected a number at position 8, found '}'"},
    {"{hosts: -2}", ec::parse_error,
     "expected a number at position 8, found '-'"},
    {"{hosts: 2,}", ec::parse_error,
     "expected a label at position 10, found '}'"},
    {"{,}", ec::parse_error, "expected a label at position 1, found ','"},
    {"{: 2}", ec::parse_error, "expected a label at position 1, found ':'"},
    {"{hosts: 2} x", ec::parse_error,
     "expected end of input at position 11, found 'x'"},
    {"{hosts: 2}}", ec::parse_error, "expected end of input at position 10"},
    {"{hosts: 18446744073709551616}", ec::parse_error,
     "number at position 8 exceeds 18446744073709551615"},
    {"{hosts: 99999999999999999999999999}", ec::parse_error, "exceeds"},
    {"{\"hosts: 2}", ec::parse_error,
     "unterminated quoted label at position 1"},
    {"{\"a\\x\": 2}", ec::parse_error, "invalid escape"},
    {"{hosts: 2.5}", ec::parse_error, "expected '}' at position 9, found '.'"},
    {"{hosts: 2 gpus: 4}", ec::parse_error, "found 'g'"},
    {"{hosts:: 2}", ec::parse_error, "expected a number at position 7"},
    {"{hosts: 0x10}", ec::parse_error, "found 'x'"},
    {"{{hosts: 2}}", ec::parse_error, "expected a label at position 1"},
    {"{ho-sts: 2}", ec::parse_error, "expected ':' at position 3, found '-'"},
    {"{hosts=2}", ec::parse_error, "found '='"},
    {std::string{"{a: 1\x01}"}, ec::parse_error, "found byte 0x01"},
    {"{a: 1, a: 2}", ec::overlapping_label, "label 'a' names two dimensions"},
    {"{\"\": 1}", ec::invalid_label, "empty label"},
    {"{a: 4294967296, b: 4294967296}", ec::invalid_argument, "exceeds"},
  };
  for (auto& input : inputs)
    check_fails(extent::parse(input.text), input);
}

TEST_CASE("extent parse errors quote the input readably") {
  auto result = extent::parse("{a:\n1");
  REQUIRE_FALSE(result);
  CHECK(mesh::to_string(result.error()) ==
        "parse error: extent '{a:\\x0a1': expected '}' at position 5, "
        "found end of input");
  auto long_input = "{" + std::string(200, 'a');
  auto long_result = extent::parse(long_input);
  REQUIRE_FALSE(long_result);
  CHECK(mesh::to_string(long_result.error()).find("...'") != std::string::npos);
}

// -- point --------------------------------------------------------------------

TEST_CASE("point display is label=coord/size") {
  extent ext{{"x", 4}, {"y", 5}};
  auto p = ext.point_of_rank(7);
  REQUIRE(p);
  CHECK(p->to_string() == "x=1/4,y=2/5");
  CHECK(mesh::to_string(*p) == "x=1/4,y=2/5");
  CHECK(point{}.to_string() == "");
  auto quoted = extent{{"a b", 2}}.point_of_rank(1);
  REQUIRE(quoted);
  CHECK(quoted->to_string() == "\"a b\"=1/2");
}

TEST_CASE("point coord looks coordinates up by label") {
  extent ext{{"hosts", 2}, {"gpus", 4}};
  auto p = ext.point_of_rank(6);
  REQUIRE(p);
  CHECK(p->coords() == std::vector<size_t>{1, 2});
  CHECK(p->coord("hosts") == 1u);
  CHECK(p->coord("gpus") == 2u);
  CHECK_FALSE(p->coord("cpus"));
}

TEST_CASE("point equality needs the same rank and the same extent") {
  auto a = extent{{"x", 4}}.point_of_rank(1);
  auto b = extent{{"x", 4}}.point_of_rank(1);
  auto c = extent{{"x", 5}}.point_of_rank(1);
  auto d = extent{{"x", 4}}.point_of_rank(2);
  REQUIRE((a && b && c && d));
  CHECK(*a == *b);
  CHECK(*a != *c);
  CHECK(*a != *d);
}

TEST_CASE("point parse inverts display for every point") {
  for (auto& ext : {extent{{"x", 2}, {"y", 3}},
                    extent{{"a b", 2}, {"c\"d", 1}, {"7", 2}}}) {
    for (auto& p : ext.points()) {
      INFO("point: ", p);
      auto parsed = point::parse(p.to_string());
      REQUIRE(parsed);
      CHECK(*parsed == p);
    }
  }
}

TEST_CASE("point parse of empty text is the unity point") {
  for (auto text : {"", "   "}) {
    auto parsed = point::parse(text);
    REQUIRE(parsed);
    CHECK(*parsed == point{});
    CHECK(parsed->extent() == extent::unity());
  }
}

TEST_CASE("point parse tolerates whitespace between tokens") {
  auto parsed = point::parse(" hosts = 1 / 2 ,gpus=3/ 4 ");
  REQUIRE(parsed);
  CHECK(parsed->extent() == extent{{"hosts", 2}, {"gpus", 4}});
  CHECK(parsed->rank() == 7);
}

TEST_CASE("point parse rejects a coordinate not below its size") {
  check_fails(point::parse("x=1/2,y=5/5"),
              {"y=5/5", ec::out_of_range,
               "coordinate 5 of dimension 'y' is not below its size 5"});
  check_fails(point::parse("x=0/0"), {"x=0/0", ec::out_of_range, "size 0"});
}

TEST_CASE("point parse rejects malformed text with a clean error") {
  std::vector<bad_input> inputs{
    {"x", ec::parse_error, "expected '=' at position 1, found end of input"},
    {"x=1", ec::parse_error, "expected '/' at position 3, found end of input"},
    {"x=1/", ec::parse_error, "expected a number at position 4"},
    {"x=/2", ec::parse_error, "expected a number at position 2, found '/'"},
    {"=1/2", ec::parse_error, "expected a label at position 0, found '='"},
    {"x=1/2,", ec::parse_error,
     "expected a label at position 6, found end of input"},
    {",x=1/2", ec::parse_error, "expected a label at position 0, found ','"},
    {"x=1/2;y=0/1", ec::parse_error,
     "expected end of input at position 5, found ';'"},
    {"x=-1/2", ec::parse_error, "found '-'"},
    {"x=1/2 y=0/1", ec::parse_error,
     "expected end of input at position 6, found 'y'"},
    {"x=99999999999999999999/100000000000000000000", ec::parse_error,
     "number at position 2 exceeds"},
    {"\"x=1/2", ec::parse_error, "unterminated quoted label at position 0"},
    {"\"x\\\"=1/2", ec::parse_error, "unterminated quoted label"},
    {"x=1/2/3", ec::parse_error, "found '/'"},
    {"x==1/2", ec::parse_error, "expected a number at position 2, found '='"},
    {"5+x=1/2", ec::parse_error, "expected '=' at position 1, found '+'"},
    {"{x=1/2}", ec::parse_error, "expected a label at position 0, found '{'"},
    {"x:1/2", ec::parse_error, "expected '=' at position 1, found ':'"},
    {"x=1/2,x=0/2", ec::overlapping_label, "'x'"},
    {"\"\"=0/1", ec::invalid_label, "empty label"},
    {"a=0/4294967296,b=0/4294967296", ec::invalid_argument, "exceeds"},
  };
  for (auto& input : inputs)
    check_fails(point::parse(input.text), input);
}
