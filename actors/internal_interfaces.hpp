// The internal typed interfaces of libmesh's actors: messages that only
// actors of the sender's own process send (architecture §3, "two faces of a
// host"). Two groups: a host's (its proc manager, the proc manager's reports,
// the host agent's own timers and its side of a registration) and the
// client's mesh controller's own timer.
//
// Contract:
// - No handle of these types is published or leaves the process: the host
//   agent is spawned as `host_agent_internal_actor`, and only its narrowed
//   `host_agent_actor` handle is published or handed out; the mesh
//   controller is kept as its public `mesh_controller_actor`, and the proc
//   manager's handle never leaves its host agent.
// - The message types declared here (launch_request, proc_exit and the
//   timers' payloads) are outside libmesh's type-ID block: local messages
//   need no announcement, and no peer can encode them (checked below at
//   compile time, and at run time by test/actors_test.cpp).
// - CAF 0.17 delivers any message to any actor id once a BASP connection is
//   up, whatever the interface its peer was given. So every internal handler
//   of the host agent also refuses a message whose sender is missing or on
//   another node: it logs a warning and changes nothing (from_this_node
//   below).
// - CAF 0.17 takes the source of a BASP *routed* message from the message
//   itself, so a peer that crafts one naming an actor of this node that it
//   knows (one whose handle left the process: the host agent, its registrar)
//   passes the node check. Hence, besides it: the three timers carry types
//   outside libmesh's type-ID block (`stop_stage`, `handshake_deadline`,
//   `connection_lost`), so no peer can encode them at all; the proc
//   manager's reports are accepted from the proc manager only, whose handle
//   never leaves the process; and set_endpoint is accepted once. What is
//   left to such a peer is a registration (which still needs the exact
//   one-time token) and an actor failure report relayed as if by the
//   registrar: authenticating every connection (architecture §2) is what
//   keeps that peer out.
#pragma once

#include "actors/proc_table.hpp"
#include "mesh/actors.hpp"

#include <caf/atom.hpp>
#include <caf/local_actor.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace mesh {

// --- atoms -------------------------------------------------------------------

/// --- host agent <-> proc manager ---
using launch_atom = caf::atom_constant<caf::atom("launch")>;
using launched_atom = caf::atom_constant<caf::atom("launched")>;
using warm_atom = caf::atom_constant<caf::atom("warm")>;
using signal_atom = caf::atom_constant<caf::atom("signal")>;
using proc_exited_atom = caf::atom_constant<caf::atom("procexited")>;
using proc_output_atom = caf::atom_constant<caf::atom("procoutput")>;
/// --- its creator tells the host agent its endpoint ---
using set_endpoint_atom = caf::atom_constant<caf::atom("setendpt")>;
/// --- timers a host agent sets for itself ---
using ready_timeout_atom = caf::atom_constant<caf::atom("readytmo")>;
using escalate_atom = caf::atom_constant<caf::atom("escalate")>;
using proc_lost_atom = caf::atom_constant<caf::atom("proclost")>;
using owner_timeout_atom = caf::atom_constant<caf::atom("ownertmo")>;
/// --- the mesh controller's own timer ---
using spawn_idle_atom = caf::atom_constant<caf::atom("spawnidle")>;
/// --- the mesh controller's knock at a lost host ---
using host_knocked_atom = caf::atom_constant<caf::atom("hostknock")>;
/// --- a client attaches a supervisor to an actor mesh of the controller ---
using supervise_atom = caf::atom_constant<caf::atom("supervise")>;

// --- messages ----------------------------------------------------------------

/// What a proc manager needs to start one proc.
struct launch_request {
  std::string name;           ///< Proc name.
  uint64_t rank = 0;          ///< Rank in its mesh (for log prefixes).
  bootstrap_command command;  ///< Resolved command (already bind-wrapped).
  std::string payload;        ///< Encoded MESH_BOOTSTRAP value.
  /// The proc may be forked by a zygote of its command (else it is exec'd).
  bool zygote = false;
  std::string token;          ///< For in-process procs, which register too.
  /// The proc's place as environment variables (launch_spec::proc_env).
  std::map<std::string, std::string> proc_env;
};

/// A proc exited (pushed by the proc manager to its host agent, after every
/// line it wrote).
struct proc_exit {
  std::string name;
  std::optional<int> exit_code; ///< Set if it exited.
  std::optional<int> signal;    ///< Set if a signal killed it.
  std::string reason;           ///< Set if it failed to launch.
};

/// The payload of a host agent's handshake deadline timer. Deliberately not
/// in libmesh's type-ID block: local messages need no announcement, and a
/// message that holds it cannot come from another node.
struct handshake_deadline {
  std::string name; ///< The proc that must have registered by now.
};

/// The payload of the timer a host agent sets when the connection to a
/// proc's agent was lost (actors/host_agent.cpp, PT-13): it gives the proc
/// manager time to report the exit of a proc that died, which is the better
/// report. Not in libmesh's type-ID block, as handshake_deadline.
struct connection_lost {
  std::string name;   ///< The proc whose agent became unreachable.
  int64_t pid = 0;    ///< Its pid then: a later proc of that name is not it.
  int32_t checks = 0; ///< How often its exit report was waited for already.
};

