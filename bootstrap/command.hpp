// Running a helper program with a bound: the scheduler's commands (sbatch,
// scontrol, scancel, srun) that the Slurm allocator runs and waits for, or
// starts and keeps (srun --overlap). Built on exec_child (the launcher's
// exec path), so a command gets exactly the hygiene of a proc: its own
// process group, stdin on /dev/null, default signals, no inherited
// descriptor of this process (its sockets included).
//
// Contracts:
// * Nothing here waits without a bound: every wait has a limit and may also
//   end when `cancel_fd` (an eventfd or pipe, if >= 0) becomes readable.
// * A command_process that is destroyed while its child runs SIGKILLs the
//   child's process group and reaps the child: no zombie, no orphan of ours.
// * stdout and stderr are read while waiting (a chatty command never blocks
//   on a full pipe) and kept up to 1 MiB each, the newest bytes winning.
// * Blocking: the caller's thread waits in poll(2); never call from an
//   actor (the allocator runs on the thread that called allocate()).
#pragma once

#include "bootstrap/fd.hpp"

#include <caf/expected.hpp>

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mesh::bootstrap {

/// A started command: its pid, its output so far, how it ended.
class command_process {
public:
  /// Starts argv[0] (resolved through PATH) with argv[1..], this process's
  /// environment plus `env`. With `pdeathsig` it is SIGKILLed when the
  /// calling thread ends (short commands); without, it outlives this
  /// process (srun, which must end through its daemons). ec::spawn_failed
  /// or ec::invalid_argument if it cannot start.
  static caf::expected<command_process>
  start(const std::vector<std::string>& argv,
        const std::map<std::string, std::string>& env = {},
        bool pdeathsig = true);

  command_process(command_process&&) noexcept;
  command_process& operator=(command_process&&) noexcept;
  command_process(const command_process&) = delete;
  command_process& operator=(const command_process&) = delete;
  ~command_process();

  pid_t pid() const { return pid_; }
  /// argv[0], for messages.
  const std::string& name() const { return name_; }

  /// Waits up to `limit` for the command to exit, reading its output;
  /// returns true once it exited (and was reaped), false if the limit
  /// passed or `cancel_fd` became readable first.
  bool wait(std::chrono::milliseconds limit, int cancel_fd = -1);

  /// Reads what its pipes hold now and checks (without blocking) whether
  /// it exited; true if it did.
  bool poll_exit() { return wait(std::chrono::milliseconds{0}); }

  bool exited() const { return exited_; }
  std::optional<int> exit_code() const { return exit_code_; }
  std::optional<int> term_signal() const { return signal_; }

  /// Sends `sig` to its process group (while it runs).
  void signal(int sig);

  /// SIGKILLs its process group if it still runs, and reaps it.
  void kill();

  /// Forgets the child without ending it (host_mesh::stop() of an
  /// allocation that keeps its srun): it runs on, and once it exits it
  /// stays a zombie of this process until something reaps it.
  void detach();

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  /// "NAME exited with code C", "NAME was killed by signal S" or "NAME
  /// still runs", then ": " and the last lines of its stderr if any.
  std::string describe() const;

private:
  command_process() = default;
  void reap(int status);
  void read_pipes();

  std::string name_;
  pid_t pid_ = -1;
  unique_fd pidfd_;
  unique_fd out_fd_;
  unique_fd err_fd_;
  std::string out_;
  std::string err_;
  bool exited_ = false;
  std::optional<int> exit_code_;
  std::optional<int> signal_;
};

/// How a command that was waited for ended.
struct command_result {
  std::optional<int> exit_code; ///< Set if it exited.
  std::optional<int> signal;    ///< Set if a signal ended it.
  bool timed_out = false;       ///< It ran past its limit and was killed.
  bool cancelled = false;       ///< `cancel_fd` fired and it was killed.
  std::string out;
  std::string err;
  /// What command_process::describe() said when it ended.
  std::string description;

  bool ok() const { return exit_code == 0; }
};

/// Runs a command to its end: start(argv, env), waits at most `timeout` or
/// until `cancel_fd` is readable, then kills and reaps it.
caf::expected<command_result>
run_command(const std::vector<std::string>& argv,
            std::chrono::milliseconds timeout, int cancel_fd = -1,
            const std::map<std::string, std::string>& env = {});

} // namespace mesh::bootstrap
