// The child watcher (launch, output, exit, signals, reaping) and the bootstrap
// proc manager actor built on it. Every test starts real processes and
// checks, through reaped_fixture, that none is left behind.
#include "actors/bootstrap_proc_manager.hpp"
#include "bootstrap/launcher.hpp"
#include "bootstrap/line_framer.hpp"
#include "bootstrap/payload.hpp"
#include "bootstrap/tls.hpp"
#include "bootstrap/zygote.hpp"
#include "mesh/actors.hpp"
#include "mesh/error.hpp"
#include "mesh/system.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <caf/all.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using mesh::bootstrap::child_events;
using mesh::bootstrap::child_watcher;
using mesh::bootstrap::launch_spec;
using reaped_fixture = mesh::test::reaped_fixture;

namespace {

/// Bound of every wait for an event; reaching it fails the test.
constexpr auto event_deadline = std::chrono::seconds{10};

/// A line as the watcher reported it.
struct line_event {
  std::string name;
  bool is_stderr = false;
  std::string text;
};

/// An exit as the watcher reported it.
struct exit_event {
  std::string name;
  int64_t pid = 0;
  std::optional<int> code;
  std::optional<int> sig;
};

/// The outcome of a launch_async, as its `done` told it.
struct launch_event {
  std::string name;
  std::optional<int64_t> pid; ///< Unset if the launch failed.
};

using event = std::variant<line_event, exit_event, launch_event>;

/// Records a watcher's events in order; the test thread waits on them.
class recorder {
public:
  child_events callbacks() {
    child_events ev;
    ev.on_line = [this](const std::string& name, bool is_stderr,
                        std::string text) {
      add(line_event{name, is_stderr, std::move(text)});
    };
    ev.on_exit = [this](const std::string& name, int64_t pid,
                        std::optional<int> code, std::optional<int> sig) {
      add(exit_event{name, pid, code, sig});
    };
    return ev;
  }

  /// A `done` for launch_async that records the outcome among the events.
  child_watcher::launched launched(std::string name) {
    return [this, name](caf::expected<int64_t> outcome) {
      launch_event ev{name, std::nullopt};
      if (outcome)
        ev.pid = *outcome;
      add(std::move(ev));
    };
  }

  /// Waits until `pred(events)` holds; false after event_deadline.
  bool wait(const std::function<bool(const std::vector<event>&)>& pred) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, event_deadline, [&] { return pred(events_); });
  }

  /// Waits for the exit of `name`.
  std::optional<exit_event> wait_exit(const std::string& name) {
    std::optional<exit_event> result;
    wait([&](const std::vector<event>& evs) {
      for (auto& ev : evs)
        if (auto* ex = std::get_if<exit_event>(&ev); ex && ex->name == name)
          result = *ex;
      return result.has_value();
    });
    return result;
  }

  /// Waits for a line of `name` equal to `text`.
  bool wait_line(const std::string& name, const std::string& text) {
    return wait([&](const std::vector<event>& evs) {
      return std::any_of(evs.begin(), evs.end(), [&](const event& ev) {
        auto* ln = std::get_if<line_event>(&ev);
        return ln && ln->name == name && ln->text == text;
      });
    });
  }

  /// Waits for the first line of `name` and returns it.
  std::optional<std::string> first_line(const std::string& name) {
    std::optional<std::string> result;
    wait([&](const std::vector<event>& evs) {
      for (auto& ev : evs)
        if (auto* ln = std::get_if<line_event>(&ev); ln && ln->name == name) {
          result = ln->text;
          return true;
        }
      return false;
    });
    return result;
  }

  /// Events of `name` so far, in order.
  std::vector<event> of(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<event> result;
    for (auto& ev : events_) {
      auto& who =
        std::visit([](auto& x) -> const std::string& { return x.name; }, ev);
      if (who == name)
        result.push_back(ev);
    }
    return result;
  }

  std::vector<event> all() {
    std::lock_guard<std::mutex> guard{mtx_};
    return events_;
  }

private:
  void add(event ev) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      events_.push_back(std::move(ev));
    }
    cv_.notify_all();
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<event> events_;
};

launch_spec sh(std::string name, std::string script) {
  launch_spec spec;
  spec.name = std::move(name);
  spec.command.program = "/bin/sh";
  spec.command.args = {"-c", std::move(script)};
  return spec;
}

launch_spec sleeper(std::string name) {
  launch_spec spec;
  spec.name = std::move(name);
  spec.command.program = "/bin/sleep";
  spec.command.args = {"30"};
  return spec;
}

const line_event* as_line(const event& ev) {
  return std::get_if<line_event>(&ev);
}

const exit_event* as_exit(const event& ev) {
  return std::get_if<exit_event>(&ev);
}

const launch_event* as_launch(const event& ev) {
  return std::get_if<launch_event>(&ev);
}

/// True if `pid` is gone entirely: neither running nor an unreaped zombie.
bool is_gone(int64_t pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH;
}

