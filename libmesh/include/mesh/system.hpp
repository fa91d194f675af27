// Embedding libmesh in a CAF application: configure the caller's actor system.
#pragma once

#include <caf/actor_system_config.hpp>

namespace mesh {

/// Prepares `cfg` for libmesh: loads `caf::io::middleman`, registers libmesh's
/// message types and error renderer, and sets libmesh's scheduler and
/// failure-detection defaults (a sharing scheduler with two workers, BASP
/// heartbeats). Call it before `cfg.parse(...)` so that command-line options
/// and INI files can still override every default.
void configure(caf::actor_system_config& cfg);

/// Convenience: an actor_system_config on which configure() has been called.
class config : public caf::actor_system_config {
public:
  config();
};

} // namespace mesh
