// Test helpers for real child processes: run a command with a deadline, and
// a fixture that fails a test which leaves any process behind.
#pragma once

#include "mesh/bootstrap.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mesh::test {

/// Absolute path of a file in the source tree (MESH_SOURCE_ROOT).
std::string source_path(const std::string& relative);

/// Absolute path of a built file (MESH_BUILD_ROOT), e.g. "tools/meshctl".
std::string build_path(const std::string& relative);

struct run_result {
  std::optional<int> exit_code; ///< Set if the process exited.
  std::optional<int> signal;    ///< Set if it was killed by a signal.
  bool timed_out = false;       ///< Killed by run() after the deadline.
  std::string out;              ///< Everything it wrote to stdout.
  std::string err;              ///< Everything it wrote to stderr.
};

/// Runs argv[0] (resolved via PATH) with the current environment plus `env`,
/// collects its output and reaps it. After `timeout` the process group is
/// SIGKILLed and `timed_out` is set.
run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout = std::chrono::seconds{30},
               const std::map<std::string, std::string>& env = {},
               const std::string& stdin_text = {});

/// The parent of a process (from /proc); -1 if it does not exist.
int64_t parent_of(int64_t pid);

/// The processes whose parent is `pid`.
std::vector<pid_t> children_of(pid_t pid);

/// PIDs of our live or unreaped children (with the subreaper set, this
/// includes orphaned descendants): children_of(getpid()).
std::vector<pid_t> child_pids();

/// child_pids() without zygotes (processes named "mesh-zygote"): the procs
/// of a host that is still up, which keeps its zygote until it shuts down.
std::vector<pid_t> proc_pids();

/// Waits up to `limit` until proc_pids() has `n` entries; returns how many
/// it has then. (A zygote that is still starting has not named itself yet
/// and counts as a proc until it has.)
size_t settled_proc_count(size_t n, std::chrono::milliseconds limit =
                                      std::chrono::seconds{10});

/// The host process of a proc of a host_mesh::process() mesh: its
/// ancestor whose parent is this process (procs are forked by their host's
/// zygote); -1 if there is none within 8 generations.
pid_t host_process_of(pid_t proc);

/// Name of a process (/proc/PID/comm), or "" if it is gone.
std::string process_name(pid_t pid);

/// Waits up to `limit` for every child (as a subreaper: every orphaned
/// descendant) to exit on its own, reaping each; true if all did.
bool reap_exiting_children(std::chrono::milliseconds limit);

/// Kills and reaps every child; returns how many there were.
size_t kill_children();

/// The lines of a program's output, without their newlines.
std::vector<std::string> lines_of(const std::string& text);

/// `needle` occurs in `haystack`.
bool contains(const std::string& haystack, const std::string& needle);

/// The default bootstrap command of the integration tests: test/mesh_child.
mesh::bootstrap_command child_command();

/// The process exists (a zombie too).
bool alive(int64_t pid);

/// `test/mesh_child client N` (a client that brings up a local mesh of N
/// procs, prints "pid P" per proc and "ready", then waits to be killed),
/// started with its stdout read until "ready" or its end.
struct mesh_client_process {
  pid_t pid = -1;
  std::string output; ///< What it printed until then.
  bool ready = false; ///< It printed "ready".
  int out = -1;       ///< Its stdout (start_mesh_child), for read_until.
};
mesh_client_process start_mesh_client(int procs);

/// `test/mesh_child ARGS...` (e.g. "attach KEYFILE ADDRESS"), its stdout
/// read until "ready" or its end, and kept open in `out`.
mesh_client_process start_mesh_child(const std::vector<std::string>& args);

/// Reads the child's stdout until `needle` was printed (true) or `limit`
/// passed or the output ended (false).
bool read_until(mesh_client_process& p, const std::string& needle,
                std::chrono::milliseconds limit);

/// mesh_child's MESH_TEST_ZYGOTE_GATE: a fresh directory at which a zygote
/// of mesh_child (given `dir()` in that variable) waits before it says
/// 'ready', until the test opens it. Removed on destruction.
class zygote_gate {
public:
  zygote_gate();
  ~zygote_gate();
  zygote_gate(const zygote_gate&) = delete;
  zygote_gate& operator=(const zygote_gate&) = delete;

  /// The value for MESH_TEST_ZYGOTE_GATE.
  const std::string& dir() const { return dir_; }

  /// True once a zygote waits at the gate.
  bool started() const;

  /// Lets it through.
  void open();

private:
  std::string dir_;
};

/// Use with TEST_CASE_FIXTURE for every test that starts processes: on
/// destruction it checks that no child is left, then cleans up any that is,
/// so one leak does not cascade into the next test.
struct reaped_fixture {
  reaped_fixture();
  ~reaped_fixture();
};

/// How much slower than a normal build this run is: MESH_TEST_SLOWDOWN, at
/// least 1 (1 when unset). scripts/sanitize.sh sets it: under ASan a proc's
/// exit alone takes about 0.3 s of CPU (measured with strace on a mesh_child
/// of attach's suite), and a just-started meshd's TLS handshake can take
/// over a second.
long slowdown();

/// The polite-stop window the suites give procs (their terminate_timeout):
/// 500 ms × slowdown(), as "<N>ms". Unscaled, 8 procs stopping at once under
/// ASan on 2 cores miss it and are counted as SIGTERMed, not stopped
/// politely.
std::string polite_window();

/// SIGSTOPs process `pid` and waits (at most 2 s) until every thread of it
/// is stopped; false if it is not by then. kill() returns before the stop
/// takes hold: the kernel wakes one thread, which stops the others only
/// once it is scheduled, and meanwhile they run. On a loaded machine a
/// stopped proc's worker thread answered a request sent after kill()
/// returned (introspect suite, 1 run in 30).
bool stop_process(pid_t pid);

/// SIGCONTs a process when the test ends however it ends, so that a failed
/// check leaves no frozen proc for a shutdown to wait on. Declare it before
/// stop_process() and after the actor system, so that it runs first.
struct resume_on_exit {
  pid_t pid;
  ~resume_on_exit();
};

} // namespace mesh::test