/// The payload of the timer a host agent with an owner timeout sets when it
/// has no owner (meshd --owner-timeout): stale once a claim or another loss
/// bumped the generation. Not in libmesh's type-ID block, as
/// handshake_deadline.
struct owner_deadline {
  uint64_t generation = 0;
};

/// CAF wants every message type inspectable, announced or not.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, launch_request& x) {
  return f(caf::meta::type_name("mesh::launch_request"), x.name, x.rank,
           x.command, x.payload, x.zygote, x.token, x.proc_env);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_exit& x) {
  auto code = detail::opt(x.exit_code);
  auto sig = detail::opt(x.signal);
  return f(caf::meta::type_name("mesh::proc_exit"), x.name, code, sig,
           x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handshake_deadline& x) {
  return f(caf::meta::type_name("mesh::handshake_deadline"), x.name);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, owner_deadline& x) {
  return f(caf::meta::type_name("mesh::owner_deadline"), x.generation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_lost& x) {
  return f(caf::meta::type_name("mesh::connection_lost"), x.name, x.pid,
           x.checks);
}

// No peer can encode what never crosses a process boundary.
static_assert(!caf::has_type_id<launch_request>::value);
static_assert(!caf::has_type_id<proc_exit>::value);
static_assert(!caf::has_type_id<handshake_deadline>::value);
static_assert(!caf::has_type_id<connection_lost>::value);
static_assert(!caf::has_type_id<owner_deadline>::value);
static_assert(!caf::has_type_id<stop_stage>::value);

// --- actor interfaces --------------------------------------------------------

/// What a proc manager reports to its host agent.
using proc_listener_actor = caf::typed_actor<
  // A proc exited (sent after every line it wrote).
  caf::reacts_to<proc_exited_atom, proc_exit>,
  // A proc wrote a line.
  caf::reacts_to<proc_output_atom, proc_output>>;

/// A proc manager: launches, signals and reaps procs; pushes proc_exit and
/// proc_output to its host agent. Two implementations: bootstrap (OS child
/// processes) and in-process.
using proc_manager_actor = caf::typed_actor<
  // Starts a proc; replies with its pid (0 in-process) once it is started.
  // Never blocks the manager: the fork happens elsewhere.
  caf::replies_to<launch_atom, launch_request>::with<int64_t>,
  // From the manager's own launcher: the outcome of a launch (its id, the
  // pid or -1, the error).
  caf::reacts_to<launched_atom, uint64_t, int64_t, caf::error>,
  // Prepares, in the background, whatever makes later launches of this
  // request's command fast (its zygote); launches nothing.
  caf::reacts_to<warm_atom, launch_request>,
  // Sends a signal to the proc's process group (in-process: SIGTERM asks its
  // proc agent to stop, SIGKILL kills it).
  caf::reacts_to<signal_atom, std::string, int32_t>,
  // From the manager's own watcher: a proc exited / wrote a line; forwarded
  // to the host agent in the order they happened.
  caf::reacts_to<proc_exited_atom, proc_exit>,
  caf::reacts_to<proc_output_atom, proc_output>>;

/// The host agent as its own process sees it: the published protocol, the
/// proc manager's reports and the messages below.
using host_agent_internal_actor =
  host_agent_actor::extend_with<proc_listener_actor>::extend<
    // From its creator, once published: where it listens (host, port).
    caf::reacts_to<set_endpoint_atom, std::string, uint16_t>,
    // From its registrar: a child's handshake, checked against the table.
    caf::replies_to<register_child_atom,
                    child_registration>::with<caf::ok_atom>,
    // From its registrar: an actor of a registered proc failed.
    caf::reacts_to<actor_failed_atom, actor_failure>,
    // Own timer: a child's handshake deadline.
    caf::reacts_to<ready_timeout_atom, handshake_deadline>,
    // Own timer: the next step of a stop, for the stage it was set at.
    caf::reacts_to<escalate_atom, std::string, stop_stage>,
    // Own timer: a proc's agent became unreachable a moment ago.
    caf::reacts_to<proc_lost_atom, connection_lost>,
    // Own timer: no client has owned this host since the generation.
    caf::reacts_to<owner_timeout_atom, owner_deadline>>;

/// The mesh controller as its own process sees it: the public interface
/// plus its timer.
using mesh_controller_internal_actor = mesh_controller_actor::extend<
  // Own timer for the spawn barrier, for the generation it was set at.
  caf::reacts_to<spawn_idle_atom, uint64_t>,
  // Its helper's answer: what a knock at a lost host (by host view rank)
  // found, as a net::knock_answer.
  caf::reacts_to<host_knocked_atom, uint64_t, int32_t>,
  // From a client thread of this process: supervise the actor mesh with this
  // id by (restart_strategy, max_restarts, within) (mesh/supervisor.hpp);
  // an error if it cannot be.
  caf::replies_to<supervise_atom, std::string, uint8_t, uint64_t,
                  caf::timespan>::with<caf::ok_atom>>;

/// True if the message `self` is handling comes from an actor of its own
/// node. Otherwise logs a warning naming `what` and returns false: the
/// caller must then change nothing.
bool from_this_node(caf::local_actor* self, const char* what);

} // namespace mesh
