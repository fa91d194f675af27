// Launching, watching and reaping OS children (architecture §2, §10).
//
// One `child_watcher` owns one long-lived thread that does everything to its
// children: fork/exec (so that PR_SET_PDEATHSIG, which belongs to the thread
// that forked, stays armed as long as the watcher lives), reading their
// stdout/stderr pipes, noticing their exit (pidfd, no SIGCHLD, no polling) and
// reaping exactly their pids (never waitpid(-1): the embedding process may
// have children of its own).
//
// Contracts:
// * Each child leads its own process group; signals go to the whole group.
// * A child's process group does not outlive it: when the leader exits, what
//   is left of its group is SIGKILLed (before the leader is reaped, while its
//   pid still pins the group id, so no unrelated group can be hit).
// * For each child, `on_line` sees every line it wrote, then `on_exit` once.
// * After the destructor no child is left running or unreaped.
// * The thread sleeps only in its poll over all children: a launch that
//   waits for a zygote to come up or to answer is a state of that poll, so
//   other children's launches, lines and exits keep flowing meanwhile.
#pragma once

#include "mesh/bootstrap.hpp"
#include "mesh/error.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace mesh::bootstrap {

/// What to launch.
struct launch_spec {
  /// Names the child for signal() and the callbacks; unique among running
  /// children of one watcher.
  std::string name;
  /// Program (absolute, relative with a '/', or resolved via the child's
  /// PATH), argv[0], arguments and environment additions.
  bootstrap_command command;
  /// Added to the environment after `command.env` (wins over it), e.g.
  /// {"MESH_BOOTSTRAP", payload}.
  std::map<std::string, std::string> extra_env;
  /// The proc's own variables (RANK, MESH_POINT, ...: mesh/this_proc.hpp),
  /// added last (they win over `command.env` and `extra_env`). Being per
  /// proc, they are no part of what tells zygotes apart and a zygote's
  /// environment leaves them out: a forked proc sets them from its payload.
  std::map<std::string, std::string> proc_env;
  /// PR_SET_PDEATHSIG(SIGKILL) in the child: it dies with the watcher thread.
  bool pdeathsig = true;
  /// If set (and `pdeathsig`), the child may be forked by a zygote
  /// (bootstrap/zygote.hpp) instead of exec'd: a process started once per
  /// distinct program, arguments and environment, with MESH_BOOTSTRAP set to
  /// what this returns (called only when that zygote is started; "" means
  /// none), that forks children on request and hands each its own
  /// MESH_BOOTSTRAP from `extra_env`. A command whose zygote does not come up
  /// (not a libmesh program, too slow, or more distinct commands than
  /// `max_zygotes`) is exec'd for every child, as without this field.
  std::function<std::string()> zygote_payload;
};

/// Callbacks of a watcher. Both run on the watcher thread, in the order things
/// happened (per stream; stdout before stderr within one read round), never
/// concurrently and never once the watcher's destructor has begun. They may
/// call signal(), running() and launch() of their own watcher.
struct child_events {
  /// One call per line, without its '\n'; a last line without '\n' comes when
  /// the child exits. Lines longer than `max_line` arrive in pieces.
  std::function<void(const std::string& name, bool is_stderr, std::string line)>
    on_line;
  /// The child exited (exit_code set) or was killed (signal set); both unset
  /// only if someone else reaped it. Comes after all of its lines. A child
  /// forked by a zygote that died is reported killed by SIGKILL (its
  /// parent-death signal), after a last stderr line that says so.
  std::function<void(const std::string& name, int64_t pid,
                     std::optional<int> exit_code, std::optional<int> signal)>
    on_exit;
};

/// Launches, watches and reaps child processes on one thread of its own.
class child_watcher {
public:
  /// Longest line delivered in one piece (1 MiB): a child that never writes
  /// '\n' cannot make the watcher buffer without bound.
  static constexpr size_t max_line = size_t{1} << 20;

  /// Zygotes kept at once (one per distinct command).
  static constexpr size_t max_zygotes = 4;

  /// Starts the watcher thread.
  explicit child_watcher(child_events events);

  /// SIGKILLs every remaining child's process group, reaps them all and joins
  /// the thread; no callback starts from here on. From one of its own
  /// callbacks (e.g. one that drops the last reference to the watcher's
  /// owner) it cannot join: it SIGKILLs the children and the thread reaps
  /// them and ends as soon as that callback returns.
  ~child_watcher();

  child_watcher(const child_watcher&) = delete;
  child_watcher& operator=(const child_watcher&) = delete;

  /// What becomes of a launch: the child's pid, or why it did not start.
  using launched = std::function<void(caf::expected<int64_t>)>;

  /// Launches a child in its own process group, its stdin on /dev/null, its
  /// stdout/stderr on pipes, and returns at once: `done` is called exactly
  /// once with the pid once exec succeeded (on the watcher thread, before
  /// any line or exit of that child is reported), or with the failure (a
  /// missing or non-executable program fails with ec::spawn_failed naming
  /// it; a spec refused before anything starts is told on the calling
  /// thread). The environment is this process's as it was when the watcher
  /// started, plus the command's and the spec's variables.
  void launch_async(const launch_spec& spec, launched done);

  /// launch_async, waiting for the outcome: for tests and callers that are
  /// not actors (never call it from an actor: it blocks the thread). From
  /// one of the watcher's own callbacks it execs the child at once, never
  /// from a zygote (which would make the watcher thread wait).
  caf::expected<int64_t> launch(const launch_spec& spec);

  /// Starts, in the background, the zygote that would serve `spec` (see
  /// launch_spec::zygote_payload), so that the first launch of its command
  /// does not wait for it; launches no child. Does nothing for a spec that no
  /// zygote serves.
  void warm(const launch_spec& spec);

  /// Sends `sig` to the process group of the named child; false if no
  /// running (not yet reaped) child has that name.
  bool signal(const std::string& name, int sig);

  /// Number of children launched and not yet reaped.
  size_t running() const;

private:
  struct impl;
  /// Shared with the thread, which may outlive this object (see above).
  std::shared_ptr<impl> impl_;
};

} // namespace mesh::bootstrap
