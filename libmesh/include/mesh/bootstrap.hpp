// How a proc or host child is started: the command line and environment of
// a bootstrap child, and the CPU/NUMA binding applied to it by wrapping that
// command in `numactl` or `taskset` (architecture §2, §5).
#pragma once

#include "mesh/export.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

MESH_PUBLIC_BEGIN

namespace mesh {

class point;

/// The program a host launches for each bootstrap child. The child's
/// environment is the launcher's environment with `env` added on top (later
/// wins), never a replacement of it.
struct bootstrap_command {
  /// Absolute path, or a name resolved via PATH at launch.
  std::string program;
  /// argv[0] if it differs from `program`.
  std::optional<std::string> arg0;
  /// argv[1..].
  std::vector<std::string> args;
  /// Added to (not replacing) the inherited environment.
  std::map<std::string, std::string> env;

  /// This executable: `program` is the real path of /proc/self/exe, `arg0`
  /// and `args` are this process's argv, `env` the whole current environment.
  static caf::expected<bootstrap_command> current();

  /// The argument vector to exec: `arg0` (or `program`) followed by `args`.
  std::vector<std::string> argv() const;

  /// Program and args as one shell-quoted line for error messages (`env` and
  /// `arg0` are omitted: the line says what runs, not how it is named).
  std::string to_string() const;

  friend bool operator==(const bootstrap_command& x,
                         const bootstrap_command& y);
  friend bool operator!=(const bootstrap_command& x,
                         const bootstrap_command& y) {
    return !(x == y);
  }
};

/// CPU/NUMA binding of one proc. Values are passed verbatim to numactl
/// (`cpunodebind`, `membind`, `physcpubind`) or taskset (`cpus`, a CPU list
/// such as "0-3,8"); an invalid value makes the launch fail, not the wrapping.
struct proc_bind {
  std::optional<std::string> cpunodebind;
  std::optional<std::string> membind;
  std::optional<std::string> physcpubind;
  std::optional<std::string> cpus;

  /// True if no key is set (wrapping leaves the command unchanged).
  bool empty() const;

  friend bool operator==(const proc_bind& x, const proc_bind& y);
  friend bool operator!=(const proc_bind& x, const proc_bind& y) {
    return !(x == y);
  }
};

/// Chooses the command of each proc from its point in the combined extent
/// (host extent followed by the per-host extent); an error fails that rank.
using per_rank_bootstrap =
  std::function<caf::expected<bootstrap_command>(const point&)>;

/// Applies `bind` by wrapping `cmd`: with `numa` and any numactl key set, the
/// program becomes `numactl [--cpunodebind=V] [--membind=V] [--physcpubind=V]
/// <program> <args...>`; otherwise, with `cpus` set, `taskset -c <cpus>
/// <program> <args...>`; otherwise `cmd` is returned unchanged. The numactl
/// keys are ignored without NUMA (the proc then runs unbound, as in the
/// reference). `env` is kept. A wrapped command has no `arg0`: the wrapper
/// execs `program` by path, so a custom argv[0] of `cmd` is lost.
bootstrap_command wrap_for_binding(const bootstrap_command& cmd,
                                   const proc_bind& bind, bool numa);

/// True if this machine exposes NUMA nodes (/sys/devices/system/node/node0).
bool numa_available();

} // namespace mesh

MESH_PUBLIC_END
