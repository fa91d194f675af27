#include "up.hpp"

#include "progress.hpp"
#include "proc_table.hpp"

#include <mesh/config.hpp>
#include <mesh/host_mesh.hpp>

#include <caf/actor_system.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>

namespace meshctl {

namespace {

caf::expected<mesh::host_mesh> bring_up_hosts(caf::actor_system& sys,
                                              const mesh::mesh_file& file,
                                              const mesh::bootstrap_command& cmd) {
  switch (file.hosts.mode) {
    case mesh::host_mode::local:
      return mesh::host_mesh::local_with_bootstrap(sys, cmd);
    case mesh::host_mode::in_process:
      return mesh::host_mesh::local_in_process(sys);
    case mesh::host_mode::process:
      return mesh::host_mesh::process(sys, file.host_extent(), cmd);
    case mesh::host_mode::attach:
      break;
  }
  return mesh::make_error(mesh::ec::invalid_argument,
                          "hosts mode attach",
                          "this meshctl cannot attach to running hosts yet");
}

/// The command of each proc of `spec`: its own bootstrap, else the hosts',
/// plus its env.
mesh::per_rank_bootstrap commands_for(const mesh::proc_mesh_spec& spec,
                                      const mesh::bootstrap_command& hosts_cmd) {
  if (spec.env.empty() && !spec.bootstrap)
    return {};
  auto cmd = spec.bootstrap ? *spec.bootstrap : hosts_cmd;
  for (auto& [k, v] : spec.env)
    cmd.env[k] = v;
  return [cmd](const mesh::point&) -> caf::expected<mesh::bootstrap_command> {
    return cmd;
  };
}

std::vector<proc_row> collect_rows(
  const std::vector<std::pair<std::string, mesh::proc_mesh>>& meshes) {
  std::vector<proc_row> rows;
  for (auto& [name, pm] : meshes) {
    auto states = pm.states();
    if (!states) {
      spdlog::error("states of proc mesh {}: {}", name,
                    mesh::to_string(states.error()));
      continue;
    }
    for (auto& st : *states) {
      proc_row row;
      row.mesh = name;
      row.state = st;
      if (auto pt = pm.extent().point_of_rank(st.rank))
        row.point = pt->to_string();
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

/// Waits for SIGINT or SIGTERM (blocked in every thread by the caller).
int wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int shut_down(mesh::host_mesh& hosts) {
  auto summary = hosts.shutdown();
  if (!summary) {
    fmt::print("shutdown: {}\n", mesh::to_string(summary.error()));
    return 1;
  }
  fmt::print("shutdown: {}\n", summary->to_string());
  return 0;
}

} // namespace

int up(caf::actor_system& sys, const mesh::mesh_file& file,
       const up_options& opts) {
  // The file's overrides are the file layer: the environment still wins.
  std::map<std::string, std::string> overrides{file.config.begin(),
                                               file.config.end()};
  if (auto err = mesh::config_store::global().set_layer(
        mesh::config_source::file, overrides)) {
    fmt::print(stderr, "meshctl: {}: {}\n", file.path, mesh::to_string(err));
    return 1;
  }
  auto cmd = file.hosts.bootstrap ? caf::expected<mesh::bootstrap_command>{
                                      *file.hosts.bootstrap}
                                  : mesh::bootstrap_command::current();
  if (!cmd) {
    fmt::print(stderr, "meshctl: {}\n", mesh::to_string(cmd.error()));
    return 1;
  }
  spdlog::info("bringing up {} host(s) ({})", file.num_hosts(),
               mesh::to_string(file.hosts.mode));
  auto hosts = bring_up_hosts(sys, file, *cmd);
  if (!hosts) {
    fmt::print(stderr, "meshctl: hosts did not come up: {}\n",
               mesh::to_string(hosts.error()));
    return 1;
  }
  std::vector<mesh::host_agent_actor> agents;
  for (size_t h = 0; h < hosts->extent().num_ranks(); ++h)
    agents.push_back(hosts->agent(h));
  std::vector<std::pair<std::string, mesh::proc_mesh>> meshes;
  {
    progress_display progress{sys, agents, file.num_procs()};
    for (auto& spec : file.proc_meshes) {
      progress.begin_mesh(spec.name, hosts->extent().num_ranks()
                                       * spec.per_host.num_ranks());
      auto pm = hosts->spawn(spec.name, spec.per_host, spec.proc_bind,
                             commands_for(spec, *cmd));
      if (!pm) {
        progress.finish();
        fmt::print(stderr, "meshctl: proc mesh {} did not come up: {}\n",
                   spec.name, mesh::to_string(pm.error()));
        for (auto& line : progress.failures())
          fmt::print(stderr, "  failed: {}\n", line);
        shut_down(*hosts);
        return 1;
      }
      auto name = spec.name;
      pm->on_event([name](const mesh::proc_event& ev) {
        if (mesh::is_failure(ev.status))
          spdlog::error("proc mesh {} rank {} ({}) {}: {}", name, ev.rank,
                        ev.proc_name, mesh::to_string(ev.status), ev.reason);
      });
      meshes.emplace_back(spec.name, std::move(*pm));
    }
  }
  fmt::print("{}", render_table(collect_rows(meshes)));
  std::fflush(stdout);
  if (!opts.once) {
    fmt::print("mesh is up; Ctrl-C or SIGTERM shuts it down\n");
    std::fflush(stdout);
    auto sig = wait_for_signal();
    spdlog::info("received signal {}, shutting down", sig);
  }
  return shut_down(*hosts);
}

} // namespace meshctl