/// A grandchild whose parent died is re-parented to this process (the test
/// binary is a child subreaper). Waits (bounded) until it is dead, reaps it
/// and returns the signal that killed it.
std::optional<int> reap_orphan(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0)
    return std::nullopt;
  pollfd pfd{fd, POLLIN, 0};
  auto ready =
    ::poll(&pfd, 1,
           static_cast<int>(std::chrono::milliseconds{event_deadline}.count()));
  ::close(fd);
  int status = 0;
  if (ready != 1 || ::waitpid(pid, &status, 0) != pid)
    return std::nullopt;
  if (!WIFSIGNALED(status))
    return std::nullopt;
  return WTERMSIG(status);
}

/// Waits (bounded) until `pid` has exited, without reaping it.
bool wait_dead(int64_t pid) {
  int fd =
    static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (fd < 0)
    return errno == ESRCH; // already reaped
  pollfd pfd{fd, POLLIN, 0};
  auto ready =
    ::poll(&pfd, 1,
           static_cast<int>(std::chrono::milliseconds{event_deadline}.count()));
  ::close(fd);
  return ready == 1;
}

/// Reaps every child of this process that the watcher did not own (killed
/// grandchildren re-parented here); the signal that killed each, by pid.
std::map<pid_t, std::optional<int>> reap_orphans() {
  std::map<pid_t, std::optional<int>> result;
  for (auto pid : mesh::test::child_pids())
    result.emplace(pid, reap_orphan(pid));
  return result;
}

/// Field 5 of /proc/<pid>/stat: the process group.
long pgrp_of(int64_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  auto close = stat.rfind(')');
  if (close == std::string::npos)
    return -1;
  std::istringstream rest{stat.substr(close + 2)};
  char state = 0;
  long ppid = 0;
  long pgrp = 0;
  rest >> state >> ppid >> pgrp;
  return pgrp;
}

} // namespace

// --- line framing (no processes) ---

TEST_CASE("line_framer cuts the same lines whatever the read boundaries") {
  using mesh::bootstrap::line_framer;
  // Lines of 0, 3, exactly 4 (max) and 10 bytes, then a rest without '\n'.
  const std::string input = "\nabc\nwxyz\n0123456789\ntail";
  const std::vector<std::string> expected{"",     "abc", "wxyz", "0123",
                                          "4567", "89",  "tail"};
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    line_framer framer{4};
    std::vector<std::string> lines;
    auto sink = [&](std::string line) { lines.push_back(std::move(line)); };
    for (size_t pos = 0; pos < input.size(); pos += chunk)
      framer.feed(input.data() + pos, std::min(chunk, input.size() - pos),
                  sink);
    framer.finish(sink);
    CHECK_MESSAGE(lines == expected, "chunk " << chunk);
    framer.finish(sink); // nothing is left to tell twice
    CHECK(lines.size() == expected.size());
  }
}

// --- child_watcher: output and exit ---

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher reports stdout and stderr lines, then the "
                  "exit code") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  auto pid = watcher.launch(sh("p", "echo out; echo err >&2; exit 3"));
  REQUIRE_MESSAGE(pid, mesh::to_string(pid.error()));
  CHECK(*pid > 0);
  auto ex = rec.wait_exit("p");
  REQUIRE(ex);
  auto evs = rec.of("p");
  REQUIRE(evs.size() == 3);
  REQUIRE(as_line(evs[0]));
  CHECK(as_line(evs[0])->text == "out");
  CHECK_FALSE(as_line(evs[0])->is_stderr);
  REQUIRE(as_line(evs[1]));
  CHECK(as_line(evs[1])->text == "err");
  CHECK(as_line(evs[1])->is_stderr);
  REQUIRE(as_exit(evs[2]));
  CHECK(as_exit(evs[2])->pid == *pid);
  CHECK(as_exit(evs[2])->code == 3);
  CHECK_FALSE(as_exit(evs[2])->sig);
}

