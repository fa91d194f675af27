// The proc table's contract (actors/proc_table.hpp), clause by clause:
// deterministic, with no process, no actor system and no clock. Each test
// case is named after the clause it pins.
#include "actors/proc_table.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

using namespace mesh;

namespace {

/// A proc of mesh `mesh` (host mesh `host_mesh`) with the token "tok-NAME".
proc_launch proc(const std::string& name, uint64_t rank = 0,
                 const std::string& mesh = "m",
                 const std::string& host_mesh = "h") {
  proc_launch p;
  p.record.name = name;
  p.record.rank = rank;
  p.record.proc_mesh_id = mesh;
  p.record.host_mesh_id = host_mesh;
  p.record.token = "tok-" + name;
  return p;
}

proc_registration registration(const std::string& name,
                               std::string token = {}) {
  proc_registration reg;
  reg.name = name;
  reg.token = token.empty() ? "tok-" + name : std::move(token);
  reg.pid = 4200;
  reg.has_agent = true;
  reg.address = "127.0.0.1:5000";
  return reg;
}

struct fixture {
  proc_table table;

  fixture() { table.set_address("127.0.0.1:4000"); }

  /// Spawns and registers each proc (status running).
  spawn_id running(std::vector<proc_launch> procs) {
    std::vector<std::string> names;
    for (auto& p : procs)
      names.push_back(p.record.name);
    auto started = table.spawn(std::move(procs));
    for (auto& n : names) {
      table.launched(n, 100);
      REQUIRE(table.register_proc(registration(n)));
    }
    return started.id;
  }

  proc_status status(const std::string& name) const {
    auto* rec = table.find(name);
    return rec == nullptr ? proc_status::not_exist : rec->status;
  }
};

/// The statuses pushed to subscriber `id`, in order.
std::vector<proc_status> statuses_for(const proc_effects& fx,
                                      subscriber_id id) {
  std::vector<proc_status> result;
  for (auto& [to, ev] : fx.events)
    if (to == id)
      result.push_back(ev.status);
  return result;
}

bool has_signal(const proc_effects& fx, const std::string& name, int sig) {
  return std::find(fx.signals.begin(), fx.signals.end(),
                   std::make_pair(name, sig)) != fx.signals.end();
}

} // namespace

// -- PT-1
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-1 a clean exit after running is stopped, and "
                           "stopped is sticky") {
  running({proc("p")});
  table.exited("p", 0, std::nullopt, "");
  CHECK(status("p") == proc_status::stopped);
  CHECK(table.find("p")->reason == "exited cleanly");
  // Nothing moves a terminal status: another exit, a deadline, a stop.
  table.exited("p", std::nullopt, SIGKILL, "");
  CHECK(status("p") == proc_status::stopped);
  CHECK(table.ready_timeout("p", "late").empty());
  auto stop = table.stop({"p"}, "bye");
  CHECK(status("p") == proc_status::stopped);
  REQUIRE(stop.effects.stops_done.size() == 1);
  CHECK(stop.effects.stops_done[0].summary.already_gone == 1);
}

TEST_CASE_FIXTURE(fixture, "PT-1 an exit before the handshake fails the proc "
                           "with its last stderr line") {
  table.spawn({proc("p")});
  table.output("p", true, "boom");
  table.exited("p", 1, std::nullopt, "");
  CHECK(status("p") == proc_status::failed);
  CHECK(table.find("p")->reason ==
        "exited with code 1 before the bootstrap handshake; last stderr: "
        "boom");
}

TEST_CASE_FIXTURE(fixture, "PT-1 a signal or a non-zero exit while running "
                           "fails the proc, for good") {
  running({proc("a"), proc("b", 1)});
  table.exited("a", std::nullopt, SIGKILL, "");
  table.exited("b", 3, std::nullopt, "");
  CHECK(status("a") == proc_status::failed);
  CHECK(table.find("a")->reason.rfind("killed by signal 9", 0) == 0);
  CHECK(status("b") == proc_status::failed);
  CHECK(table.find("b")->reason == "exited with code 3");
  table.exited("b", 0, std::nullopt, "");
  CHECK(status("b") == proc_status::failed);
}

TEST_CASE_FIXTURE(fixture, "PT-1 an exit during a stop is stopped, whatever "
                           "its exit status") {
  running({proc("p")});
  table.stop({"p"}, "bye");
  CHECK(status("p") == proc_status::stopping);
  table.exited("p", std::nullopt, SIGTERM, "");
  CHECK(status("p") == proc_status::stopped);
  CHECK(table.find("p")->reason == "bye");
  CHECK(table.find("p")->signal == SIGTERM);
}

