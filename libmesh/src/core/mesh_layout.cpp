#include "libmesh/src/core/mesh_layout.hpp"

namespace mesh {

size_t mesh_layout::host_of(size_t rank) const {
  return procs_per_host == 0 ? 0 : rank / procs_per_host;
}

std::string mesh_layout::host_addr_of(size_t rank) const {
  auto h = host_of(rank);
  return h < host_addrs.size() ? host_addrs[h] : std::string{"?"};
}

std::string mesh_layout::command_of(size_t rank) const {
  return rank < commands.size() ? commands[rank]
                                : std::string{"the host's default command"};
}

std::string mesh_layout::where(size_t rank, size_t shown) const {
  auto name = rank < proc_names.size() ? proc_names[rank] : std::string{"?"};
  return "rank " + std::to_string(shown) + " (proc " + name + " on host "
         + host_addr_of(rank) + ")";
}

} // namespace mesh
