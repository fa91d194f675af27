// The actor types meshctl ships for mesh files: `echo`, a health-check actor
// that answers every echo request with its text (prefixed with the actor's
// args, if the mesh file gives any).
#pragma once

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace meshctl {

using echo_atom = caf::atom_constant<caf::atom("echo")>;

/// Answers (echo, text) with its prefix followed by the text.
using echo_actor
  = caf::typed_actor<caf::replies_to<echo_atom, std::string>::with<std::string>>;

/// Registers meshctl's actor types; call before run_bootstrap_child so that
/// the procs meshctl starts (meshctl itself) can spawn them.
void register_actor_types(caf::actor_system_config& cfg);

/// The names register_actor_types registers.
const std::vector<std::string>& actor_types();

} // namespace meshctl