// -- PT-2
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-2 while the host shuts down no state is "
                           "reported healthier than stopping") {
  running({proc("p")});
  CHECK_FALSE(table.shutting_down());
  table.shutdown();
  CHECK(table.shutting_down());
  // A proc the table learns of now (the agent refuses such spawns; the
  // table must still not report it healthy).
  table.spawn({proc("late")});
  CHECK(status("late") == proc_status::initializing);
  auto states = table.states("", {});
  REQUIRE(states.size() == 2);
  for (auto& s : states)
    CHECK(s.status >= proc_status::stopping);
  auto w = table.wait("late", proc_status::initializing, 9);
  REQUIRE(w.now);
  CHECK(w.now->rank == 9);
  CHECK(w.now->state.status == proc_status::stopping);
}

TEST_CASE_FIXTURE(fixture, "PT-2 a terminal status is reported as it is "
                           "during a shutdown") {
  running({proc("p")});
  table.exited("p", 2, std::nullopt, "");
  table.shutdown();
  // shutdown forgot the exited proc; a state of it is not_exist.
  CHECK(table.find("p") == nullptr);
  table.spawn({proc("q")});
  table.exited("q", std::nullopt, SIGKILL, "");
  CHECK(table.state_of(*table.find("q")).status == proc_status::failed);
}

// -- PT-3
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-3 a wrong, empty or foreign token changes "
                           "nothing") {
  table.spawn({proc("p"), proc("q", 1)});
  for (auto token : {std::string{"tok-q"}, std::string{"nope"}}) {
    CHECK_FALSE(table.register_proc(registration("p", token)));
  }
  auto empty = registration("p");
  empty.token.clear();
  CHECK_FALSE(table.register_proc(empty));
  auto* rec = table.find("p");
  CHECK(rec->status == proc_status::initializing);
  CHECK(rec->token == "tok-p");
  CHECK_FALSE(rec->registered);
  CHECK(rec->address.empty());
  CHECK(rec->pid == 0);
}

TEST_CASE_FIXTURE(fixture, "PT-3 an unknown proc or one without an agent is "
                           "refused") {
  table.spawn({proc("p")});
  CHECK_FALSE(table.register_proc(registration("ghost", "tok-p")));
  auto no_agent = registration("p");
  no_agent.has_agent = false;
  CHECK_FALSE(table.register_proc(no_agent));
  CHECK(table.find("p")->token == "tok-p");
  CHECK(table.find("ghost") == nullptr);
}

TEST_CASE_FIXTURE(fixture, "PT-3 a token is used once") {
  table.spawn({proc("p")});
  table.launched("p", 77);
  auto fx = table.register_proc(registration("p"));
  REQUIRE(fx);
  auto* rec = table.find("p");
  CHECK(rec->status == proc_status::running);
  CHECK(rec->registered);
  CHECK(rec->token.empty());
  CHECK(rec->pid == 4200);
  CHECK(rec->address == "127.0.0.1:5000");
  CHECK_FALSE(table.register_proc(registration("p")));
}

TEST_CASE_FIXTURE(fixture, "PT-3 a proc that exited or timed out cannot "
                           "register") {
  table.spawn({proc("gone"), proc("slow", 1)});
  table.exited("gone", 0, std::nullopt, "");
  table.ready_timeout("slow", "too slow");
  CHECK_FALSE(table.register_proc(registration("gone")));
  CHECK_FALSE(table.register_proc(registration("slow")));
  CHECK(status("gone") == proc_status::failed);
  CHECK(status("slow") == proc_status::timeout);
}

TEST_CASE_FIXTURE(fixture, "PT-3 a registration without a pid or address "
                           "keeps the launcher's") {
  table.spawn({proc("p")});
  table.launched("p", 77);
  auto reg = registration("p");
  reg.pid = 0;
  reg.address.clear();
  REQUIRE(table.register_proc(reg));
  CHECK(table.find("p")->pid == 77);
  CHECK(table.find("p")->address.empty());
}

