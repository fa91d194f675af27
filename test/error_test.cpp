#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/system.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>

#include <set>

using mesh::ec;

namespace {

constexpr uint8_t first_ec = static_cast<uint8_t>(ec::invalid_argument);
constexpr uint8_t last_ec = static_cast<uint8_t>(ec::tls_error);

} // namespace

TEST_CASE("every error code has a distinct name and phrase") {
  std::set<std::string> names;
  std::set<std::string> phrases;
  for (auto i = first_ec; i <= last_ec; ++i) {
    auto code = static_cast<ec>(i);
    auto name = mesh::to_string(code);
    CHECK_MESSAGE(name.find("ec(") == std::string::npos, "unnamed code " << i);
    CHECK_FALSE(mesh::describe(code).empty());
    names.insert(name);
    phrases.insert(std::string{mesh::describe(code)});
  }
  CHECK(names.size() == last_ec - first_ec + 1u);
  CHECK(phrases.size() == last_ec - first_ec + 1u);
  CHECK(mesh::to_string(ec::spawn_failed) == "spawn_failed");
}

TEST_CASE("an out-of-range code renders without crashing") {
  auto code = static_cast<ec>(250);
  CHECK(mesh::to_string(code) == "ec(250)");
  CHECK(mesh::describe(code) == "unknown libmesh error");
}

TEST_CASE("make_error carries code, category and context") {
  auto err = mesh::make_error(ec::spawn_failed, "rank 3 on host 127.0.0.1:4100",
                              "program '/opt/x' does not exist");
  CHECK(err.category() == mesh::error_category);
  CHECK(err.code() == static_cast<uint8_t>(ec::spawn_failed));
  CHECK(mesh::is(err, ec::spawn_failed));
  CHECK_FALSE(mesh::is(err, ec::proc_failed));
  CHECK(mesh::to_string(err)
        == "spawn failed: rank 3 on host 127.0.0.1:4100: program '/opt/x' "
           "does not exist");
}

TEST_CASE("make_error turns numbers into context strings") {
  auto err = mesh::make_error(ec::out_of_range, "rank", 9);
  CHECK(mesh::to_string(err) == "out of range: rank: 9");
}

TEST_CASE("an error without context renders as its phrase") {
  CHECK(mesh::to_string(mesh::make_error(ec::not_running)) == "not running");
}

TEST_CASE("errors of other categories render as CAF renders them") {
  caf::error err = caf::sec::request_timeout;
  CHECK(mesh::to_string(err) == caf::to_string(err));
  CHECK_FALSE(mesh::is(err, ec::call_failed));
  CHECK(mesh::to_string(caf::error{}) == "no error");
}

TEST_CASE("the actor system renders libmesh errors as one sentence") {
  mesh::config cfg;
  caf::actor_system sys{cfg};
  auto err = mesh::make_error(ec::proc_failed, "rank 1 on host h:1",
                              "exited with code 1");
  CHECK(sys.render(err) == mesh::to_string(err));
}

TEST_CASE("configure sets the libmesh scheduler and heartbeat defaults") {
  mesh::config cfg;
  auto dump = cfg.dump_content();
  CHECK(caf::get_or(dump, "scheduler.policy", caf::atom("x"))
        == caf::atom("sharing"));
  CHECK(caf::get_or(dump, "scheduler.max-threads", size_t{0}) == 2u);
  // proc_unresponsive_timeout 5 s: a heartbeat every second, a cut after
  // 4 s of silence, found at CAF's next check: within 5 s.
  CHECK(caf::get_or(dump, "middleman.heartbeat-interval", caf::timespan{0})
        == caf::timespan{std::chrono::seconds{1}});
  CHECK(caf::get_or(dump, "middleman.connection-timeout", caf::timespan{0})
        == caf::timespan{std::chrono::seconds{4}});
}

TEST_CASE("proc_unresponsive_timeout 0 turns heartbeats and the cut-off off") {
  mesh::config_override off{"proc_unresponsive_timeout", "0s"};
  mesh::config cfg;
  auto dump = cfg.dump_content();
  CHECK(caf::get_or(dump, "middleman.heartbeat-interval", caf::timespan{1})
        == caf::timespan{0});
  CHECK(caf::get_or(dump, "middleman.connection-timeout", caf::timespan{1})
        == caf::timespan{0});
}
