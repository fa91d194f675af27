// Integration tests of host and proc lifecycles with real child processes,
// real BASP connections and real signals.
#include "bootstrap/payload.hpp"
#include "bootstrap/tls.hpp"
#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "support/event_log.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::proc_status;

namespace {

using mesh::test::child_command;

/// A proc payload for the host at `addr` ("host:port") with a fresh token
/// (which the host never issued) and `key` as the mesh key.
mesh::bootstrap::payload proc_payload_for(const std::string& addr,
                                          std::string name, std::string key) {
  mesh::bootstrap::payload p;
  p.child_role = mesh::bootstrap::role::proc;
  p.name = std::move(name);
  p.parent_host = addr.substr(0, addr.rfind(':'));
  p.parent_port =
    static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  p.token = mesh::bootstrap::make_token();
  p.mesh_key = std::move(key);
  return p;
}

/// The host agent of `hosts` (one host) runs no proc.
void check_no_procs(caf::actor_system& sys, const host_mesh& hosts) {
  caf::scoped_actor self{sys};
  self->request(hosts.agent(0), 5s, mesh::list_procs_atom::value)
    .receive([](const std::vector<std::string>& names) { CHECK(names.empty()); },
             [](caf::error& err) { FAIL(mesh::to_string(err)); });
}

mesh::bootstrap_command shell(const std::string& script) {
  mesh::bootstrap_command cmd;
  cmd.program = "/bin/sh";
  cmd.args = {"-c", script};
  return cmd;
}

/// An actor system per test, plus short stop timeouts so that tests of
/// SIGTERM/SIGKILL escalation finish quickly.
struct mesh_fixture : mesh::test::reaped_fixture {
  mesh::config_override fast_terminate{"terminate_timeout",
                                         mesh::test::polite_window()};
  mesh::config cfg;
  caf::actor_system sys{cfg};
};

bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

using mesh::test::event_log;

} // namespace

TEST_CASE_FIXTURE(mesh_fixture,
                  "local_with_bootstrap brings up 4 child procs and shuts "
                  "them down politely") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  CHECK(hosts->extent() == extent{{"hosts", 1}});
  REQUIRE(hosts->host_addrs().size() == 1);
  auto pm = hosts->spawn("workers", extent{{"gpus", 4}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  CHECK(pm->size() == 4);
  CHECK(pm->extent() == extent{{"hosts", 1}, {"gpus", 4}});
  auto states = pm->states();
  REQUIRE(states);
  std::set<int64_t> pids;
  for (size_t r = 0; r < 4; ++r) {
    auto& st = (*states)[r];
    CHECK(st.rank == r);
    CHECK(st.status == proc_status::running);
    CHECK(st.proc_name == mesh::proc_name(pm->id(), r));
    CHECK(st.host == hosts->host_addrs()[0]);
    CHECK(st.pid > 0);
    CHECK(alive(static_cast<pid_t>(st.pid)));
    CHECK(pm->agent(r));
    pids.insert(st.pid);
  }
  CHECK(pids.size() == 4);
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->stopped_politely == 4);
  CHECK(summary->terminated == 0);
  CHECK(summary->killed == 0);
  CHECK(summary->hosts == 1);
  for (auto pid : pids)
    CHECK_FALSE(alive(static_cast<pid_t>(pid)));
}