TEST_CASE_FIXTURE(
  reaped_fixture,
  "child_watcher delivers a last line without newline at exit") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  REQUIRE(watcher.launch(sh("p", "printf 'first\\nlast'")));
  REQUIRE(rec.wait_exit("p"));
  auto evs = rec.of("p");
  REQUIRE(evs.size() == 3);
  REQUIRE(as_line(evs[0]));
  CHECK(as_line(evs[0])->text == "first");
  REQUIRE(as_line(evs[1]));
  CHECK(as_line(evs[1])->text == "last");
  REQUIRE(as_exit(evs[2]));
  CHECK(as_exit(evs[2])->code == 0);
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher delivers a 100 KB line in one piece") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  REQUIRE(watcher.launch(
    sh("p", "head -c 102400 /dev/zero | tr '\\000' x; echo; echo next")));
  REQUIRE(rec.wait_exit("p"));
  auto evs = rec.of("p");
  REQUIRE(evs.size() == 3);
  REQUIRE(as_line(evs[0]));
  CHECK(as_line(evs[0])->text == std::string(102400, 'x'));
  REQUIRE(as_line(evs[1]));
  CHECK(as_line(evs[1])->text == "next");
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher cuts a line longer than max_line into "
                  "max_line pieces, and only such a line") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  auto xs = [](size_t n) {
    return "head -c " + std::to_string(n) + " /dev/zero | tr '\\000' x; echo; ";
  };
  auto max = child_watcher::max_line;
  REQUIRE(watcher.launch(sh("p", xs(max) + xs(max + 10))));
  REQUIRE(rec.wait_exit("p"));
  std::vector<size_t> sizes;
  for (auto& ev : rec.of("p")) {
    if (auto* ln = as_line(ev)) {
      CHECK(ln->text == std::string(ln->text.size(), 'x'));
      sizes.push_back(ln->text.size());
    }
  }
  CHECK(sizes == std::vector<size_t>{max, max, 10});
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher passes argv[0] and the arguments verbatim") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  auto spec = sh("p", "tr '\\000' '\\n' < /proc/$$/cmdline | head -n 1; "
                      "echo \"$0\"; echo \"$1\"");
  spec.command.arg0 = "custom-name";
  spec.command.args.push_back("zero");
  spec.command.args.push_back("two  words");
  REQUIRE(watcher.launch(spec));
  REQUIRE(rec.wait_exit("p"));
  std::vector<std::string> lines;
  for (auto& ev : rec.of("p"))
    if (auto* ln = as_line(ev))
      lines.push_back(ln->text);
  CHECK(lines == std::vector<std::string>{"custom-name", "zero", "two  words"});
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher environment: inherited as it was when the "
                  "watcher started, then command env, then extra_env wins") {
  recorder rec;
  ::setenv("MESH_TEST_INHERITED", "from-parent", 1);
  ::setenv("MESH_TEST_SHADOWED", "from-parent", 1);
  child_watcher watcher{rec.callbacks()};
  // Read once at start: a later setenv (racing with nothing) is not seen.
  ::setenv("MESH_TEST_LATE", "too-late", 1);
  auto spec = sh("p", "echo \"$MESH_TEST_INHERITED\"; echo "
                      "\"$MESH_TEST_SHADOWED\"; echo \"$FROM_CMD\"; echo "
                      "\"$OVERRIDDEN\"; echo \"late:$MESH_TEST_LATE\"");
  spec.command.env = {{"MESH_TEST_SHADOWED", "from-command"},
                      {"FROM_CMD", "cmd"},
                      {"OVERRIDDEN", "cmd"}};
  spec.extra_env = {{"OVERRIDDEN", "extra"}};
  auto pid = watcher.launch(spec);
  ::unsetenv("MESH_TEST_INHERITED");
  ::unsetenv("MESH_TEST_SHADOWED");
  ::unsetenv("MESH_TEST_LATE");
  REQUIRE(pid);
  REQUIRE(rec.wait_exit("p"));
  std::vector<std::string> lines;
  for (auto& ev : rec.of("p"))
    if (auto* ln = as_line(ev))
      lines.push_back(ln->text);
  CHECK(lines == std::vector<std::string>{"from-parent", "from-command", "cmd",
                                          "extra", "late:"});
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher resolves a program without '/' via PATH") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  launch_spec spec;
  spec.name = "p";
  spec.command.program = "sh";
  spec.command.args = {"-c", "echo found"};
  REQUIRE(watcher.launch(spec));
  REQUIRE(rec.wait_exit("p"));
  CHECK(rec.wait_line("p", "found"));
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher gives the child /dev/null as stdin") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  // cat would block forever on an inherited terminal or pipe.
  REQUIRE(watcher.launch(sh("p", "cat; echo done")));
  auto ex = rec.wait_exit("p");
  REQUIRE(ex);
  CHECK(ex->code == 0);
  CHECK(rec.wait_line("p", "done"));
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher starts children with default signal "
                  "dispositions and nothing blocked") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  // An application that ignores SIGHUP must not pass that on to its procs.
  auto old = ::signal(SIGHUP, SIG_IGN);
  launch_spec spec;
  spec.name = "p";
  spec.command.program = "/bin/grep";
  spec.command.args = {"-E", "^Sig(Ign|Blk)", "/proc/self/status"};
  auto pid = watcher.launch(spec);
  ::signal(SIGHUP, old);
  REQUIRE(pid);
  REQUIRE(rec.wait_exit("p"));
  std::vector<std::string> lines;
  for (auto& ev : rec.of("p"))
    if (auto* ln = as_line(ev))
      lines.push_back(ln->text);
  CHECK(lines == std::vector<std::string>{"SigBlk:\t0000000000000000",
                                          "SigIgn:\t0000000000000000"});
}

