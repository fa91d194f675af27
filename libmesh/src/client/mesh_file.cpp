// The data model of a validated mesh file: its counts and its summary
// (mesh/mesh_file.hpp). Parsing is in mesh_file_yaml.cpp, validation in
// mesh_file_schema.cpp, loading in mesh_file_load.cpp.
#include "mesh/mesh_file.hpp"

#include "libmesh/src/client/mesh_file_text.hpp"

#include <fmt/format.h>

namespace mesh {

using mesh_file_text::join;

extent mesh_file::host_extent() const {
  if (hosts.mode == host_mode::process && hosts.hosts)
    return *hosts.hosts;
  return extent{{"hosts", num_hosts()}};
}

size_t mesh_file::num_hosts() const {
  switch (hosts.mode) {
  case host_mode::process:
    return hosts.hosts ? hosts.hosts->num_ranks() : 0;
  case host_mode::attach:
    return hosts.addresses.size();
  default:
    return 1;
  }
}

size_t mesh_file::num_procs() const {
  size_t result = 0;
  for (const auto& spec : proc_meshes)
    result += num_hosts() * spec.per_host.num_ranks();
  return result;
}

std::string mesh_file::summary() const {
  auto plural = [](size_t n, std::string_view word) {
    auto suffix = n == 1 ? "" : word.back() == 'h' ? "es" : "s";
    return fmt::format("{} {}{}", n, word, suffix);
  };
  std::string out = fmt::format("{}: valid mesh file\n", path);
  out += fmt::format("hosts: {}, {}", to_string(hosts.mode),
                     plural(num_hosts(), "host"));
  if (hosts.mode == host_mode::process)
    out += " " + host_extent().to_string();
  if (hosts.mode == host_mode::attach)
    out += " (" + join(hosts.addresses, ", ") + ")";
  out += "\n";
  if (hosts.bootstrap)
    out += "bootstrap: " + hosts.bootstrap->to_string() + "\n";
  size_t actor_meshes = 0;
  for (const auto& spec : proc_meshes) {
    out += fmt::format("proc mesh {}: {} per host, {}", spec.name,
                       spec.per_host.to_string(),
                       plural(num_hosts() * spec.per_host.num_ranks(), "proc"));
    if (spec.proc_bind)
      out += ", bound";
    if (!spec.env.empty())
      out += ", " + plural(spec.env.size(), "env variable");
    out += "\n";
    if (spec.bootstrap)
      out += "  bootstrap: " + spec.bootstrap->to_string() + "\n";
    for (const auto& actor : spec.actors)
      out += fmt::format(
        "  actor mesh {}: type {}{}\n", actor.name, actor.type,
        actor.args.empty() ? std::string{} : ", args " + join(actor.args, " "));
    actor_meshes += spec.actors.size();
  }
  if (!config.empty()) {
    std::vector<std::string> items;
    for (const auto& [key, value] : config)
      items.push_back(key + "=" + value);
    out += "config: " + join(items, ", ") + "\n";
  }
  out += fmt::format("total: {}, {}, {}\n", plural(num_hosts(), "host"),
                     plural(num_procs(), "proc"),
                     plural(actor_meshes, "actor mesh"));
  return out;
}

std::string mesh_file_diagnostic::to_string() const {
  if (line == 0)
    return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

} // namespace mesh
