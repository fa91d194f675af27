// Integration tests of actor meshes: spawning actors on real child procs (and
// in-process procs), casting and calling across them through each host's comm
// actor, and supervision of failing actors and dying procs.
#include "mesh/actor_mesh.hpp"
#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "support/actor_fixture.hpp"
#include "support/event_log.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::proc_status;
using mesh::test::counter_actor;

namespace {

using mesh::test::child_command;

using mesh::test::actor_fixture;
using mesh::test::test_config;

/// Collects pushed events for a test to wait on (at most 20 s per wait).
using mesh::test::event_log;

/// Captures what libmesh logs through spdlog's default logger.
class capture_sink : public spdlog::sinks::base_sink<std::mutex> {
public:
  /// Waits (at most 20 s) for a logged line containing `text`.
  bool wait_for(const std::string& text) {
    std::unique_lock<std::mutex> guard{lines_mtx_};
    return cv_.wait_for(guard, 20s, [&] {
      for (auto& line : lines_)
        if (line.find(text) != std::string::npos)
          return true;
      return false;
    });
  }

  /// Whether a line containing `text` was logged (no wait).
  bool has(const std::string& text) {
    std::lock_guard<std::mutex> guard{lines_mtx_};
    for (auto& line : lines_)
      if (line.find(text) != std::string::npos)
        return true;
    return false;
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::lock_guard<std::mutex> guard{lines_mtx_};
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
    if (msg.level == spdlog::level::err)
      lines_.back() = "[error] " + lines_.back();
    cv_.notify_all();
  }
  void flush_() override {}

private:
  std::mutex lines_mtx_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

/// Routes spdlog's default logger into a capture_sink while alive.
struct log_capture {
  std::shared_ptr<capture_sink> sink = std::make_shared<capture_sink>();
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();

