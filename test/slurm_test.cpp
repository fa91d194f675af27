// Host meshes on a real Slurm (mesh/slurm.hpp, mesh/allocator.hpp): a
// one-node cluster per case (support/slurm_cluster.hpp: munged, slurmctld
// and slurmd as children of the test), the real meshd, no mock. "2 hosts"
// are nodes = 1 x hosts_per_node = 2 on this one machine. Each case keeps
// its spool root in a temporary directory of its own, removed at its end,
// and checks that no meshd of its spool is left, by PID (/proc/*/cmdline
// names the spool of every daemon, wrapper and srun of the allocator).
//
// Cases (the issue's): allocate 2 hosts x 2 procs, call an actor mesh, shut
// down and the job is COMPLETED with nothing left; an invalid partition is
// an error naming it; stop() keeps the job and existing_job() attaches
// again; a SIGKILLed client leaves a job that ends within the owner timeout
// plus a margin; a pending job cancelled from another thread; a time limit
// reached while the mesh is up reaches the owner as events naming the lost
// hosts; in_allocation() inside salloc. Plus: a start timeout, daemons
// that cannot start, in_allocation() outside an allocation.
#include "mesh/actor_mesh.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/slurm.hpp"
#include "meshd_daemon.hpp"
#include "support/actor_fixture.hpp"
#include "support/event_log.hpp"
#include "support/process.hpp"
#include "support/slurm_cluster.hpp"
#include "support/test_actors.hpp"

#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

extern char** environ;

using namespace std::chrono_literals;
using mesh::host_mesh;
using mesh::host_mesh_id;
using mesh::test::contains;
using mesh::test::slurm_cluster;
namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

long ms_since(steady::time_point t) {
  return static_cast<long>(
    std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t)
      .count());
}

/// PIDs of the processes whose command line mentions `text` (the spool
/// root: meshd's --address-file, the task wrappers, srun --overlap).
std::vector<pid_t> pids_mentioning(const std::string& text) {
  std::vector<pid_t> result;
  auto self = ::getpid();
  auto* dir = ::opendir("/proc");
  if (dir == nullptr)
    return result;
  while (auto* entry = ::readdir(dir)) {
    char* end = nullptr;
    auto pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid == self)
      continue;
    std::ifstream in{std::string{"/proc/"} + entry->d_name + "/cmdline"};
    std::string cmdline{std::istreambuf_iterator<char>{in}, {}};
    if (cmdline.find(text) != std::string::npos)
      result.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(dir);
  return result;
}

/// Waits up to `limit` until no process mentions `text`; how many remain.
size_t wait_gone(const std::string& text, std::chrono::milliseconds limit) {
  auto deadline = steady::now() + limit;
  for (;;) {
    auto left = pids_mentioning(text).size();
    if (left == 0 || steady::now() >= deadline)
      return left;
    // Reap what ended meanwhile: the test process is a subreaper.
    while (::waitpid(-1, nullptr, WNOHANG) > 0)
      ;
    std::this_thread::sleep_for(100ms);
  }
}

/// A client program started with its stdout on a pipe, read until it
/// printed "ready" or ended (at most 120 s).
struct client_process {
  pid_t pid = -1;
  std::string output;
  bool ready = false;
};

client_process start_client(const std::vector<std::string>& argv) {
  client_process result;
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto rc = ::posix_spawn(&result.pid, args[0], &actions, nullptr,
                          args.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  REQUIRE(rc == 0);
  auto deadline = steady::now() + 120s;
  char buf[1024];
  while (!result.ready && steady::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0)
      continue;
    auto n = ::read(fds[0], buf, sizeof(buf));
    if (n <= 0)
      break;
    result.output.append(buf, static_cast<size_t>(n));
    result.ready = contains(result.output, "\nready\n");
  }
  ::close(fds[0]);
  return result;
}

/// The fixture: an actor system with the test actors, the cluster (if one
/// can run here) and a per-case spool root.
struct slurm_fixture : mesh::test::actor_fixture {
  std::optional<slurm_cluster> cluster;
  std::string tmp;
  std::string root;

  slurm_fixture() {
    char tmpl[] = "/tmp/mesh-slurm-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    tmp = tmpl;
    root = tmp + "/spool";
  }

  ~slurm_fixture() {
    if (cluster)
      cluster.reset();
    std::error_code ec;
    fs::remove_all(tmp, ec);
  }

  /// Starts the cluster; false (with a message) if none can run here.
  bool start() {
    if (auto why = slurm_cluster::unavailable()) {
      MESSAGE("skipped: " << *why);
      return false;
    }
    cluster.emplace();
    return true;
  }

