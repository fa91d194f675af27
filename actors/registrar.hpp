// The registrar: where a host's children prove themselves (architecture §3).
//
// It stands between the network and the host agent's bookkeeping, so that
// the host agent publishes its public protocol only. Contract:
// - R-1 A registration changes something only if the host agent accepts it,
//   which it does only with the proc's exact one-time token (proc table
//   PT-3). The registrar relays the answer and adds no way around it.
// - R-2 A registration is refused unless its sender and the agent it
//   registers are on one node (a child registers its own agent).
// - R-3 An actor_failure is passed on only if the proc it names registered
//   here and its sender is on the node that proc registered from; anything
//   else is logged and dropped.
#pragma once

#include "actors/internal_interfaces.hpp"

#include <caf/node_id.hpp>

#include <map>
#include <string>

namespace mesh {

struct registrar_state {
  static inline const char* name = "registrar";
  /// The host agent whose procs register here.
  host_agent_internal_actor host;
  /// The node each accepted proc registered from.
  std::map<std::string, caf::node_id> nodes;
};

registrar_actor::behavior_type
registrar(registrar_actor::stateful_pointer<registrar_state> self,
          host_agent_internal_actor host);

} // namespace mesh