  log_capture() {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  ~log_capture() { spdlog::set_default_logger(previous); }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Comm stats of every host of a host mesh, asked through its host agents.
std::vector<mesh::comm_stats> comm_stats_of(caf::actor_system& sys,
                                            const mesh::host_mesh_ref& hosts) {
  std::vector<mesh::comm_stats> result;
  caf::scoped_actor self{sys};
  for (size_t h = 0; h < hosts.extent().num_ranks(); ++h) {
    mesh::comm_actor_actor comm;
    self->request(hosts.agent(h), 10s, mesh::comm_atom::value)
      .receive([&](mesh::comm_actor_actor& c) { comm = c; },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    self->request(comm, 10s, mesh::comm_stats_atom::value)
      .receive([&](mesh::comm_stats& s) { result.push_back(s); },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
  }
  return result;
}

/// The "picky" instances of this process: started, and still alive.
struct picky_census {
  std::mutex mtx;
  std::condition_variable cv;
  int32_t started = 0;
  int32_t alive = 0;

  /// Waits (at most 20 s) until no instance is alive.
  bool wait_all_gone() {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, 20s, [this] { return alive == 0; });
  }
};

picky_census picky_count;

/// "picky" (in-process only): the `fail_on`-th instance fails to start.
caf::behavior picky(caf::event_based_actor* self, int32_t fail_on) {
  {
    std::lock_guard<std::mutex> guard{picky_count.mtx};
    if (++picky_count.started == fail_on)
      throw std::runtime_error("picky instance refuses to start");
    ++picky_count.alive;
  }
  self->attach_functor([] {
    std::lock_guard<std::mutex> guard{picky_count.mtx};
    --picky_count.alive;
    picky_count.cv.notify_all();
  });
  return {[](int32_t x) { return x; }};
}

struct picky_config : test_config {
  picky_config() { add_actor_type("picky", picky); }
};

} // namespace

// --- spawn
// ---------------------------------------------------------------------

TEST_CASE_FIXTURE(actor_fixture,
                  "spawn puts one actor on every proc and call gathers their "
                  "replies by rank") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 4}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
  CHECK(echoes->size() == 4);
  CHECK(echoes->extent() == pm->extent());
  CHECK(echoes->name() == "echoes");
  CHECK(echoes->id().display_label() == "echoes");
  auto pids = echoes->call<int64_t>(mesh::test::pid_atom::value);
  REQUIRE_MESSAGE(pids, mesh::to_string(pids.error()));
  CHECK(pids->extent() == pm->extent());
  auto states = pm->states();
  REQUIRE(states);
  // Replies are positioned by rank: rank r answered from proc r.
  for (size_t r = 0; r < 4; ++r)
    CHECK((*pids)[r] == (*states)[r].pid);
  for (size_t r = 0; r < 4; ++r)
    CHECK(echoes->get(r));
  CHECK_FALSE(echoes->get(4));
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(actor_fixture,
                  "a typed actor mesh exchanges the user's own types across "
                  "processes") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE(pm);
  auto counters = pm->spawn<counter_actor>("counters", "counter", int32_t{5});
  REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
  auto pongs = counters->call<mesh::test::pong>(mesh::test::ping{7, "hi"});
  REQUIRE_MESSAGE(pongs, mesh::to_string(pongs.error()));
  REQUIRE(pongs->size() == 3);
  for (auto [pt, p] : *pongs) {
    CHECK(p.seq == 7);
    CHECK(p.text == "hi");
    CHECK(p.value == 5); // The init argument reached every factory.
    CHECK(pt.coord("gpus") == pt.rank());
  }
}

TEST_CASE_FIXTURE(actor_fixture, "an unknown actor type is an error naming "
                                 "the rank and the reason") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE(pm);
  auto am = pm->spawn<caf::actor>("ghosts", "no_such_type");
  REQUIRE_FALSE(am);
  CHECK(mesh::is(am.error(), mesh::ec::actor_spawn_failed));
  auto text = mesh::to_string(am.error());
  CHECK_MESSAGE(contains(text, "rank 0 (proc "), text);
  CHECK_MESSAGE(contains(text, "rank 1 (proc "), text);
  CHECK_MESSAGE(contains(text, "no actor type 'no_such_type' is registered"),
                text);
  CHECK_MESSAGE(contains(text, "actor mesh 'ghosts'"), text);
}

TEST_CASE_FIXTURE(actor_fixture, "a handle type that does not match the actor "
                                 "type's interface is an error") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 1}});
  REQUIRE(pm);
  auto typed_echo = pm->spawn<counter_actor>("wrong", "echo");
  REQUIRE_FALSE(typed_echo);
  auto text = mesh::to_string(typed_echo.error());
  CHECK_MESSAGE(contains(text, "rank 0"), text);
  CHECK_MESSAGE(contains(text, "does not have the messaging interface of the "
                               "requested handle"),
                text);
  auto untyped_counter = pm->spawn<caf::actor>("wrong", "counter", int32_t{0});
  REQUIRE_FALSE(untyped_counter);
  CHECK(contains(mesh::to_string(untyped_counter.error()),
                 "does not have the messaging interface"));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "init arguments the factory does not take are an error") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 1}});
  REQUIRE(pm);
  auto am = pm->spawn<counter_actor>("counters", "counter",
                                     std::string{"not a number"});
  REQUIRE_FALSE(am);
  auto text = mesh::to_string(am.error());
  CHECK_MESSAGE(contains(text, "cannot be constructed from the given init "
                               "arguments"),
                text);
}

TEST_CASE_FIXTURE(actor_fixture, "an initialisation that throws is a spawn "
                                 "error with the reason") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE(pm);
  auto am = pm->spawn<caf::actor>("throwers", "thrower");
  REQUIRE_FALSE(am);
  auto text = mesh::to_string(am.error());
  CHECK_MESSAGE(contains(text, "rank 0"), text);
  CHECK_MESSAGE(contains(text, "rank 1"), text);
  CHECK_MESSAGE(contains(text, "the actor ended during its initialisation: an "
                               "exception escaped it"),
                text);
  // The procs themselves are unharmed.
  auto states = pm->states();
  REQUIRE(states);
  for (auto& st : *states)
    CHECK(st.status == proc_status::running);
}

