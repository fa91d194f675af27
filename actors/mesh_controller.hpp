// The mesh controller: the client-side actor of one proc mesh.
//
// It runs the spawn barrier (every rank running; the first failure ends the
// spawn at once; proc_spawn_max_idle without progress ends it with the ranks
// that never came up) and afterwards turns the events its hosts push into
// calls of the mesh's event handlers and forwarded log lines.
//
// Supervision of actor meshes: an actor event (a proc_event naming an actor
// mesh, pushed by a host when a proc agent reports a failed actor) goes to
// the handlers of the proc mesh and of that actor mesh; a proc that ends
// yields an actor event for every actor mesh with a member on it, for the
// actor meshes' handlers. Either way the rank is marked gone in the actor
// mesh so that calls fail fast for it, and with no handler to tell, a failure
// is logged as an error.
//
// Every event its handlers get also goes, as a message, to the actors
// subscribed to it (all events, or one actor mesh's).
//
// The supervisor of one actor mesh (mesh/supervisor.hpp) runs here too
// (actors/mesh_supervisor.hpp): the controller already receives every proc
// event, knows the hosts, the layout and each rank's spawn request, and is
// event-based: a restart is a chain of requests, never a wait.
#pragma once

#include "actors/internal_interfaces.hpp"
#include "libmesh/src/core/admin_metrics.hpp"
#include "libmesh/src/core/mesh_layout.hpp"
#include "mesh/supervisor.hpp"

#include <caf/message_id.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mesh {

/// The supervision state of one actor mesh, shared by its views (client
/// threads) and its proc mesh's controller; guarded by the controller's
/// mutex.
struct actor_mesh_supervision {
  std::string name; ///< The actor mesh's name.
  std::string id;   ///< The actor mesh's id.
  /// The actor mesh's on_event handlers.
  std::vector<std::function<void(const proc_event&)>> handlers;
  /// Proc-mesh ranks whose member failed or ended with its proc, and why:
  /// calls fail fast for them, casts skip them.
  std::map<size_t, std::string> gone;
  /// Proc-mesh ranks whose member its supervisor is restarting, and how
  /// ("restarting (attempt N; cause: ...)"): calls fail fast for them and
  /// casts skip them, as for `gone` (this wins over `gone`).
  std::map<size_t, std::string> restarting;
  /// Set once `gone` or `restarting` has an entry: casts look at them only
  /// then (refresh_flag() clears it once both are empty).
  std::atomic<bool> any_gone{false};
  /// The members that replaced spawned ones (restarted ranks), by proc mesh
  /// rank: every view reaches these instead of its planned members.
  std::map<size_t, caf::actor> replaced;
  /// Bumped whenever `replaced` changes; 0 while nothing was ever replaced,
  /// so that the call and cast path of an unsupervised mesh reads only this.
  std::atomic<uint64_t> replaced_epoch{0};
  /// The request every member was spawned with: a restart spawns the same.
  spawn_actor_request request;
  /// Calls and casts the owner sent each member through the mesh API, by
  /// proc mesh rank (actor_snapshot::mesh_messages): one relaxed increment
  /// per member per call or cast, no lock. Sized once by size_messages().
  std::unique_ptr<std::atomic<uint64_t>[]> sent;
  size_t sent_size = 0;
  /// The owner's calls to this actor mesh, send to last reply (/metrics).
  latency_histogram calls;

