// The supervisor of an actor mesh (mesh/supervisor.hpp), run by its proc
// mesh's controller (actors/mesh_controller.hpp).
//
// Contract (the mechanics behind mesh/supervisor.hpp's):
// - Nothing here blocks: a restart is a chain of requests the controller
//   sends (stop_procs, spawn_procs to the rank's host, spawn_actor to the new
//   proc agent) whose replies drive the next step. Every request has a
//   deadline; a reply to an attempt that was overtaken (its epoch is old) is
//   dropped, and an actor it brought is stopped.
// - A respawned proc is the rank's own proc_spec (command, binding) in its
//   host's original request (configuration, default command), under a fresh
//   name "<original name>-r<n>": a host never launches a name twice. Events
//   of an earlier incarnation are stale and dropped by the controller.
// - Before the restarting event goes out, the rank is marked restarting in
//   the actor mesh (calls fail fast, casts are dropped); the new member is
//   swapped into actor_mesh_supervision::replaced before the restarted event.
// - A failure during a restart (the new proc or actor does not come up, or
//   dies before the swap) is one more failure: it counts against the
//   intensity, so a rank that cannot come back ends in gave_up.
// - Giving up marks every rank gone with the cause, answers every request
//   waiting on the actor mesh, tells the owner (gave_up) and stops every proc
//   of the proc mesh.
#pragma once

#include "actors/mesh_controller.hpp"

#include <caf/error.hpp>

#include <string>

namespace mesh {

using controller_ptr =
  mesh_controller_internal_actor::stateful_pointer<mesh_controller_state>;

/// supervise_atom: attaches a supervisor to actor mesh `id` (or changes its
/// policy); restarts the ranks already gone. An error if it cannot.
caf::error attach_supervisor(controller_ptr self, const std::string& id,
                             supervisor_policy policy);

/// Every proc event the controller published (current incarnation only):
/// a rank whose proc ended without being asked to stop is restarted.
void supervise_proc_event(controller_ptr self, const proc_event& ev);

/// An actor of the supervised mesh failed while its proc runs: restarted.
void supervise_actor_failure(controller_ptr self, const proc_event& ev);

/// Sends `ev` to every subscriber whose filter it passes.
void notify_subscribers(controller_ptr self, const proc_event& ev);

/// Whether `ev` is of an earlier incarnation of its rank than the current
/// one (call with the shared mutex held).
bool is_stale(const mesh_controller_shared& shared, const proc_event& ev);

} // namespace mesh
