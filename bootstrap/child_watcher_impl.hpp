// The insides of a child_watcher (bootstrap/launcher.hpp), shared by the
// sources of its parts: the poll loop and the public methods
// (launcher.cpp), the zygote client (zygote_client.cpp) and the ends of
// children (reaper.cpp). Internal: only those sources include it.
//
// Threads: fields under "shared" are guarded by `mtx`; "watcher thread only"
// ones are touched by the watcher thread alone, callbacks included (they run
// on it).
#pragma once

#include "bootstrap/exec_launcher.hpp"
#include "bootstrap/fd.hpp"
#include "bootstrap/launch_plan.hpp"
#include "bootstrap/launcher.hpp"
#include "bootstrap/line_framer.hpp"
#include "bootstrap/zygote_protocol.hpp"

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace mesh::bootstrap {

struct child_watcher::impl {
  // --- limits ---

  /// How long the first launch of a command waits for its zygote to come
  /// up. A libmesh program is ready within milliseconds; anything else (a
  /// script, a program that never calls run_bootstrap_child) is given up on
  /// and its command exec'd from then on.
  static constexpr int zygote_ready_ms = 2000;

  /// How long a zygote may take to answer a request (fork, reap); one that
  /// does not answer is killed, and a launch it did not fork is exec'd.
  static constexpr int zygote_fork_ms = 5000;

  /// How long the watcher waits for the procs of a dead zygote to die of
  /// their parent-death signal.
  static constexpr int orphan_exit_ms = 1000;

  /// How long a launcher that shuts down waits for a zygote to reap its
  /// procs and exit before it kills the zygote.
  static constexpr int zygote_exit_ms = 5000;

  /// Reads (of 64 KiB) per stream and poll round before other children get
  /// their turn.
  static constexpr int reads_per_round = 16;

  /// Reads per stream when draining after an exit: 4 MiB, more than any
  /// pipe holds, so a writer outside the child's group cannot keep us
  /// reading.
  static constexpr int reads_at_exit = 64;

  /// The fallback exit check period when pidfd_open is unavailable.
  static constexpr int fallback_poll_ms = 5;

  using clock = std::chrono::steady_clock;

  struct zygote_state;

  /// One output stream of a child.
  struct stream {
    unique_fd fd;
    line_framer lines{max_line};
    bool is_stderr = false;
  };

  /// Where a child is in its life, as the watcher thread sees it.
  enum class phase {
    /// Output flows; its exit is awaited (its pidfd, or its zygote's word).
    running,
    /// Forked: exited, drained and out of the table; its zygote was asked
    /// to reap it, and the exit is reported once it has.
    reaping,
    /// Forked: its zygote died, which kills it (parent-death signal); its
    /// own end is awaited on its pidfd until `orphan_by`.
    orphaned,
    /// Reported (a zygote process: reaped); removed after this poll round.
    done,
  };

  /// A child as the watcher thread sees it.
  struct child {
    std::string name;
    pid_t pid = -1;
    /// Readable once the child exited; -1 without pidfd support (then
    /// `has_exited` is polled every fallback_poll_ms). A forked child's is
    /// watched only once it is orphaned.
    unique_fd pidfd;
    stream out;
    stream err;
    phase state = phase::running;
    /// A zygote process itself: no callbacks, not in the table.
    bool internal = false;
    /// The zygote that runs as this child (internal) or that forked it. A
    /// forked child is the zygote's child, not ours: it learns of the exit
    /// from the zygote and never waits for the pid itself.
    zygote_state* zygote = nullptr;
    /// Forked: the exit as its zygote told it.
    std::optional<int> exit_code;
    std::optional<int> exit_signal;
    /// Orphaned: when to stop waiting for it to die.
    clock::time_point orphan_by;

    bool forked() const { return zygote != nullptr && !internal; }
    bool done() const { return state == phase::done; }
  };

  /// A launch waiting for the watcher thread; `done` gets its outcome.
  struct launch_job {
    prepared_launch launch;
    launched done;
  };

  /// A request sent to a zygote whose answer is due by `answer_by`.
  struct request {
    zygote::op kind = zygote::op::spawn; ///< spawn or reap
    clock::time_point answer_by;
    /// spawn: the launch, and the watcher's ends of its stdout and stderr.
    std::optional<launch_job> job;
    unique_fd out;
    unique_fd err;
    /// reap: the exited child's pid.
    pid_t pid = -1;
  };

  /// A zygote and what the watcher knows of it.
  struct zygote_state {
    std::string key;
    pid_t pid = -1;
    unique_fd control;
    /// It said 'ready'; until then, launches wait in `waiting` and it must
    /// say so by `ready_by`.
    bool ready = false;
    clock::time_point ready_by;
    std::deque<launch_job> waiting;
    /// Requests sent and not yet answered, oldest first (a zygote answers
    /// in order).
    std::deque<request> outstanding;
    /// The socket closed or broke: its forked children are gone.
    bool lost = false;
    /// Its process was reaped.
    bool reaped = false;
  };

  explicit impl(child_events ev) : events(std::move(ev)) {}

  // --- shared, guarded by mtx ---

  mutable std::mutex mtx;
  /// Launched and not yet reaped children: the only pids signal() may touch
  /// (a pid leaves this table before it is reaped, so it is never reused
  /// while listed).
  std::map<std::string, pid_t> table;
  std::deque<launch_job> jobs;
  /// Zygotes to start before anyone launches from them.
  std::deque<prepared_launch> warm_jobs;
  bool stopping = false;

  /// Set first thing by the destructor: no callback starts after it.
  std::atomic<bool> closed{false};

  // --- fixed after construction ---

  child_events events;
  /// This process's environment when the watcher started.
  std::map<std::string, std::string> base_env = environment_now();
  /// Wakes the watcher thread for launches and shutdown.
  unique_fd wake;
  /// Set if the watcher could not start; every launch fails with it.
  caf::error broken;
  std::thread thread;
  std::thread::id thread_id;

  // --- watcher thread only ---

  std::vector<std::unique_ptr<child>> children;
  std::vector<std::unique_ptr<zygote_state>> zygotes;
  /// Commands whose zygote did not come up: exec'd from now on.
  std::set<std::string> without_zygote;
  /// Names of launches accepted and not yet ended: from the launch until
  /// its failure is told or its child's exit is reported. A name is taken
  /// again only after that, so the callbacks of two children of one name
  /// never interleave.
  std::set<std::string> busy;

  void notify() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake.get(), &one, sizeof(one));
  }

  // launcher.cpp: launches and the poll loop

  void run();
  /// Takes up a queued launch: forks it from a zygote (now, or once the
  /// zygote is ready) or execs it.
  void begin(launch_job job);
  /// A launch from one of the watcher's own callbacks: exec'd at once.
  caf::expected<int64_t> launch_now(prepared_launch& launch);
  /// Execs a launch whose name is taken and tells its outcome.
  void exec_now(launch_job& job);
  /// Tells a launch its outcome (freeing its name if it failed).
  void conclude(launch_job& job, caf::expected<int64_t> outcome);
  /// A started process becomes a watched child (in the table unless
  /// internal).
  child& adopt(const std::string& name, started_process proc,
               zygote_state* zygote, bool internal);
  /// The earliest deadline of a zygote or an orphan, if any.
  std::optional<clock::time_point> next_deadline() const;
  void shutdown();

  // zygote_client.cpp: the watcher's side of the zygote protocol

  /// The zygote that serves `launch` (starting it if need be, without
  /// waiting for it), or nullptr if it is to be exec'd.
  zygote_state* zygote_for(const prepared_launch& launch);
  /// Asks a ready zygote to fork `job`; false (job untouched) if the zygote
  /// cannot, and the launch is to be exec'd.
  bool request_fork(zygote_state& z, launch_job& job);
  /// Asks its zygote to reap an exited forked child.
  void request_reap(child& c);
  /// Handles every message queued on the zygote's control socket.
  void on_control_readable(zygote_state& z);
  void on_zygote_message(zygote_state& z, zygote::message msg);
  /// Gives up on zygotes that missed a deadline.
  void check_zygote_deadlines(clock::time_point now);
  /// Kills a zygote that misbehaves and loses it.
  void give_up(zygote_state& z);
  /// The zygote is gone: its forked children end, its pending launches are
  /// exec'd.
  void lose(zygote_state& z);

  // reaper.cpp: the ends of children

  void read_stream(child& c, stream& s, int max_reads);
  void emit(child& c, stream& s, std::string line);
  void drain(child& c);
  /// A child that is ours (exec'd, or a zygote process) exited: reap it
  /// and report it.
  void finish(child& c);
  /// Its zygote says a forked child exited: drain it, have it reaped.
  void forked_exit(child& c, std::optional<int> code, std::optional<int> sig);
  /// Its zygote died before the forked child's exit was told.
  void orphan(child& c);
  /// An orphan is gone (or waited for long enough): report it.
  void settle_orphan(child& c);
  /// Reports the exit once and frees the name.
  void report(child& c, std::optional<int> code, std::optional<int> sig);
};

} // namespace mesh::bootstrap