TEST_CASE_FIXTURE(actor_fixture, "an initialisation that quits with an error "
                                 "is a spawn error with that error") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 1}});
  REQUIRE(pm);
  auto am = pm->spawn<caf::actor>("bad", "bad_init");
  REQUIRE_FALSE(am);
  auto text = mesh::to_string(am.error());
  CHECK_MESSAGE(contains(text, "bad_init refuses to start"), text);
}

TEST_CASE_FIXTURE(actor_fixture, "a constructor that throws is a spawn error "
                                 "and the proc survives") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 1}});
  REQUIRE(pm);
  auto am = pm->spawn<caf::actor>("ctors", "ctor_thrower");
  REQUIRE_FALSE(am);
  auto text = mesh::to_string(am.error());
  CHECK_MESSAGE(contains(text, "threw: ctor_thrower refuses to be "
                               "constructed"),
                text);
  // The proc agent is still there to spawn the next actor.
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
}

TEST_CASE_FIXTURE(actor_fixture, "an invalid actor mesh name is rejected") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 1}});
  REQUIRE(pm);
  auto am = pm->spawn<caf::actor>("Not A Label", "echo");
  REQUIRE_FALSE(am);
  CHECK(mesh::is(am.error(), mesh::ec::invalid_label));
  CHECK(contains(mesh::to_string(am.error()), "actor mesh name"));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "spawning on a stopped proc mesh names the ranks that are "
                  "not running") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 2}});
  REQUIRE(pm);
  REQUIRE(pm->stop());
  auto am = pm->spawn<caf::actor>("late", "echo");
  REQUIRE_FALSE(am);
  CHECK(mesh::is(am.error(), mesh::ec::actor_spawn_failed));
  auto text = mesh::to_string(am.error());
  // Depending on how far the stop's events have travelled, a rank is known
  // to be down or its proc agent is found gone: either way it is named.
  for (size_t r = 0; r < 2; ++r) {
    auto where = "rank " + std::to_string(r) + " (proc " +
                 mesh::proc_name(pm->id(), r) + " on host " +
                 hosts->host_addrs()[0] + ")";
    CHECK_MESSAGE((contains(text, where + " is not running (status stopp") ||
                   contains(text, where + ": its proc agent is gone")),
                  text);
  }
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a spawn that fails on one rank stops the actors that did "
                  "start") {
  picky_config cfg;
  caf::actor_system sys{cfg};
  {
    auto hosts = host_mesh::local_in_process(sys);
    REQUIRE(hosts);
    auto pm = hosts->spawn("workers", extent{{"procs", 4}});
    REQUIRE(pm);
    picky_count.started = 0;
    auto am = pm->spawn<caf::actor>("pickies", "picky", int32_t{3});
    REQUIRE_FALSE(am);
    auto text = mesh::to_string(am.error());
    CHECK_MESSAGE(contains(text, "during its initialisation: an exception "
                                 "escaped it"),
                  text);
    // Exactly one rank failed, and is named.
    size_t named = 0;
    for (size_t r = 0; r < 4; ++r)
      named += contains(text, "rank " + std::to_string(r) + " (proc ") ? 1 : 0;
    CHECK_MESSAGE(named == 1, text);
    CHECK(picky_count.started == 4);
    // The three that started are stopped.
    CHECK(picky_count.wait_all_gone());
  }
}

// --- call and cast
// -------------------------------------------------------------

TEST_CASE_FIXTURE(actor_fixture,
                  "cast reaches every member and a later call sees it") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 4}});
  REQUIRE(pm);
  auto counters = pm->spawn<counter_actor>("counters", "counter", int32_t{5});
  REQUIRE(counters);
  counters->cast(caf::add_atom::value, int32_t{3});
  counters->cast(caf::add_atom::value, int32_t{4});
  auto values = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE_MESSAGE(values, mesh::to_string(values.error()));
  CHECK(values->values() == std::vector<int32_t>{12, 12, 12, 12});
}