// -- PT-4
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-4 a registered proc is asked, then SIGTERMed, "
                           "then SIGKILLed, then reported") {
  running({proc("p")});
  auto stop = table.stop({"p"}, "bye");
  auto& fx = stop.effects;
  REQUIRE(fx.polite_stops.size() == 1);
  CHECK(fx.polite_stops[0] ==
        std::make_pair(std::string{"p"}, std::string{"bye"}));
  CHECK(fx.signals.empty());
  REQUIRE(fx.escalations.size() == 1);
  CHECK(fx.escalations[0].second == stop_stage::asked);
  CHECK(table.find("p")->stage == stop_stage::asked);
  auto term = table.escalate("p", stop_stage::asked);
  CHECK(has_signal(term, "p", SIGTERM));
  REQUIRE(term.escalations.size() == 1);
  CHECK(term.escalations[0].second == stop_stage::terminated);
  auto kill = table.escalate("p", stop_stage::terminated);
  CHECK(has_signal(kill, "p", SIGKILL));
  REQUIRE(kill.escalations.size() == 1);
  CHECK(kill.escalations[0].second == stop_stage::killed);
  auto given_up = table.escalate("p", stop_stage::killed);
  CHECK(given_up.signals.empty());
  REQUIRE(given_up.stops_done.size() == 1);
  auto& summary = given_up.stops_done[0].summary;
  REQUIRE(summary.failures.size() == 1);
  CHECK(summary.failures[0] ==
        "'p' (pid 4200) on host 127.0.0.1:4000 did not exit after SIGKILL");
  CHECK(summary.total() == 0);
}

TEST_CASE_FIXTURE(fixture, "PT-4 a proc without an agent starts at SIGTERM") {
  table.spawn({proc("p")});
  auto stop = table.stop({"p"}, "bye");
  CHECK(stop.effects.polite_stops.empty());
  CHECK(has_signal(stop.effects, "p", SIGTERM));
  CHECK(table.find("p")->stage == stop_stage::terminated);
  REQUIRE(stop.effects.escalations.size() == 1);
  CHECK(stop.effects.escalations[0].second == stop_stage::terminated);
}

TEST_CASE_FIXTURE(fixture, "PT-4 stale, forged or late escalation timers "
                           "change nothing") {
  running({proc("p"), proc("idle", 1)});
  table.stop({"p"}, "bye");
  table.escalate("p", stop_stage::asked); // now terminated
  CHECK(table.escalate("p", stop_stage::asked).empty());
  CHECK(table.escalate("p", stop_stage::killed).empty());
  CHECK(table.find("p")->stage == stop_stage::terminated);
  // No timer is ever set for stage none: one must not stop a running proc.
  CHECK(table.escalate("idle", stop_stage::none).empty());
  CHECK(table.escalate("idle", stop_stage::asked).empty());
  CHECK(status("idle") == proc_status::running);
  CHECK(table.escalate("ghost", stop_stage::asked).empty());
  table.exited("p", 0, std::nullopt, "");
  CHECK(table.escalate("p", stop_stage::terminated).empty());
}

TEST_CASE_FIXTURE(fixture, "PT-4 a proc already being stopped is not asked "
                           "again") {
  running({proc("p")});
  table.stop({"p"}, "first");
  auto again = table.stop({"p"}, "second");
  CHECK(again.effects.polite_stops.empty());
  CHECK(again.effects.signals.empty());
  CHECK(again.effects.escalations.empty());
  CHECK(again.effects.stops_done.empty());
  auto fx = table.exited("p", 0, std::nullopt, "");
  // Both stops complete with that one exit.
  CHECK(fx.stops_done.size() == 2);
}

// -- PT-5
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-5 a stop completes once, when the last proc "
                           "exits, counting each by its last step") {
  running({proc("polite"), proc("term", 1), proc("kill", 2), proc("gone", 3)});
  table.exited("gone", 0, std::nullopt, "");
  auto stop = table.stop({"polite", "term", "kill", "gone", "ghost"}, "bye");
  CHECK(stop.effects.stops_done.empty());
  table.escalate("term", stop_stage::asked);
  table.escalate("kill", stop_stage::asked);
  table.escalate("kill", stop_stage::terminated);
  CHECK(table.exited("polite", 0, std::nullopt, "").stops_done.empty());
  CHECK(table.exited("term", std::nullopt, SIGTERM, "").stops_done.empty());
  auto last = table.exited("kill", std::nullopt, SIGKILL, "");
  REQUIRE(last.stops_done.size() == 1);
  CHECK(last.stops_done[0].id == stop.id);
  CHECK_FALSE(last.stops_done[0].quit_after);
  auto& s = last.stops_done[0].summary;
  CHECK(s.stopped_politely == 1);
  CHECK(s.terminated == 1);
  CHECK(s.killed == 1);
  CHECK(s.already_gone == 1);
  CHECK(s.hosts == 1);
  CHECK(s.failures.empty());
  // Later events do not complete it again.
  CHECK(table.exited("kill", 0, std::nullopt, "").stops_done.empty());
}

