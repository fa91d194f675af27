// The one fan-out of the blocking API (libmesh/src/client/mesh_data.hpp):
// replies in target order, gone targets answered at once, and an idle
// barrier rather than a per-target deadline (proc_stop_max_idle et al.).
#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/error.hpp"
#include "mesh/system.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <chrono>

using namespace std::chrono_literals;

namespace {

/// Answers x with x + 1 after `delay`.
caf::behavior late(caf::event_based_actor* self, caf::timespan delay) {
  return {[self, delay](int32_t x) {
    auto promise = self->make_response_promise<int32_t>();
    self->delayed_send(self, delay, caf::ok_atom::value, x);
    self->become(caf::keep_behavior, [self, promise](caf::ok_atom,
                                                     int32_t y) mutable {
      promise.deliver(y + 1);
      self->unbecome();
    });
    return promise;
  }};
}

/// Never answers.
caf::behavior silent(caf::event_based_actor* self) {
  return {[self](int32_t) { return self->make_response_promise<int32_t>(); }};
}

struct gather_fixture {
  mesh::config cfg;
  caf::actor_system sys{cfg};
};

} // namespace

TEST_CASE_FIXTURE(gather_fixture,
                  "gather waits for the slowest target as long as some target "
                  "makes progress within the idle time") {
  auto a = sys.spawn(late, caf::timespan{400ms});
  auto b = sys.spawn(late, caf::timespan{800ms});
  // b answers 800 ms after the start, but 400 ms after a: a per-target
  // deadline of 600 ms would fail it, the idle barrier does not.
  auto replies = mesh::gather<int32_t>(sys, std::vector<caf::actor>{a, b},
                                       600ms, int32_t{1});
  REQUIRE(replies.size() == 2);
  REQUIRE(replies[0]);
  REQUIRE(replies[1]);
  CHECK(*replies[0] == 2);
  CHECK(*replies[1] == 2);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(gather_fixture,
                  "gather fails the silent targets after the idle time and "
                  "keeps the others' replies") {
  auto quick = sys.spawn(late, caf::timespan{0ms});
  auto mute = sys.spawn(silent);
  auto replies = mesh::gather<int32_t>(
    sys, std::vector<caf::actor>{mute, quick}, 300ms, int32_t{41});
  REQUIRE(replies.size() == 2);
  REQUIRE_FALSE(replies[0]);
  CHECK(replies[0].error() == mesh::ec::host_unreachable);
  CHECK(mesh::to_string(replies[0].error()).find("300ms")
        != std::string::npos);
  REQUIRE(replies[1]);
  CHECK(*replies[1] == 42);
  caf::anon_send_exit(quick, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(mute, caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(gather_fixture,
                  "gather answers for a target that is gone without waiting "
                  "for the idle time") {
  auto gone = sys.spawn(silent);
  caf::anon_send_exit(gone, caf::exit_reason::user_shutdown);
  auto quick = sys.spawn(late, caf::timespan{0ms});
  // An idle time far beyond the suite's timeout: only the down message can
  // end this gather in time.
  auto replies = mesh::gather<int32_t>(
    sys, std::vector<caf::actor>{gone, quick}, 3600s, int32_t{1});
  REQUIRE(replies.size() == 2);
  REQUIRE_FALSE(replies[0]);
  CHECK(replies[0].error() == caf::sec::request_receiver_down);
  REQUIRE(replies[1]);
  caf::anon_send_exit(quick, caf::exit_reason::user_shutdown);
}
