// Heartbeats and the silence after which a peer counts as hung
// (proc_unresponsive_timeout), turned into CAF's middleman settings.
#pragma once

#include "mesh/config.hpp"

#include <caf/fwd.hpp>

namespace mesh {

/// Sets middleman.heartbeat-interval and middleman.connection-timeout from
/// `store`'s proc_unresponsive_timeout: every connection sends a heartbeat
/// every interval = min(1 s, timeout / 4), and one that received nothing
/// for timeout - interval is closed at CAF's next check (one per interval),
/// so within `timeout` of its peer's last sign of life; that kills the
/// proxies of its peer: monitors of the peer's actors fire. 0 turns both
/// off. Must run before the actor system starts. The timeout it started
/// with is connection-timeout + heartbeat-interval (actors/host_agent.cpp
/// reads it back that way for its reports).
void apply_liveness(caf::actor_system_config& cfg, const config_store& store);

} // namespace mesh