  void size_messages(size_t ranks) {
    sent = std::make_unique<std::atomic<uint64_t>[]>(ranks);
    sent_size = ranks;
  }
  void count_sent(size_t rank) {
    if (rank < sent_size)
      sent[rank].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t sent_to(size_t rank) const {
    return rank < sent_size ? sent[rank].load(std::memory_order_relaxed) : 0;
  }

  /// Whether casts and calls skip rank `r` (gone or restarting).
  bool skips(size_t r) const {
    return gone.count(r) > 0 || restarting.count(r) > 0;
  }
  /// Why a call skips rank `r`, in the words of a call ("is restarting
  /// (...)", "is gone: ..."); nullopt if it does not.
  std::optional<std::string> unavailable(size_t r) const {
    if (auto i = restarting.find(r); i != restarting.end())
      return "is " + i->second;
    if (auto i = gone.find(r); i != gone.end())
      return "is gone: " + i->second;
    return std::nullopt;
  }
  /// Sets any_gone from `gone` and `restarting`.
  void refresh_flag() {
    any_gone.store(!gone.empty() || !restarting.empty(),
                   std::memory_order_release);
  }
};

/// A blocking request that waits on a rank or a host of a proc mesh (an
/// actor mesh call, an actor spawn): supervision answers it with an error as
/// soon as what it waits on is known dead, instead of leaving it to its
/// timeout (the real reply, if one still comes, finds a discarded caller).
struct rank_waiter {
  caf::strong_actor_ptr caller; ///< The blocking actor that waits.
  caf::message_id response_id;  ///< The id its reply will carry.
  size_t host = 0;              ///< Fails when this host is lost.
  /// Fails when this rank's proc ends (or, with `actor_mesh`, when that
  /// actor mesh's member on it fails); none: a relay through the host's comm
  /// actor, which answers for its members itself.
  std::optional<size_t> rank;
  std::string actor_mesh; ///< Id of the actor mesh the request goes to.
  /// A relay: the ranks its comm actor asks.
  std::vector<size_t> relayed_ranks;
  /// The call this request belongs to (0: none). An all-or-error call
  /// (`fail_fast`) is over once one of its ranks is known dead: then every
  /// request of the call is answered at once (abandoned), and a relay fails
  /// with any of its ranks.
  uint64_t call = 0;
  bool fail_fast = false;

  /// Whether rank `r`'s end ends this request: it asks `r` directly, or is
  /// an all-or-error relay that includes `r`.
  bool waits_on(size_t r) const {
    return rank == r
           || (fail_fast
               && std::find(relayed_ranks.begin(), relayed_ranks.end(), r)
                    != relayed_ranks.end());
  }
};

/// State shared between a proc_mesh (client threads) and its controller.
struct mesh_controller_shared {
  std::mutex mtx;
  /// on_event handlers, called on the controller's thread.
  std::vector<std::function<void(const proc_event&)>> handlers;
  /// Latest known status and proc agent per rank.
  std::vector<proc_info> procs;
  /// The actor meshes spawned on this proc mesh, by id. Weak: once every
  /// handle of an actor mesh is gone, nobody is left to tell.
  std::map<std::string, std::weak_ptr<actor_mesh_supervision>> actor_meshes;
  /// Casts not sent to each rank because it was known gone, by rank.
  std::vector<uint64_t> dropped;
  /// Each rank's forwarded output lines (proc_output, with log_forwarding
  /// on), for the admin endpoint; the buffers lock themselves.
  std::vector<std::shared_ptr<log_buffer>> logs;
  /// Supervision events of this proc mesh's actor meshes by (action, cause
  /// class), and restarts (restarted events) by rank.
  supervision_counts supervision;
  std::vector<uint32_t> restarts;
  /// The cause class of each rank's last restarting event.
  std::vector<std::string> restart_causes;

  /// Sizes the per-rank vectors for `ranks` procs.
  void size_ranks(size_t ranks) {
    procs.resize(ranks);
    dropped.resize(ranks);
    restarts.resize(ranks);
    restart_causes.resize(ranks);
    logs.resize(ranks);
    for (auto& l : logs)
      if (!l)
        l = std::make_shared<log_buffer>();
  }
  /// Requests in flight that supervision may have to answer, by id.
  std::map<uint64_t, rank_waiter> waiters;
  uint64_t next_waiter = 0;
  /// Hosts (by host view rank) whose connection was lost, and why.
  std::map<size_t, std::string> lost_hosts;

