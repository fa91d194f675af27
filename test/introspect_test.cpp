// Introspection (issue 15): the /proc parsers (bootstrap/proc_stats.hpp),
// the proc agent's mailbox sampling (actors/proc_agent.hpp), and the tree
// that mesh::introspect and its async twin bring back from real meshes of
// real child procs (test/mesh_child).
#include "actors/proc_agent.hpp"
#include "bootstrap/proc_stats.hpp"
#include "mesh/async.hpp"
#include "mesh/introspect.hpp"
#include "support/actor_fixture.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <algorithm>
#include <future>
#include <limits>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace mesh;
namespace bs = mesh::bootstrap;

namespace {

// ---------------------------------------------------------------------------
// /proc/<pid>/stat and statm: literal texts
// ---------------------------------------------------------------------------

/// A stat line with `comm` and fields 3.. as the kernel writes them
/// (utime 1234, stime 567, 7 threads, starttime 98765).
std::string stat_line(const std::string& comm) {
  return "4242 (" + comm +
         ") S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 7 0 "
         "98765 123456789 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 "
         "17 1 0 0 0 0 0\n";
}

std::string error_text(const caf::error& err) {
  return mesh::to_string(err);
}

} // namespace

TEST_CASE("parse_proc_stat reads state, CPU ticks, threads and start time") {
  auto st = bs::parse_proc_stat(stat_line("mesh_child"));
  REQUIRE_MESSAGE(st, error_text(st.error()));
  CHECK(st->state == 'S');
  CHECK(st->utime_ticks == 1234);
  CHECK(st->stime_ticks == 567);
  CHECK(st->num_threads == 7);
  CHECK(st->starttime_ticks == 98765);
}

TEST_CASE("parse_proc_stat parses from the last ')' of a hostile comm") {
  for (std::string comm : {"a b", "x) R 9 9 9", "((", ")", "a) (b) c",
                           "14 15 16 17 18 19 20"}) {
    auto st = bs::parse_proc_stat(stat_line(comm));
    REQUIRE_MESSAGE(st, (comm + ": " + error_text(st.error())));
    CHECK(st->state == 'S');
    CHECK(st->utime_ticks == 1234);
    CHECK(st->num_threads == 7);
  }
}

TEST_CASE("parse_proc_stat refuses truncated and malformed text clearly") {
  auto full = stat_line("sh");
  // Cut after each field in turn, up to field 21: all are errors.
  auto after_comm = full.find(')') + 1;
  size_t cut_count = 0;
  for (size_t pos = after_comm; pos < full.size(); ++pos) {
    if (full[pos] != ' ')
      continue;
    auto st = bs::parse_proc_stat(full.substr(0, pos));
    auto fields = static_cast<size_t>(
      std::count(full.begin() + after_comm, full.begin() + pos, ' '));
    // `fields` fields (3..) before this space; field 22 is the 20th.
    if (fields < 20) {
      ++cut_count;
      REQUIRE_FALSE(st);
      CHECK(error_text(st.error()).find("/proc/<pid>/stat") !=
            std::string::npos);
    }
  }
  CHECK(cut_count == 20);
  auto bad = [](std::string text, std::string what) {
    auto st = bs::parse_proc_stat(text);
    REQUIRE_FALSE_MESSAGE(st, ("accepted: " + text));
    CHECK_MESSAGE(error_text(st.error()).find(what) != std::string::npos,
                  error_text(st.error()));
  };
  bad("", "no '(comm)'");
  bad("garbage", "no '(comm)'");
  bad("42 (sh", "no '(comm)'");
  bad("42 sh) S", "no '(comm)'");
  bad("(sh) S 1", "pid");
  bad("x42 (sh) S 1", "pid");
  bad("42 (sh)", "truncated");
  bad("42 (sh)S 1 2", "truncated");
  auto with = [&](size_t field, const std::string& value) {
    // Field `field` (3..) of the full line replaced by `value`.
    std::string line = full.substr(0, after_comm);
    auto rest = full.substr(after_comm + 1);
    size_t f = 3;
    size_t start = 0;
    while (start < rest.size()) {
      auto end = rest.find_first_of(" \n", start);
      auto token = rest.substr(start, end - start);
      line += " " + (f == field ? value : token);
      ++f;
      if (end == std::string::npos || rest[end] == '\n')
        break;
      start = end + 1;
    }
    return line + "\n";
  };
  bad(with(3, "SS"), "state");
  bad(with(14, "12a"), "field 14");
  bad(with(15, "-5"), "field 15");
  bad(with(20, ""), "empty field");
  bad(with(22, "99999999999999999999"), "field 22");   // > uint64
  bad(with(14, "9223372036854775808"), "field 14");    // INT64_MAX + 1
  auto max = bs::parse_proc_stat(with(14, "9223372036854775807"));
  REQUIRE(max);
  CHECK(max->utime_ticks == std::numeric_limits<int64_t>::max());
  // Binary junk never crashes.
  std::string junk = "1 (\x01\xff)";
  junk += std::string(3, '\0');
  CHECK_FALSE(bs::parse_proc_stat(junk));
}