TEST_CASE_FIXTURE(actor_fixture, "a view casts only to its members and its "
                                 "call is indexed by the view's ranks") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 4}});
  REQUIRE(pm);
  auto counters = pm->spawn<counter_actor>("counters", "counter", int32_t{0});
  REQUIRE(counters);
  auto middle = counters->range("gpus", 1, 3);
  REQUIRE_MESSAGE(middle, mesh::to_string(middle.error()));
  CHECK(middle->size() == 2);
  CHECK(middle->extent() == extent{{"hosts", 1}, {"gpus", 2}});
  CHECK(middle->get(0) == counters->get(1));
  CHECK(middle->get(1) == counters->get(2));
  middle->cast(caf::add_atom::value, int32_t{10});
  // A view of a view still addresses the original ranks.
  auto last = middle->range("gpus", 1, 2);
  REQUIRE(last);
  last->cast(caf::add_atom::value, int32_t{1});
  auto all = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE_MESSAGE(all, mesh::to_string(all.error()));
  CHECK(all->values() == std::vector<int32_t>{0, 10, 11, 0});
  auto viewed = middle->call<int32_t>(caf::get_atom::value);
  REQUIRE(viewed);
  CHECK(viewed->extent() == middle->extent());
  CHECK(viewed->values() == std::vector<int32_t>{10, 11});
}

TEST_CASE_FIXTURE(actor_fixture, "a range over an unknown dimension or "
                                 "selecting nothing is an error") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 2}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  auto unknown = echoes->range("gpus", 0, 1);
  REQUIRE_FALSE(unknown);
  CHECK(contains(mesh::to_string(unknown.error()), "range of actor mesh "
                                                   "'echoes'"));
  CHECK(contains(mesh::to_string(unknown.error()), "gpus"));
  CHECK_FALSE(echoes->range("procs", 2, 5));
}

TEST_CASE_FIXTURE(actor_fixture, "members that do not answer make call fail "
                                 "within its timeout, naming each rank") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  // Through the comm actor (several members on one host).
  auto res = echoes->call<int32_t>(300ms, mesh::test::hang_atom::value);
  REQUIRE_FALSE(res);
  CHECK(mesh::is(res.error(), mesh::ec::call_failed));
  auto text = mesh::to_string(res.error());
  for (size_t r = 0; r < 3; ++r)
    CHECK_MESSAGE(contains(text, "rank " + std::to_string(r) + " (proc "),
                  text);
  CHECK_MESSAGE(contains(text, "did not answer within 300ms"), text);
  // Directly (a view with one member on its host).
  auto one = echoes->range("gpus", 2, 3);
  REQUIRE(one);
  auto deadline = 200ms; // An lvalue duration is the timeout too.
  auto single = one->call<int32_t>(deadline, mesh::test::hang_atom::value);
  REQUIRE_FALSE(single);
  CHECK_MESSAGE(contains(mesh::to_string(single.error()),
                         "rank 0 (proc " + mesh::proc_name(pm->id(), 2)),
                mesh::to_string(single.error()));
  // The members still answer what they can.
  auto ok = echoes->call<int32_t>(int32_t{9});
  REQUIRE(ok);
  CHECK(ok->values() == std::vector<int32_t>{9, 9, 9});
}

TEST_CASE_FIXTURE(actor_fixture,
                  "call_timeout is the default deadline of a call") {
  mesh::config_override short_calls{"call_timeout", "250ms"};
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 2}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  auto res = echoes->call<int32_t>(mesh::test::hang_atom::value);
  REQUIRE_FALSE(res);
  CHECK_MESSAGE(
    contains(mesh::to_string(res.error()), "did not answer within 250ms"),
    mesh::to_string(res.error()));
}

