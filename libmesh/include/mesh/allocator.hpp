// Allocators: host meshes whose hosts a scheduler hands out (Slurm first;
// docs/allocators.md sketches a Kubernetes one).
//
// An allocator asks its scheduler for hosts, gets one `meshd` started per
// host, and learns each host's address. The mesh code never sees the
// scheduler: host_mesh::allocate() attaches to the addresses an allocation
// reports and gives the allocation to the host mesh it returns, which then
// owns it:
//
// * host_mesh::shutdown() stops the daemons, then releases the allocation
//   (the scheduler sees the job end; it is cancelled if it lingers);
// * host_mesh::stop() stops the mesh's procs and keeps the allocation, its
//   daemons and its spool for another attach;
// * a client that dies leaves daemons that end by themselves once no client
//   has owned them for the allocator's owner timeout (meshd
//   --owner-timeout), and the allocation ends with them.
//
// The daemons of an allocation trust this process's mesh key (bootstrap/tls:
// TLS 1.3 with a pre-shared key), handed to them in a file only the user can
// read: no certificates to set up, and no other user can attach.
#pragma once

#include "mesh/export.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

/// Where a scheduler is in handing out hosts: what progress callbacks see.
struct allocation_status {
  /// The scheduler's name: "slurm".
  std::string scheduler;
  /// The scheduler's id of the request (a Slurm job id); empty before the
  /// request was accepted.
  std::string id;
  /// The scheduler's word for the request's state (Slurm: PENDING, RUNNING,
  /// COMPLETING, FAILED, CANCELLED, TIMEOUT...).
  std::string state;
  /// The scheduler's reason for that state (Slurm: Priority, Resources,
  /// None...); empty if it gave none.
  std::string reason;
  /// Hosts that reported their address so far, of `hosts`.
  size_t hosts_ready = 0;
  size_t hosts = 0;

  friend bool operator==(const allocation_status& x,
                         const allocation_status& y) {
    return x.scheduler == y.scheduler && x.id == y.id && x.state == y.state
           && x.reason == y.reason && x.hosts_ready == y.hosts_ready
           && x.hosts == y.hosts;
  }
  friend bool operator!=(const allocation_status& x,
                         const allocation_status& y) {
    return !(x == y);
  }
};

/// Called on the allocating thread whenever the status changes.
using allocation_progress = std::function<void(const allocation_status&)>;

/// Hosts a scheduler handed out, each running meshd: owned by the host mesh
/// that attached to them (host_mesh::allocate).
class allocation {
public:
  virtual ~allocation();

  /// The status when the hosts were up (state RUNNING for Slurm).
  virtual allocation_status status() const = 0;
  /// "host:port" of each host, in rank order.
  virtual std::vector<std::string> addresses() const = 0;
  /// Ends the allocation once its daemons were shut down: waits up to
  /// `limit` for the scheduler to see it end, cancels it otherwise, and
  /// removes what it left on disk. Blocks (runs the scheduler's commands).
  virtual caf::error release(std::chrono::milliseconds limit) = 0;
  /// Ends it at once (the attach failed, or the owner gave up). Blocks.
  virtual void cancel() = 0;
  /// host_mesh::stop(): the daemons stay up for another attach; this handle
  /// forgets them without ending anything.
  virtual void keep() = 0;
};

/// A scheduler that hands out hosts running meshd.
class allocator {
public:
  virtual ~allocator();

  /// The scheduler's name ("slurm").
  virtual std::string scheduler() const = 0;
  /// Asks for the hosts and blocks until every one reported its address
  /// (an allocation), the scheduler refused or ended the request
  /// (ec::allocation_failed with its reason), or cancel() was called
  /// (ec::cancelled; what was submitted is cancelled). Calls `progress` on
  /// this thread whenever the status changes.
  virtual caf::expected<std::unique_ptr<allocation>>
  allocate(const allocation_progress& progress) = 0;
  /// Makes a running or later allocate() give up: callable from any thread
  /// (not from a signal handler: use a thread that waits for the signal).
  virtual void cancel() = 0;
};

} // namespace mesh

MESH_PUBLIC_END
