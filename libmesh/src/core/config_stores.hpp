// One configuration store per actor system (architecture §6): the stores of
// the actor_system_configs that mesh::configure() prepared.
//
// Contract: configure(cfg) gives cfg a fresh store (a config that lives at
// the address of an earlier, destroyed one gets no stale layers), whose
// test_override and env layers are the process's; config_of(cfg) finds it
// until mesh::config's destructor (or detach) drops it, and falls back to
// config_store::global() for a config libmesh never saw.
#pragma once

#include "mesh/config.hpp"

namespace mesh {

/// Gives `cfg` a new store, replacing any it had; returns it.
config_store& attach_config_store(const caf::actor_system_config& cfg);

/// Drops the store of `cfg` (when the config is destroyed).
void detach_config_store(const caf::actor_system_config& cfg);

} // namespace mesh