TEST_CASE_FIXTURE(actor_fixture, "a reply of another type than the one asked "
                                 "for is an error naming the rank") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 2}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  auto res = echoes->call<std::string>(int32_t{1});
  REQUIRE_FALSE(res);
  CHECK_MESSAGE(
    contains(mesh::to_string(res.error()),
             "rank 0 (proc " + mesh::proc_name(pm->id(), 0) + " on host "),
    mesh::to_string(res.error()));
  CHECK(contains(mesh::to_string(res.error()),
                 "replied (1), which is not one value of the expected type"));
  // caf::message takes any reply.
  auto any = echoes->call<caf::message>(std::string{"x"});
  REQUIRE(any);
  CHECK((*any)[1].get_as<std::string>(0) == "x");
}

TEST_CASE_FIXTURE(actor_fixture, "a message a member has no handler for fails "
                                 "the call for that member") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 2}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  auto res = echoes->call<int32_t>(3.5);
  REQUIRE_FALSE(res);
  CHECK_MESSAGE(
    contains(mesh::to_string(res.error()), "has no handler for the message"),
    mesh::to_string(res.error()));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "casts and calls to H hosts x P procs cost one message per "
                  "host, fanned out by each host's comm actor") {
  auto hosts = host_mesh::process(sys, extent{{"hosts", 2}}, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"procs", 4}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto counters = pm->spawn<counter_actor>("counters", "counter", int32_t{0});
  REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
  CHECK(counters->size() == 8);
  auto before = comm_stats_of(sys, *hosts);
  REQUIRE(before.size() == 2);
  counters->cast(caf::add_atom::value, int32_t{1});
  auto values = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE_MESSAGE(values, mesh::to_string(values.error()));
  CHECK(values->values() == std::vector<int32_t>(8, 1));
  auto after = comm_stats_of(sys, *hosts);
  REQUIRE(after.size() == 2);
  for (size_t h = 0; h < 2; ++h) {
    CAPTURE(h);
    // One cast and one gather reached each host...
    CHECK(after[h].casts - before[h].casts == 1);
    CHECK(after[h].gathers - before[h].gathers == 1);
    // ...and each comm actor sent them on to its 4 local members.
    CHECK(after[h].delivered - before[h].delivered == 8);
  }
  // A view of one host reaches only that host's comm actor.
  auto second = counters->range("hosts", 1, 2);
  REQUIRE(second);
  second->cast(caf::add_atom::value, int32_t{1});
  REQUIRE(second->call<int32_t>(caf::get_atom::value));
  auto last = comm_stats_of(sys, *hosts);
  CHECK(last[0].casts == after[0].casts);
  CHECK(last[0].gathers == after[0].gathers);
  CHECK(last[1].casts == after[1].casts + 1);
  CHECK(last[1].gathers == after[1].gathers + 1);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(actor_fixture, "long runs of casts pass credit points and "
                                 "lose nothing") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 3}});
  REQUIRE(pm);
  auto counters = pm->spawn<counter_actor>("counters", "counter", int32_t{0});
  REQUIRE(counters);
  auto one = counters->range("procs", 0, 1);
  REQUIRE(one);
  auto before = comm_stats_of(sys, *hosts);
  auto rounds = static_cast<int32_t>(2 * mesh::cast_credit + 5);
  for (int32_t i = 0; i < rounds; ++i) {
    counters->cast(caf::add_atom::value, int32_t{1}); // via the comm actor
    one->cast(caf::add_atom::value, int32_t{1});      // directly
  }
  auto values = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE(values);
  CHECK(values->values() == std::vector<int32_t>{2 * rounds, rounds, rounds});
  auto after = comm_stats_of(sys, *hosts);
  // Every cast through the comm actor arrived, the credit points included.
  CHECK(after[0].casts - before[0].casts == static_cast<uint64_t>(rounds));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "local_in_process meshes support the same actor API") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"procs", 4}});
  REQUIRE(pm);
  auto counters = pm->spawn<counter_actor>("counters", "counter", int32_t{1});
  REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
  counters->cast(caf::add_atom::value, int32_t{1});
  auto pongs = counters->call<mesh::test::pong>(mesh::test::ping{1, "in"});
  REQUIRE(pongs);
  for (auto [pt, p] : *pongs)
    CHECK(p.value == 2);
  auto view = counters->range("procs", 0, 4, 2);
  REQUIRE(view);
  CHECK(view->size() == 2);
  auto values = view->call<int32_t>(caf::get_atom::value);
  REQUIRE(values);
  CHECK(values->values() == std::vector<int32_t>{2, 2});
  // Supervision works the same: a second actor mesh on the same procs
  // fails on one rank; only that mesh hears of it.
  event_log log;
  counters->on_event(log.handler());
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  echoes->on_event(log.handler());
  caf::anon_send(echoes->get(3), mesh::test::crash_atom::value);
  auto ev = log.wait_for([](auto& e) { return e.actor == "echoes"; });
  REQUIRE(ev);
  CHECK(ev->rank == 3);
  CHECK(log.count("counters") == 0);
  CHECK(counters->call<int32_t>(caf::get_atom::value));
}