TEST_CASE("parse_statm_rss is resident pages times the page size") {
  auto rss = bs::parse_statm_rss("5000 250 30 10 0 200 0\n", 4096);
  REQUIRE(rss);
  CHECK(*rss == 250 * 4096);
  for (std::string text : {"", "5000", "5000\n", "a 250", "5000 x 1",
                           "5000  250", "5000 -1 1"})
    CHECK_FALSE_MESSAGE(bs::parse_statm_rss(text, 4096), text);
  auto huge = bs::parse_statm_rss("1 9223372036854775807 1", 4096);
  REQUIRE_FALSE(huge);
  CHECK(error_text(huge.error()).find("overflow") != std::string::npos);
  CHECK_FALSE(bs::parse_statm_rss("1 2 3", 0));
}

TEST_CASE("ticks_to_ms does not overflow") {
  CHECK(bs::ticks_to_ms(100, 100) == 1000);
  CHECK(bs::ticks_to_ms(1, 100) == 10);
  CHECK(bs::ticks_to_ms(0, 100) == 0);
  CHECK(bs::ticks_to_ms(5, 0) == 0);
  constexpr auto max = std::numeric_limits<int64_t>::max();
  CHECK(bs::ticks_to_ms(max / 1000 * 1000 - 1000, 1000) ==
        max / 1000 * 1000 - 1000);
  // Saturates where the milliseconds no longer fit (found by the fuzzer).
  CHECK(bs::ticks_to_ms(max, 1000) == max);
  CHECK(bs::ticks_to_ms(max, 100) == max);
  CHECK(bs::ticks_to_ms(9876544073709123, 1) == max);
}

TEST_CASE("sample_self and sample_process read a live process") {
  auto self = bs::sample_self();
  REQUIRE_MESSAGE(self, error_text(self.error()));
  CHECK(self->rss_bytes > 0);
  CHECK(self->threads >= 1);
  CHECK(self->open_fds >= 3); // doctest's stdin, stdout, stderr at least
  CHECK(self->cpu_time_ms >= 0);
  auto mine = bs::sample_process(::getpid());
  REQUIRE(mine);
  CHECK(mine->rss_bytes > 0);
  CHECK(mine->threads == self->threads);
  CHECK(mine->open_fds == self->open_fds);
  CHECK_FALSE(bs::sample_process(0));
  CHECK_FALSE(bs::sample_process(-3));
  // Above any pid_max (2^22): no such process.
  auto gone = bs::sample_process(int64_t{1} << 40);
  REQUIRE_FALSE(gone);
  CHECK(error_text(gone.error()).find("/proc/") != std::string::npos);
}

// ---------------------------------------------------------------------------
// The proc agent's mailbox sampling, in a one-worker system of this process
// ---------------------------------------------------------------------------

