// meshctl up: real bring-ups of the example mesh files, failures and signals.
#include "meshd_daemon.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

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
      {mesh::test::meshd_path(), "--listen", "127.0.0.1:0", "--insecure",
       "--proc-command", meshctl()},
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
  auto res = mesh::test::run({meshctl(), "up", path, "--once"}, 120s);
  ::unlink(path);
  REQUIRE(res.exit_code);
  CHECK_MESSAGE(*res.exit_code == 0, res.out << res.err);
  CHECK(res.out.find("echoes") != std::string::npos);
  CHECK(res.out.find("stop: 4 procs on 2 hosts: 4 stopped politely")
        != std::string::npos);
  for (auto& d : daemons)
    CHECK(d->running());
}