// --- child_watcher: refused launches ---

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher refuses a missing program, naming it, and "
                  "launches nothing") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  launch_spec spec;
  spec.name = "p";
  spec.command.program = "/nonexistent/mesh-prog";
  auto pid = watcher.launch(spec);
  REQUIRE_FALSE(pid);
  CHECK(mesh::is(pid.error(), mesh::ec::spawn_failed));
  CHECK(mesh::to_string(pid.error()) ==
        "spawn failed: proc 'p': program '/nonexistent/mesh-prog' does not "
        "exist");
  CHECK(watcher.running() == 0);
  CHECK(mesh::test::child_pids().empty());
  CHECK(rec.all().empty());
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher refuses a program that is not executable") {
  char path[] = "/tmp/mesh-launcher-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  launch_spec spec;
  spec.name = "p";
  spec.command.program = path;
  auto pid = watcher.launch(spec);
  ::unlink(path);
  REQUIRE_FALSE(pid);
  CHECK(mesh::is(pid.error(), mesh::ec::spawn_failed));
  CHECK(mesh::to_string(pid.error())
          .find("program '" + std::string{path} + "' is not executable") !=
        std::string::npos);
  CHECK(mesh::test::child_pids().empty());
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher reports a failed exec and leaves no zombie") {
  char path[] = "/tmp/mesh-launcher-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  // Executable, but neither ELF nor "#!": execve fails with ENOEXEC.
  REQUIRE(::write(fd, "\x01\x02\x03\x04", 4) == 4);
  ::fchmod(fd, 0755);
  ::close(fd);
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  launch_spec spec;
  spec.name = "p";
  spec.command.program = path;
  auto pid = watcher.launch(spec);
  ::unlink(path);
  REQUIRE_FALSE(pid);
  CHECK(mesh::is(pid.error(), mesh::ec::spawn_failed));
  CHECK(mesh::to_string(pid.error()) ==
        "spawn failed: proc 'p': could not execute program '" +
          std::string{path} + "': Exec format error");
  CHECK(watcher.running() == 0);
  CHECK(mesh::test::child_pids().empty());
  CHECK(rec.all().empty());
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher refuses a name that is not in PATH") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  launch_spec spec;
  spec.name = "p";
  spec.command.program = "mesh-no-such-program";
  spec.command.env = {{"PATH", "/nonexistent-dir:/also-missing"}};
  auto pid = watcher.launch(spec);
  REQUIRE_FALSE(pid);
  CHECK(mesh::is(pid.error(), mesh::ec::spawn_failed));
  auto text = mesh::to_string(pid.error());
  CHECK(text.find("'mesh-no-such-program'") != std::string::npos);
  CHECK(text.find("PATH (/nonexistent-dir:/also-missing)") !=
        std::string::npos);
  CHECK(mesh::test::child_pids().empty());
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher refuses malformed environment names and NUL "
                  "bytes") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  auto spec = sh("p", "true");
  spec.extra_env = {{"A=B", "x"}};
  auto pid = watcher.launch(spec);
  REQUIRE_FALSE(pid);
  CHECK(mesh::is(pid.error(), mesh::ec::invalid_argument));
  CHECK(mesh::to_string(pid.error()).find("environment variable name 'A=B'") !=
        std::string::npos);
  spec = sh("p", "true");
  spec.command.args.push_back(std::string{"a\0b", 3});
  pid = watcher.launch(spec);
  REQUIRE_FALSE(pid);
  CHECK(mesh::to_string(pid.error()).find("NUL byte") != std::string::npos);
  CHECK(mesh::test::child_pids().empty());
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher refuses a second child of a running name") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  REQUIRE(watcher.launch(sleeper("p")));
  auto again = watcher.launch(sleeper("p"));
  REQUIRE_FALSE(again);
  CHECK(mesh::is(again.error(), mesh::ec::invalid_argument));
  CHECK(mesh::to_string(again.error()).find("still running") !=
        std::string::npos);
  CHECK(watcher.running() == 1);
  CHECK(watcher.signal("p", SIGKILL));
  REQUIRE(rec.wait_exit("p"));
}

// --- child_watcher: signals and process groups ---

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher signal(SIGTERM) ends a sleeping child with "
                  "signal 15") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  REQUIRE(watcher.launch(sleeper("s")));
  CHECK(watcher.running() == 1);
  CHECK(watcher.signal("s", SIGTERM));
  auto ex = rec.wait_exit("s");
  REQUIRE(ex);
  CHECK(ex->sig == SIGTERM);
  CHECK_FALSE(ex->code);
  CHECK(watcher.running() == 0);
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher: a child that ignores SIGTERM survives it "
                  "and dies by SIGKILL") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  REQUIRE(watcher.launch(sh("t", "trap '' TERM; trap 'echo alive' WINCH; "
                                 "echo ready; while :; do sleep 30 & wait $!; "
                                 "done")));
  REQUIRE(rec.wait_line("t", "ready"));
  CHECK(watcher.signal("t", SIGTERM));
  // SIGTERM was discarded on arrival (ignored); a later signal proves the
  // shell is still there to trap it.
  CHECK(watcher.signal("t", SIGWINCH));
  REQUIRE(rec.wait_line("t", "alive"));
  CHECK(watcher.signal("t", SIGKILL));
  auto ex = rec.wait_exit("t");
  REQUIRE(ex);
  CHECK(ex->sig == SIGKILL);
  // The background sleeps were killed with the group and re-parented here.
  for (auto& [pid, sig] : reap_orphans())
    CHECK_MESSAGE(sig == SIGKILL, "grandchild " << pid);
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher signal(SIGKILL) kills the whole process "
                  "group, grandchild included") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  REQUIRE(watcher.launch(sh("g", "sleep 30 & echo $!; sleep 30")));
  auto grandchild = rec.first_line("g");
  REQUIRE(grandchild);
  CHECK(watcher.signal("g", SIGKILL));
  auto ex = rec.wait_exit("g");
  REQUIRE(ex);
  CHECK(ex->sig == SIGKILL);
  // Its parent may have reaped it while dying; else it was re-parented here.
  for (auto& [pid, sig] : reap_orphans())
    CHECK_MESSAGE(sig == SIGKILL, "grandchild " << pid);
  CHECK(is_gone(std::stoi(*grandchild)));
}

