// What this_proc() and this_host() answer from (mesh/this_proc.hpp): the
// process-wide record of the proc this process runs, kept by
// run_bootstrap_child (libmesh/src/client/bootstrap_child.cpp).
#pragma once

#include "mesh/actors.hpp"

#include <caf/fwd.hpp>

#include <map>
#include <string>

namespace mesh::detail {

/// Sets each variable of `env` (the payload's proc_env) in this process's
/// environment where it differs. For a proc forked by a zygote, which has
/// only its zygote's environment (which leaves them out); an exec'd proc
/// has them from its launch, or what a wrapper made of them. Call it before
/// any thread of libmesh runs.
void export_proc_env(const std::map<std::string, std::string>& env);

/// Records that this process runs the proc whose place `env` describes, in
/// `sys`, launched by `host`: this_proc() and this_host() answer from here
/// on. Call it before the proc's agent can spawn any actor.
void enter_proc(caf::actor_system& sys,
                const std::map<std::string, std::string>& env,
                host_agent_actor host);

/// The proc is stopping (its actor system is about to go): this_proc() and
/// this_host() fail again from here on.
void leave_proc();

} // namespace mesh::detail
