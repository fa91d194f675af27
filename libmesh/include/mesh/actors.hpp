// The actors of libmesh and their messages (architecture §4).
//
// A CAF actor can drive a mesh by these messages alone: send `spawn_procs` to
// a host agent and receive one state per proc as the reply. The blocking API
// of mesh/mesh.hpp is built on them.
//
// A host has two faces. Its host agent publishes `host_agent_actor`, the
// public protocol and nothing else; its children prove themselves to a
// separate `registrar_actor` with their one-time tokens. What never leaves
// the process that sends it is internal (actors/internal_interfaces.hpp),
// neither declared nor registered here: the proc manager's interface and its
// callbacks, the host agent's and the mesh controller's own timers, the host
// agent's side of a registration. The host agent refuses those messages from
// other nodes.
//
// Every message type is registered in one CAF type-ID block, `mesh`, that
// starts at caf::first_custom_type_id. Users who send their own types between
// procs start their block at `caf::id_block::mesh::end`:
//
//   CAF_BEGIN_TYPE_ID_BLOCK(my_app, caf::id_block::mesh::end)
//     CAF_ADD_TYPE_ID(my_app, (my_app::sample))
//   CAF_END_TYPE_ID_BLOCK(my_app)
//   ... cfg.add_message_types<caf::id_block::my_app>();
#pragma once

#include "mesh/export.hpp"

#include "mesh/bootstrap.hpp"
#include "mesh/config.hpp"
#include "mesh/extent.hpp"
#include "mesh/introspect.hpp"
#include "mesh/status.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

// --- atoms -------------------------------------------------------------------

/// --- host agent: the mesh protocol ---
using spawn_procs_atom = caf::atom_constant<caf::atom("spawnprocs")>;
using proc_state_atom = caf::atom_constant<caf::atom("procstate")>;
using wait_status_atom = caf::atom_constant<caf::atom("waitstatus")>;
using stop_procs_atom = caf::atom_constant<caf::atom("stopprocs")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using shutdown_host_atom = caf::atom_constant<caf::atom("shutdownh")>;
using set_config_atom = caf::atom_constant<caf::atom("setconfig")>;
using subscribe_events_atom = caf::atom_constant<caf::atom("subevents")>;
using list_procs_atom = caf::atom_constant<caf::atom("listprocs")>;
using registrar_atom = caf::atom_constant<caf::atom("registrar")>;
/// --- bootstrap handshake: child -> registrar (-> host agent, internal) ---
using register_child_atom = caf::atom_constant<caf::atom("regchild")>;
/// --- proc agent ---
using stop_proc_atom = caf::atom_constant<caf::atom("stopproc")>;
using spawn_actor_atom = caf::atom_constant<caf::atom("spawnactor")>;
using get_config_atom = caf::atom_constant<caf::atom("getconfig")>;
/// --- comm actor: fan-out of actor mesh casts and calls, one per host ---
using comm_atom = caf::atom_constant<caf::atom("comm")>;
using cast_atom = caf::atom_constant<caf::atom("cast")>;
using cast_sync_atom = caf::atom_constant<caf::atom("castsync")>;
using gather_atom = caf::atom_constant<caf::atom("gather")>;
using comm_stats_atom = caf::atom_constant<caf::atom("commstats")>;
using known_types_atom = caf::atom_constant<caf::atom("knowntypes")>;
/// --- supervision: proc agent -> registrar (-> host agent, internal) ---
using actor_failed_atom = caf::atom_constant<caf::atom("actorfail")>;
/// --- introspection: owner -> host agent -> proc agent (mesh/introspect.hpp)
using introspect_atom = caf::atom_constant<caf::atom("introspec")>;
/// A client owns a host (attach) / lets it go for another attach (stop()).
using claim_atom = caf::atom_constant<caf::atom("claimhost")>;
using release_atom = caf::atom_constant<caf::atom("releasehst")>;

// --- messages ----------------------------------------------------------------

