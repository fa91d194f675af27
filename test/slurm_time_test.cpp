// Slurm time limits (libmesh/src/core/slurm_time.hpp): Slurm's syntax passes
// through, our durations become Slurm's, anything else is refused with a
// message that says what the syntax is. (Part of the mesh_file suite: the
// file's hosts.time is where they come from.)
#include <doctest/doctest.h>

#include "libmesh/src/core/slurm_time.hpp"
#include "mesh/error.hpp"

#include <string>

namespace {

std::string limit(const std::string& text) {
  auto result = mesh::slurm::time_limit(text);
  REQUIRE_MESSAGE(result, mesh::to_string(result.error()));
  return *result;
}

std::string refusal(const std::string& text) {
  auto result = mesh::slurm::time_limit(text);
  REQUIRE_FALSE(result);
  CHECK(mesh::is(result.error(), mesh::ec::invalid_argument));
  return mesh::to_string(result.error());
}

} // namespace

TEST_SUITE("mesh_file") {

  TEST_CASE("slurm_time: Slurm's own forms pass through unchanged") {
    for (auto text : {"0", "5", "10:00", "1:00:00", "100:0:0", "1-0", "1-2",
                      "1-2:30", "1-2:30:15", "00-00:00:01", "999999999",
                      "UNLIMITED", "unlimited", "INFINITE", "Infinite"}) {
      CAPTURE(text);
      CHECK(limit(text) == text);
    }
  }

  TEST_CASE("slurm_time: durations become minutes or [D-]HH:MM:SS") {
    CHECK(limit("1m") == "1");
    CHECK(limit("10m") == "10");
    CHECK(limit("60s") == "1");
    CHECK(limit("2h") == "120");
    CHECK(limit("48h") == "2880");
    CHECK(limit("1s") == "00:00:01");
    CHECK(limit("90s") == "00:01:30");
    CHECK(limit("3601s") == "01:00:01");
    CHECK(limit("86399s") == "23:59:59");
    CHECK(limit("86401s") == "1-00:00:01");
    CHECK(limit("1000000001s") == "11574-01:46:41");
    CHECK(limit("61000ms") == "00:01:01");
    // What Slurm reads back is the same length of time.
    CHECK(limit(limit("90s")) == "00:01:30");
  }

  TEST_CASE("slurm_time: garbage is refused with the syntax") {
    for (auto text : {"", " ", "soon", "-", "1-", "-1", ":", "1:", ":1",
                      "1::1", "1:2:3:4", "1-2:3:4:5", "1-2-3", "1.5",
                      "10 m", "1d", "m", "1234567890", "1-1234567890",
                      "+5", "5\n", "UNLIMITEDX"}) {
      CAPTURE(text);
      auto message = refusal(text);
      CHECK(message.find("expected Slurm's syntax") != std::string::npos);
      CHECK(message.find("90s, 10m or 2h") != std::string::npos);
    }
  }

  TEST_CASE("slurm_time: a zero or fractional duration says why") {
    CHECK(refusal("0s").find("a zero duration; write 0 or UNLIMITED for no "
                             "limit")
          != std::string::npos);
    CHECK(refusal("0m").find("a zero duration") != std::string::npos);
    CHECK(refusal("1500ms").find("Slurm counts whole seconds")
          != std::string::npos);
    CHECK(refusal("1500ms").find("invalid time limit '1500ms'")
          != std::string::npos);
  }

  TEST_CASE("slurm_time: an overflowing duration is refused, not wrapped") {
    auto message = refusal("99999999999999999999h");
    CHECK(message.find("invalid time limit") != std::string::npos);
  }

} // TEST_SUITE