namespace {

struct workers_config : test::test_config {
  explicit workers_config(size_t n) { set("scheduler.max-threads", n); }
};

using sample_atom = caf::atom_constant<caf::atom("sample")>;

/// An actor that answers ints; counts what it handled.
caf::behavior counting(caf::event_based_actor*) {
  return {[](int32_t x) { return x; }};
}

/// Sent `n` messages to a sibling it just spawned (which has not run: the
/// one worker runs us), then samples it.
caf::behavior sampler(caf::event_based_actor* self) {
  return {[self](sample_atom, int32_t n) {
    auto sibling = self->spawn(counting);
    int64_t before = sample_mailbox_depth(self->system(), sibling);
    for (int32_t i = 0; i < n; ++i)
      caf::anon_send(sibling, i);
    int64_t after = sample_mailbox_depth(self->system(), sibling);
    self->send_exit(sibling, caf::exit_reason::user_shutdown);
    return std::vector<int64_t>{before, after};
  }};
}

/// Samples a sibling that has run and is idle (its mailbox blocked), then
/// asks it again: it must still be woken by the next message.
caf::behavior blocked_sampler(caf::event_based_actor* self) {
  return {[self](sample_atom) {
    auto rp = self->make_response_promise();
    auto sibling = self->spawn(counting);
    self->request(sibling, 10s, int32_t{1})
      .then(
        [self, rp, sibling](int32_t) mutable {
          // The sibling replied and its resume ended: with one worker it
          // blocked its mailbox before we run.
          auto* sched = dynamic_cast<caf::scheduled_actor*>(
            caf::actor_cast<caf::abstract_actor*>(sibling));
          bool blocked_before = sched->mailbox().blocked();
          auto depth = sample_mailbox_depth(self->system(), sibling);
          bool blocked_after = sched->mailbox().blocked();
          self->request(sibling, 10s, int32_t{2})
            .then(
              [=](int32_t second) mutable {
                rp.deliver(std::vector<int64_t>{blocked_before, depth,
                                                blocked_after, second});
                self->send_exit(sibling, caf::exit_reason::user_shutdown);
              },
              [=](caf::error& err) mutable { rp.deliver(err); });
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
    return rp;
  }};
}

template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const caf::actor& who,
                     Ts... xs) {
  caf::expected<T> result{caf::sec::runtime_error};
  caf::scoped_actor self{sys};
  self->request(who, 20s, xs...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

TEST_CASE("sample_mailbox_depth counts waiting messages with one worker") {
  workers_config cfg{1};
  caf::actor_system sys{cfg};
  auto s = sys.spawn(sampler);
  auto res = ask<std::vector<int64_t>>(sys, s, sample_atom::value, int32_t{5});
  REQUIRE_MESSAGE(res, sys.render(res.error()));
  CHECK((*res)[0] == 0);
  CHECK((*res)[1] == 5);
  caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

TEST_CASE("sampling an idle actor leaves its mailbox blocked: it still wakes "
          "up for the next message") {
  workers_config cfg{1};
  caf::actor_system sys{cfg};
  auto s = sys.spawn(blocked_sampler);
  auto res = ask<std::vector<int64_t>>(sys, s, sample_atom::value);
  REQUIRE_MESSAGE(res, sys.render(res.error()));
  CHECK((*res)[0] == 1); // blocked when sampled
  CHECK((*res)[1] == 0); // idle: depth 0
  CHECK((*res)[2] == 1); // still blocked: its wake-up not lost
  CHECK((*res)[3] == 2); // and it answered the next request
  caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

TEST_CASE("sample_mailbox_depth is -1 with several workers or a detached "
          "actor") {
  {
    workers_config cfg{2};
    caf::actor_system sys{cfg};
    auto s = sys.spawn(sampler);
    auto res =
      ask<std::vector<int64_t>>(sys, s, sample_atom::value, int32_t{3});
    REQUIRE(res);
    CHECK((*res)[0] == -1);
    CHECK((*res)[1] == -1);
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }
  workers_config cfg{1};
  caf::actor_system sys{cfg};
  auto detached = sys.spawn<caf::detached>(counting);
  auto probe = sys.spawn([detached](caf::event_based_actor* self) {
    return caf::behavior{[self, detached](sample_atom) {
      return sample_mailbox_depth(self->system(), detached);
    }};
  });
  auto res = ask<int64_t>(sys, probe, sample_atom::value);
  REQUIRE(res);
  CHECK(*res == -1);
  CHECK(sample_mailbox_depth(sys, caf::actor{}) == -1);
  caf::anon_send_exit(probe, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(detached, caf::exit_reason::user_shutdown);
}

// ---------------------------------------------------------------------------
// Real meshes
// ---------------------------------------------------------------------------

namespace {

using mesh::test::child_command;

using mesh::test::alive;

const config_entry* entry(const host_snapshot& h, const std::string& key) {
  for (auto& e : h.config)
    if (e.key == key)
      return &e;
  return nullptr;
}

/// Introspects until `done(snapshot)` or about 20 s passed (a bounded wait
/// for what the host learns asynchronously, not a timed assertion).
caf::expected<mesh_snapshot>
introspect_until(const host_mesh_ref& hosts,
                 const std::function<bool(const mesh_snapshot&)>& done,
                 duration deadline = 2s) {
  caf::expected<mesh_snapshot> snap{caf::sec::runtime_error};
  for (int i = 0; i < 200; ++i) {
    snap = introspect(hosts, deadline);
    if (snap && done(*snap))
      return snap;
    std::this_thread::sleep_for(100ms);
  }
  return snap;
}

uint64_t count_of(const host_snapshot& h, const std::string& status) {
  for (auto& [name, n] : h.procs_by_status)
    if (name == status)
      return n;
  return 0;
}

} // namespace

TEST_CASE_FIXTURE(test::actor_fixture,
                  "the tree of a local mesh: live procs, their figures and "
                  "actors, the host's config") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
  auto snap = introspect(*hosts, 5s);
  REQUIRE_MESSAGE(snap, mesh::to_string(snap.error()));
  CHECK(snap->id == hosts->id().to_string());
  CHECK(snap->owner_pid == ::getpid());
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  CHECK(snap->taken_at_ms > 0);
  CHECK(snap->taken_at_ms <= now_ms);
  REQUIRE(snap->hosts.size() == 1);
  auto& h = snap->hosts[0];
  CHECK(h.error.empty());
  CHECK(h.address == hosts->host_addrs()[0]);
  CHECK(h.pid == ::getpid()); // a local() host runs in this process
  CHECK(h.rss_bytes > 0);
  CHECK(h.cpu_time_ms >= 0);
  CHECK(h.uptime_ms >= 0);
  CHECK(count_of(h, "running") == 3);
  CHECK(h.procs_by_status.size() == 1);
  REQUIRE(h.procs.size() == 3);
  for (uint64_t r = 0; r < 3; ++r) {
    auto& p = h.procs[r];
    CAPTURE(r);
    CHECK(p.rank == r);
    CHECK(p.name == proc_name(pm->id(), r));
    CHECK(p.proc_mesh == pm->id().to_string());
    CHECK(p.host_mesh == hosts->id().to_string());
    CHECK(p.host == h.address);
    CHECK(p.status == proc_status::running);
    CHECK(alive(p.pid));
    CHECK(p.pid != ::getpid());
    CHECK(p.rss_bytes > 0);
    CHECK(p.threads >= 1);
    CHECK(p.open_fds > 0);
    CHECK(p.cpu_time_ms >= 0);
    CHECK(p.cpu_percent >= 0);
    CHECK(p.uptime_ms >= 0);
    CHECK(p.responsive);
    CHECK_FALSE(p.exit_code);
    CHECK_FALSE(p.signal);
    REQUIRE(p.actors.size() == 1);
    auto& a = p.actors[0];
    CHECK(a.name == "echoes");
    CHECK(a.actor_mesh == echoes->id().to_string());
    CHECK(a.type == "echo");
    CHECK(a.status == "running");
    // Procs run one scheduler thread: the depth is sampled (idle: 0).
    CHECK(a.mailbox_depth >= 0);
    CHECK(a.mesh_messages == 0);
    CHECK(a.last_failure.empty());
  }
  // Config: every key, with value, default, layer and env name.
  auto* call = entry(h, "call_timeout");
  REQUIRE(call != nullptr);
  CHECK(call->default_value == "30s");
  CHECK(call->env == "MESH_CALL_TIMEOUT");
  CHECK_FALSE(call->layer.empty());
  auto* term = entry(h, "terminate_timeout");
  REQUIRE(term != nullptr);
  // The fixture's override, polite_window(): "500ms", or whole seconds
  // ("3s") when the sanitizers scale it.
  auto ms = 500 * mesh::test::slowdown();
  CHECK(term->value == (ms % 1000 == 0 ? std::to_string(ms / 1000) + "s"
                                       : std::to_string(ms) + "ms"));
  CHECK(term->default_value == "10s");
  CHECK(term->layer == "test_override");
  CHECK(term->env == "MESH_TERMINATE_TIMEOUT");
  // A second round measures CPU since the first.
  auto again = introspect(*hosts, 5s);
  REQUIRE(again);
  REQUIRE(again->hosts[0].procs.size() == 3);
  CHECK(again->hosts[0].procs[0].cpu_percent >= 0);
  CHECK(again->hosts[0].procs[0].uptime_ms >= h.procs[0].uptime_ms);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "a killed proc shows failed with its signal; a failed actor "
                  "shows its reason") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto echoes = pm->spawn<caf::actor>("echoes", "echo");
  REQUIRE_MESSAGE(echoes, mesh::to_string(echoes.error()));
  auto first = introspect(*hosts, 5s);
  REQUIRE(first);
  REQUIRE(first->hosts[0].procs.size() == 2);
  auto victim = first->hosts[0].procs[1].pid;
  REQUIRE(alive(victim));
  // An actor of rank 0 fails; rank 1's process is killed.
  caf::anon_send(echoes->get(0), test::fail_atom::value);
  REQUIRE(::kill(static_cast<pid_t>(victim), SIGKILL) == 0);
  auto snap = introspect_until(*hosts, [](const mesh_snapshot& s) {
    auto& procs = s.hosts[0].procs;
    return procs.size() == 2 && procs[1].status == proc_status::failed &&
           !procs[0].actors.empty() && procs[0].actors[0].status == "failed";
  });
  REQUIRE_MESSAGE(snap, mesh::to_string(snap.error()));
  auto& h = snap->hosts[0];
  REQUIRE(h.procs.size() == 2);
  auto& dead = h.procs[1];
  CHECK(dead.status == proc_status::failed);
  REQUIRE(dead.signal);
  CHECK(*dead.signal == SIGKILL);
  CHECK_FALSE(dead.responsive);
  CHECK(dead.rss_bytes == -1);
  CHECK(dead.actors.empty());
  CHECK_FALSE(dead.reason.empty());
  CHECK(count_of(h, "failed") == 1);
  CHECK(count_of(h, "running") == 1);
  auto& live = h.procs[0];
  CHECK(live.status == proc_status::running);
  CHECK(live.responsive);
  REQUIRE(live.actors.size() == 1);
  CHECK(live.actors[0].status == "failed");
  CHECK(live.actors[0].type == "echo");
  CHECK(live.actors[0].name == "echoes");
  CHECK_MESSAGE(live.actors[0].last_failure.find("echo failed on request") !=
                  std::string::npos,
                live.actors[0].last_failure);
  // An exited proc's uptime stops at its exit.
  auto later = introspect(*hosts, 5s);
  REQUIRE(later);
  CHECK(later->hosts[0].procs[1].uptime_ms == dead.uptime_ms);
  hosts->shutdown();
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "a stopped proc is unresponsive, the snapshot still comes") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 3}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto pids = test::pids_of(*pm);
  REQUIRE(pids.size() == 3);
  mesh::test::resume_on_exit resume{pids[1]};
  REQUIRE(mesh::test::stop_process(pids[1]));
  // Bounded: the host answers after the deadline, and this waits at most
  // the deadline plus the client's margin. 2 s, not less: the running procs
  // must answer within it even on a loaded machine (a full suite beside
  // parallel builds once saw a 300 ms deadline missed).
  auto snap = introspect(*hosts, 2s);
  REQUIRE_MESSAGE(snap, mesh::to_string(snap.error()));
  auto& h = snap->hosts[0];
  CHECK(h.error.empty());
  REQUIRE(h.procs.size() == 3);
  CHECK(h.procs[0].responsive);
  CHECK_FALSE(h.procs[1].responsive);
  CHECK(h.procs[2].responsive);
  // Its OS figures are still there, and it is still running as far as its
  // host knows.
  CHECK(h.procs[1].status == proc_status::running);
  CHECK(h.procs[1].rss_bytes > 0);
  CHECK(h.procs[1].threads >= 1);
  ::kill(pids[1], SIGCONT);
  // Once resumed it answers again.
  auto back = introspect_until(*hosts, [](const mesh_snapshot& s) {
    return s.hosts[0].procs.size() == 3 && s.hosts[0].procs[1].responsive;
  });
  REQUIRE(back);
  CHECK(back->hosts[0].procs[1].responsive);
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "process hosts each answer with their own process") {
  auto hosts = host_mesh::process(sys, extent{{"hosts", 2}}, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto snap = introspect(*hosts, 5s);
  REQUIRE_MESSAGE(snap, mesh::to_string(snap.error()));
  REQUIRE(snap->hosts.size() == 2);
  auto addrs = hosts->host_addrs();
  for (size_t i = 0; i < 2; ++i) {
    auto& h = snap->hosts[i];
    CAPTURE(i);
    CHECK(h.error.empty());
    CHECK(h.address == addrs[i]);
    CHECK(h.pid != ::getpid());
    CHECK(alive(h.pid));
    CHECK(h.rss_bytes > 0);
    REQUIRE(h.procs.size() == 2);
    for (auto& p : h.procs) {
      CHECK(p.status == proc_status::running);
      CHECK(alive(p.pid));
      CHECK(test::host_process_of(static_cast<pid_t>(p.pid)) == h.pid);
      CHECK(p.responsive);
      CHECK(p.host == h.address);
    }
    CHECK(h.procs[0].rank < h.procs[1].rank);
    CHECK_FALSE(h.config.empty());
  }
  // A host that is gone: its entry says why, the others still answer.
  auto host_pid = snap->hosts[1].pid;
  REQUIRE(::kill(static_cast<pid_t>(host_pid), SIGKILL) == 0);
  auto after = introspect_until(*hosts, [](const mesh_snapshot& s) {
    return !s.hosts[1].error.empty();
  });
  REQUIRE(after);
  CHECK(after->hosts[0].error.empty());
  CHECK_FALSE(after->hosts[1].error.empty());
  CHECK(after->hosts[1].address == addrs[1]);
  CHECK(after->hosts[1].procs.empty());
  hosts->shutdown();
  // The killed host's zygote and procs, orphaned to us, end on their own.
  CHECK(test::reap_exiting_children(20s));
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "a host reports only the asked mesh's procs") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  caf::scoped_actor self{sys};
  auto agent = hosts->agent(0);
  auto ask_host = [&](const std::string& id) {
    caf::expected<host_snapshot> result{caf::sec::runtime_error};
    self
      ->request(agent, 10s, introspect_atom::value, id,
                relay_timeout{caf::timespan{2s}})
      .receive([&](host_snapshot& h) { result = std::move(h); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  auto all = ask_host("");
  REQUIRE(all);
  CHECK(all->procs.size() == 2);
  auto mine = ask_host(hosts->id().to_string());
  REQUIRE(mine);
  CHECK(mine->procs.size() == 2);
  auto other = ask_host("some-other-mesh");
  REQUIRE(other);
  CHECK(other->procs.empty());
  CHECK(other->procs_by_status.empty());
  CHECK_FALSE(other->config.empty());
  hosts->shutdown();
}

TEST_CASE_FIXTURE(test::actor_fixture, "async::introspect from an actor") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("workers", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  std::promise<caf::expected<mesh_snapshot>> got;
  auto fut = got.get_future();
  host_mesh_ref ref = *hosts;
  auto driver = sys.spawn([&got, ref](caf::event_based_actor* self) {
    async::introspect(self, ref, 5s)
      .then(
        [&got, self](mesh_snapshot& s) {
          got.set_value(std::move(s));
          self->quit();
        },
        [&got, self](caf::error& err) {
          got.set_value(std::move(err));
          self->quit();
        });
    return caf::behavior{[](int32_t) {}};
  });
  REQUIRE(fut.wait_for(60s) == std::future_status::ready);
  auto snap = fut.get();
  REQUIRE_MESSAGE(snap, mesh::to_string(snap.error()));
  REQUIRE(snap->hosts.size() == 1);
  CHECK(snap->hosts[0].procs.size() == 2);
  for (auto& p : snap->hosts[0].procs)
    CHECK(p.responsive);
  hosts->shutdown();
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "a shut down host mesh and a bad deadline are clear errors") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto zero = introspect(*hosts, duration::zero());
  REQUIRE_FALSE(zero);
  CHECK(is(zero.error(), ec::invalid_argument));
  host_mesh_ref ref = *hosts;
  REQUIRE(hosts->shutdown());
  auto snap = introspect(ref, 1s);
  REQUIRE_FALSE(snap);
  CHECK(is(snap.error(), ec::not_running));
  CHECK(mesh::to_string(snap.error()).find("shut down") != std::string::npos);
}
