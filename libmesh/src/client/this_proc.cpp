// this_proc() and this_host() (mesh/this_proc.hpp).
//
// Contract:
// - One record per process, set by enter_proc and cleared by leave_proc
//   under a mutex; this_proc() copies it, so that callers on any thread see
//   the whole record or none.
// - The record is read from the payload's proc_env, not from the process's
//   environment: what the program does with RANK & co. changes nothing here.
#include "mesh/this_proc.hpp"

#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/this_proc_state.hpp"
#include "libmesh/src/core/proc_env.hpp"
#include "mesh/error.hpp"

#include <caf/actor_system.hpp>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>

namespace mesh {

namespace {

struct this_proc_record {
  caf::actor_system* sys = nullptr;
  caf::expected<proc_context> context{caf::error{}};
};

std::mutex record_mutex;
std::optional<this_proc_record> record;

caf::error not_a_proc(const char* what) {
  return make_error(ec::not_running, what,
                    "this process is not a proc of a mesh (only a process "
                    "that a host launched as a proc and that reached "
                    "run_bootstrap_child has one; procs of "
                    "local_in_process() share their host's process)");
}

caf::expected<proc_context>
context_of(const std::map<std::string, std::string>& env,
           host_agent_actor host) {
  auto place = proc_place_of(env);
  if (!place)
    return make_error(ec::not_running, "this_proc()",
                      "its host gave this proc no readable place: " +
                        mesh::to_string(place.error()));
  if (!place->extent)
    return make_error(ec::not_running, "this_proc()",
                      "proc " + place->proc_name +
                        " was spawned without its mesh's extent (a "
                        "spawn_procs_request with no `extent`)");
  auto mesh_id = proc_mesh_id::parse(place->proc_mesh_id);
  if (!mesh_id)
    return std::move(mesh_id.error());
  auto host_mesh = host_mesh_id::parse(place->host_mesh_id);
  if (!host_mesh)
    return std::move(host_mesh.error());
  auto pt = place->extent->point_of_rank(place->rank);
  if (!pt)
    return std::move(pt.error());
  proc_context ctx;
  ctx.mesh = std::move(*mesh_id);
  ctx.proc_name = place->proc_name;
  ctx.rank = place->rank;
  ctx.point = std::move(*pt);
  ctx.extent = *place->extent;
  ctx.local_world_size = place->procs_per_host;
  ctx.local_rank = place->rank % place->procs_per_host;
  ctx.host_addr = place->host_addr;
  ctx.host_mesh = std::move(*host_mesh);
  ctx.host = std::move(host);
  return ctx;
}

} // namespace

namespace detail {

void export_proc_env(const std::map<std::string, std::string>& env) {
  for (auto& [name, value] : env) {
    const char* now = std::getenv(name.c_str());
    if (now == nullptr || value != now)
      ::setenv(name.c_str(), value.c_str(), 1);
  }
}

void enter_proc(caf::actor_system& sys,
                const std::map<std::string, std::string>& env,
                host_agent_actor host) {
  auto context = context_of(env, std::move(host));
  std::lock_guard<std::mutex> guard{record_mutex};
  record = this_proc_record{&sys, std::move(context)};
}

void leave_proc() {
  std::lock_guard<std::mutex> guard{record_mutex};
  record.reset();
}

} // namespace detail

caf::expected<proc_context> this_proc() {
  std::lock_guard<std::mutex> guard{record_mutex};
  if (!record)
    return not_a_proc("this_proc()");
  return record->context;
}

caf::expected<host_mesh_ref> this_host() {
  caf::actor_system* sys = nullptr;
  proc_context ctx;
  {
    std::lock_guard<std::mutex> guard{record_mutex};
    if (!record)
      return not_a_proc("this_host()");
    if (!record->context)
      return record->context.error();
    sys = record->sys;
    ctx = *record->context;
  }
  auto d = std::make_shared<host_mesh_ref::data>();
  d->sys = sys;
  d->id = ctx.host_mesh;
  d->region = mesh::region{mesh::extent{{"hosts", 1}}};
  d->agents = {ctx.host};
  d->addrs = {ctx.host_addr};
  return host_mesh_ref{std::move(d)};
}

} // namespace mesh
