// Launch plans: everything a launch needs, computed from a launch_spec on
// the caller's thread, so that the watcher thread only forks (architecture
// §2, §10). Pure planning: no process is started here.
//
// Contracts:
// * A child's environment is the watcher's base environment (this process's
//   when the watcher started), then the command's variables, then the spec's
//   extra ones, then its proc_env: later wins.
// * A spec is refused before anything starts (ec::invalid_argument) for a
//   NUL byte in a program, argument or variable, or a malformed variable
//   name; a program that cannot be exec'd fails with ec::spawn_failed naming
//   it (resolved through the child's PATH as execvp would).
// * Launches that a zygote may serve carry a key that tells zygotes apart:
//   the same program, arguments and environment (MESH_BOOTSTRAP and the
//   proc's own variables, proc_env, aside) share one zygote, whose
//   environment has neither.
#pragma once

#include "bootstrap/launcher.hpp"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mesh::bootstrap {

/// A prepared launch: the strings and the pointer arrays exec takes.
struct prepared_launch {
  std::string name;
  std::string path;
  std::vector<std::string> argv;
  std::vector<std::string> envv;
  /// Point into argv and envv, nullptr-terminated.
  std::vector<char*> argv_ptrs;
  std::vector<char*> env_ptrs;
  bool pdeathsig = true;
  /// Set for a launch that a zygote may serve: what tells its zygote apart
  /// (program, arguments and environment without MESH_BOOTSTRAP), the
  /// zygote's MESH_BOOTSTRAP (asked for only when it is started) and the
  /// child's own.
  std::optional<std::string> zygote_key;
  std::function<std::string()> zygote_payload;
  std::string child_payload;
  /// The names of the spec's proc_env: left out of the zygote's environment.
  std::set<std::string> proc_env_names;
};

/// The error context that names a child: "proc 'NAME'".
std::string proc_context(const std::string& name);

/// This process's environment, read once (reading `environ` per launch
/// would race with any setenv of the embedding application).
std::map<std::string, std::string> environment_now();

/// Checks `spec` and computes its launch over `base_env`.
caf::expected<prepared_launch>
prepare(const launch_spec& spec,
        const std::map<std::string, std::string>& base_env);

/// The launch of the zygote that would serve `launch` (which has a
/// zygote_key): the same program and arguments, the child's environment
/// with the zygote's own MESH_BOOTSTRAP, LD_BIND_NOW so that the zygote
/// resolves every symbol once rather than each proc on its first calls
/// (it removes the variable again for its procs). nullopt if the zygote
/// payload is unusable (empty or holding a NUL byte).
std::optional<prepared_launch> zygote_plan(const prepared_launch& launch);

} // namespace mesh::bootstrap