/// One proc for a host to launch.
struct proc_spec {
  std::string name;                          ///< proc_name(mesh id, rank).
  uint64_t rank = 0;                         ///< Rank in the combined extent.
  std::optional<bootstrap_command> command;  ///< Per-rank override, if any.
  std::optional<proc_bind> bind;             ///< CPU/NUMA binding, if any.
};

/// A host's share of a proc mesh (the payload of `spawn_procs`).
struct spawn_procs_request {
  std::string proc_mesh_id;                         ///< String form.
  std::string host_mesh_id;                         ///< Owner, for drain.
  bool host_children = false; ///< Launch hosts (host_mesh::process), not procs.
  std::optional<bootstrap_command> default_command; ///< set_bootstrap().
  config_snapshot config;                           ///< Client's snapshot.
  std::vector<proc_spec> procs;                     ///< This host's procs.
  /// The whole proc mesh's extent (hosts ⊕ per_host) in extent::to_string()
  /// form, and the ranks on each host: with both, each proc's environment
  /// carries its WORLD_SIZE, LOCAL_RANK, MESH_POINT, ... (mesh/this_proc.hpp)
  /// and this_proc() works in it. Empty (or 0): only the rank, names and
  /// host are set, and this_proc() fails saying why.
  std::string extent;
  uint64_t procs_per_host = 0;
};

/// One member of an actor mesh for a proc agent to spawn.
struct spawn_actor_request {
  std::string name;       ///< The actor mesh's name, for messages and events.
  std::string actor_mesh; ///< The actor mesh's id: routes its events.
  std::string type;       ///< Name the factory is registered under.
  caf::message args;      ///< Init arguments for the factory.
  /// Expected messaging interface (`sys.message_types<Handle>()`); empty
  /// for a dynamically typed actor.
  std::vector<std::string> interface;
  /// Besides the registrar the proc registered with, which is always told,
  /// an actor told when the actor fails (may be empty): anything that
  /// handles `actor_failed_atom, actor_failure`.
  caf::actor supervisor;
};

/// A proc agent's report that one of its actors ended with an error.
struct actor_failure {
  std::string proc_name;  ///< The proc the actor ran on.
  std::string name;       ///< The actor mesh's name.
  std::string actor_mesh; ///< The actor mesh's id.
  std::string reason;     ///< Its exit reason, rendered.
};

/// The proc agent: in every proc.
using proc_agent_actor = caf::typed_actor<
  // Stops every actor of this proc; the proc then exits 0 (clean) or 1.
  caf::reacts_to<stop_proc_atom, std::string>,
  // Spawns an actor by its registered type name; replies once the actor has
  // run its initialisation, with an error if that failed, the type is
  // unknown, the arguments or the interface do not match.
  caf::replies_to<spawn_actor_atom, spawn_actor_request>::with<caf::actor>,
  // The value of a config key as resolved in this proc.
  caf::replies_to<get_config_atom, std::string>::with<std::string>,
  // Introspection (mesh/introspect.hpp): every actor it spawned that still
  // runs, then the last few that ended (failed or stopped), oldest first.
  caf::replies_to<introspect_atom>::with<std::vector<actor_snapshot>>>;

/// A proc's state plus the handle of its proc agent (empty until running).
struct proc_info {
  proc_state state;
  proc_agent_actor agent;
  std::string address; ///< "host:port" where the agent is published, if it is.
};

/// A bootstrap child proves itself to its parent's registrar with this.
struct child_registration {
  std::string name;   ///< Its proc (or host) name.
  std::string token;  ///< The one-time token from its payload.
  int64_t pid = 0;    ///< Its process id (0 in-process).
  caf::actor agent;   ///< Its proc agent (or host agent, for a host child).
  std::string host;   ///< Where it published its agent ("" if it did not).
  uint16_t port = 0;
};

