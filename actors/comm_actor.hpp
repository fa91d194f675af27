// The comm actor: one per host, spawned and linked by the host agent.
//
// It relays casts and calls of actor meshes to the members on its host, so
// that a cast or call to H hosts x P procs costs the caller H messages and H
// replies instead of H x P. For host_mesh::local() and local_in_process() it
// lives in the client process, for host_mesh::process() in each host process.
//
// Contract kept here:
// - A gather replies exactly once, with one result per member in request
//   order, once every member has answered, failed or timed out: a dead or
//   silent member never holds the reply back beyond the timeout, and a
//   member whose actor or connection ends (its proc died, or hung past
//   proc_unresponsive_timeout) is settled at once by its down message.
// - Casts are fire and forget: members' replies to them are dropped.
// - cast_sync replies only after every member has processed the cast (or is
//   gone, or the timeout passed), which is what bounds how far a caller's
//   casts can run ahead of the members (CAF 0.17 has no back-pressure).
#pragma once

#include "mesh/actors.hpp"

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <string>

namespace mesh {

struct comm_actor_state {
  static inline const char* name = "comm_actor";
  /// What this comm actor has done; answered to comm_stats_atom.
  comm_stats stats;
  /// A request in flight to a member: `gone` settles it if the member's
  /// actor or connection ends first; `owner` expires when the gather or
  /// sync it belongs to is done.
  struct watch {
    std::weak_ptr<void> owner;
    std::function<void()> gone;
  };
  /// By member: the requests waiting on it (members are monitored).
  std::map<caf::actor_addr, std::vector<watch>> watches;
};

comm_actor_actor::behavior_type
comm_actor(comm_actor_actor::stateful_pointer<comm_actor_state> self);

/// Why a member gave no reply to a request, as the end of a sentence
/// ("did not answer within 2s", "is gone: ..."); shared by the comm actor and
/// the caller's direct path so that both read the same.
std::string explain_member_error(caf::actor_system& sys, const caf::error& err,
                                 caf::timespan timeout);

} // namespace mesh
