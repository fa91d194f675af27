// A meshd daemon started by a test: launched in the background, its address
// read from its first stdout line, its stderr kept in a file, and killed and
// reaped when the test lets go of it. Plus what tests of daemons look at:
// raw connections and the process tree.
#pragma once

#include "support/process.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mesh::test {

/// The built meshd executable.
std::string meshd_path();

/// The built mesh_child executable (a proc command that registers nothing).
std::string mesh_child_path();

/// A plain TCP connection to "host:port" (IPv4), for clients that speak no
/// protocol at all; fails the test if it cannot be made.
int raw_connect(const std::string& address);

class meshd_daemon {
public:
  /// Starts `argv` (meshd with its arguments, possibly behind a wrapper such
  /// as `ip netns exec NS`) with the environment of this process minus its
  /// MESH_TLS_* and MESH_BOOTSTRAP variables, plus `env`, in a process group
  /// of its own. Waits at most 30 s for the line "listening on HOST:PORT";
  /// nullptr if the daemon exited or stayed silent (then `failure` says why).
  static std::unique_ptr<meshd_daemon>
  start(const std::vector<std::string>& argv,
        const std::map<std::string, std::string>& env = {},
        std::string* failure = nullptr);

  /// Kills the daemon (if it still runs) and reaps it.
  ~meshd_daemon();

  meshd_daemon(const meshd_daemon&) = delete;
  meshd_daemon& operator=(const meshd_daemon&) = delete;

  /// "host:port" from the daemon's first stdout line.
  const std::string& address() const { return address_; }

  pid_t pid() const { return pid_; }

  /// Sends a signal to the daemon.
  void signal(int sig) const;

  /// Waits at most `timeout` for the daemon to exit and reaps it: its exit
  /// code, or 128 + signal; nullopt if it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  /// True until the daemon has exited (and was reaped by wait_exit()).
  bool running();

  /// Everything the daemon wrote to stderr so far.
  std::string stderr_text() const;

private:
  meshd_daemon() = default;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_ = -1;
  std::optional<int> status_;
  std::string address_;
  std::string err_path_;
};

} // namespace mesh::test
