// The --once health round: one echo call to every actor, timed per rank.
#pragma once

#include "echo_actor.hpp"

#include <mesh/config.hpp>

#include <caf/fwd.hpp>

#include <optional>
#include <string>
#include <vector>

namespace meshctl {

/// The outcome of one call.
struct probe_result {
  std::optional<double> latency_ms; ///< Set if the actor answered correctly.
  std::string error;                ///< Why not, otherwise.
};

/// Calls every target at once and waits for all answers (or the timeout);
/// results are in target order. Latencies are measured per call by an
/// event-based actor, so one slow rank does not inflate the others.
std::vector<probe_result> probe(caf::actor_system& sys,
                                const std::vector<echo_actor>& targets,
                                mesh::duration timeout);

} // namespace meshctl