TEST_CASE_FIXTURE(
  reaped_fixture,
  "child_watcher: what is left of a child's group dies with it, "
  "even while holding its pipes") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  // The background sleep inherits stdout: the pipe never reaches EOF before
  // the watcher kills it.
  REQUIRE(watcher.launch(sh("g", "sleep 30 & echo $!; exit 4")));
  auto ex = rec.wait_exit("g");
  REQUIRE(ex);
  CHECK(ex->code == 4);
  auto evs = rec.of("g");
  REQUIRE(evs.size() == 2);
  REQUIRE(as_line(evs[0]));
  auto orphans = reap_orphans();
  CHECK(orphans.size() == 1);
  CHECK(orphans[std::stoi(as_line(evs[0])->text)] == SIGKILL);
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher: each child leads its own process group") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  auto pid = watcher.launch(sleeper("s"));
  REQUIRE(pid);
  CHECK(pgrp_of(*pid) == *pid);
  CHECK(pgrp_of(*pid) != ::getpgrp());
  CHECK(watcher.signal("s", SIGKILL));
  REQUIRE(rec.wait_exit("s"));
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher signal() is false for unknown and reaped "
                  "children") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  CHECK_FALSE(watcher.signal("nobody", SIGTERM));
  REQUIRE(watcher.launch(sh("p", "exit 0")));
  REQUIRE(rec.wait_exit("p"));
  CHECK_FALSE(watcher.signal("p", SIGTERM));
  CHECK(watcher.running() == 0);
}