// --- supervision
// ---------------------------------------------------------------

TEST_CASE_FIXTURE(actor_fixture,
                  "an actor that throws on a message is an event for the "
                  "actor mesh and the proc mesh, and calls fail fast for it") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE(pm);
  event_log proc_events;
  pm->on_event(proc_events.handler());
  auto echoes = pm->spawn<caf::actor>("crashers", "echo");
  REQUIRE(echoes);
  event_log actor_events;
  echoes->on_event(actor_events.handler());
  auto one = echoes->range("gpus", 1, 2);
  REQUIRE(one);
  one->cast(mesh::test::crash_atom::value);
  auto ev =
    actor_events.wait_for([](auto& e) { return e.actor == "crashers"; });
  REQUIRE(ev);
  CHECK(ev->rank == 1);
  CHECK(ev->proc_name == mesh::proc_name(pm->id(), 1));
  CHECK(ev->status == proc_status::failed);
  CHECK(ev->actor_mesh == echoes->id().to_string());
  CHECK_MESSAGE(contains(ev->reason, "actor 'crashers' failed: an exception "
                                     "escaped it"),
                ev->reason);
  auto seen =
    proc_events.wait_for([](auto& e) { return e.actor == "crashers"; });
  REQUIRE(seen);
  CHECK(seen->rank == 1);
  // The rank is known gone: the call fails at once, naming it.
  auto res = echoes->call<int32_t>(int32_t{1});
  REQUIRE_FALSE(res);
  auto text = mesh::to_string(res.error());
  CHECK_MESSAGE(contains(text, "rank 1 (proc " + mesh::proc_name(pm->id(), 1)),
                text);
  CHECK_MESSAGE(contains(text, "is gone: actor 'crashers' failed"), text);
  CHECK_FALSE(contains(text, "rank 0"));
  // The other members are fine.
  auto rest = echoes->range("gpus", 2, 3);
  REQUIRE(rest);
  CHECK(rest->call<int32_t>(int32_t{4}));
}

TEST_CASE_FIXTURE(actor_fixture, "an actor that quits with an error is an "
                                 "event with that error") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("quitters", "echo");
  REQUIRE(echoes);
  event_log log;
  echoes->on_event(log.handler());
  caf::anon_send(echoes->get(0), mesh::test::fail_atom::value);
  auto ev = log.wait_for([](auto& e) { return e.actor == "quitters"; });
  REQUIRE(ev);
  CHECK(ev->rank == 0);
  CHECK_MESSAGE(contains(ev->reason, "echo failed on request"), ev->reason);
}

