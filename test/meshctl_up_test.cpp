// meshctl up: real bring-ups of the example mesh files, failures and signals;
// and on a real Slurm (test/support/slurm_cluster.hpp, needs root): a job
// shown while it pends and cancelled by Ctrl-C, a mesh on a job, a job
// Slurm refuses, and a mesh inside an salloc (allocation: current).
#include "meshd_daemon.hpp"
#include "support/process.hpp"
#include "support/slurm_cluster.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

std::string meshctl() {
  return mesh::test::build_path("tools/meshctl");
}

void check_brought_up(const mesh::test::run_result& res,
                      const std::vector<std::string>& meshes) {
  REQUIRE_MESSAGE(res.exit_code, res.err);
  CHECK_MESSAGE(*res.exit_code == 0, res.out << res.err);
  CHECK(res.out.find("MESH") != std::string::npos);
  CHECK(res.out.find("STATUS") != std::string::npos);
  for (auto& m : meshes)
    CHECK_MESSAGE(res.out.find("\n" + m) != std::string::npos, res.out);
  CHECK(res.out.find("running") != std::string::npos);
  CHECK(res.out.find("shutdown:") != std::string::npos);
  CHECK(res.out.find("0 SIGKILL") != std::string::npos);
}

/// Starts `meshctl up FILE`, waits until the mesh is up, sends `sig` and
/// returns (exit status, everything it printed).
std::pair<int, std::string> up_then_signal(const std::string& file, int sig) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    auto exe = meshctl();
    ::execl(exe.c_str(), exe.c_str(), "up", file.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[4096];
  bool signalled = false;
  for (ssize_t n; (n = ::read(out[0], buf, sizeof(buf))) > 0;) {
    text.append(buf, static_cast<size_t>(n));
    if (!signalled && text.find("mesh is up") != std::string::npos) {
      ::kill(pid, sig);
      signalled = true;
    }
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK_MESSAGE(signalled, text);
  return {status, text};
}

/// `meshctl up FILE [--once]` running in the background, its stdout and
/// stderr read together from one pipe.
class meshctl_process {
public:
  explicit meshctl_process(const std::string& file, bool once = false) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      ::close(out[0]);
      ::close(out[1]);
      auto exe = meshctl();
      if (once)
        ::execl(exe.c_str(), exe.c_str(), "up", file.c_str(), "--once",
                nullptr);
      else
        ::execl(exe.c_str(), exe.c_str(), "up", file.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(out[1]);
    fd_ = out[0];
  }

  ~meshctl_process() {
    if (fd_ >= 0)
      ::close(fd_);
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  meshctl_process(const meshctl_process&) = delete;
  meshctl_process& operator=(const meshctl_process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& text() const { return text_; }

  /// Reads until `pattern` matches what it printed (true) or it closed its
  /// output or `limit` passed (false).
  bool read_until(const std::regex& pattern, std::chrono::milliseconds limit,
                  std::smatch* match = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      std::smatch m;
      if (std::regex_search(text_, m, pattern)) {
        if (match)
          *match = m;
        return true;
      }
      if (fd_ < 0 || !read_some(deadline))
        return false;
    }
  }

  /// Reads to the end of its output and waits for it to exit, both within
  /// `limit`; the wait status, or nullopt (then it is killed) if it did not.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (fd_ >= 0 && read_some(deadline)) {
    }
    while (!status_) {
      int status = 0;
      auto got = ::waitpid(pid_, &status, WNOHANG);
      if (got == pid_) {
        status_ = status;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return status_;
  }

private:
  // One read, waiting at most until `deadline`; false at the end of the
  // output (the fd is closed then) or at the deadline.
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char buf[4096];
    auto n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) {
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    text_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string text_;
  std::optional<int> status_;
};

/// A fresh directory for a test's mesh file and spool, removed at the end.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/mesh-slurm-up-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    auto file = path + "/" + name;
    std::ofstream{file} << text;
    return file;
  }
  /// Entries of the spool root: a job's spool directory while it lives.
  size_t spool_entries() const {
    std::error_code ec;
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator{path + "/spool", ec};
         !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
      ++n;
    return n;
  }
};

bool slurm_skipped() {
  if (auto why = mesh::test::slurm_cluster::unavailable()) {
    MESSAGE("skipped: " << *why);
    return true;
  }
  return false;
}

