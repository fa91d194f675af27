// value_mesh: one value per rank, iterated as (point, value), printed as a
// compact table.
#include "mesh/error.hpp"
#include "mesh/value_mesh.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using mesh::extent;
using mesh::value_mesh;

TEST_CASE("value_mesh::make keeps one value per rank in rank order") {
  auto vm =
    value_mesh<int>::make(extent{{"hosts", 2}, {"gpus", 2}}, {10, 11, 12, 13});
  REQUIRE(vm);
  CHECK(vm->size() == 4);
  CHECK(vm->extent() == extent{{"hosts", 2}, {"gpus", 2}});
  CHECK((*vm)[0] == 10);
  CHECK((*vm)[3] == 13);
  CHECK(vm->values() == std::vector<int>{10, 11, 12, 13});
}

TEST_CASE("value_mesh::make rejects a value count that does not match the "
          "extent") {
  auto vm = value_mesh<int>::make(extent{{"procs", 3}}, {1, 2});
  REQUIRE_FALSE(vm);
  CHECK(mesh::is(vm.error(), mesh::ec::dimension_mismatch));
  CHECK(mesh::to_string(vm.error()) ==
        "dimension mismatch: value mesh over {procs: 3}: 2 values for 3 "
        "ranks");
}

TEST_CASE("iterating a value_mesh yields (point, value) in rank order") {
  auto vm = value_mesh<std::string>::make(extent{{"hosts", 2}, {"gpus", 3}},
                                          {"a", "b", "c", "d", "e", "f"});
  REQUIRE(vm);
  size_t rank = 0;
  for (auto [pt, value] : *vm) {
    CHECK(pt.rank() == rank);
    CHECK(pt.extent() == vm->extent());
    CHECK(value == (*vm)[rank]);
    ++rank;
  }
  CHECK(rank == 6);
  auto it = vm->begin();
  ++it;
  ++it;
  ++it;
  CHECK((*it).first.to_string() == "hosts=1/2,gpus=0/3");
  CHECK((*it).second == "d");
}

TEST_CASE("an empty value_mesh iterates nothing") {
  auto vm = value_mesh<int>::make(extent{{"procs", 0}}, {});
  REQUIRE(vm);
  CHECK(vm->size() == 0);
  CHECK(vm->begin() == vm->end());
}

TEST_CASE("a two-dimensional value_mesh prints as a grid") {
  auto vm = value_mesh<int>::make(extent{{"hosts", 2}, {"gpus", 3}},
                                  {1, 22, 333, 4, 5, 6});
  REQUIRE(vm);
  CHECK(vm->to_string() == "hosts\\gpus  0  1   2\n"
                           "0           1  22  333\n"
                           "1           4  5   6\n");
}

TEST_CASE("a one-dimensional value_mesh prints as one row") {
  auto vm =
    value_mesh<std::string>::make(extent{{"procs", 3}}, {"pong", "x", "pong"});
  REQUIRE(vm);
  // Strings are shown as they are, without quotes.
  CHECK(vm->to_string() == "procs  0     1  2\n"
                           "       pong  x  pong\n");
}

TEST_CASE("a three-dimensional value_mesh has a row per leading coordinate") {
  auto vm = value_mesh<int>::make(extent{{"a", 2}, {"b", 2}, {"c", 2}},
                                  {0, 1, 2, 3, 4, 5, 6, 7});
  REQUIRE(vm);
  CHECK(vm->to_string() == "a,b\\c  0  1\n"
                           "0,0    0  1\n"
                           "0,1    2  3\n"
                           "1,0    4  5\n"
                           "1,1    6  7\n");
}

TEST_CASE("a unity value_mesh prints its single value") {
  auto vm = value_mesh<int>::make(extent{}, {42});
  REQUIRE(vm);
  CHECK(vm->to_string() == "42\n");
}

TEST_CASE("long and multi-line cells are cut to keep the table compact") {
  auto vm = value_mesh<std::string>::make(extent{{"procs", 2}},
                                          {std::string(40, 'x'), "two\nlines"});
  REQUIRE(vm);
  CHECK(vm->to_string() == "procs  0                                 1\n"
                           "       " +
                             std::string(29, 'x') + "...  two lines\n");
}

TEST_CASE("non-string values are rendered as CAF renders them") {
  auto vm =
    value_mesh<std::vector<int>>::make(extent{{"procs", 2}}, {{1, 2}, {}});
  REQUIRE(vm);
  CHECK(vm->to_string() == "procs  0       1\n"
                           "       [1, 2]  []\n");
}