TEST_CASE_FIXTURE(fixture, "PT-5 a stop of nothing completes at once") {
  auto stop = table.stop({}, "bye");
  REQUIRE(stop.effects.stops_done.size() == 1);
  CHECK(stop.effects.stops_done[0].id == stop.id);
  CHECK(stop.effects.stops_done[0].summary.total() == 0);
  CHECK(stop.effects.stops_done[0].summary.hosts == 1);
}

TEST_CASE_FIXTURE(fixture, "PT-5 a proc that fails to launch during a stop "
                           "settles it") {
  table.spawn({proc("p")});
  auto stop = table.stop({"p"}, "bye");
  auto fx = table.launch_failed("p", "fork failed");
  REQUIRE(fx.stops_done.size() == 1);
  CHECK(fx.stops_done[0].id == stop.id);
  CHECK(fx.stops_done[0].summary.terminated == 1);
  CHECK(status("p") == proc_status::failed);
}

// -- PT-6
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-6 a spawn completes when no proc is "
                           "initializing, in request order") {
  auto started = table.spawn({proc("b", 1), proc("a", 0)});
  CHECK(started.to_launch == std::vector<std::string>{"b", "a"});
  CHECK(started.effects.spawns_done.empty());
  CHECK(table.register_proc(registration("a"))->spawns_done.empty());
  auto fx = table.exited("b", 1, std::nullopt, "");
  REQUIRE(fx.spawns_done.size() == 1);
  auto& done = fx.spawns_done[0];
  CHECK(done.id == started.id);
  REQUIRE(done.procs.size() == 2);
  CHECK(done.procs[0].state.proc_name == "b");
  CHECK(done.procs[0].state.status == proc_status::failed);
  CHECK(done.procs[1].state.proc_name == "a");
  CHECK(done.procs[1].state.status == proc_status::running);
  CHECK(done.procs[1].address == "127.0.0.1:5000");
  CHECK(done.procs[1].state.host == "127.0.0.1:4000");
  // Exactly once.
  CHECK(table.exited("a", 0, std::nullopt, "").spawns_done.empty());
}

TEST_CASE_FIXTURE(fixture, "PT-6 a proc that cannot be launched fails at "
                           "once, but its spawn waits for the others") {
  auto bad = proc("x");
  bad.error = "no bootstrap command for rank 0";
  auto started = table.spawn({bad, proc("y", 1)});
  CHECK(started.to_launch == std::vector<std::string>{"y"});
  CHECK(status("x") == proc_status::failed);
  CHECK(table.find("x")->reason == "no bootstrap command for rank 0");
  CHECK(table.find("x")->exited);
  CHECK(started.effects.spawns_done.empty());
  auto fx = table.register_proc(registration("y"));
  REQUIRE(fx);
  REQUIRE(fx->spawns_done.size() == 1);
  CHECK(fx->spawns_done[0].procs.size() == 2);
}

TEST_CASE_FIXTURE(fixture, "PT-6 a spawn of procs that all fail completes "
                           "at once") {
  auto bad = proc("x");
  bad.error = "no command";
  auto started = table.spawn({bad});
  REQUIRE(started.effects.spawns_done.size() == 1);
  CHECK(started.effects.spawns_done[0].id == started.id);
  table.spawn({proc("z")});
  auto fx = table.launch_failed("z", "fork failed");
  REQUIRE(fx.spawns_done.size() == 1);
  CHECK(fx.spawns_done[0].procs[0].state.reason == "fork failed");
}

TEST_CASE_FIXTURE(fixture, "PT-6 launched arms the handshake deadline only "
                           "when there is one") {
  auto timed = proc("t");
  timed.record.ready_timeout = std::chrono::milliseconds{1500};
  table.spawn({timed, proc("u", 1)});
  auto fx = table.launched("t", 11);
  REQUIRE(fx.ready_timers.size() == 1);
  CHECK(fx.ready_timers[0].second == std::chrono::milliseconds{1500});
  CHECK(table.find("t")->pid == 11);
  CHECK(table.launched("u", 12).ready_timers.empty());
  CHECK(table.launched("ghost", 13).empty());
}

// -- PT-7
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-7 a waiter is answered at once if the status "
                           "is reached") {
  running({proc("p")});
  auto w = table.wait("p", proc_status::running, 5);
  REQUIRE(w.now);
  CHECK(w.now->rank == 5);
  CHECK(w.now->state.status == proc_status::running);
}