/// A slurm mesh file for `cluster`: hosts_per_node hosts on its one node,
/// meshd from the build tree, the spool under `dir`.
std::string slurm_file(const mesh::test::slurm_cluster& cluster,
                       const temp_dir& dir, size_t hosts_per_node,
                       const std::string& extra_hosts,
                       const std::string& proc_meshes) {
  return "hosts:\n  mode: slurm\n  nodes: 1\n  hosts_per_node: "
         + std::to_string(hosts_per_node) + "\n  partition: "
         + cluster.partition() + "\n  meshd: " + mesh::test::meshd_path()
         + "\n  spool: " + dir.path + "/spool\n  owner_timeout: 30s\n"
         + "  poll_interval: 100ms\n" + extra_hosts + "proc_meshes:\n"
         + proc_meshes;
}

} // namespace

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up --once brings up config/local.yaml") {
  auto res = mesh::test::run({meshctl(), "up", "config/local.yaml", "--once"},
                             120s);
  check_brought_up(res, {"workers", "servers"});
  CHECK(res.out.find("6 stopped politely") != std::string::npos);
  // Not a terminal: progress comes as plain lines.
  CHECK(res.err.find("procs ready 6/6") != std::string::npos);
  // The health round called every actor: one latency per rank.
  CHECK(res.out.find("CALL") != std::string::npos);
  CHECK(res.out.find("echoes") != std::string::npos);
  CHECK(res.out.find("frontends") != std::string::npos);
  size_t latencies = 0;
  for (size_t pos = 0; (pos = res.out.find("ms\n", pos)) != std::string::npos;
       ++pos)
    ++latencies;
  CHECK(latencies == 6);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up refuses an unknown actor type with its position "
                  "before starting anything") {
  auto res = mesh::test::run(
    {meshctl(), "up", "test/data/mesh_files/unknown_actor_type.yaml", "--once"},
    60s);
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 1);
  CHECK_MESSAGE(res.err.find("unknown_actor_type.yaml:9:9: unknown actor type "
                             "'transformer' (meshctl ships: echo)") !=
                  std::string::npos,
                res.err);
  CHECK(res.out.empty());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up --once brings up config/in_process.yaml") {
  auto res = mesh::test::run(
    {meshctl(), "up", "config/in_process.yaml", "--once"}, 120s);
  check_brought_up(res, {"workers"});
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up --once brings up config/process.yaml") {
  auto res = mesh::test::run(
    {meshctl(), "up", "config/process.yaml", "--once"}, 120s);
  check_brought_up(res, {"trainers"});
  CHECK(res.out.find("on 2 hosts") != std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a mesh whose bootstrap command fails names the failing "
                  "ranks and exits non-zero") {
  auto res = mesh::test::run({meshctl(), "up",
                              "test/data/mesh_files/failing_bootstrap.yaml",
                              "--once"},
                             120s);
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 1);
  CHECK(res.err.find("proc mesh doomed did not come up") != std::string::npos);
  // Both ranks fail; which one is seen first (and so named in the error)
  // is a race.
  CHECK((res.err.find("rank 0") != std::string::npos
         || res.err.find("rank 1") != std::string::npos));
  CHECK(res.err.find("exited with code 1") != std::string::npos);
  CHECK(res.err.find("cannot open /dev/nvidia0") != std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up rejects an invalid file with line and column") {
  auto res = mesh::test::run(
    {meshctl(), "up", "test/data/mesh_files/three_errors.yaml"}, 30s);
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 1);
  CHECK(res.err.find("three_errors.yaml:5:3:") != std::string::npos);
  CHECK(res.err.find("three_errors.yaml:8:22:") != std::string::npos);
  CHECK(res.err.find("three_errors.yaml:13:22:") != std::string::npos);
  CHECK(res.out.empty());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "Ctrl-C during meshctl up shuts the mesh down cleanly") {
  auto [status, text] = up_then_signal("config/local.yaml", SIGINT);
  CHECK_MESSAGE(WIFEXITED(status), text);
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.find("shutdown: 6 procs on 1 host: 6 stopped politely")
        != std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "SIGTERM during meshctl up shuts the mesh down cleanly") {
  auto [status, text] = up_then_signal("config/process.yaml", SIGTERM);
  CHECK_MESSAGE(WIFEXITED(status), text);
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.find("stopped politely") != std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture, "meshctl up --help") {
  auto res = mesh::test::run({meshctl(), "up", "--help"}, 30s);
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 0);
  CHECK(res.out.find("--once") != std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up --once attaches to running meshd daemons and "
                  "leaves them running") {
  std::vector<std::unique_ptr<mesh::test::meshd_daemon>> daemons;
  for (int i = 0; i < 2; ++i) {
    std::string why;
    daemons.push_back(mesh::test::meshd_daemon::start(
      {mesh::test::meshd_path(), "--listen", "127.0.0.1:0", "--proc-command",
       meshctl(), "--tls-cert", mesh::test::certs().path("server.pem"),
       "--tls-key", mesh::test::certs().path("server.key"), "--tls-ca",
       mesh::test::certs().path("ca_a.pem")},
      {}, &why));
    REQUIRE_MESSAGE(daemons.back(), why);
  }
  // The example file names fixed ports; this one uses the daemons' own.
  char path[] = "/tmp/mesh-attach-XXXXXX.yaml";
  int fd = ::mkstemps(path, 5);
  REQUIRE(fd >= 0);
  std::string yaml = "hosts:\n  mode: attach\n  addresses:\n    - "
                     + daemons[0]->address() + "\n    - "
                     + daemons[1]->address()
                     + "\nproc_meshes:\n  - name: workers\n"
                       "    per_host: {procs: 2}\n    actors:\n"
                       "      - name: echoes\n        type: echo\n";
  REQUIRE(::write(fd, yaml.data(), yaml.size())
          == static_cast<ssize_t>(yaml.size()));
  ::close(fd);
  auto res = mesh::test::run({meshctl(), "up", path, "--once"}, 120s,
                             mesh::test::client_tls_env());
  ::unlink(path);
  REQUIRE(res.exit_code);
  CHECK_MESSAGE(*res.exit_code == 0, res.out << res.err);
  CHECK(res.out.find("echoes") != std::string::npos);
  CHECK(res.out.find("stop: 4 procs on 2 hosts: 4 stopped politely")
        != std::string::npos);
  for (auto& d : daemons)
    CHECK(d->running());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up of a slurm file shows the job pending, and "
                  "Ctrl-C cancels it and exits 0 with nothing left") {
  if (slurm_skipped())
    return;
  mesh::test::slurm_cluster cluster;
  temp_dir dir;
  // --hold keeps the job pending (reason JobHeldUser) for as long as the
  // test needs, whatever the machine's load.
  auto file = dir.write(
    "held.yaml", slurm_file(cluster, dir, 1, "  sbatch_args: [--hold]\n",
                            "  - name: workers\n    per_host: {procs: 1}\n"));
  meshctl_process up{file};
  std::smatch m;
  REQUIRE_MESSAGE(up.read_until(std::regex{"slurm job ([0-9]+): PENDING "
                                           "\\(JobHeldUser\\)\n"},
                                std::chrono::seconds{60}, &m),
                  up.text());
  auto id = m[1].str();
  // What meshctl shows is what Slurm says.
  auto pending = cluster.job(id);
  CHECK(pending.state == "PENDING");
  CHECK(pending.reason == "JobHeldUser");
  CHECK(dir.spool_entries() == 1); // the job's spool: key, script
  REQUIRE(::kill(up.pid(), SIGINT) == 0);
  auto status = up.wait(std::chrono::seconds{60});
  REQUIRE_MESSAGE(status, up.text());
  CHECK_MESSAGE(WIFEXITED(*status), up.text());
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK_MESSAGE(mesh::test::contains(
                  up.text(), "meshctl: interrupted by signal 2: cancelled "
                             "slurm job " + id + ": PENDING (JobHeldUser)\n"),
                up.text());
  // The job is cancelled (or already forgotten), and its spool is gone.
  auto after = cluster.wait_state(id, {"CANCELLED", ""},
                                  std::chrono::seconds{30});
  CHECK_MESSAGE((after.state == "CANCELLED" || after.state.empty()),
                after.state);
  CHECK(cluster.active_jobs().empty());
  CHECK(dir.spool_entries() == 0);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up --once of a slurm file runs the mesh on a job, "
                  "and the job ends with it") {
  if (slurm_skipped())
    return;
  mesh::test::slurm_cluster cluster;
  temp_dir dir;
  auto file = dir.write(
    "two.yaml",
    slurm_file(cluster, dir, 2, "  time: 5m\n",
               "  - name: workers\n    per_host: {procs: 1}\n"
               "    actors:\n      - name: echoes\n        type: echo\n"));
  meshctl_process up{file, true};
  auto status = up.wait(std::chrono::seconds{120});
  REQUIRE_MESSAGE(status, up.text());
  CHECK_MESSAGE(WIFEXITED(*status), up.text());
  CHECK_MESSAGE(WEXITSTATUS(*status) == 0, up.text());
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_search(up.text(), m,
                                    std::regex{"slurm job ([0-9]+): RUNNING, "
                                               "hosts ready 2/2\n"}),
                  up.text());
  auto id = m[1].str();
  // Both hosts ran a proc, each answered its health call.
  CHECK(mesh::test::contains(up.text(), "procs ready 2/2"));
  CHECK(mesh::test::contains(up.text(), "echoes"));
  CHECK_MESSAGE(mesh::test::contains(up.text(), "shutdown: 2 procs on 2 hosts"),
                up.text());
  // shutdown(): the daemons exit, the job completes, the spool goes.
  auto after = cluster.wait_state(id, {"COMPLETED", ""},
                                  std::chrono::seconds{60});
  CHECK_MESSAGE((after.state == "COMPLETED" || after.state.empty()),
                after.state << " " << after.reason);
  CHECK(cluster.active_jobs().empty());
  CHECK(dir.spool_entries() == 0);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up of a slurm file with a partition Slurm does not "
                  "have prints sbatch's refusal naming it and exits 1") {
  if (slurm_skipped())
    return;
  mesh::test::slurm_cluster cluster;
  temp_dir dir;
  auto text = slurm_file(cluster, dir, 1, "",
                         "  - name: workers\n    per_host: {procs: 1}\n");
  text.replace(text.find("partition: " + cluster.partition()),
               std::string{"partition: "}.size() + cluster.partition().size(),
               "partition: nosuch");
  auto res = mesh::test::run({meshctl(), "up", dir.write("bad.yaml", text),
                              "--once"},
                             std::chrono::seconds{60});
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 1);
  CHECK_MESSAGE(mesh::test::contains(res.err, "meshctl: hosts did not come up: "),
                res.err);
  CHECK_MESSAGE(mesh::test::contains(res.err, "invalid partition specified: "
                                              "nosuch"),
                res.err);
  CHECK(cluster.active_jobs().empty());
  CHECK(dir.spool_entries() == 0);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshctl up --once of a slurm file with allocation current "
                  "runs in the salloc it is started in, without a job of its "
                  "own") {
  if (slurm_skipped())
    return;
  mesh::test::slurm_cluster cluster;
  temp_dir dir;
  // No nodes: every node of the allocation (one here), two hosts on it.
  auto file = dir.write(
    "inside.yaml",
    "hosts:\n  mode: slurm\n  allocation: current\n  hosts_per_node: 2\n"
    "  meshd: " + mesh::test::meshd_path() + "\n  spool: " + dir.path
      + "/spool\n  owner_timeout: 30s\n  poll_interval: 100ms\n"
        "proc_meshes:\n  - name: workers\n    per_host: {procs: 1}\n"
        "    actors:\n      - name: echoes\n        type: echo\n");
  auto res = cluster.command({"salloc", "--nodes=1", meshctl(), "up", file,
                              "--once"},
                             std::chrono::seconds{120});
  REQUIRE_MESSAGE(res.exit_code, res.out << res.err);
  CHECK_MESSAGE(*res.exit_code == 0, res.out << res.err);
  CHECK(mesh::test::contains(res.err, "procs ready 2/2"));
  CHECK(mesh::test::contains(res.out, "echoes"));
  CHECK_MESSAGE(mesh::test::contains(res.out, "shutdown: 2 procs on 2 hosts"),
                res.out << res.err);
  // salloc's allocation was the only job, and it ended with salloc.
  CHECK(cluster.active_jobs().empty());
  CHECK(dir.spool_entries() == 0);
}
