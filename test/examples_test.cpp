// The programs under examples/ as users run them: the built binary, its exit
// code and what it prints, and nothing left running after it.
#include <doctest/doctest.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"

using namespace std::chrono_literals;

namespace {

mesh::test::run_result example(const std::string& name,
                               std::chrono::milliseconds timeout = 60s) {
  return mesh::test::run({mesh::test::build_path("examples/" + name)},
                         timeout);
}

using mesh::test::lines_of;

/// The first line that matches `re` whole, or "".
std::string line_matching(const std::string& text, const std::regex& re) {
  for (auto& line : lines_of(text))
    if (std::regex_match(line, re))
      return line;
  return {};
}

/// Ends the test case unless the run exited 0 in time (with its output).
void require_success(const mesh::test::run_result& r) {
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE_FALSE(r.timed_out);
  REQUIRE(r.exit_code == std::optional<int>{0});
}

} // namespace

TEST_SUITE("examples") {

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "actor_driven keeps calling through a SIGKILLed proc and "
                    "exits 0 with its summary") {
    // The example bounds itself at 60 s (plus 20 s for its shutdown).
    auto r = example("actor_driven", 90s);
    require_success(r);
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(!line_matching(r.out, std::regex{"4 workers on \\{hosts: 1, "
                                           "procs: 4\\}"})
             .empty());
    CHECK(!line_matching(r.out, std::regex{"round 5: SIGKILL to rank 2 "
                                           "\\(pid [0-9]+\\)"})
             .empty());
    CHECK(!line_matching(r.out, std::regex{"event: rank 2 restarted "
                                           "\\(attempt 1\\): its proc failed: "
                                           "killed by signal 9.*"})
             .empty());
    // "30 rounds, 1 restart seen, 1 call failed while restarting": exactly
    // one restart (one kill); the probe made on 'restarting' usually fails,
    // but the restart may win the race.
    auto summary = line_matching(
      r.out, std::regex{"([0-9]+) rounds, 1 restart seen, [0-9]+ calls? "
                        "failed while restarting"});
    REQUIRE_MESSAGE(!summary.empty(), "no summary line");
    CHECK(std::stoi(summary) >= 30);
    CHECK(!line_matching(r.out, std::regex{"shutdown: 5 procs on 1 host: .*"})
             .empty());
    // No unhandled-failure error: the driver subscribed to the events.
    CHECK(r.err.find("[error]") == std::string::npos);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "local_states prints 4 running procs and shuts down") {
    auto r = example("local_states");
    require_success(r);
    INFO("stdout:\n" << r.out);
    CHECK(lines_of(r.out).size() == 6);
    CHECK(!line_matching(r.out, std::regex{"3 +workers-3-.* running"}).empty());
    CHECK(!line_matching(r.out, std::regex{"shutdown: 4 procs on 1 host: .*"})
             .empty());
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "spawn_by_message spawns and stops 2 procs by messages") {
    auto r = example("spawn_by_message");
    require_success(r);
    INFO("stdout:\n" << r.out);
    CHECK(!line_matching(r.out, std::regex{"rank 1: bymessage-1-.* running"})
             .empty());
    CHECK(!line_matching(r.out, std::regex{"stopped: 2 procs on 1 host: .*"})
             .empty());
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "ping_mesh pings 8 pingers on 2 hosts") {
    auto r = example("ping_mesh");
    require_success(r);
    INFO("stdout:\n" << r.out);
    CHECK(!line_matching(r.out, std::regex{"8 pingers on .*"}).empty());
    CHECK(!line_matching(r.out, std::regex{"host 1 answered 4 pings"}).empty());
    CHECK(!line_matching(r.out,
                         std::regex{"shutdown: 8 procs on 2 hosts: .*"})
             .empty());
  }
}