  /// Registers `w` (call with `mtx` held), or, if what it waits on is
  /// already dead, answers it at once; returns its id (0: answered).
  uint64_t add_waiter(rank_waiter w);
  /// Forgets a waiter whose reply came (call with `mtx` held).
  void remove_waiter(uint64_t id) { waiters.erase(id); }
  /// Answers, with `err`, every waiter that `dead` selects (call with `mtx`
  /// held); they are forgotten.
  template <class Pred>
  void fail_waiters(Pred dead, const caf::error& err) {
    std::vector<uint64_t> over;
    for (auto i = waiters.begin(); i != waiters.end();) {
      if (dead(i->second)) {
        if (i->second.fail_fast)
          over.push_back(i->second.call);
        answer(i->second, err);
        i = waiters.erase(i);
      } else {
        ++i;
      }
    }
    for (auto call : over)
      abandon(call);
  }
  /// Answers every waiter of all-or-error call `call` as abandoned (call
  /// with `mtx` held).
  void abandon(uint64_t call);
  /// A fresh call id.
  uint64_t new_call() { return ++next_call; }
  uint64_t next_call = 0;
  /// Why `w` cannot be answered by its target any more, if so (call with
  /// `mtx` held).
  std::optional<caf::error> dead_end(const rank_waiter& w) const;
  /// Puts `err` into the waiter's mailbox as the reply it waits for.
  static void answer(const rank_waiter& w, caf::error err);
  /// The layout, for the texts of errors (set by the controller).
  std::shared_ptr<const mesh_layout> layout;
  /// The controller itself (weak), for clients that message it (supervise,
  /// subscribe); set when it starts.
  caf::actor_addr controller;
};

/// One rank's restarts, as the supervisor runs them.
struct rank_restart {
  /// What the rank's restart waits for.
  enum class phase : uint8_t { idle, proc, actor };
  phase step = phase::idle;
  /// Bumped for every attempt: a reply to an older one is stale.
  uint64_t epoch = 0;
  /// Its current proc is the original (0) or the n-th respawn, named
  /// "<original name>-r<n>".
  uint32_t incarnation = 0;
  /// Restarts of this rank so far (one_for_one).
  uint32_t attempt = 0;
  /// Its current proc reported `stopping`: its end is not a failure.
  bool stop_asked = false;
  /// one_for_one: its host was lost; it stays down.
  bool given_up = false;
  std::string cause; ///< Why the current restart began.
};

/// The supervisor of one actor mesh of the proc mesh (mesh/supervisor.hpp).
struct mesh_supervisor_state {
  std::string actor_mesh; ///< The supervised actor mesh's id.
  std::weak_ptr<actor_mesh_supervision> sup;
  supervisor_policy policy;
  /// When each restart within the current window began (intensity).
  std::deque<std::chrono::steady_clock::time_point> restarts;
  std::vector<rank_restart> ranks;
  bool gave_up = false;
  /// The owner stops the proc mesh (a current proc reported `stopping`
  /// outside a restart): nothing is restarted any more.
  bool retired = false;
  /// Gave up or retired: restarts nothing, and what a restart still brings
  /// is stopped.
  bool over() const { return gave_up || retired; }
  /// all_for_one: a whole restart is under way; replies carry its epoch.
  bool whole = false;
  uint64_t whole_epoch = 0;
  uint32_t whole_attempt = 0;
  size_t whole_rank = 0;   ///< The rank whose failure began it.
  std::string whole_cause; ///< What that failure was.
  size_t pending = 0;      ///< Replies the current step still waits for.
  std::vector<caf::actor> fresh; ///< New members, swapped in at the end.
};

struct mesh_controller_state {
  static inline const char* name = "mesh_controller";
  std::shared_ptr<mesh_controller_shared> shared;
  /// Where each rank lives; shared with the proc mesh and its actor meshes.
  std::shared_ptr<const mesh_layout> layout;
  /// The spawn in progress, if any.
  caf::typed_response_promise<caf::ok_atom> spawn_promise;
  bool spawning = false;
  size_t hosts_pending = 0;
  uint64_t generation = 0; ///< Idle-timer generation: progress re-arms it.
  duration max_idle{0};
  std::vector<host_agent_actor> hosts;
  /// Hosts being probed after their connection was lost.
  std::set<size_t> probing;
  /// Each host's spawn request as the spawn sent it: a restart reuses its
  /// proc mesh, host mesh, default command, configuration and proc_specs.
  std::vector<spawn_procs_request> requests;
  /// Actors subscribed to the events (subscribe_events_atom), with their
  /// filter: an actor mesh id, or empty for every event.
  std::vector<std::pair<caf::actor, std::string>> subscribers;
  /// The supervisor, once one was attached.
  std::optional<mesh_supervisor_state> supervisor;
};

/// Spawned as the internal interface (its timer); kept and handed out as
/// the public mesh_controller_actor.
mesh_controller_internal_actor::behavior_type mesh_controller(
  mesh_controller_internal_actor::stateful_pointer<mesh_controller_state> self,
  std::shared_ptr<mesh_controller_shared> shared,
  std::shared_ptr<const mesh_layout> layout);

} // namespace mesh