TEST_CASE_FIXTURE(actor_fixture, "a proc that dies is an event for each actor "
                                 "mesh on it, and calls fail fast for it") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  auto counters = pm->spawn<counter_actor>("counters", "counter", int32_t{0});
  REQUIRE(counters);
  event_log log;
  echoes->on_event(log.handler());
  counters->on_event(log.handler());
  auto states = pm->states();
  REQUIRE(states);
  REQUIRE(::kill(static_cast<pid_t>((*states)[2].pid), SIGKILL) == 0);
  for (std::string name : {"echoes", "counters"}) {
    CAPTURE(name);
    auto ev = log.wait_for([&](auto& e) { return e.actor == name; });
    REQUIRE(ev);
    CHECK(ev->rank == 2);
    CHECK(ev->status == proc_status::failed);
    CHECK(ev->signal == std::optional<int>{SIGKILL});
    CHECK_MESSAGE(contains(ev->reason, "its proc failed: killed by signal 9"),
                  ev->reason);
  }
  auto res = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE_FALSE(res);
  auto text = mesh::to_string(res.error());
  CHECK_MESSAGE(contains(text, "rank 2 (proc "), text);
  CHECK_MESSAGE(contains(text, "is gone: its proc failed"), text);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "with no handler installed an actor failure is logged as an "
                  "error and calls fail fast") {
  log_capture capture;
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("unwatched", "echo");
  REQUIRE(echoes);
  caf::anon_send(echoes->get(1), mesh::test::crash_atom::value);
  CHECK(capture.sink->wait_for("[error] actor mesh 'unwatched'"));
  CHECK(
    capture.sink->wait_for("rank 1 on proc " + mesh::proc_name(pm->id(), 1)));
  auto res = echoes->call<int32_t>(int32_t{1});
  REQUIRE_FALSE(res);
  CHECK(contains(mesh::to_string(res.error()), "rank 1 (proc "));
}

TEST_CASE_FIXTURE(actor_fixture,
                  "a subscribed actor handles failures: they are not logged "
                  "as unhandled") {
  log_capture capture;
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("watched", "echo");
  REQUIRE(echoes);
  auto states = pm->states();
  REQUIRE(states);
  caf::scoped_actor watcher{sys};
  echoes->subscribe(caf::actor_cast<caf::actor>(watcher));
  auto await_event = [&](size_t rank) {
    bool seen = false;
    watcher->receive_while([&] { return !seen; })(
      [&](const mesh::proc_event& e) { seen = e.rank == rank; },
      caf::after(20s) >> [&] { FAIL("no event for rank " << rank); });
  };
  // A member's actor fails, then a member's proc is killed: the two paths
  // to the log. The controller logs an unhandled failure right after it
  // notified the subscribers, so once the event of a later failure came,
  // an earlier one's log line would be there: rank 2's crash is the fence.
  caf::anon_send(echoes->get(1), mesh::test::crash_atom::value);
  await_event(1);
  REQUIRE(::kill(static_cast<pid_t>((*states)[0].pid), SIGKILL) == 0);
  await_event(0);
  caf::anon_send(echoes->get(2), mesh::test::crash_atom::value);
  await_event(2);
  CHECK_FALSE(capture.sink->has("actor mesh 'watched'"));
  auto res = echoes->call<int32_t>(int32_t{1});
  REQUIRE_FALSE(res);
  CHECK(contains(mesh::to_string(res.error()), "rank 0 (proc "));
}

TEST_CASE_FIXTURE(actor_fixture, "stopping the procs ends the actor meshes on "
                                 "them without a failure") {
  log_capture capture;
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE(pm);
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE(echoes);
  event_log log;
  echoes->on_event(log.handler());
  REQUIRE(pm->stop());
  for (size_t r = 0; r < 2; ++r) {
    auto ev = log.wait_for([&](auto& e) { return e.rank == r; });
    REQUIRE(ev);
    CHECK(ev->status == proc_status::stopped);
  }
  auto res = echoes->call<int32_t>(int32_t{1});
  REQUIRE_FALSE(res);
  CHECK(contains(mesh::to_string(res.error()), "is gone: its proc stopped"));
}
