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
//   silent member never holds the reply back beyond the timeout.
// - Casts are fire and forget: members' replies to them are dropped.
// - cast_sync replies only after every member has processed the cast (or is
//   gone, or the timeout passed), which is what bounds how far a caller's
//   casts can run ahead of the members (CAF 0.17 has no back-pressure).
#pragma once

#include "mesh/actors.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace mesh {

struct comm_actor_state {
  static inline const char* name = "comm_actor";
  /// What this comm actor has done; answered to comm_stats_atom.
  comm_stats stats;
};

comm_actor_actor::behavior_type
comm_actor(comm_actor_actor::stateful_pointer<comm_actor_state> self);

/// Why a member gave no reply to a request, as the end of a sentence
/// ("did not answer within 2s", "is gone: ..."); shared by the comm actor and
/// the caller's direct path so that both read the same.
std::string explain_member_error(caf::actor_system& sys, const caf::error& err,
                                 caf::timespan timeout);

} // namespace mesh