  /// 1 node x 2 hosts whose procs run mesh_child, polled every 200 ms.
  mesh::slurm::job_options options() const {
    mesh::slurm::job_options opts;
    opts.nodes = 1;
    opts.hosts_per_node = 2;
    opts.spool_root = root;
    opts.proc_command =
      mesh::bootstrap_command{mesh::test::mesh_child_path(), {}, {}, {}};
    opts.poll_interval = 200ms;
    opts.owner_timeout = 30s;
    return opts;
  }

  /// Nothing of the allocator left: no process, no spool directory.
  void check_nothing_left(std::chrono::milliseconds limit = 10s) {
    CHECK(wait_gone(root, limit) == 0);
    std::error_code ec;
    CHECK((!fs::exists(root, ec) || fs::is_empty(root, ec)));
  }
};

/// Spawns 2 procs per host and a counter on each, calls them.
void check_actor_mesh(host_mesh& hosts, size_t expected_procs) {
  auto pm = hosts.spawn("workers", mesh::extent{{"procs", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  CHECK(pm->size() == expected_procs);
  auto counters =
    pm->spawn<mesh::test::counter_actor>("counters", "counter", int32_t{5});
  REQUIRE_MESSAGE(counters, mesh::to_string(counters.error()));
  counters->cast(caf::add_atom::value, int32_t{3});
  auto values = counters->call<int32_t>(caf::get_atom::value);
  REQUIRE_MESSAGE(values, mesh::to_string(values.error()));
  REQUIRE(values->size() == expected_procs);
  for (auto [pt, v] : *values)
    CHECK(v == 8);
}

} // namespace

TEST_CASE_FIXTURE(slurm_fixture,
                  "2 hosts x 2 procs from a Slurm job: an actor mesh is "
                  "called, and after shutdown the job is COMPLETED with no "
                  "meshd left") {
  if (!start())
    return;
  auto job = mesh::slurm::job(options());
  std::vector<mesh::allocation_status> seen;
  auto t0 = steady::now();
  auto hosts = host_mesh::allocate(sys, host_mesh_id::instance("slurm"), *job,
                                   [&](const mesh::allocation_status& st) {
                                     seen.push_back(st);
                                   });
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto up_ms = ms_since(t0);
  REQUIRE(hosts->allocated());
  auto id = hosts->allocated()->id;
  MESSAGE("job " << id << ": submit to 2 hosts attached in " << up_ms
                 << " ms");
  CHECK(hosts->allocated()->scheduler == "slurm");
  CHECK(hosts->allocated()->state == "RUNNING");
  CHECK(hosts->allocated()->hosts_ready == 2);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back().state == "RUNNING");
  CHECK(seen.back().hosts_ready == 2);
  for (auto& st : seen) {
    CHECK(st.scheduler == "slurm");
    CHECK(st.id == id);
    CHECK(st.hosts == 2);
  }
  CHECK(hosts->host_addrs().size() == 2);
  for (auto& addr : hosts->host_addrs())
    CHECK(addr.rfind(cluster->node() + ":", 0) == 0);
  CHECK(pids_mentioning(root).size() >= 2);
  CHECK(cluster->job_state(id) == "RUNNING");
  check_actor_mesh(*hosts, 4);
  t0 = steady::now();
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  auto down_ms = ms_since(t0);
  auto end = cluster->job(id);
  MESSAGE("shutdown to job " << (end.state.empty() ? "gone" : end.state)
                             << " in " << down_ms << " ms");
  CHECK((end.state == "COMPLETED" || end.state.empty()));
  check_nothing_left();
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "an invalid partition is an allocation error naming it, "
                  "and nothing is left") {
  if (!start())
    return;
  auto opts = options();
  opts.partition = "nosuch";
  auto hosts = host_mesh::allocate(sys, host_mesh_id::instance("nopart"),
                                   *mesh::slurm::job(opts));
  REQUIRE_FALSE(hosts);
  auto text = mesh::to_string(hosts.error());
  MESSAGE(text);
  CHECK(mesh::is(hosts.error(), mesh::ec::allocation_failed));
  CHECK(contains(text, "nosuch"));
  CHECK(contains(text, "sbatch"));
  CHECK(cluster->active_jobs().empty());
  check_nothing_left();
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "stop() keeps the job and its daemons; existing_job() "
                  "attaches to them again; shutdown then ends the job") {
  if (!start())
    return;
  std::string id;
  std::vector<std::string> addrs;
  {
    auto hosts = host_mesh::allocate(sys, host_mesh_id::instance("first"),
                                     *mesh::slurm::job(options()));
    REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
    id = hosts->allocated()->id;
    addrs = hosts->host_addrs();
    check_actor_mesh(*hosts, 4);
    auto stopped = hosts->stop();
    REQUIRE_MESSAGE(stopped, mesh::to_string(stopped.error()));
  }
  CHECK(cluster->job_state(id) == "RUNNING");
  auto t0 = steady::now();
  auto again = host_mesh::allocate(sys, host_mesh_id::instance("again"),
                                   *mesh::slurm::existing_job(id, root));
  REQUIRE_MESSAGE(again, mesh::to_string(again.error()));
  MESSAGE("re-attached to job " << id << " in " << ms_since(t0) << " ms");
  CHECK(again->host_addrs() == addrs);
  CHECK(again->allocated()->id == id);
  check_actor_mesh(*again, 4);
  REQUIRE(again->shutdown());
  auto end = cluster->job_state(id);
  CHECK((end == "COMPLETED" || end.empty()));
  check_nothing_left();
  // The job is over: existing_job() says so.
  auto gone = mesh::slurm::existing_job(id, root)->allocate({});
  REQUIRE_FALSE(gone);
  MESSAGE(mesh::to_string(gone.error()));
  CHECK(mesh::is(gone.error(), mesh::ec::allocation_failed));
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "a SIGKILLed client leaves a job that ends, with no meshd "
                  "left, within the owner timeout plus 30 s") {
  if (!start())
    return;
  constexpr int owner_timeout_s = 5;
  constexpr auto margin = 30s;
  // The client: mesh_child slurm-hold, its stdout read until "ready".
  auto client = start_client({mesh::test::mesh_child_path(), "slurm-hold",
                              root, std::to_string(owner_timeout_s)});
  REQUIRE_MESSAGE(client.ready, client.output);
  std::string id;
  for (auto& line : mesh::test::lines_of(client.output))
    if (line.rfind("job ", 0) == 0)
      id = line.substr(4);
  REQUIRE_FALSE(id.empty());
  CHECK(cluster->job_state(id) == "RUNNING");
  CHECK(pids_mentioning(root).size() >= 2);
  auto t0 = steady::now();
  REQUIRE(::kill(client.pid, SIGKILL) == 0);
  ::waitpid(client.pid, nullptr, 0);
  auto end = cluster->wait_state(id, {"COMPLETED", "FAILED", "CANCELLED", ""},
                                 std::chrono::seconds{owner_timeout_s} +
                                   margin);
  auto ended_ms = ms_since(t0);
  MESSAGE("client killed: job " << id << " "
                                << (end.state.empty() ? "gone" : end.state)
                                << " after " << ended_ms << " ms (owner "
                                << "timeout " << owner_timeout_s << " s)");
  CHECK((end.state == "COMPLETED" || end.state.empty()));
  CHECK(wait_gone(root + "/", 5s) == 0);
  auto gone_ms = ms_since(t0);
  CHECK(gone_ms < (owner_timeout_s * 1000 + 30000));
  MESSAGE("no process of the spool left after " << gone_ms << " ms");
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "a pending job reports Slurm's state and reason, and "
                  "cancel() from another thread ends the allocation with "
                  "ec::cancelled and the job gone") {
  if (!start())
    return;
  auto opts = options();
  opts.sbatch_args = {"--hold"};
  auto job = mesh::slurm::job(opts);
  std::mutex mtx;
  std::vector<mesh::allocation_status> seen;
  std::thread canceller;
  auto t0 = steady::now();
  steady::time_point cancelled_at;
  auto hosts = host_mesh::allocate(
    sys, host_mesh_id::instance("pending"), *job,
    [&](const mesh::allocation_status& st) {
      std::lock_guard<std::mutex> guard{mtx};
      seen.push_back(st);
      if (!canceller.joinable())
        canceller = std::thread{[&] {
          std::this_thread::sleep_for(500ms);
          cancelled_at = steady::now();
          job->cancel();
        }};
    });
  auto returned_ms = ms_since(t0);
  if (canceller.joinable())
    canceller.join();
  REQUIRE_FALSE(hosts);
  MESSAGE(mesh::to_string(hosts.error()) << " (returned "
                                         << ms_since(cancelled_at)
                                         << " ms after cancel())");
  CHECK(mesh::is(hosts.error(), mesh::ec::cancelled));
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front().state == "PENDING");
  CHECK(seen.front().reason == "JobHeldUser");
  CHECK_FALSE(seen.front().id.empty());
  auto end = cluster->wait_state(seen.front().id, {"CANCELLED", ""}, 10s);
  CHECK((end.state == "CANCELLED" || end.state.empty()));
  CHECK(cluster->active_jobs().empty());
  CHECK(returned_ms < 10000);
  check_nothing_left();
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "a job that does not start within start_timeout is "
                  "cancelled, and the error names where it was stuck") {
  if (!start())
    return;
  auto opts = options();
  opts.sbatch_args = {"--hold"};
  opts.start_timeout = 2s;
  auto t0 = steady::now();
  auto alloc = mesh::slurm::job(opts)->allocate({});
  REQUIRE_FALSE(alloc);
  auto text = mesh::to_string(alloc.error());
  MESSAGE(text << " (after " << ms_since(t0) << " ms)");
  CHECK(mesh::is(alloc.error(), mesh::ec::allocation_failed));
  CHECK(contains(text, "PENDING"));
  CHECK(contains(text, "JobHeldUser"));
  CHECK(cluster->active_jobs().empty());
  check_nothing_left();
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "daemons that cannot start end the job, and the error "
                  "quotes Slurm's state and the job's output") {
  if (!start())
    return;
  auto opts = options();
  opts.meshd = tmp + "/no-such-meshd";
  auto alloc = mesh::slurm::job(opts)->allocate({});
  REQUIRE_FALSE(alloc);
  auto text = mesh::to_string(alloc.error());
  MESSAGE(text);
  CHECK(mesh::is(alloc.error(), mesh::ec::allocation_failed));
  CHECK(contains(text, "ended before its hosts were up"));
  CHECK(contains(text, "no-such-meshd"));
  CHECK(cluster->active_jobs().empty());
  check_nothing_left();
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "a time limit reached while the mesh is up reaches the "
                  "owner as events naming the lost hosts") {
  if (!start())
    return;
  // Before the mesh: its handler may run until the mesh is gone.
  mesh::test::event_log log;
  auto opts = options();
  opts.time_limit = "1";
  auto hosts = host_mesh::allocate(sys, host_mesh_id::instance("timed"),
                                   *mesh::slurm::job(opts));
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto t0 = steady::now();
  auto id = hosts->allocated()->id;
  auto pm = hosts->spawn("timed", mesh::extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  pm->on_event(log.handler());
  std::set<std::string> lost;
  auto deadline = steady::now() + 170s;
  while (lost.size() < 2 && steady::now() < deadline) {
    std::this_thread::sleep_for(500ms);
    std::lock_guard<std::mutex> guard{log.mtx};
    for (auto& ev : log.events)
      if (!mesh::is_healthy(ev.status) && !ev.host.empty())
        lost.insert(ev.host);
  }
  MESSAGE("job " << id << ": " << lost.size() << " hosts reported lost "
                 << ms_since(t0) << " ms after the hosts were up; state "
                 << cluster->job_state(id));
  {
    std::lock_guard<std::mutex> guard{log.mtx};
    for (auto& ev : log.events)
      MESSAGE("event: rank " << ev.rank << " " << mesh::to_string(ev.status)
                             << " on " << ev.host << ": " << ev.reason);
  }
  CHECK(lost == std::set<std::string>(hosts->host_addrs().begin(),
                                      hosts->host_addrs().end()));
  CHECK(cluster->wait_state(id, {"TIMEOUT", ""}, 60s).state != "RUNNING");
  [[maybe_unused]] auto ignored = hosts->shutdown();
  check_nothing_left(60s);
}

TEST_CASE_FIXTURE(slurm_fixture,
                  "in_allocation() inside salloc: srun --overlap runs the "
                  "hosts, and shutdown leaves no srun and no meshd") {
  if (!start())
    return;
  auto t0 = steady::now();
  auto res = cluster->command({"salloc", "-N1", "--time=5",
                               mesh::test::mesh_child_path(),
                               "slurm-in-allocation", root},
                              120s);
  MESSAGE("salloc ran the client in " << ms_since(t0) << " ms");
  INFO("stdout: " << res.out);
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 0);
  CHECK(contains(res.out, "procs 4"));
  CHECK(contains(res.out, "shutdown ok"));
  check_nothing_left();
  CHECK(cluster->active_jobs().empty());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "in_allocation() outside an allocation is an invalid "
                  "argument saying so") {
  ::unsetenv("SLURM_JOB_ID");
  ::unsetenv("SLURM_JOB_NODELIST");
  auto alloc = mesh::slurm::in_allocation({})->allocate({});
  REQUIRE_FALSE(alloc);
  CHECK(mesh::is(alloc.error(), mesh::ec::invalid_argument));
  CHECK(contains(mesh::to_string(alloc.error()), "SLURM_JOB_ID"));
}