TEST_CASE_FIXTURE(fixture, "PT-7 a waiter is answered once, when its proc "
                           "reaches at least its status") {
  table.spawn({proc("p")});
  auto running_w = table.wait("p", proc_status::running, 1);
  auto stopped_w = table.wait("p", proc_status::stopped, 2);
  auto early = table.wait("not-yet", proc_status::running, 3);
  CHECK_FALSE(running_w.now);
  CHECK_FALSE(stopped_w.now);
  CHECK_FALSE(early.now);
  auto fx = *table.register_proc(registration("p"));
  REQUIRE(fx.answers.size() == 1);
  CHECK(fx.answers[0].id == running_w.id);
  CHECK(fx.answers[0].rank == 1);
  // failed > stopped: "at least" is satisfied by a higher status.
  auto end = table.exited("p", 1, std::nullopt, "");
  REQUIRE(end.answers.size() == 1);
  CHECK(end.answers[0].id == stopped_w.id);
  CHECK(end.answers[0].state.status == proc_status::failed);
  // A waiter for a proc spawned later.
  table.spawn({proc("not-yet", 3)});
  auto later = table.register_proc(registration("not-yet"));
  REQUIRE(later->answers.size() == 1);
  CHECK(later->answers[0].id == early.id);
}

TEST_CASE_FIXTURE(fixture, "PT-7 waiters still pending when the host's "
                           "shutdown completes are dropped") {
  running({proc("p")});
  auto w = table.wait("p", proc_status::timeout, 0);
  auto shut = table.shutdown();
  CHECK(shut.effects.stops_done.empty());
  auto fx = table.exited("p", 0, std::nullopt, "");
  REQUIRE(fx.stops_done.size() == 1);
  CHECK(fx.stops_done[0].quit_after);
  CHECK(fx.waiters_dropped == std::vector<waiter_id>{w.id});
  CHECK(fx.answers.empty());
}

// -- PT-8
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-8 each status change reaches the subscribers "
                           "of its mesh once") {
  auto all = table.subscribe("");
  auto of_m = table.subscribe("m");
  auto of_other = table.subscribe("other");
  auto started = table.spawn({proc("p")});
  CHECK(started.effects.events.empty()); // initializing is where it starts
  auto reg = *table.register_proc(registration("p"));
  auto stop = table.stop({"p"}, "bye");
  auto exit = table.exited("p", 0, std::nullopt, "");
  for (auto id : {all, of_m}) {
    CHECK(statuses_for(reg, id) ==
          std::vector<proc_status>{proc_status::running});
    CHECK(statuses_for(stop.effects, id) ==
          std::vector<proc_status>{proc_status::stopping});
    CHECK(statuses_for(exit, id) ==
          std::vector<proc_status>{proc_status::stopped});
  }
  CHECK(statuses_for(reg, of_other).empty());
  CHECK(statuses_for(exit, of_other).empty());
  auto& ev = exit.events.front().second;
  CHECK(ev.proc_name == "p");
  CHECK(ev.exit_code == 0);
  CHECK(ev.reason == "bye");
}

TEST_CASE_FIXTURE(fixture, "PT-8 an unsubscribed actor gets nothing") {
  auto id = table.subscribe("");
  table.unsubscribe(id);
  table.spawn({proc("p")});
  CHECK(table.register_proc(registration("p"))->events.empty());
}

TEST_CASE_FIXTURE(fixture, "PT-8 an actor failure is an event naming the "
                           "actor; the proc's status does not change") {
  auto id = table.subscribe("m");
  running({proc("p", 4)});
  auto fx = table.actor_failed("p", "workers", "am-1", "it threw");
  REQUIRE(fx.events.size() == 1);
  CHECK(fx.events[0].first == id);
  auto& ev = fx.events[0].second;
  CHECK(ev.rank == 4);
  CHECK(ev.status == proc_status::failed);
  CHECK(ev.actor == "workers");
  CHECK(ev.actor_mesh == "am-1");
  CHECK(ev.reason == "actor 'workers' failed: it threw");
  CHECK(status("p") == proc_status::running);
  CHECK(table.actor_failed("ghost", "w", "am", "x").empty());
}