// --- child_watcher: lifetime and concurrency ---

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher destructor kills and reaps every child, "
                  "stubborn ones and grandchildren included") {
  recorder rec;
  std::vector<int64_t> pids;
  std::optional<std::string> grandchild;
  {
    child_watcher watcher{rec.callbacks()};
    for (auto name : {"a", "b"}) {
      auto pid = watcher.launch(sleeper(name));
      REQUIRE(pid);
      pids.push_back(*pid);
    }
    auto stubborn = watcher.launch(
      sh("t", "trap '' TERM INT HUP; echo ready; while :; do sleep 30; done"));
    REQUIRE(stubborn);
    pids.push_back(*stubborn);
    auto group = watcher.launch(sh("g", "sleep 30 & echo $!; sleep 30"));
    REQUIRE(group);
    pids.push_back(*group);
    REQUIRE(rec.wait_line("t", "ready"));
    grandchild = rec.first_line("g");
    REQUIRE(grandchild);
    CHECK(watcher.running() == 4);
  }
  for (auto pid : pids)
    CHECK_MESSAGE(is_gone(pid), "pid " << pid << " survived the watcher");
  // No callback runs once the destructor has begun.
  for (auto& ev : rec.all())
    CHECK_FALSE(as_exit(ev));
  // Grandchildren were reaped by their dying parent or re-parented here
  // (subreaper): either way they must be dead.
  for (auto& [pid, sig] : reap_orphans())
    CHECK_MESSAGE(sig == SIGKILL, "grandchild " << pid);
  CHECK(is_gone(std::stoi(*grandchild)));
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher destroyed from its own callback kills the "
                  "remaining children and stops calling back") {
  recorder rec;
  std::unique_ptr<child_watcher> watcher;
  std::mutex mtx;
  std::condition_variable cv;
  bool destroyed = false;
  auto events = rec.callbacks();
  auto record_exit = events.on_exit;
  events.on_exit = [&](const std::string& name, int64_t pid,
                       std::optional<int> code, std::optional<int> sig) {
    record_exit(name, pid, code, sig);
    if (name != "trigger")
      return;
    // What a CAF actor's last reference dropped on this thread amounts to.
    watcher.reset();
    std::lock_guard<std::mutex> guard{mtx};
    destroyed = true;
    cv.notify_all();
  };
  watcher = std::make_unique<child_watcher>(events);
  auto survivor = watcher->launch(sh("survivor", "exec sleep 30"));
  REQUIRE(survivor);
  REQUIRE(watcher->launch(sh("trigger", "exit 0")));
  {
    std::unique_lock<std::mutex> guard{mtx};
    REQUIRE(cv.wait_for(guard, event_deadline, [&] { return destroyed; }));
  }
  // Killed at once; reaped by the ending watcher thread, which
  // reaped_fixture waits for.
  CHECK(wait_dead(*survivor));
  // Its exit came after the destructor had begun: not reported.
  CHECK(rec.of("survivor").empty());
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher reports each of 32 concurrent children "
                  "exactly once") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  std::map<std::string, int64_t> pids;
  for (int i = 0; i < 32; ++i) {
    auto name = "c" + std::to_string(i);
    auto pid = watcher.launch(sh(name, "echo line-" + std::to_string(i) +
                                         "; exit " + std::to_string(i)));
    REQUIRE(pid);
    pids.emplace(name, *pid);
  }
  REQUIRE(rec.wait([](const std::vector<event>& evs) {
    return std::count_if(evs.begin(), evs.end(),
                         [](auto& ev) { return as_exit(ev) != nullptr; }) >= 32;
  }));
  for (int i = 0; i < 32; ++i) {
    auto name = "c" + std::to_string(i);
    auto evs = rec.of(name);
    REQUIRE(evs.size() == 2);
    REQUIRE(as_line(evs[0]));
    CHECK(as_line(evs[0])->text == "line-" + std::to_string(i));
    REQUIRE(as_exit(evs[1]));
    CHECK(as_exit(evs[1])->code == i);
    CHECK(as_exit(evs[1])->pid == pids[name]);
  }
  CHECK(rec.all().size() == 64);
  CHECK(watcher.running() == 0);
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher launch() is safe from 4 threads at once") {
  recorder rec;
  child_watcher watcher{rec.callbacks()};
  std::mutex mtx;
  std::set<int64_t> pids;
  size_t failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        launch_spec spec;
        spec.name = "t" + std::to_string(t) + "-" + std::to_string(i);
        spec.command.program = "/bin/true";
        auto pid = watcher.launch(spec);
        std::lock_guard<std::mutex> guard{mtx};
        if (pid)
          pids.insert(*pid);
        else
          ++failures;
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(failures == 0);
  CHECK(pids.size() == 32);
  REQUIRE(rec.wait([](const std::vector<event>& evs) {
    return std::count_if(evs.begin(), evs.end(),
                         [](auto& ev) { return as_exit(ev) != nullptr; }) >= 32;
  }));
  std::set<int64_t> reported;
  for (auto& ev : rec.all())
    if (auto* ex = as_exit(ev)) {
      CHECK(ex->code == 0);
      reported.insert(ex->pid);
    }
  CHECK(reported == pids);
  CHECK(watcher.running() == 0);
}

TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher can launch from its own callback without "
                  "deadlock") {
  recorder rec;
  child_watcher* self = nullptr;
  std::optional<caf::expected<int64_t>> second;
  auto events = rec.callbacks();
  auto record_exit = events.on_exit;
  events.on_exit = [&](const std::string& name, int64_t pid,
                       std::optional<int> code, std::optional<int> sig) {
    if (name == "first")
      second = self->launch(sh("second", "echo second"));
    record_exit(name, pid, code, sig);
  };
  child_watcher watcher{events};
  self = &watcher;
  REQUIRE(watcher.launch(sh("first", "exit 0")));
  REQUIRE(rec.wait_exit("second"));
  REQUIRE(second);
  CHECK(*second);
  CHECK(rec.wait_line("second", "second"));
}

// --- child_watcher: a zygote that is starting holds up no one else ---

namespace {

/// Accepts connections on 127.0.0.1 and never answers: a proc that connects
/// waits in its registration.
struct silent_parent {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  uint16_t port = 0;

  silent_parent() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        ::listen(fd, 16) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port = ntohs(addr.sin_port);
  }
  ~silent_parent() { ::close(fd); }
};

/// A proc of mesh_child that a zygote may fork, whose zygote waits at the
/// gate `dir` (mesh_child's MESH_TEST_ZYGOTE_GATE) before it says 'ready'.
launch_spec gated_proc(std::string name, const std::string& dir,
                       uint16_t parent_port) {
  mesh::bootstrap::payload p;
  p.child_role = mesh::bootstrap::role::proc;
  p.name = name;
  p.parent_host = "127.0.0.1";
  p.parent_port = parent_port;
  p.token = "token";
  p.mesh_key = mesh::tls::process_transport().key;
  launch_spec spec;
  spec.name = std::move(name);
  spec.command.program = mesh::test::build_path("test/mesh_child");
  spec.command.env["MESH_TEST_ZYGOTE_GATE"] = dir;
  spec.extra_env[mesh::bootstrap::payload_env] = mesh::bootstrap::encode(p);
  spec.zygote_payload = [p] {
    auto z = p;
    z.child_role = mesh::bootstrap::role::zygote;
    return mesh::bootstrap::encode(z);
  };
  return spec;
}

