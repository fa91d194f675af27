// The owner's side of seeing a running mesh (issue 15, docs/admin-api.md):
// every owning host_mesh registers itself in the per-user registry
// (bootstrap/registry.hpp) and serves its admin endpoint over HTTP
// (cpp-httplib) on `admin_address`, until its shutdown or the end of the
// owner.
//
// - Registration never fails a bring-up: a registry that cannot be written
//   (or an address that cannot be bound) is a warning in the log, and the
//   mesh runs without an entry (or without an endpoint: its entry then has
//   an empty admin_address).
// - The HTTP threads are not actor threads: they block on introspection
//   and on long polls, each marked `// blocking:`.
// - stop() removes the entry at once and stops the server; off an actor's
//   thread it waits for the server's threads (bounded by the longest
//   request: an introspection deadline, or a long poll's 100 ms slice), on
//   an actor's thread it leaves that wait to a thread of its own.
#pragma once

#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"

#include <memory>
#include <string>

namespace mesh::detail {

class admin_service : public std::enable_shared_from_this<admin_service> {
public:
  /// Registers the mesh `d` and starts its endpoint (unless admin_address
  /// is empty). Never fails: problems are logged.
  static std::shared_ptr<admin_service>
  start(std::shared_ptr<mesh_access::host_data> d);

  ~admin_service();

  /// Removes the entry and stops the endpoint (idempotent).
  void stop();

  /// The registry entry (path empty if there is none).
  const running_mesh& entry() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace mesh::detail
