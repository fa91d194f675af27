// The data model of a validated mesh file: its counts and its summary
// (mesh/mesh_file.hpp). Parsing is in mesh_file_yaml.cpp, validation in
// mesh_file_schema.cpp, loading in mesh_file_load.cpp.
#include "mesh/mesh_file.hpp"

#include "libmesh/src/client/mesh_file_text.hpp"

#include <fmt/format.h>

#include "mesh/config.hpp"

namespace mesh {

using mesh_file_text::join;

namespace {

std::string plural(size_t n, std::string_view word) {
  auto suffix = n == 1 ? "" : word.back() == 'h' ? "es" : "s";
  return fmt::format("{} {}{}", n, word, suffix);
}

// What `meshctl up` will ask Slurm for: the lines under "hosts:".
std::string slurm_summary(const slurm::job_options& opts,
                          slurm_allocation allocation) {
  std::string out;
  auto per_node = plural(opts.hosts_per_node, "host") + " per node";
  if (allocation == slurm_allocation::current) {
    out += "slurm: in the current allocation (srun --overlap), ";
    out += opts.nodes == 0 ? "on all its nodes"
                           : "on " + plural(opts.nodes, "node");
    out += ", " + per_node + "\n";
  } else {
    out += fmt::format("slurm: a new batch job (sbatch) named {}, {}, {}\n",
                       opts.job_name, plural(opts.nodes, "node"), per_node);
    std::vector<std::string> request;
    if (!opts.partition.empty())
      request.push_back("partition " + opts.partition);
    if (!opts.account.empty())
      request.push_back("account " + opts.account);
    if (!opts.time_limit.empty())
      request.push_back("--time=" + opts.time_limit);
    for (const auto& arg : opts.sbatch_args)
      request.push_back(arg);
    if (!request.empty())
      out += "  request: " + join(request, ", ") + "\n";
  }
  if (!opts.env.empty())
    out += "  env: " + plural(opts.env.size(), "variable") + "\n";
  if (!opts.meshd.empty())
    out += "  meshd: " + opts.meshd + "\n";
  if (!opts.spool_root.empty())
    out += "  spool: " + opts.spool_root + "\n";
  out += fmt::format("  owner timeout {}, start timeout {}, poll every {}\n",
                     render_duration(opts.owner_timeout),
                     opts.start_timeout.count() == 0
                       ? std::string{"none"}
                       : render_duration(opts.start_timeout),
                     render_duration(opts.poll_interval));
  return out;
}

} // namespace

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
  case host_mode::slurm:
    return hosts.slurm ? hosts.slurm->nodes * hosts.slurm->hosts_per_node : 0;
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
  // Slurm on all nodes of the current allocation: only the allocation
  // knows how many, so counts are per node.
  bool per_node = hosts.slurm && num_hosts() == 0;
  size_t host_factor = per_node ? hosts.slurm->hosts_per_node : num_hosts();
  auto count = [&](size_t per_host, std::string_view word) {
    auto text = plural(host_factor * per_host, word);
    return per_node ? text + " per node" : text;
  };
  std::string out = fmt::format("{}: valid mesh file\n", path);
  out += fmt::format("hosts: {}, {}", to_string(hosts.mode),
                     count(1, "host"));
  if (hosts.mode == host_mode::process)
    out += " " + host_extent().to_string();
  if (hosts.mode == host_mode::attach)
    out += " (" + join(hosts.addresses, ", ") + ")";
  out += "\n";
  if (hosts.slurm)
    out += slurm_summary(*hosts.slurm, hosts.allocation);
  if (hosts.bootstrap)
    out += "bootstrap: " + hosts.bootstrap->to_string() + "\n";
  size_t actor_meshes = 0;
  size_t procs_per_host = 0;
  for (const auto& spec : proc_meshes) {
    procs_per_host += spec.per_host.num_ranks();
    out += fmt::format("proc mesh {}: {} per host, {}", spec.name,
                       spec.per_host.to_string(),
                       count(spec.per_host.num_ranks(), "proc"));
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
  out += fmt::format("total: {}, {}, {}\n", count(1, "host"),
                     count(procs_per_host, "proc"),
                     plural(actor_meshes, "actor mesh"));
  return out;
}

std::string mesh_file_diagnostic::to_string() const {
  if (line == 0)
    return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

} // namespace mesh