/// One line a proc wrote (pushed by its host agent to subscribers).
struct proc_output {
  std::string name;
  uint64_t rank = 0;
  bool is_stderr = false;
  std::string line;
};

/// A member of an actor mesh, addressed through a comm actor.
struct comm_member {
  uint64_t rank = 0; ///< Its rank in the caller's view (for its reply).
  caf::actor actor;
};

/// One member's answer to a gather.
struct gather_result {
  uint64_t rank = 0;  ///< As in the request.
  bool ok = false;    ///< It replied.
  caf::message value; ///< Its reply, when ok.
  std::string error;  ///< Why there is no reply, otherwise.
};

/// How long a comm actor waits for each member of a relayed cast_sync or
/// gather. Nanoseconds on the wire: CAF 0.17.6 delivers a caf::timespan
/// message element that crossed processes as zero (test/actors_test.cpp
/// pins it), which made every relay through a host in another process time
/// out at once.
struct relay_timeout {
  int64_t ns = 0;

  relay_timeout() = default;
  explicit relay_timeout(caf::timespan t) : ns(t.count()) {}
  caf::timespan value() const { return caf::timespan{ns}; }
};

/// What a comm actor has received and sent since it started.
struct comm_stats {
  uint64_t casts = 0;     ///< cast and cast_sync messages received.
  uint64_t gathers = 0;   ///< gather messages received.
  uint64_t delivered = 0; ///< Messages sent on to members.
};

// --- actor interfaces --------------------------------------------------------

/// The comm actor of a host: relays casts and calls of actor meshes to the
/// members on its host, so that reaching H hosts costs the caller H messages.
using comm_actor_actor = caf::typed_actor<
  // Sends the message to every member, fire and forget (replies dropped).
  caf::reacts_to<cast_atom, std::vector<comm_member>, caf::message>,
  // As cast, then replies once every member has processed it, is gone or the
  // timeout passed: the credit point that bounds how far casts run ahead.
  caf::replies_to<cast_sync_atom, std::vector<comm_member>, caf::message,
                  relay_timeout>::with<caf::ok_atom>,
  // Requests every member; replies one result per member, in request order,
  // once each has answered, failed or timed out.
  caf::replies_to<gather_atom, std::vector<comm_member>, caf::message,
                  relay_timeout>::with<std::vector<gather_result>>,
  // Counters, for tests and benchmarks.
  caf::replies_to<comm_stats_atom>::with<comm_stats>,
  // The names of the message types this process can decode: a host that
  // does not know a message's types (a meshd does not know the
  // application's) cannot relay it, and the caller sends it to each member
  // directly instead (asked once per host when an actor mesh is spawned).
  caf::replies_to<known_types_atom>::with<std::vector<std::string>>>;

/// The registrar of a host: where its children prove themselves, so that the
/// handshake needs no handler on the host agent's published face.
using registrar_actor = caf::typed_actor<
  // A child presents its one-time token; ok once its host accepted it,
  // ec::handshake_refused (nothing changed) otherwise.
  caf::replies_to<register_child_atom, child_registration>::with<caf::ok_atom>,
  // From the proc agent of a registered proc: one of its actors failed;
  // pushed to the subscribers of the proc's mesh as a proc_event that names
  // the actor. Dropped unless it comes from the node the proc registered from.
  caf::reacts_to<actor_failed_atom, actor_failure>>;