TEST_CASE_FIXTURE(mesh_fixture, "shutdown is idempotent") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  REQUIRE(hosts->spawn("one", extent{{"procs", 1}}));
  auto first = hosts->shutdown();
  REQUIRE(first);
  auto second = hosts->shutdown();
  REQUIRE(second);
  CHECK(second->stopped_politely == first->stopped_politely);
  CHECK(second->hosts == first->hosts);
  auto again = hosts->spawn("late", extent{{"procs", 1}});
  REQUIRE_FALSE(again);
  CHECK(mesh::is(again.error(), mesh::ec::not_running));
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "local_in_process runs procs in this process with the same "
                  "API") {
  auto hosts = host_mesh::local_in_process(sys);
  REQUIRE(hosts);
  auto pm = hosts->spawn("inproc", extent{{"procs", 3}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  for (auto& st : *states) {
    CHECK(st.status == proc_status::running);
    CHECK(st.pid == 0);
  }
  REQUIRE(pm->stop("test"));
  states = pm->states();
  REQUIRE(states);
  for (auto& st : *states)
    CHECK(st.status == proc_status::stopped);
  auto summary = hosts->shutdown();
  REQUIRE(summary);
  CHECK(summary->failures.empty());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "process() starts one host process per rank, each "
                  "launching its own procs") {
  auto hosts = host_mesh::process(sys, extent{{"hosts", 2}}, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  CHECK(hosts->host_addrs().size() == 2);
  CHECK(hosts->host_addrs()[0] != hosts->host_addrs()[1]);
  auto pm = hosts->spawn("spread", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  REQUIRE(states->size() == 4);
  for (size_t r = 0; r < 4; ++r) {
    CHECK((*states)[r].status == proc_status::running);
    CHECK((*states)[r].host == hosts->host_addrs()[r / 2]);
  }
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->stopped_politely == 4);
  CHECK(summary->hosts == 2);
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "spawn rejects overlapping labels and a wrong proc_bind "
                  "length") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto overlap = hosts->spawn("x", extent{{"hosts", 2}});
  REQUIRE_FALSE(overlap);
  CHECK(mesh::is(overlap.error(), mesh::ec::overlapping_label));
  auto bad_bind = hosts->spawn("x", extent{{"gpus", 2}},
                               std::vector<mesh::proc_bind>(3));
  REQUIRE_FALSE(bad_bind);
  CHECK(mesh::to_string(bad_bind.error()).find("proc_bind has 3 entries")
        != std::string::npos);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "the per-rank callback sees points of the combined extent "
                  "and its command wins") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  std::vector<std::string> seen;
  auto per_rank = [&](const mesh::point& pt)
    -> caf::expected<mesh::bootstrap_command> {
    seen.push_back(pt.to_string());
    auto cmd = child_command();
    cmd.env["MESH_TAIL_LOG_LINES"] = std::to_string(10 + pt.rank());
    return cmd;
  };
  auto pm = hosts->spawn("ranked", extent{{"gpus", 2}}, std::nullopt,
                         per_rank);
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  CHECK(seen == std::vector<std::string>{"hosts=0/1,gpus=0/2",
                                         "hosts=0/1,gpus=1/2"});
  // Each proc's environment (env layer) carries its own command's value.
  caf::scoped_actor self{sys};
  for (size_t r = 0; r < 2; ++r)
    self->request(pm->agent(r), 5s, mesh::get_config_atom::value,
                  std::string{"tail_log_lines"})
      .receive([&](const std::string& v) { CHECK(v == std::to_string(10 + r)); },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a failing per-rank callback aborts the spawn before "
                  "anything starts") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("nope", extent{{"gpus", 2}}, std::nullopt,
                         [](const mesh::point& pt)
                           -> caf::expected<mesh::bootstrap_command> {
                           if (pt.rank() == 1)
                             return mesh::make_error(mesh::ec::invalid_argument,
                                                     "no command for rank 1");
                           return child_command();
                         });
  REQUIRE_FALSE(pm);
  CHECK(mesh::to_string(pm.error()).find("rank 1") != std::string::npos);
  CHECK(mesh::test::settled_proc_count(0) == 0);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "client config reaches procs through the spawn snapshot") {
  mesh::config_override tail{"tail_log_lines", "37"};
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("cfg", extent{{"procs", 1}});
  REQUIRE(pm);
  caf::scoped_actor self{sys};
  self->request(pm->agent(0), 5s, mesh::get_config_atom::value,
                std::string{"tail_log_lines"})
    .receive([](const std::string& v) { CHECK(v == "37"); },
             [](caf::error& err) { FAIL(mesh::to_string(err)); });
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "several proc meshes share a host mesh; stop() of one "
                  "leaves the other running") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto a = hosts->spawn("alpha", extent{{"procs", 2}});
  auto b = hosts->spawn("beta", extent{{"procs", 2}});
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->id() != b->id());
  REQUIRE(a->stop());
  auto sa = a->states();
  auto sb = b->states();
  REQUIRE(sa);
  REQUIRE(sb);
  for (auto& st : *sa)
    CHECK(st.status == proc_status::stopped);
  for (auto& st : *sb)
    CHECK(st.status == proc_status::running);
  auto summary = hosts->shutdown();
  REQUIRE(summary);
  CHECK(summary->stopped_politely == 2);
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "host_mesh::stop drains this mesh's procs and keeps the "
                  "host usable") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  REQUIRE(hosts->spawn("first", extent{{"procs", 2}}));
  auto stopped = hosts->stop();
  REQUIRE_MESSAGE(stopped, mesh::to_string(stopped.error()));
  CHECK(stopped->stopped_politely == 2);
  CHECK(mesh::test::settled_proc_count(0) == 0);
  auto again = hosts->spawn("second", extent{{"procs", 1}});
  REQUIRE_MESSAGE(again, mesh::to_string(again.error()));
  auto summary = hosts->shutdown();
  REQUIRE(summary);
  CHECK(summary->stopped_politely == 1);
}

