// Mesh handles in messages: host_mesh_ref, proc_mesh_ref and actor_mesh
// travel between actors, in one process (as copies) and across processes
// (serialized), and work where they arrive (architecture §4).
//
// On the wire a handle is its ids, shape, addresses and actor handles (host
// agents, the proc mesh's controller, members and comm actors); the
// receiving process rebuilds a reference from them on its own actor system.
// A received reference does not own anything: the sender's copies keep the
// proc mesh's controller alive, and supervision state (health(), failing
// fast for dead ranks) stays with the process that spawned the mesh; calls
// from a received actor mesh are bounded by call_timeout and by the comm
// actors' monitors of the members.
#pragma once

#include "mesh/export.hpp"

#include "mesh/actors.hpp"

#include <caf/actor.hpp>
#include <caf/deserializer.hpp>
#include <caf/execution_unit.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh::detail {

/// The actor system a deserializer rebuilds handles for (none for other
/// inspectors).
template <class Inspector>
caf::actor_system* system_of(Inspector& f) {
  if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    auto ctx = f.context();
    return ctx ? &ctx->system() : nullptr;
  } else {
    static_cast<void>(f);
    return nullptr;
  }
}

/// The inspect of a handle through its wire form: saved as `to()`, loaded
/// by `from(sys, wire)` on the receiving process's actor system.
template <class Wire, class Inspector, class ToWire, class FromWire>
typename Inspector::result_type inspect_wire(Inspector& f, ToWire to,
                                             FromWire from) {
  Wire w;
  if constexpr (Inspector::reads_state)
    w = to();
  return f(w, caf::meta::load_callback([&]() -> caf::error {
             from(system_of(f), std::move(w));
             return caf::none;
           }));
}

/// Where each rank of a proc mesh lives (mesh_layout, on the wire).
struct layout_wire {
  std::string proc_mesh_id;
  uint64_t procs_per_host = 1;
  std::vector<std::string> host_addrs;
  std::vector<std::string> proc_names;
  std::vector<std::string> commands;
};

/// A host_mesh_ref on the wire.
struct host_mesh_wire {
  std::string id;
  std::string region;
  std::vector<host_agent_actor> agents;
  std::vector<std::string> addrs;
  std::optional<bootstrap_command> bootstrap;
};

/// A proc_mesh_ref on the wire (with the ranks' last known state).
struct proc_mesh_wire {
  std::string id;
  std::string extent;
  layout_wire layout;
  std::vector<host_agent_actor> hosts;
  caf::actor controller;
  std::vector<proc_info> procs;
};

/// An actor mesh (any handle type) on the wire.
struct actor_mesh_wire {
  std::string name;
  std::string id;
  std::string extent;
  layout_wire layout;
  std::vector<caf::actor> members;
  std::vector<comm_actor_actor> comms;
  std::vector<bool> host_types_known;
  std::vector<std::vector<std::string>> host_types;
  std::string view;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, layout_wire& x) {
  return f(caf::meta::type_name("mesh::layout"), x.proc_mesh_id,
           x.procs_per_host, x.host_addrs, x.proc_names, x.commands);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, host_mesh_wire& x) {
  auto cmd = opt(x.bootstrap);
  return f(caf::meta::type_name("mesh::host_mesh_ref"), x.id, x.region,
           x.agents, x.addrs, cmd);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proc_mesh_wire& x) {
  auto controller = handle(x.controller);
  return f(caf::meta::type_name("mesh::proc_mesh_ref"), x.id, x.extent,
           x.layout, x.hosts, controller, x.procs);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_mesh_wire& x) {
  return f(caf::meta::type_name("mesh::actor_mesh"), x.name, x.id, x.extent,
           x.layout, x.members, x.comms, x.host_types_known, x.host_types,
           x.view);
}

} // namespace mesh::detail

MESH_PUBLIC_END
