// Spawns procs by sending messages to a host agent from a CAF actor, without
// the blocking API: the typed messages of <mesh/actors.hpp> are the second
// face of host_mesh_ref::spawn.
//
//   build/examples/spawn_by_message
#include <mesh/actors.hpp>
#include <mesh/extent.hpp>
#include <mesh/host_mesh.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <cstdio>

namespace {

/// Asks `host` for two procs, prints what came up, stops them and quits.
caf::behavior driver(caf::event_based_actor* self, mesh::host_agent_actor host,
                     mesh::bootstrap_command cmd) {
  auto id = mesh::proc_mesh_id::instance("bymessage");
  mesh::spawn_procs_request req;
  req.proc_mesh_id = id.to_string();
  req.default_command = cmd;
  req.config = mesh::config_of(self->system()).propagated_snapshot();
  // The mesh's shape: each proc's RANK, WORLD_SIZE, MESH_POINT, ... and
  // mesh::this_proc() come from it (mesh/this_proc.hpp).
  req.extent = mesh::extent{{"procs", 2}}.to_string();
  req.procs_per_host = 2;
  for (size_t r = 0; r < 2; ++r)
    req.procs.push_back({mesh::proc_name(id, r), r, std::nullopt, std::nullopt});
  self->request(host, caf::infinite, mesh::spawn_procs_atom::value, req)
    .then(
      [=](const std::vector<mesh::proc_info>& procs) {
        for (auto& p : procs)
          std::printf("rank %zu: %s pid %lld %s\n", p.state.rank,
                      p.state.proc_name.c_str(),
                      static_cast<long long>(p.state.pid),
                      std::string{mesh::to_string(p.state.status)}.c_str());
        self
          ->request(host, caf::infinite, mesh::stop_procs_atom::value,
                    id.to_string(), std::vector<std::string>{},
                    std::string{"example done"})
          .then(
            [=](const mesh::shutdown_summary& s) {
              std::printf("stopped: %s\n", s.to_string().c_str());
              self->quit();
            },
            [=](caf::error& err) {
              std::printf("stop failed: %s\n", mesh::to_string(err).c_str());
              self->quit(err);
            });
      },
      [=](caf::error& err) {
        std::printf("spawn failed: %s\n", mesh::to_string(err).c_str());
        self->quit(err);
      });
  return {};
}

} // namespace

int main() {
  mesh::config cfg;
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;
  caf::actor_system sys{cfg};
  auto cmd = mesh::bootstrap_command::current();
  if (!cmd)
    return 1;
  auto hosts = mesh::host_mesh::local_with_bootstrap(sys, *cmd);
  if (!hosts) {
    std::fprintf(stderr, "%s\n", mesh::to_string(hosts.error()).c_str());
    return 1;
  }
  int rc = 0;
  {
    caf::scoped_actor self{sys};
    auto d = sys.spawn(driver, hosts->agent(0), *cmd);
    self->monitor(d);
    self->receive([&](const caf::down_msg& msg) { rc = msg.reason ? 1 : 0; });
  }
  auto summary = hosts->shutdown();
  return summary && rc == 0 ? 0 : 1;
}