TEST_CASE_FIXTURE(mesh_fixture, "range and to_string/parse round trip") {
  auto hosts = host_mesh::process(sys, extent{{"hosts", 2}}, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto text = hosts->to_string();
  auto parsed = mesh::host_mesh_ref::parse(sys, text);
  REQUIRE_MESSAGE(parsed, mesh::to_string(parsed.error()));
  CHECK(parsed->to_string() == text);
  CHECK(parsed->id() == hosts->id());
  CHECK(parsed->host_addrs() == hosts->host_addrs());
  auto second = hosts->range("hosts", 1, 2);
  REQUIRE(second);
  CHECK(second->host_addrs()
        == std::vector<std::string>{hosts->host_addrs()[1]});
  CHECK(second->region().to_string() == "1+hosts=1/1");
  auto pm = second->spawn("onsecond", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  CHECK((*states)[0].host == hosts->host_addrs()[1]);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture, "malformed host mesh strings are rejected") {
  for (auto bad : {"", "noid", "id:127.0.0.1:1", "id:@hosts=1/1",
                   "id:127.0.0.1:99999@hosts=1/1", "id:a,b@hosts=1/1",
                   "BAD ID:127.0.0.1:1@hosts=1/1", "id:127.0.0.1:1@garbage"}) {
    auto ref = mesh::host_mesh_ref::parse(sys, bad);
    CHECK_MESSAGE(!ref, "accepted: " << bad);
  }
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a proc killed with SIGKILL is pushed to on_event and "
                  "shows as failed") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("victims", extent{{"procs", 2}});
  REQUIRE(pm);
  event_log log;
  pm->on_event(log.handler());
  auto states = pm->states();
  REQUIRE(states);
  ::kill(static_cast<pid_t>((*states)[1].pid), SIGKILL);
  auto ev = log.wait_for([](auto& e) { return e.status == proc_status::failed; });
  REQUIRE(ev);
  CHECK(ev->rank == 1);
  CHECK(ev->signal == std::optional<int>{SIGKILL});
  CHECK(ev->reason.find("signal 9") != std::string::npos);
  states = pm->states();
  REQUIRE(states);
  CHECK((*states)[1].status == proc_status::failed);
  CHECK((*states)[1].signal == std::optional<int>{SIGKILL});
  CHECK((*states)[0].status == proc_status::running);
  auto summary = hosts->shutdown();
  REQUIRE(summary);
  CHECK(summary->already_gone == 1);
  CHECK(summary->stopped_politely == 1);
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a missing program fails the spawn with an error naming "
                  "the path") {
  mesh::bootstrap_command missing;
  missing.program = "/nonexistent/libmesh-no-such-program";
  auto hosts = host_mesh::local_with_bootstrap(sys, missing);
  REQUIRE(hosts);
  auto pm = hosts->spawn("ghost", extent{{"procs", 2}});
  REQUIRE_FALSE(pm);
  auto text = mesh::to_string(pm.error());
  CHECK(text.find("/nonexistent/libmesh-no-such-program") != std::string::npos);
  CHECK(text.find("rank 0") != std::string::npos);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a child that exits 1 before the handshake fails the spawn "
                  "with its exit code and stderr, without waiting for a "
                  "timeout") {
  // Timeouts far beyond the test's own: a timeout cannot be what ends it.
  mesh::config_override idle{"proc_spawn_max_idle", "10m"};
  mesh::config_override ready{"host_spawn_ready_timeout", "10m"};
  auto hosts = host_mesh::local_with_bootstrap(
    sys, shell("echo first line >&2; echo 'fatal: no GPU' >&2; exit 1"));
  REQUIRE(hosts);
  auto pm = hosts->spawn("crashy", extent{{"procs", 1}});
  REQUIRE_FALSE(pm);
  CHECK(mesh::is(pm.error(), mesh::ec::proc_failed));
  auto text = mesh::to_string(pm.error());
  // Named as every message names a rank (mesh_layout::where).
  CHECK_MESSAGE(text.find("rank 0 (proc crashy") != std::string::npos, text);
  CHECK_MESSAGE(text.find(" on host " + hosts->host_addrs()[0] + ")")
                  != std::string::npos,
                text);
  CHECK(text.find("exited with code 1 before the bootstrap handshake")
        != std::string::npos);
  CHECK(text.find("first line") != std::string::npos);
  CHECK(text.find("fatal: no GPU") != std::string::npos);
  CHECK(text.find("/bin/sh") != std::string::npos);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a child that hangs before the handshake fails the spawn "
                  "after proc_spawn_max_idle naming exactly that rank") {
  mesh::config_override idle{"proc_spawn_max_idle", "2s"};
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("hangs", extent{{"procs", 3}}, std::nullopt,
                         [](const mesh::point& pt)
                           -> caf::expected<mesh::bootstrap_command> {
                           if (pt.rank() == 1)
                             return shell("exec sleep 60");
                           return child_command();
                         });
  REQUIRE_FALSE(pm);
  CHECK(mesh::is(pm.error(), mesh::ec::spawn_timeout));
  auto text = mesh::to_string(pm.error());
  CHECK_MESSAGE(text.find("rank 1 on host") != std::string::npos, text);
  CHECK(text.find("ranks") == std::string::npos);
  // Every proc of the failed spawn, hung or running, is gone.
  CHECK(mesh::test::settled_proc_count(0) == 0);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a proc that ignores SIGTERM is SIGKILLed after "
                  "terminate_timeout and the summary says so") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("stubborn", extent{{"procs", 2}}, std::nullopt,
                         [](const mesh::point& pt)
                           -> caf::expected<mesh::bootstrap_command> {
                           auto cmd = child_command();
                           if (pt.rank() == 0)
                             cmd.env["MESH_TEST_IGNORE_TERM"] = "1";
                           return cmd;
                         });
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->killed == 1);
  CHECK(summary->stopped_politely == 1);
  CHECK(summary->to_string().find("1 SIGKILL") != std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "procs die with a client killed by SIGKILL") {
  // The helper client brings up local() with 3 procs and blocks; as a
  // subreaper this test inherits the orphans and must see them exit.
  auto started = mesh::test::start_mesh_client(3);
  REQUIRE_MESSAGE(started.ready, started.output);
  auto client = started.pid;
  const auto& text = started.output;
  std::vector<pid_t> procs;
  for (size_t pos = 0; (pos = text.find("pid ", pos)) != std::string::npos;
       pos += 4)
    procs.push_back(static_cast<pid_t>(std::stol(text.substr(pos + 4))));
  REQUIRE(procs.size() == 3);
  ::kill(client, SIGKILL);
  ::waitpid(client, nullptr, 0);
  // Orphans (the procs, and the zygote that forked them) are re-parented to
  // us as their parents die; each must exit on its own.
  CHECK(mesh::test::reap_exiting_children(20s));
  for (auto pid : procs)
    CHECK_MESSAGE(::kill(pid, 0) != 0, "proc " << pid << " outlived its client");
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a malformed MESH_BOOTSTRAP exits 2 with one line") {
  auto res = mesh::test::run({mesh::test::build_path("test/mesh_child")}, 10s,
                             {{"MESH_BOOTSTRAP", "not%base64"}});
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 2);
  CHECK(res.err.find("bad MESH_BOOTSTRAP payload") != std::string::npos);
  CHECK(std::count(res.err.begin(), res.err.end(), '\n') == 1);
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a child with another mesh key cannot even connect: the "
                  "TLS handshake fails, nothing registered") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto p = proc_payload_for(hosts->host_addrs()[0], "outsider-0",
                            std::string(mesh::bootstrap::mesh_key_size, 'k'));
  REQUIRE(p.mesh_key != mesh::tls::process_transport().key);
  auto res = mesh::test::run({mesh::test::build_path("test/mesh_child")}, 20s,
                             {{"MESH_BOOTSTRAP", mesh::bootstrap::encode(p)}});
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 1);
  CHECK_MESSAGE(res.err.find("TLS handshake failed") != std::string::npos,
                res.err);
  check_no_procs(sys, *hosts);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a forged payload with a wrong token is refused: exit 2, "
                  "nothing registered") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  // An insider: it holds the mesh key, so only the token can stop it.
  auto p = proc_payload_for(hosts->host_addrs()[0], "intruder-0",
                            mesh::tls::process_transport().key);
  auto res = mesh::test::run({mesh::test::build_path("test/mesh_child")}, 20s,
                             {{"MESH_BOOTSTRAP", mesh::bootstrap::encode(p)}});
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 2);
  CHECK(res.err.find("refused") != std::string::npos);
  check_no_procs(sys, *hosts);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "child output is forwarded prefixed [host/rank] and the "
                  "stderr tail is kept per proc") {
  mesh::config_override tail{"tail_log_lines", "2"};
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto script = "echo out-$MESH_TEST_RANK; echo e1 >&2; echo e2 >&2; "
                "echo e3-$MESH_TEST_RANK >&2; exec "
                + mesh::test::build_path("test/mesh_child");
  // Forwarded lines go to this process's stdout: capture it in a file.
  char path[] = "/tmp/mesh-forward-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stdout);
  int saved = ::dup(1);
  ::dup2(fd, 1);
  auto pm = hosts->spawn("chatty", extent{{"procs", 2}}, std::nullopt,
                         [&](const mesh::point& pt)
                           -> caf::expected<mesh::bootstrap_command> {
                           auto cmd = shell(script);
                           cmd.env["MESH_TEST_RANK"] = std::to_string(pt.rank());
                           return cmd;
                         });
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  REQUIRE(states);
  for (size_t r = 0; r < 2; ++r)
    CHECK((*states)[r].stderr_tail
          == std::vector<std::string>{"e2", "e3-" + std::to_string(r)});
  std::string text;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;)
    text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  ::unlink(path);
  CHECK_MESSAGE(text.find("[0/0] out-0") != std::string::npos, text);
  CHECK_MESSAGE(text.find("[0/1] out-1") != std::string::npos, text);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "set_bootstrap changes the command of later spawns only") {
  auto hosts = host_mesh::local_with_bootstrap(sys, shell("exit 7"));
  REQUIRE(hosts);
  auto before = hosts->as_ref();
  auto failed = hosts->spawn("first", extent{{"procs", 1}});
  REQUIRE_FALSE(failed);
  CHECK(mesh::to_string(failed.error()).find("exited with code 7")
        != std::string::npos);
  hosts->set_bootstrap(child_command());
  auto pm = hosts->spawn("second", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  // A reference taken before keeps the command it had.
  CHECK_FALSE(before.spawn("third", extent{{"procs", 1}}));
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a shutdown guard shuts its mesh down when it goes out of "
                  "scope") {
  std::vector<int64_t> pids;
  {
    auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
    REQUIRE(hosts);
    auto guard = std::move(*hosts).into_shutdown_guard();
    auto pm = guard->spawn("guarded", extent{{"procs", 2}});
    REQUIRE(pm);
    auto states = pm->states();
    REQUIRE(states);
    for (auto& st : *states)
      pids.push_back(st.pid);
  }
  REQUIRE(pids.size() == 2);
  for (auto pid : pids)
    CHECK_FALSE(alive(static_cast<pid_t>(pid)));
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "take() of a parsed reference owns the hosts it names") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto ref = mesh::host_mesh_ref::parse(sys, hosts->to_string());
  REQUIRE(ref);
  auto owner = host_mesh::take(*ref);
  auto pm = owner.spawn("owned", extent{{"procs", 2}});
  REQUIRE(pm);
  auto summary = owner.shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->stopped_politely == 2);
  CHECK(summary->hosts == 1);
  // The hosts are gone; the first owner finds nothing left to stop.
  auto again = hosts->shutdown();
  REQUIRE_MESSAGE(again, mesh::to_string(again.error()));
  CHECK(again->total() == 0);
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "proc_bind wraps the command and binds the proc's CPUs") {
  if (mesh::test::run({"taskset", "-V"}, 10s).exit_code != 0) {
    MESSAGE("taskset is not installed: skipped");
    return;
  }
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  mesh::proc_bind first_cpu;
  first_cpu.cpus = "0";
  auto pm = hosts->spawn("bound", extent{{"procs", 2}},
                         std::vector<mesh::proc_bind>{first_cpu, {}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  auto cpus = [](int64_t pid) {
    auto res = mesh::test::run(
      {"grep", "Cpus_allowed_list", "/proc/" + std::to_string(pid) + "/status"},
      10s);
    return res.out;
  };
  CHECK(cpus((*states)[0].pid).find("\t0\n") != std::string::npos);
  CHECK(cpus((*states)[1].pid).find("\t0\n") == std::string::npos);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "a child that misses host_spawn_ready_timeout is killed and "
                  "reported as timed out") {
  mesh::config_override ready{"host_spawn_ready_timeout", "1s"};
  mesh::config_override idle{"proc_spawn_max_idle", "10m"};
  auto hosts = host_mesh::local_with_bootstrap(sys, shell("exec sleep 60"));
  REQUIRE(hosts);
  auto pm = hosts->spawn("slow", extent{{"procs", 1}});
  REQUIRE_FALSE(pm);
  CHECK(mesh::is(pm.error(), mesh::ec::spawn_timeout));
  CHECK(mesh::to_string(pm.error())
          .find("did not complete the bootstrap handshake within 1s")
        != std::string::npos);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(mesh_fixture,
                  "host_mesh::stop stops only the procs of its own mesh on "
                  "shared hosts") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  // A second host mesh (another id) over the same host.
  auto text = hosts->to_string();
  auto other_id = mesh::host_mesh_id::instance("other").to_string();
  auto ref = mesh::host_mesh_ref::parse(sys, other_id
                                               + text.substr(text.find(':')));
  REQUIRE_MESSAGE(ref, mesh::to_string(ref.error()));
  auto mine = hosts->spawn("mine", extent{{"procs", 2}});
  auto theirs = ref->spawn("theirs", extent{{"procs", 2}});
  REQUIRE(mine);
  REQUIRE(theirs);
  auto stopped = hosts->stop();
  REQUIRE(stopped);
  CHECK(stopped->stopped_politely == 2);
  auto st = theirs->states();
  REQUIRE(st);
  for (auto& s : *st)
    CHECK(s.status == proc_status::running);
  auto summary = hosts->shutdown();
  REQUIRE(summary);
  CHECK(summary->stopped_politely == 2);
}
