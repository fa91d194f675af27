// meshctl's side of a mesh owner's admin endpoint (docs/admin-api.md): the
// registry entry says where it is and which bearer token it wants; every
// failure becomes one sentence that names the mesh, its owner and what went
// wrong (admin off, owner gone, endpoint unreachable, an HTTP error).
#pragma once

#include <mesh/introspect.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace meshctl {

/// A failed meshctl command: what() is the one line meshctl prints after
/// "meshctl: " before it exits 1.
struct command_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// "mesh ID (owner pid N)".
std::string describe(const mesh::running_mesh& m);

/// The registered mesh `id` (a prefix, or "" for the only one); throws
/// command_error with the registry's reason otherwise.
mesh::running_mesh find_mesh(const std::string& id);

/// True if the process `pid` exists.
bool process_alive(int64_t pid);

/// Splits "host:port" or "[v6]:port"; false if it is not of that form.
bool split_address(const std::string& address, std::string& host, int& port);

/// One line of a proc's forwarded output.
struct log_line {
  uint64_t seq = 0;
  std::string stream; ///< "stdout" or "stderr".
  std::string line;
};

/// An answer of GET /v1/procs/{rank}/logs.
struct log_page {
  uint64_t next = 0; ///< The `after` of the next request.
  std::vector<log_line> lines;
};

/// Parses the logs endpoint's JSON ({"next": N, "lines": [{"seq": N,
/// "stream": "stdout"|"stderr", "line": "..."}]}); throws command_error
/// naming what is missing or malformed.
log_page parse_log_page(const std::string& json);

class admin_client {
public:
  /// Throws command_error if the mesh has no admin endpoint (admin_address
  /// empty) or an address that is not host:port.
  admin_client(mesh::running_mesh mesh, std::chrono::milliseconds timeout);

  /// The body of a 200 answer to GET `path`; throws command_error for
  /// anything else (owner gone, no connection, no answer within the
  /// timeout, another status). `extra_wait` is added to the read timeout
  /// (long polls).
  std::string get(const std::string& path,
                  std::chrono::milliseconds extra_wait = {}) const;

  /// GET /v1/mesh?deadline_ms=N, parsed.
  mesh::mesh_snapshot mesh_tree(std::chrono::milliseconds deadline) const;

  /// GET /v1/procs/{rank}[?proc_mesh=...], parsed.
  mesh::proc_snapshot proc(uint64_t rank, const std::string& proc_mesh) const;

  /// GET /v1/procs/{rank}/logs?after=A&wait_ms=W[&proc_mesh=...], parsed.
  log_page logs(uint64_t rank, const std::string& proc_mesh, uint64_t after,
                std::chrono::milliseconds wait) const;

  const mesh::running_mesh& mesh() const { return mesh_; }

private:
  mesh::running_mesh mesh_;
  std::chrono::milliseconds timeout_;
  std::string host_;
  int port_ = 0;
};

} // namespace meshctl