// -- PT-9
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-9 drain forgets the procs of its host mesh "
                           "once they exited; stop_procs keeps them") {
  running({proc("a", 0, "m", "h1"), proc("b", 1, "m", "h2"),
           proc("c", 2, "m", "h1")});
  table.exited("c", 0, std::nullopt, "");
  auto drain = table.drain("h1");
  CHECK(drain.effects.forgotten == std::vector<std::string>{"c"});
  CHECK(table.find("a") != nullptr);
  auto fx = table.exited("a", 0, std::nullopt, "");
  CHECK(fx.forgotten == std::vector<std::string>{"a"});
  REQUIRE(fx.stops_done.size() == 1);
  CHECK(fx.stops_done[0].summary.stopped_politely == 1);
  CHECK(fx.stops_done[0].summary.already_gone == 1);
  CHECK(table.names() == std::vector<std::string>{"b"});
  table.stop({"b"}, "bye");
  CHECK(table.exited("b", 0, std::nullopt, "").forgotten.empty());
  CHECK(table.find("b") != nullptr);
}

TEST_CASE_FIXTURE(fixture, "PT-9 a forgotten name can be spawned again; a "
                           "known one is not launched twice") {
  running({proc("p")});
  auto again = table.spawn({proc("p")});
  CHECK(again.to_launch.empty());
  // Counted in that spawn all the same, which is complete: p is running.
  REQUIRE(again.effects.spawns_done.size() == 1);
  CHECK(again.effects.spawns_done[0].procs.size() == 1);
  table.drain("");
  table.exited("p", 0, std::nullopt, "");
  CHECK(table.find("p") == nullptr);
  auto fresh = table.spawn({proc("p")});
  CHECK(fresh.to_launch == std::vector<std::string>{"p"});
  CHECK(status("p") == proc_status::initializing);
}

TEST_CASE_FIXTURE(fixture, "PT-9 a proc that could not be stopped is not "
                           "forgotten") {
  running({proc("p")});
  table.drain("");
  table.escalate("p", stop_stage::asked);
  table.escalate("p", stop_stage::terminated);
  auto fx = table.escalate("p", stop_stage::killed);
  CHECK(fx.forgotten.empty());
  REQUIRE(fx.stops_done.size() == 1);
  CHECK(fx.stops_done[0].summary.failures.size() == 1);
  CHECK(table.find("p") != nullptr);
}

TEST_CASE_FIXTURE(fixture, "PT-9 shutdown stops and forgets everything and "
                           "says the host quits after") {
  running({proc("a", 0, "m", "h1"), proc("b", 1, "n", "h2")});
  auto shut = table.shutdown();
  CHECK(shut.effects.polite_stops.size() == 2);
  table.exited("a", 0, std::nullopt, "");
  auto fx = table.exited("b", 0, std::nullopt, "");
  REQUIRE(fx.stops_done.size() == 1);
  CHECK(fx.stops_done[0].quit_after);
  CHECK(fx.stops_done[0].summary.stopped_politely == 2);
  CHECK(table.size() == 0);
}

TEST_CASE_FIXTURE(fixture, "PT-9 shutdown of an empty host completes at "
                           "once") {
  auto shut = table.shutdown();
  REQUIRE(shut.effects.stops_done.size() == 1);
  CHECK(shut.effects.stops_done[0].quit_after);
}

// -- PT-10
// ----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-10 a missed handshake deadline times the proc "
                           "out and kills it") {
  table.spawn({proc("p")});
  auto w = table.wait("p", proc_status::running, 0);
  auto fx = table.ready_timeout("p", "did not complete the handshake");
  CHECK(status("p") == proc_status::timeout);
  CHECK(table.find("p")->reason == "did not complete the handshake");
  CHECK(has_signal(fx, "p", SIGKILL));
  CHECK(table.find("p")->stage == stop_stage::killed);
  REQUIRE(fx.answers.size() == 1);
  CHECK(fx.answers[0].id == w.id);
  REQUIRE(fx.spawns_done.size() == 1);
  // Its exit changes the status no more.
  table.exited("p", std::nullopt, SIGKILL, "");
  CHECK(status("p") == proc_status::timeout);
}

TEST_CASE_FIXTURE(fixture, "PT-10 a deadline after the handshake changes "
                           "nothing") {
  running({proc("p")});
  CHECK(table.ready_timeout("p", "late").empty());
  CHECK(status("p") == proc_status::running);
  CHECK(table.find("p")->stage == stop_stage::none);
  CHECK(table.ready_timeout("ghost", "late").empty());
}

