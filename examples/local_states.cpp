// Brings up a local host with 4 procs, prints their states as a table and
// shuts everything down.
//
//   build/examples/local_states
//
// The procs are this same executable started again: run_bootstrap_child()
// at the top of main() is what they run instead of the example.
#include <mesh/host_mesh.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>

#include <cstdio>

int main() {
  mesh::config cfg;
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;
  caf::actor_system sys{cfg};
  auto hosts = mesh::host_mesh::local(sys);
  if (!hosts) {
    std::fprintf(stderr, "%s\n", mesh::to_string(hosts.error()).c_str());
    return 1;
  }
  auto procs = hosts->spawn("workers", mesh::extent{{"gpus", 4}});
  if (!procs) {
    std::fprintf(stderr, "%s\n", mesh::to_string(procs.error()).c_str());
    return 1;
  }
  auto states = procs->states();
  if (!states) {
    std::fprintf(stderr, "%s\n", mesh::to_string(states.error()).c_str());
    return 1;
  }
  std::printf("%-5s %-28s %-22s %-8s %s\n", "RANK", "PROC", "HOST", "PID",
              "STATUS");
  for (auto& st : *states)
    std::printf("%-5zu %-28s %-22s %-8lld %s\n", st.rank, st.proc_name.c_str(),
                st.host.c_str(), static_cast<long long>(st.pid),
                std::string{mesh::to_string(st.status)}.c_str());
  auto summary = hosts->shutdown();
  if (!summary) {
    std::fprintf(stderr, "%s\n", mesh::to_string(summary.error()).c_str());
    return 1;
  }
  std::printf("shutdown: %s\n", summary->to_string().c_str());
  return 0;
}
