#include "libmesh/src/core/proc_env.hpp"

#include "mesh/error.hpp"
#include "mesh/this_proc.hpp"

#include <cerrno>
#include <cstdlib>

namespace mesh {

std::map<std::string, std::string> proc_env_of(const proc_place& place) {
  auto rank = std::to_string(place.rank);
  std::map<std::string, std::string> env{
    {proc_env::rank, rank},
    {proc_env::mesh_rank, rank},
    {proc_env::mesh_proc_mesh_id, place.proc_mesh_id},
    {proc_env::mesh_proc_name, place.proc_name},
    {proc_env::mesh_host, place.host_addr},
    {proc_env::mesh_host_mesh_id, place.host_mesh_id},
  };
  if (!place.extent || place.procs_per_host == 0)
    return env;
  auto pt = place.extent->point_of_rank(place.rank);
  if (!pt)
    return env;
  auto world = std::to_string(place.extent->num_ranks());
  env.emplace(proc_env::world_size, world);
  env.emplace(proc_env::mesh_world_size, world);
  env.emplace(proc_env::local_rank,
              std::to_string(place.rank % place.procs_per_host));
  env.emplace(proc_env::local_world_size, std::to_string(place.procs_per_host));
  env.emplace(proc_env::mesh_point, pt->to_string());
  env.emplace(proc_env::mesh_extent, place.extent->to_string());
  return env;
}

namespace {

caf::error unreadable(const char* name, const std::string& why) {
  return make_error(ec::parse_error,
                    std::string{"the proc's environment variable "} + name,
                    why);
}

caf::error text_of(const std::map<std::string, std::string>& env,
                   const char* name, std::string& out) {
  auto i = env.find(name);
  if (i == env.end())
    return unreadable(name, "it is not set");
  out = i->second;
  return {};
}

caf::error number_of(const std::map<std::string, std::string>& env,
                     const char* name, uint64_t& out) {
  std::string text;
  if (auto err = text_of(env, name, text))
    return err;
  errno = 0;
  char* end = nullptr;
  auto value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] < '0' || text[0] > '9' || *end != '\0' ||
      errno != 0)
    return unreadable(name, "'" + text + "' is not a number");
  out = value;
  return {};
}

} // namespace

caf::expected<proc_place>
proc_place_of(const std::map<std::string, std::string>& env) {
  proc_place place;
  if (auto err = number_of(env, proc_env::mesh_rank, place.rank))
    return err;
  if (auto err = text_of(env, proc_env::mesh_proc_mesh_id, place.proc_mesh_id))
    return err;
  if (auto err = text_of(env, proc_env::mesh_proc_name, place.proc_name))
    return err;
  if (auto err = text_of(env, proc_env::mesh_host, place.host_addr))
    return err;
  if (auto err = text_of(env, proc_env::mesh_host_mesh_id, place.host_mesh_id))
    return err;
  if (env.count(proc_env::mesh_extent) == 0)
    return place;
  std::string text;
  if (auto err = text_of(env, proc_env::mesh_extent, text))
    return err;
  auto ext = extent::parse(text);
  if (!ext)
    return unreadable(proc_env::mesh_extent, mesh::to_string(ext.error()));
  if (place.rank >= ext->num_ranks())
    return unreadable(proc_env::mesh_rank, std::to_string(place.rank) +
                                             " is not a rank of " +
                                             ext->to_string());
  if (auto err =
        number_of(env, proc_env::local_world_size, place.procs_per_host))
    return err;
  if (place.procs_per_host == 0)
    return unreadable(proc_env::local_world_size, "it is 0");
  place.extent = std::move(*ext);
  return place;
}

} // namespace mesh