// -- PT-11
// ----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-11 the stderr tail keeps the last lines and "
                           "output is forwarded only when on") {
  auto sub = table.subscribe("m");
  auto quiet = proc("quiet", 1);
  quiet.record.forward_logs = false;
  auto loud = proc("loud", 2);
  loud.record.tail_limit = 2;
  table.spawn({quiet, loud});
  for (auto line : {"1", "2", "3"})
    table.output("loud", true, line);
  table.output("loud", false, "stdout is not in the tail");
  auto route = table.output("loud", true, "4");
  REQUIRE(route);
  CHECK(route->rank == 2);
  CHECK(route->to == std::vector<subscriber_id>{sub});
  auto& tail = table.find("loud")->stderr_tail;
  CHECK(std::vector<std::string>(tail.begin(), tail.end()) ==
        std::vector<std::string>{"3", "4"});
  auto silent = table.output("quiet", true, "x");
  REQUIRE(silent);
  CHECK(silent->to.empty());
  CHECK(table.find("quiet")->stderr_tail.size() == 1);
  CHECK_FALSE(table.output("ghost", true, "x"));
}

// -- queries
// --------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "states are sorted by rank, and an unknown name "
                           "is not_exist on this host") {
  table.spawn({proc("c", 2), proc("a", 0, "other"), proc("b", 1)});
  auto of_m = table.states("m", {});
  REQUIRE(of_m.size() == 2);
  CHECK(of_m[0].proc_name == "b");
  CHECK(of_m[1].proc_name == "c");
  auto named = table.states("", {"ghost", "a"});
  REQUIRE(named.size() == 2);
  CHECK(named[0].proc_name == "ghost");
  CHECK(named[0].status == proc_status::not_exist);
  CHECK(named[0].host == "127.0.0.1:4000");
  CHECK(named[1].proc_name == "a");
  CHECK(table.names_of("", {}).size() == 3);
  CHECK(table.names_of("m", {"x"}) == std::vector<std::string>{"x"});
}

TEST_CASE("stop stages are named") {
  CHECK(to_string(stop_stage::none) == "none");
  CHECK(to_string(stop_stage::asked) == "asked");
  CHECK(to_string(stop_stage::terminated) == "terminated");
  CHECK(to_string(stop_stage::killed) == "killed");
}

// -- PT-12
// -----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-12 at most terminate_concurrency procs are "
                           "stopped at once, the rest start in order as "
                           "slots free up") {
  running({proc("a"), proc("b", 1), proc("c", 2), proc("d", 3)});
  table.set_terminate_concurrency(2);
  auto stop = table.stop({"a", "b", "c", "d"}, "bye");
  // Two are asked; all four report stopping at once.
  REQUIRE(stop.effects.polite_stops.size() == 2);
  CHECK(stop.effects.polite_stops[0].first == "a");
  CHECK(stop.effects.polite_stops[1].first == "b");
  CHECK(stop.effects.escalations.size() == 2);
  for (auto* name : {"a", "b", "c", "d"})
    CHECK(status(name) == proc_status::stopping);
  CHECK(table.find("c")->stage == stop_stage::none);
  // A waiting proc's escalation timer does not exist, so none can act.
  CHECK(table.escalate("c", stop_stage::asked).empty());
  // a exits: c takes its slot.
  auto fx = table.exited("a", 0, std::nullopt, "");
  REQUIRE(fx.polite_stops.size() == 1);
  CHECK(fx.polite_stops[0].first == "c");
  CHECK(table.find("c")->stage == stop_stage::asked);
  // b is given up on after SIGKILL: that frees a slot for d too.
  table.escalate("b", stop_stage::asked);
  table.escalate("b", stop_stage::terminated);
  auto given_up = table.escalate("b", stop_stage::killed);
  REQUIRE(given_up.polite_stops.size() == 1);
  CHECK(given_up.polite_stops[0].first == "d");
  table.exited("c", 0, std::nullopt, "");
  auto last = table.exited("d", 0, std::nullopt, "");
  REQUIRE(last.stops_done.size() == 1);
  CHECK(last.stops_done[0].summary.stopped_politely == 3);
  CHECK(last.stops_done[0].summary.failures.size() == 1);
}

TEST_CASE_FIXTURE(fixture, "PT-12 a waiting proc that exits on its own frees "
                           "nothing and is not asked; 0 means no limit") {
  running({proc("a"), proc("b", 1), proc("c", 2)});
  table.set_terminate_concurrency(1);
  auto stop = table.stop({"a", "b", "c"}, "bye");
  REQUIRE(stop.effects.polite_stops.size() == 1);
  // b dies while it waits: counted as stopped, no slot was its.
  auto fx = table.exited("b", 0, std::nullopt, "");
  CHECK(fx.polite_stops.empty());
  CHECK(status("b") == proc_status::stopped);
  // a exits: c (not b) is asked next.
  fx = table.exited("a", 0, std::nullopt, "");
  REQUIRE(fx.polite_stops.size() == 1);
  CHECK(fx.polite_stops[0].first == "c");
  CHECK(table.exited("c", 0, std::nullopt, "").stops_done.size() == 1);
  // Without a limit every proc of a stop is asked at once.
  running({proc("x", 3), proc("y", 4), proc("z", 5)});
  table.set_terminate_concurrency(0);
  CHECK(table.stop({"x", "y", "z"}, "bye").effects.polite_stops.size() == 3);
}