/// The host agent: owns the procs of one host (architecture §4). This is what
/// a host publishes on its port: the public protocol only.
using host_agent_actor = caf::typed_actor<
  // Launches this host's procs of a mesh concurrently; replies once each is
  // running or has failed, one proc_info per proc in request order.
  caf::replies_to<spawn_procs_atom,
                  spawn_procs_request>::with<std::vector<proc_info>>,
  // States of the named procs of a mesh (all of the mesh if names is empty).
  caf::replies_to<proc_state_atom, std::string,
                  std::vector<std::string>>::with<std::vector<proc_info>>,
  // Replies (rank, state) once the named proc reaches at least the status;
  // the rank is the one in the request (replies are positioned by it).
  caf::replies_to<wait_status_atom, std::string, proc_status,
                  uint64_t>::with<uint64_t, proc_state>,
  // Stops the named procs of a mesh (all if empty) with the given reason:
  // polite stop, SIGTERM, SIGKILL; replies when all have exited.
  caf::replies_to<stop_procs_atom, std::string, std::vector<std::string>,
                  std::string>::with<shutdown_summary>,
  // Phase 1 of shutdown: terminates the procs of one host mesh (all if the
  // id is empty); networking stays up.
  caf::replies_to<drain_atom, std::string>::with<shutdown_summary>,
  // Phase 2: terminates what is left, replies, then the host agent quits.
  caf::replies_to<shutdown_host_atom>::with<shutdown_summary>,
  // Installs a config snapshot as this host's client_override layer.
  caf::replies_to<set_config_atom, config_snapshot>::with<caf::ok_atom>,
  // Pushes proc_event (and proc_output) of a mesh (all if empty) to the actor.
  caf::reacts_to<subscribe_events_atom, std::string, caf::actor>,
  // Names of every proc this host knows.
  caf::replies_to<list_procs_atom>::with<std::vector<std::string>>,
  // The comm actor of this host.
  caf::replies_to<comm_atom>::with<comm_actor_actor>,
  // The registrar of this host, for its children's handshake.
  caf::replies_to<registrar_atom>::with<registrar_actor>,
  // Introspection (mesh/introspect.hpp): this host and its procs of one host
  // mesh ("" = every proc of the host), in one round: it asks each running
  // proc's agent with the deadline and replies once all answered or the
  // deadline passed (a proc that did not answer is responsive = false).
  caf::replies_to<introspect_atom, std::string,
                  relay_timeout>::with<host_snapshot>,
  // Ownership (meshd --owner-timeout): the client's owner token, an actor
  // that lives as long as the client's host_mesh; the host monitors it. A
  // host whose owners are all lost (not released) for owner_timeout stops
  // its procs and ends; so does one that nobody claims for that long after
  // its start.
  caf::reacts_to<claim_atom, caf::actor>,
  // The owner lets the host go on purpose (host_mesh::stop()): it stays up,
  // unowned, for another attach. Acknowledged, so that an owner that ends
  // right after its stop() is not taken for a lost one.
  caf::replies_to<release_atom, caf::actor>::with<caf::ok_atom>>;

/// The client-side controller of one proc mesh: receives the proc events its
/// hosts push, keeps per-rank state and runs the supervisor of an actor mesh
/// (mesh/supervisor.hpp). (Its own timer and the supervisor's attach are
/// internal.)
using mesh_controller_actor = caf::typed_actor<
  // Pushed by host agents.
  caf::reacts_to<proc_event>, caf::reacts_to<proc_output>,
  // Pushes to the actor every proc_event its handlers get from now on, as a
  // message: with an empty string, every event of the proc mesh (proc,
  // actor and supervision events); with an actor mesh id, only the events
  // of that actor mesh (as its on_event handlers see them). The subscriber
  // is monitored and dropped when it ends.
  caf::reacts_to<subscribe_events_atom, std::string, caf::actor>,
  // Runs a spawn: one request per host; replies when every rank is running,
  // at once when one fails, or after proc_spawn_max_idle without progress.
  caf::replies_to<spawn_procs_atom, std::vector<host_agent_actor>,
                  std::vector<spawn_procs_request>>::with<caf::ok_atom>>;

// --- the mesh-level protocol --------------------------------------------------

class host_mesh_ref;
class proc_mesh_ref;
template <class Handle>
class actor_mesh;

