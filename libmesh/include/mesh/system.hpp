// Embedding libmesh in a CAF application: configure the caller's actor system.
#pragma once

#include "mesh/export.hpp"

#include <caf/actor_system_config.hpp>

#include <memory>
#include <optional>

MESH_PUBLIC_BEGIN

namespace mesh {

/// Prepares `cfg` for libmesh: gives it a configuration store of its own
/// (mesh::config_of), loads `caf::io::middleman`, registers libmesh's
/// message types and error renderer, and sets libmesh's scheduler and
/// failure-detection defaults (a sharing scheduler with two workers, BASP
/// heartbeats). Call it before `cfg.parse(...)` so that command-line options
/// and INI files can still override every default.
void configure(caf::actor_system_config& cfg);

/// Convenience: an actor_system_config on which configure() has been called.
class config : public caf::actor_system_config {
public:
  config();

private:
  /// Drops this config's configuration store (mesh::config_of) when the
  /// config is destroyed.
  std::shared_ptr<void> store_guard_;
};

/// The child entry point: call it first in main(), after registering your
/// actor types in `cfg` (and after configure(cfg)). Not a bootstrap child (no
/// MESH_BOOTSTRAP variable): returns std::nullopt at once. Otherwise runs the
/// host or proc role this process was launched for to completion and returns
/// its exit code: 0 clean, 1 an actor failed or the parent was lost, 2 bad
/// payload (with a one-line message on stderr).
std::optional<int> run_bootstrap_child(caf::actor_system_config& cfg);

} // namespace mesh

MESH_PUBLIC_END
