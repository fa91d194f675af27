// The insides of actor_mesh<Handle>, shared by proc_mesh.cpp (which spawns
// actor meshes) and actor_mesh.cpp (which messages them).
#pragma once

#include "actors/mesh_controller.hpp"
#include "libmesh/src/core/mesh_layout.hpp"
#include "mesh/actor_mesh.hpp"
#include "mesh/actors.hpp"

#include <caf/scoped_actor.hpp>

#include <atomic>
#include <memory>
#include <map>
#include <optional>
#include <set>
#include <mutex>
#include <string>
#include <vector>

namespace mesh::detail {

/// Blocking actors that calling threads borrow for their requests. A fresh
/// scoped_actor per call costs a proxy on, and a goodbye message to, every
/// node it messages (about 30 us a round trip); reused ones cost nothing.
/// Like every actor, they must end before their actor system: the owning
/// actor mesh must be destroyed first.
class caller_pool {
public:
  /// A caller for one thread; returned to the pool unless discarded.
  class lease {
  public:
    lease(caller_pool& pool, std::unique_ptr<caf::scoped_actor> self)
      : pool_(&pool), self_(std::move(self)) {}
    lease(lease&&) = default;
    ~lease() {
      if (self_)
        pool_->give_back(std::move(self_));
    }
    caf::scoped_actor& operator*() { return *self_; }
    /// Not reused: replies that come after a timeout would linger in its
    /// mailbox.
    void discard() { self_.reset(); }

  private:
    caller_pool* pool_;
    std::unique_ptr<caf::scoped_actor> self_;
  };

  explicit caller_pool(caf::actor_system& sys) : sys_(&sys) {}

  lease borrow() {
    std::unique_ptr<caf::scoped_actor> self;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!idle_.empty()) {
        self = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!self)
      self = std::make_unique<caf::scoped_actor>(*sys_);
    return lease{*this, std::move(self)};
  }

private:
  void give_back(std::unique_ptr<caf::scoped_actor> self) {
    std::lock_guard<std::mutex> guard{mtx_};
    idle_.push_back(std::move(self));
  }

  caf::actor_system* sys_;
  std::mutex mtx_;
  std::vector<std::unique_ptr<caf::scoped_actor>> idle_;
};

/// What every view of one actor mesh shares.
struct actor_mesh_core {
  caf::actor_system* sys = nullptr;
  /// config_of(*sys), looked up once: casts and calls read call_timeout.
  const config_store* config = nullptr;
  std::string name;
  actor_mesh_id id;
  /// The proc mesh's extent: the base rank space of every view.
  mesh::extent extent;
  /// Where each proc mesh rank lives (the proc mesh's own layout).
  std::shared_ptr<const mesh_layout> layout;
  std::vector<caf::actor> members;     ///< By proc mesh rank.
  std::vector<comm_actor_actor> comms; ///< By host.
  /// Guards `supervision` (the proc mesh controller's mutex).
  std::shared_ptr<mesh_controller_shared> controller;
  std::shared_ptr<actor_mesh_supervision> supervision;
  /// Casts sent to each host, for the credit points.
  std::unique_ptr<std::atomic<uint64_t>[]> casts_per_host;
  /// For the blocking calls and credit points.
  std::unique_ptr<caller_pool> callers;
  /// The message types each host's process can decode, by host; nullopt
  /// for a host in this very process (or one that did not say), which
  /// relays everything.
  std::vector<std::optional<std::set<std::string>>> host_types;
};

/// The members of one host within a view.
struct host_group {
  size_t host = 0;
  std::vector<size_t> view_ranks;
  std::vector<comm_member> members; ///< With their view ranks.
};

/// A view and its members grouped by host, computed once per view.
struct actor_mesh_plan {
  mesh::region view;
  std::vector<size_t> base_ranks; ///< By view rank.
  std::vector<host_group> groups; ///< By ascending host.
};

} // namespace mesh::detail

namespace mesh::detail {

/// Why a libmesh error happened, without its phrase: the last part of its
/// context (e.g. what a proc agent said); other errors as `sys` renders them.
std::string reason_of(caf::actor_system& sys, const caf::error& err);

/// Joins per-rank failures into one clause: "a; b; c", at most ten of them
/// followed by "and N more".
std::string join_failures(const std::vector<std::string>& failures);

} // namespace mesh::detail

namespace mesh::detail {

/// The groups of `plan` with the members a supervisor replaced since the
/// plan was made (restarted ranks): `plan.groups` itself when none was ever
/// replaced (an unsupervised mesh: one atomic load, no lock), else a copy
/// made in `storage` under the controller's mutex (supervisor.cpp).
const std::vector<host_group>& current_groups(const actor_mesh_core& core,
                                              const actor_mesh_plan& plan,
                                              std::vector<host_group>& storage);

/// The member of proc mesh rank `base` now: its replacement if a supervisor
/// restarted it, else the one spawned.
caf::actor current_member(const actor_mesh_core& core, size_t base);

} // namespace mesh::detail