/// A proc mesh for the mesh client to spawn on every host of a host mesh
/// (the arguments of host_mesh_ref::spawn).
struct proc_mesh_request {
  std::string name;      ///< A label: the proc mesh id's.
  mesh::extent per_host; ///< Procs per host (labels apart from the hosts').
  /// Bindings, one per per_host rank (empty: none).
  std::vector<proc_bind> bind;
  /// Commands by rank of the combined extent (empty: the hosts' default;
  /// an entry with an empty program: the default for that rank).
  std::vector<bootstrap_command> commands;
};

/// An actor mesh for the mesh client to spawn on a proc mesh (the arguments
/// of proc_mesh_ref::spawn).
struct actor_mesh_request {
  std::string name; ///< A label: the actor mesh id's.
  std::string type; ///< Name the factory is registered under in the procs.
  caf::message args; ///< Init arguments.
  /// Expected messaging interface (`sys.message_types<Handle>()`); empty for
  /// a dynamically typed actor.
  std::vector<std::string> interface;
};

/// The mesh client: the mesh-level protocol, with which a CAF actor drives
/// whole meshes by messages alone, without building per-host requests
/// (mesh::spawn_mesh_client). Each request runs concurrently with the
/// others, with the barrier, idle timeout, errors and cleanup of the
/// blocking API (which runs on the same operations). The proc meshes it
/// spawns live (their controller, their events) until they are stopped
/// through it or it ends; it stops none of them by ending.
using mesh_client_actor = caf::typed_actor<
  // Spawns a proc mesh on every host of the host mesh; replies once every
  // rank is running (on a failure, the procs that started are stopped and
  // the error names each failing rank).
  caf::replies_to<spawn_procs_atom, host_mesh_ref,
                  proc_mesh_request>::with<proc_mesh_ref>,
  // Spawns an actor mesh on every proc of the proc mesh; replies once every
  // member has run its initialisation.
  caf::replies_to<spawn_actor_atom, proc_mesh_ref,
                  actor_mesh_request>::with<actor_mesh<caf::actor>>,
  // Fresh state of every rank, from the hosts.
  caf::replies_to<proc_state_atom, proc_mesh_ref>::with<std::vector<proc_state>>,
  // Stops every proc of the proc mesh; replies when all have exited.
  caf::replies_to<stop_procs_atom, proc_mesh_ref,
                  std::string>::with<caf::ok_atom>,
  // Sends every proc_event of the proc mesh to the actor, until it ends.
  caf::reacts_to<subscribe_events_atom, proc_mesh_ref, caf::actor>>;

/// Spawns a mesh client in `sys` (which configure() prepared). End it with
/// an exit message (or link it to its user) when done.
mesh_client_actor spawn_mesh_client(caf::actor_system& sys);

// --- serialization (CAF 0.17 cannot serialize std::optional) ------------------

namespace detail {

/// Lets an optional field travel as (present, value).
template <class T>
struct optional_field {
  std::optional<T>& ref;
};

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, optional_field<T>& x) {
  bool present = x.ref.has_value();
  T value = present ? *x.ref : T{};
  return f(present, value, caf::meta::load_callback([&]() -> caf::error {
             if (present)
               x.ref = std::move(value);
             else
               x.ref.reset();
             return caf::none;
           }));
}

template <class T>
optional_field<T> opt(std::optional<T>& x) {
  return {x};
}

/// Lets a possibly empty actor handle travel: CAF 0.17 turns a message that
/// holds an invalid handle into an empty message on the receiving side.
template <class Handle>
struct handle_field {
  Handle& ref;
};

template <class Inspector, class Handle>
typename Inspector::result_type inspect(Inspector& f, handle_field<Handle>& x) {
  bool present = static_cast<bool>(x.ref);
  if constexpr (Inspector::reads_state) {
    if (present)
      return f(present, x.ref);
    return f(present);
  } else {
    if (auto err = f(present))
      return err;
    if (present)
      return f(x.ref);
    x.ref = Handle{};
    return caf::none;
  }
}

