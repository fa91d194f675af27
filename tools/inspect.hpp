// `meshctl ls`, `status`, `logs` and `top`: a running mesh as its owner's
// admin endpoint (admin_client.hpp) serves it. Each returns the exit code
// (0, or 1 with one line on stderr: "meshctl: ...").
#pragma once

#include <cstdint>
#include <string>

namespace meshctl {

/// `meshctl ls`: the running meshes of this user (id, owner pid, hosts,
/// procs, age, command); PROCS is "?" when the endpoint does not answer
/// within a short timeout.
int ls_command();

/// `meshctl status [MESH] [--json]`: the tree as tables, or the JSON as
/// the endpoint served it.
int status_command(const std::string& mesh, bool json);

struct logs_options {
  std::string mesh;
  uint64_t rank = 0;
  std::string proc_mesh; ///< Id or name prefix; empty: the endpoint's default.
  bool follow = false;
};

/// `meshctl logs MESH RANK [-f]`: the proc's stderr tail; with -f, then its
/// forwarded output lines as they come, until SIGINT/SIGTERM or the owner
/// goes away.
int logs_command(const logs_options& opts);

struct top_options {
  std::string mesh;
  double interval_s = 1.0;
};

/// `meshctl top [MESH] [--interval S]`: the live full-screen view on a
/// terminal; one snapshot in plain text when stdout is not a terminal.
int top_command(const top_options& opts);

} // namespace meshctl
