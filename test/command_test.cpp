// Running helper programs with a bound (bootstrap/command.hpp), as the Slurm
// allocator runs sbatch, scontrol, scancel and srun: output and exit status
// collected, a command past its limit or cancelled killed and reaped, a
// long-running one ended by signal, no process left behind.
#include "bootstrap/command.hpp"
#include "mesh/error.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using mesh::bootstrap::command_process;
using mesh::bootstrap::run_command;
using mesh::test::contains;
using mesh::test::reaped_fixture;

namespace {

using clock_type = std::chrono::steady_clock;

long elapsed_ms(clock_type::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                             clock_type::now() - since)
                             .count());
}

} // namespace

TEST_CASE_FIXTURE(reaped_fixture,
                  "run_command collects stdout, stderr and the exit code") {
  auto res = run_command({"sh", "-c", "echo out; echo one >&2; echo two >&2; "
                                      "exit 3"},
                         10s);
  REQUIRE(res);
  CHECK(res->exit_code == 3);
  CHECK_FALSE(res->ok());
  CHECK_FALSE(res->timed_out);
  CHECK_FALSE(res->cancelled);
  CHECK(res->out == "out\n");
  CHECK(res->err == "one\ntwo\n");
  CHECK(res->description == "sh exited with code 3: one; two");
  auto ok = run_command({"true"}, 10s);
  REQUIRE(ok);
  CHECK(ok->ok());
  CHECK(ok->description == "true exited with code 0");
}

TEST_CASE_FIXTURE(reaped_fixture, "run_command passes extra environment") {
  auto res = run_command({"sh", "-c", "printf %s \"$GREETING\""}, 10s, -1,
                         {{"GREETING", "hi there"}});
  REQUIRE(res);
  CHECK(res->out == "hi there");
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "a command past its limit is killed with its process "
                  "group and reaped") {
  auto start = clock_type::now();
  // The background sleep holds the pipes open: the group kill ends it too.
  auto res = run_command({"sh", "-c", "sleep 30 & echo started; sleep 30"},
                         300ms);
  REQUIRE(res);
  auto ms = elapsed_ms(start);
  MESSAGE("killed after " << ms << " ms");
  CHECK(ms < 5000);
  CHECK(res->timed_out);
  CHECK(res->signal == SIGKILL);
  CHECK(res->out == "started\n");
  CHECK(contains(res->description, "killed after 300 ms"));
  CHECK(mesh::test::reap_exiting_children(5s));
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "a command is killed as soon as its cancel fd fires") {
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(efd >= 0);
  std::thread canceller{[efd] {
    std::this_thread::sleep_for(200ms);
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(efd, &one, sizeof(one));
  }};
  auto start = clock_type::now();
  auto res = run_command({"sleep", "30"}, 20s, efd);
  canceller.join();
  ::close(efd);
  REQUIRE(res);
  auto ms = elapsed_ms(start);
  MESSAGE("cancelled after " << ms << " ms");
  CHECK(ms < 5000);
  CHECK(res->cancelled);
  CHECK_FALSE(res->timed_out);
  CHECK_FALSE(res->exit_code);
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "a command that exits while a grandchild holds its pipes "
                  "is seen to exit") {
  auto start = clock_type::now();
  auto res = run_command({"sh", "-c", "(sleep 3; echo late) & echo early"},
                         20s);
  REQUIRE(res);
  CHECK(elapsed_ms(start) < 2500);
  CHECK(res->exit_code == 0);
  CHECK(res->out == "early\n");
  // The orphaned sleep is this subreaper's: let it finish.
  CHECK(mesh::test::reap_exiting_children(10s));
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "a missing program is a spawn error naming it") {
  auto res = run_command({"no-such-program-libmesh"}, 10s);
  REQUIRE_FALSE(res);
  CHECK(mesh::is(res.error(), mesh::ec::spawn_failed));
  CHECK(contains(mesh::to_string(res.error()), "no-such-program-libmesh"));
  auto empty = run_command({}, 10s);
  REQUIRE_FALSE(empty);
  CHECK(mesh::is(empty.error(), mesh::ec::invalid_argument));
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "output beyond 1 MiB keeps its newest bytes") {
  auto res = run_command({"sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' "
                                      "x; echo; echo end"},
                         30s);
  REQUIRE(res);
  CHECK(res->exit_code == 0);
  CHECK(res->out.size() <= (1u << 20));
  CHECK(res->out.size() >= (1u << 19));
  CHECK(res->out.substr(res->out.size() - 4) == "end\n");
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "a long-running command: waited for with a limit, "
                  "signalled, described, reaped") {
  auto proc = command_process::start(
    {"sh", "-c", "trap 'echo term >&2; exit 7' TERM; echo up; "
                 "while :; do sleep 0.05; done"},
    {}, false);
  REQUIRE(proc);
  CHECK_FALSE(proc->wait(300ms));
  CHECK_FALSE(proc->exited());
  CHECK(proc->out() == "up\n");
  CHECK(contains(proc->describe(), "still runs"));
  proc->signal(SIGTERM);
  CHECK(proc->wait(10s));
  CHECK(proc->exit_code() == 7);
  // The shell's stderr ends with the trap's line (it may first say that
  // the group's SIGTERM ended its sleep).
  auto text = proc->describe();
  CHECK(text.rfind("sh exited with code 7: ", 0) == 0);
  CHECK(text.substr(text.size() - 4) == "term");
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "a command_process destroyed while its child runs kills "
                  "and reaps it") {
  pid_t pid = -1;
  {
    auto proc = command_process::start({"sleep", "30"});
    REQUIRE(proc);
    pid = proc->pid();
    CHECK(mesh::test::alive(pid));
  }
  CHECK_FALSE(mesh::test::alive(pid));
}