template <class Handle>
handle_field<Handle> handle(Handle& x) {
  return {x};
}

} // namespace detail

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bootstrap_command& x) {
  auto arg0 = detail::opt(x.arg0);
  return f(caf::meta::type_name("mesh::bootstrap_command"), x.program, arg0,
           x.args, x.env);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_bind& x) {
  auto a = detail::opt(x.cpunodebind);
  auto b = detail::opt(x.membind);
  auto c = detail::opt(x.physcpubind);
  auto d = detail::opt(x.cpus);
  return f(caf::meta::type_name("mesh::proc_bind"), a, b, c, d);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_event& x) {
  auto code = detail::opt(x.exit_code);
  auto sig = detail::opt(x.signal);
  return f(caf::meta::type_name("mesh::proc_event"), x.rank, x.proc_name,
           x.status, code, sig, x.reason, x.actor, x.actor_mesh, x.host,
           x.stderr_tail, x.action, x.attempt);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_state& x) {
  auto code = detail::opt(x.exit_code);
  auto sig = detail::opt(x.signal);
  return f(caf::meta::type_name("mesh::proc_state"), x.rank, x.proc_name,
           x.host, x.pid, x.status, code, sig, x.stderr_tail, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shutdown_summary& x) {
  return f(caf::meta::type_name("mesh::shutdown_summary"), x.stopped_politely,
           x.terminated, x.killed, x.already_gone, x.hosts, x.failures);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_spec& x) {
  auto cmd = detail::opt(x.command);
  auto bind = detail::opt(x.bind);
  return f(caf::meta::type_name("mesh::proc_spec"), x.name, x.rank, cmd, bind);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spawn_procs_request& x) {
  auto cmd = detail::opt(x.default_command);
  return f(caf::meta::type_name("mesh::spawn_procs_request"), x.proc_mesh_id,
           x.host_mesh_id, x.host_children, cmd, x.config, x.procs, x.extent,
           x.procs_per_host);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_info& x) {
  auto agent = detail::handle(x.agent);
  return f(caf::meta::type_name("mesh::proc_info"), x.state, agent,
           x.address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_registration& x) {
  auto agent = detail::handle(x.agent);
  return f(caf::meta::type_name("mesh::child_registration"), x.name, x.token,
           x.pid, agent, x.host, x.port);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_output& x) {
  return f(caf::meta::type_name("mesh::proc_output"), x.name, x.rank,
           x.is_stderr, x.line);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spawn_actor_request& x) {
  auto sup = detail::handle(x.supervisor);
  return f(caf::meta::type_name("mesh::spawn_actor_request"), x.name,
           x.actor_mesh, x.type, x.args, x.interface, sup);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_failure& x) {
  return f(caf::meta::type_name("mesh::actor_failure"), x.proc_name, x.name,
           x.actor_mesh, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, comm_member& x) {
  auto actor = detail::handle(x.actor);
  return f(caf::meta::type_name("mesh::comm_member"), x.rank, actor);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gather_result& x) {
  return f(caf::meta::type_name("mesh::gather_result"), x.rank, x.ok, x.value,
           x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_mesh_request& x) {
  auto per_host = x.per_host.to_string();
  return f(caf::meta::type_name("mesh::proc_mesh_request"), x.name, per_host,
           x.bind, x.commands, caf::meta::load_callback([&]() -> caf::error {
             auto parsed = mesh::extent::parse(per_host);
             if (!parsed)
               return std::move(parsed.error());
             x.per_host = std::move(*parsed);
             return caf::none;
           }));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_mesh_request& x) {
  return f(caf::meta::type_name("mesh::actor_mesh_request"), x.name, x.type,
           x.args, x.interface);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_timeout& x) {
  return f(caf::meta::type_name("mesh::relay_timeout"), x.ns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, comm_stats& x) {
  return f(caf::meta::type_name("mesh::comm_stats"), x.casts, x.gathers,
           x.delivered);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_entry& x) {
  return f(caf::meta::type_name("mesh::config_entry"), x.key, x.value,
           x.default_value, x.layer, x.env);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_snapshot& x) {
  return f(caf::meta::type_name("mesh::actor_snapshot"), x.name, x.actor_mesh,
           x.type, x.status, x.mailbox_depth, x.mesh_messages, x.last_failure);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_snapshot& x) {
  auto code = detail::opt(x.exit_code);
  auto sig = detail::opt(x.signal);
  return f(caf::meta::type_name("mesh::proc_snapshot"), x.rank, x.name,
           x.proc_mesh, x.host_mesh, x.host, x.address, x.pid, x.status,
           x.reason, code, sig, x.uptime_ms, x.rss_bytes, x.cpu_time_ms,
           x.cpu_percent, x.threads, x.open_fds, x.responsive, x.restarts,
           x.actors, x.stderr_tail);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, host_snapshot& x) {
  return f(caf::meta::type_name("mesh::host_snapshot"), x.address, x.pid,
           x.uptime_ms, x.rss_bytes, x.cpu_time_ms, x.procs_by_status,
           x.config, x.procs, x.error);
}

} // namespace mesh

// --- the type-ID block ---------------------------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(mesh, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(mesh, (mesh::proc_status))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_event))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_state))
  CAF_ADD_TYPE_ID(mesh, (mesh::shutdown_summary))
  CAF_ADD_TYPE_ID(mesh, (mesh::bootstrap_command))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_bind))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_spec))
  CAF_ADD_TYPE_ID(mesh, (mesh::spawn_procs_request))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_info))
  CAF_ADD_TYPE_ID(mesh, (mesh::child_registration))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_output))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_agent_actor))
  CAF_ADD_TYPE_ID(mesh, (mesh::host_agent_actor))
  CAF_ADD_TYPE_ID(mesh, (mesh::mesh_controller_actor))
  CAF_ADD_TYPE_ID(mesh, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(mesh, (std::vector<mesh::proc_info>))
  CAF_ADD_TYPE_ID(mesh, (std::vector<mesh::host_agent_actor>))
  CAF_ADD_TYPE_ID(mesh, (std::vector<mesh::spawn_procs_request>))
  CAF_ADD_TYPE_ID(mesh, (mesh::config_snapshot))
  CAF_ADD_TYPE_ID(mesh, (mesh::spawn_actor_request))
  CAF_ADD_TYPE_ID(mesh, (mesh::actor_failure))
  CAF_ADD_TYPE_ID(mesh, (mesh::comm_member))
  CAF_ADD_TYPE_ID(mesh, (mesh::gather_result))
  CAF_ADD_TYPE_ID(mesh, (mesh::comm_stats))
  CAF_ADD_TYPE_ID(mesh, (mesh::comm_actor_actor))
  CAF_ADD_TYPE_ID(mesh, (std::vector<mesh::comm_member>))
  CAF_ADD_TYPE_ID(mesh, (std::vector<mesh::gather_result>))
  CAF_ADD_TYPE_ID(mesh, (mesh::registrar_actor))
  CAF_ADD_TYPE_ID(mesh, (mesh::host_mesh_ref))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_mesh_ref))
  CAF_ADD_TYPE_ID(mesh, (mesh::actor_mesh<caf::actor>))
  CAF_ADD_TYPE_ID(mesh, (mesh::proc_mesh_request))
  CAF_ADD_TYPE_ID(mesh, (mesh::actor_mesh_request))
  CAF_ADD_TYPE_ID(mesh, (mesh::mesh_client_actor))
  CAF_ADD_TYPE_ID(mesh, (std::vector<mesh::proc_state>))
  CAF_ADD_TYPE_ID(mesh, (mesh::relay_timeout))
  CAF_ADD_TYPE_ID(mesh, (mesh::host_snapshot))
  CAF_ADD_TYPE_ID(mesh, (std::vector<mesh::actor_snapshot>))

CAF_END_TYPE_ID_BLOCK(mesh)

MESH_PUBLIC_END