// -- PT-13
// ----------------------------------------------------------------------

TEST_CASE_FIXTURE(fixture, "PT-13 a running proc whose connection was lost "
                           "fails, is SIGKILLed, and its exit does not "
                           "change that") {
  auto sub = table.subscribe("m");
  running({proc("p", 3), proc("q", 4)});
  table.output("p", true, "last words");
  auto w = table.wait("p", proc_status::stopped, 3);
  auto fx = table.lost("p", "unresponsive for 2s");
  CHECK(status("p") == proc_status::failed);
  CHECK(table.find("p")->reason == "unresponsive for 2s");
  CHECK(has_signal(fx, "p", SIGKILL));
  CHECK(fx.signals.size() == 1);
  CHECK(table.find("p")->stage == stop_stage::killed);
  // Bounded like any SIGKILL (PT-4): the timer of stage killed is set.
  CHECK(fx.escalations
        == std::vector<std::pair<std::string, stop_stage>>{
          {"p", stop_stage::killed}});
  REQUIRE(fx.events.size() == 1);
  CHECK(fx.events[0].first == sub);
  auto& ev = fx.events[0].second;
  CHECK(ev.rank == 3);
  CHECK(ev.status == proc_status::failed);
  CHECK(ev.reason == "unresponsive for 2s");
  CHECK(ev.host == "127.0.0.1:4000");
  CHECK(ev.stderr_tail == std::vector<std::string>{"last words"});
  REQUIRE(fx.answers.size() == 1);
  CHECK(fx.answers[0].id == w.id);
  // The others are untouched.
  CHECK(status("q") == proc_status::running);
  // Its SIGKILL is reaped: recorded, but it stays failed for the first
  // reason; a second loss or a late deadline changes nothing.
  auto exit = table.exited("p", std::nullopt, SIGKILL, "");
  CHECK(exit.events.empty());
  CHECK(status("p") == proc_status::failed);
  CHECK(table.find("p")->reason == "unresponsive for 2s");
  CHECK(table.find("p")->signal == SIGKILL);
  CHECK(table.find("p")->exited);
  CHECK(table.lost("p", "again").empty());
  CHECK(table.ready_timeout("p", "late").empty());
  CHECK(table.escalate("p", stop_stage::killed).empty());
  CHECK(status("p") == proc_status::failed);
}

TEST_CASE_FIXTURE(fixture, "PT-13 a loss changes nothing for a proc that "
                           "exited, is being stopped, never registered or "
                           "is unknown") {
  running({proc("gone"), proc("leaving", 1)});
  table.spawn({proc("young", 2)});
  table.exited("gone", 3, std::nullopt, "");
  table.stop({"leaving"}, "bye");
  for (auto* name : {"gone", "leaving", "young", "ghost"}) {
    CAPTURE(name);
    CHECK(table.lost(name, "lost").empty());
  }
  CHECK(status("gone") == proc_status::failed);
  CHECK(table.find("gone")->reason == "exited with code 3");
  CHECK(status("leaving") == proc_status::stopping);
  CHECK(table.find("leaving")->stage == stop_stage::asked);
  CHECK(status("young") == proc_status::initializing);
}

TEST_CASE_FIXTURE(fixture, "PT-13 a stop of a lost proc waits for its exit "
                           "and counts it as SIGKILLed, or gives it up after "
                           "the kill timer") {
  running({proc("a"), proc("b", 1)});
  table.lost("a", "lost");
  table.lost("b", "lost");
  auto stop = table.stop({"a", "b"}, "bye");
  // Already SIGKILLed: neither asked nor signalled again.
  CHECK(stop.effects.polite_stops.empty());
  CHECK(stop.effects.signals.empty());
  CHECK(stop.effects.stops_done.empty());
  CHECK(status("a") == proc_status::failed);
  table.exited("a", std::nullopt, SIGKILL, "");
  auto fx = table.escalate("b", stop_stage::killed);
  REQUIRE(fx.stops_done.size() == 1);
  auto& summary = fx.stops_done[0].summary;
  CHECK(summary.killed == 1);
  REQUIRE(summary.failures.size() == 1);
  CHECK(summary.failures[0].find("did not exit after SIGKILL")
        != std::string::npos);
}