/// Position of the first event that `pred` accepts; events.size() if none.
size_t index_of(const std::vector<event>& events,
                const std::function<bool(const event&)>& pred) {
  return static_cast<size_t>(std::find_if(events.begin(), events.end(), pred) -
                             events.begin());
}

} // namespace

// Ordering, not wall-clock: the zygote of "forked" waits at its gate until
// the test opens it, and the test opens it only once the exec'd child has
// been launched, has written its line and has exited. A watcher that slept
// waiting for the zygote to be ready could report none of that before the
// gate opens (or before it gave up on the zygote, which would then tell
// "forked" its outcome first, with a pid of our own).
TEST_CASE_FIXTURE(reaped_fixture,
                  "child_watcher: while a zygote is starting, other children's "
                  "launches, lines and exits keep flowing") {
  mesh::test::zygote_gate gate;
  silent_parent parent;
  REQUIRE(parent.port != 0);
  recorder rec;
  {
    child_watcher watcher{rec.callbacks()};
    watcher.launch_async(gated_proc("forked", gate.dir(), parent.port),
                         rec.launched("forked"));
    auto deadline = std::chrono::steady_clock::now() + event_deadline;
    while (!gate.started() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    REQUIRE(gate.started());
    watcher.launch_async(sh("plain", "echo hi"), rec.launched("plain"));
    auto plain_exit = rec.wait_exit("plain");
    REQUIRE(plain_exit);
    CHECK(plain_exit->code == 0);
    auto forked_told = [](const event& ev) {
      auto* ln = as_launch(ev);
      return ln && ln->name == "forked";
    };
    // The gate is still shut: "forked" waits for its zygote.
    auto before = rec.all();
    CHECK(index_of(before, forked_told) == before.size());
    gate.open();
    REQUIRE(rec.wait([&](const std::vector<event>& evs) {
      return index_of(evs, forked_told) < evs.size();
    }));
    auto evs = rec.all();
    auto plain_launched = index_of(evs, [](const event& ev) {
      auto* ln = as_launch(ev);
      return ln && ln->name == "plain" && ln->pid;
    });
    auto plain_line = index_of(evs, [](const event& ev) {
      auto* ln = as_line(ev);
      return ln && ln->name == "plain" && ln->text == "hi";
    });
    auto plain_exited = index_of(evs, [](const event& ev) {
      auto* ex = as_exit(ev);
      return ex && ex->name == "plain";
    });
    auto forked_launched = index_of(evs, forked_told);
    CHECK(plain_launched < plain_line);
    CHECK(plain_line < plain_exited);
    CHECK(plain_exited < forked_launched);
    // Forked by the zygote that waited at the gate, not exec'd by us.
    auto* forked = as_launch(evs[forked_launched]);
    REQUIRE(forked->pid);
    auto zygote_pid = static_cast<pid_t>(mesh::test::parent_of(*forked->pid));
    CHECK(zygote_pid != ::getpid());
    CHECK(mesh::test::process_name(zygote_pid) ==
          mesh::bootstrap::zygote::process_name);
  }
}

// --- the bootstrap proc manager actor ---

namespace {

/// What the test listener received, in order.
struct listener_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::variant<mesh::proc_output, mesh::proc_exit>> events;

  template <class T>
  void add(T x) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      events.emplace_back(std::move(x));
    }
    cv.notify_all();
  }

  /// Waits for the exit of `name`; the events up to and including it.
  std::optional<std::vector<std::variant<mesh::proc_output, mesh::proc_exit>>>
  until_exit(const std::string& name) {
    std::unique_lock<std::mutex> guard{mtx};
    auto done = cv.wait_for(guard, event_deadline, [&] {
      return std::any_of(events.begin(), events.end(), [&](auto& ev) {
        auto* ex = std::get_if<mesh::proc_exit>(&ev);
        return ex && ex->name == name;
      });
    });
    if (!done)
      return std::nullopt;
    return events;
  }
};

/// A host agent stand-in that records the proc events it is sent.
mesh::proc_listener_actor::behavior_type
test_listener(mesh::proc_listener_actor::pointer,
              std::shared_ptr<listener_log> log) {
  using namespace mesh;
  return {
    [log](proc_exited_atom, const proc_exit& ex) { log->add(ex); },
    [log](proc_output_atom, const proc_output& out) { log->add(out); },
  };
}

/// A real actor system with a bootstrap proc manager reporting to a test
/// listener. Members are destroyed before reaped_fixture checks for leaks.
struct manager_fixture : reaped_fixture {
  mesh::config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<listener_log> log = std::make_shared<listener_log>();
  mesh::proc_listener_actor listener = sys.spawn(test_listener, log);
  mesh::proc_manager_actor manager =
    sys.spawn(mesh::bootstrap_proc_manager, listener);

  ~manager_fixture() {
    caf::anon_send_exit(manager, caf::exit_reason::kill);
    caf::anon_send_exit(listener, caf::exit_reason::kill);
  }

