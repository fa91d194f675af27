// A program outside the libmesh tree, built by test/install/run.py against
// an installed libmesh only (find_package or pkg-config): one include, the
// umbrella header, proves the public headers are self-contained.
//
// It checks an extent, brings up an in-process host with 2 procs, then a
// local host whose 2 procs are this executable started again (so the
// installed libmesh.so must also run the child side), and shuts both down.
// Exits 0 when everything worked; otherwise prints what failed.
#include <mesh/mesh.hpp>

#include <cstdio>
#include <string>

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: %s\n", what.c_str());
  return 1;
}

// Spawns a proc mesh of 2 on `hosts`, checks that both ranks run, shuts
// the hosts down.
int bring_up(const char* kind, caf::expected<mesh::host_mesh> hosts) {
  std::string k{kind};
  if (!hosts)
    return fail(k + " host mesh: " + mesh::to_string(hosts.error()));
  auto procs = hosts->spawn("workers", mesh::extent{{"gpus", 2}});
  if (!procs)
    return fail(k + " spawn: " + mesh::to_string(procs.error()));
  if (procs->size() != 2)
    return fail(k + " spawn gave " + std::to_string(procs->size()) + " procs");
  auto states = procs->states();
  if (!states)
    return fail(k + " states: " + mesh::to_string(states.error()));
  for (auto& st : *states)
    if (st.status != mesh::proc_status::running)
      return fail(k + " rank " + std::to_string(st.rank) + " is "
                  + std::string{mesh::to_string(st.status)});
  auto summary = hosts->shutdown();
  if (!summary)
    return fail(k + " shutdown: " + mesh::to_string(summary.error()));
  std::printf("%s: 2 procs up and shut down (%s)\n", kind,
              summary->to_string().c_str());
  return 0;
}

} // namespace

int main() {
  mesh::config cfg;
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;
  mesh::extent ext{{"hosts", 2}, {"gpus", 4}};
  if (ext.num_ranks() != 8)
    return fail("extent hosts=2 x gpus=4 has " + std::to_string(ext.num_ranks())
                + " ranks, not 8");
  caf::actor_system sys{cfg};
  if (int rc = bring_up("in-process", mesh::host_mesh::local_in_process(sys)))
    return rc;
  if (int rc = bring_up("local", mesh::host_mesh::local(sys)))
    return rc;
  std::printf("consumer: ok\n");
  return 0;
}
