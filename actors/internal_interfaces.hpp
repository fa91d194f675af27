// The internal typed interfaces of a host: messages that only actors of the
// host's own process send (architecture §3, "two faces of a host").
//
// Contract:
// - No handle of these types is published or leaves the process: the host
//   agent is spawned as `host_agent_internal_actor`, and only its narrowed
//   `host_agent_actor` handle is published or handed out.
// - CAF 0.17 delivers any message to any actor id once a BASP connection is
//   up, whatever the interface its peer was given. So every internal handler
//   also refuses a message whose sender is missing or on another node: it
//   logs a warning and changes nothing (from_this_node below).
// - CAF 0.17 takes the source of a BASP *routed* message from the message
//   itself, so a peer that crafts one naming an actor of this node that it
//   knows (one whose handle left the process: the host agent, its registrar)
//   passes the node check. Hence, besides it: the two timers carry types
//   outside libmesh's type-ID block (`stop_stage`, `handshake_deadline`), so
//   no peer can encode them at all; the proc manager's reports are accepted
//   from the proc manager only, whose handle never leaves the process; and
//   set_endpoint is accepted once. What is left to such a peer is a
//   registration (which still needs the exact one-time token) and an actor
//   failure report relayed as if by the registrar: authenticating every
//   connection (architecture §2) is what keeps that peer out.
#pragma once

#include "actors/proc_table.hpp"
#include "mesh/actors.hpp"

#include <caf/local_actor.hpp>

#include <string>

namespace mesh {

/// The payload of a host agent's handshake deadline timer. Deliberately not
/// in libmesh's type-ID block: local messages need no announcement, and a
/// message that holds it cannot come from another node.
struct handshake_deadline {
  std::string name; ///< The proc that must have registered by now.
};

/// CAF wants every message type inspectable, announced or not.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handshake_deadline& x) {
  return f(caf::meta::type_name("mesh::handshake_deadline"), x.name);
}

/// What a proc manager reports to its host agent.
using proc_listener_actor = caf::typed_actor<
  // A proc exited (sent after every line it wrote).
  caf::reacts_to<proc_exited_atom, proc_exit>,
  // A proc wrote a line.
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
    caf::reacts_to<escalate_atom, std::string, stop_stage>>;

/// True if the message `self` is handling comes from an actor of its own
/// node. Otherwise logs a warning naming `what` and returns false: the
/// caller must then change nothing.
bool from_this_node(caf::local_actor* self, const char* what);

} // namespace mesh