  mesh::launch_request request(std::string name, std::string script) {
    mesh::launch_request req;
    req.name = std::move(name);
    req.rank = 7;
    req.command.program = "/bin/sh";
    req.command.args = {"-c", std::move(script)};
    req.payload = "payload-of-" + req.name;
    return req;
  }

  /// Sends launch_atom and returns the pid or the error.
  caf::expected<int64_t> launch(mesh::launch_request req) {
    caf::scoped_actor self{sys};
    std::optional<caf::expected<int64_t>> result;
    self
      ->request(manager, event_deadline, mesh::launch_atom::value,
                std::move(req))
      .receive([&](int64_t pid) { result = pid; },
               [&](caf::error& err) { result = std::move(err); });
    return std::move(*result);
  }
};

} // namespace

TEST_CASE_FIXTURE(manager_fixture,
                  "bootstrap proc manager launches a proc and forwards its "
                  "lines, then its exit") {
  auto pid =
    launch(request("p", "echo \"$MESH_BOOTSTRAP\"; echo oops >&2; exit 5"));
  REQUIRE_MESSAGE(pid, mesh::to_string(pid.error()));
  CHECK(*pid > 0);
  auto evs = log->until_exit("p");
  REQUIRE(evs);
  REQUIRE(evs->size() == 3);
  auto* first = std::get_if<mesh::proc_output>(&(*evs)[0]);
  REQUIRE(first);
  CHECK(first->name == "p");
  CHECK(first->rank == 7);
  CHECK_FALSE(first->is_stderr);
  CHECK(first->line == "payload-of-p");
  auto* second = std::get_if<mesh::proc_output>(&(*evs)[1]);
  REQUIRE(second);
  CHECK(second->is_stderr);
  CHECK(second->line == "oops");
  auto* ex = std::get_if<mesh::proc_exit>(&(*evs)[2]);
  REQUIRE(ex);
  CHECK(ex->exit_code == 5);
  CHECK_FALSE(ex->signal);
}

TEST_CASE_FIXTURE(manager_fixture,
                  "bootstrap proc manager signal_atom SIGKILL ends the proc "
                  "with signal 9") {
  auto pid = launch(request("p", "exec sleep 30"));
  REQUIRE(pid);
  caf::anon_send(manager, mesh::signal_atom::value, std::string{"p"},
                 int32_t{SIGKILL});
  auto evs = log->until_exit("p");
  REQUIRE(evs);
  REQUIRE(evs->size() == 1);
  auto* ex = std::get_if<mesh::proc_exit>(&evs->back());
  REQUIRE(ex);
  CHECK(ex->signal == SIGKILL);
  CHECK_FALSE(ex->exit_code);
}

TEST_CASE_FIXTURE(manager_fixture,
                  "bootstrap proc manager replies spawn_failed for a missing "
                  "program") {
  auto req = request("p", "");
  req.command.program = "/nonexistent/mesh-child";
  auto pid = launch(req);
  REQUIRE_FALSE(pid);
  CHECK(mesh::is(pid.error(), mesh::ec::spawn_failed));
  CHECK(mesh::to_string(pid.error())
          .find("'/nonexistent/mesh-child' does not exist") !=
        std::string::npos);
  CHECK(mesh::test::child_pids().empty());
}

TEST_CASE_FIXTURE(manager_fixture,
                  "bootstrap proc manager: killing the manager kills its "
                  "running procs") {
  std::vector<int64_t> pids;
  for (auto name : {"a", "b"}) {
    auto pid = launch(request(name, "trap '' TERM; exec sleep 30"));
    REQUIRE(pid);
    pids.push_back(*pid);
  }
  caf::scoped_actor self{sys};
  self->monitor(manager);
  self->send_exit(manager, caf::exit_reason::kill);
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(event_deadline) >> [] {});
  REQUIRE(down);
  // The state (and with it the watcher) is gone before the down message.
  for (auto pid : pids)
    CHECK_MESSAGE(is_gone(pid), "pid " << pid << " survived its manager");
}

TEST_CASE_FIXTURE(manager_fixture,
                  "bootstrap proc manager that nobody references any more "
                  "ends and kills its procs") {
  auto quiet = launch(request("quiet", "exec sleep 30"));
  REQUIRE(quiet);
  // Its output keeps the watcher thread holding short-lived references to
  // the manager: the last one may well be dropped there. Paced: every line
  // is a message from the manager to the listener, and an unpaced flood
  // outran the listener under AddressSanitizer, whose queued messages then
  // kept the manager referenced (2 runs in 3 failed).
  auto chatty =
    launch(request("chatty", "while :; do echo x; sleep 0.01; done"));
  REQUIRE(chatty);
  manager = nullptr;
  CHECK(wait_dead(*quiet));
  CHECK(wait_dead(*chatty));
  // chatty's last `sleep`, killed with its group, was re-parented here.
  reap_orphans();
}
