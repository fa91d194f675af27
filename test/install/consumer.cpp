// A program outside the libmesh tree, built by test/install/run.py against
// an installed libmesh only (find_package or pkg-config): one include, the
// umbrella header, proves the public headers are self-contained.
//
// It checks an extent, brings up an in-process host with 2 procs, then a
// local host whose 2 procs are this executable started again (so the
// installed libmesh.so must also run the child side), and shuts both down.
// It also plugs in a scheduler of its own (classes derived from
// mesh::allocator and mesh::allocation, which link only if libmesh.so
// exports their type information) that hands out no host.
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

// A scheduler of the user's own: it hands out no host, so
// host_mesh::allocate must refuse the allocation and cancel it.
class empty_allocation : public mesh::allocation {
public:
  explicit empty_allocation(bool& cancelled) : cancelled_(cancelled) {}
  mesh::allocation_status status() const override {
    return {"consumer", "1", "RUNNING", "", 0, 0};
  }
  std::vector<std::string> addresses() const override { return {}; }
  caf::error release(std::chrono::milliseconds) override { return {}; }
  void cancel() override { cancelled_ = true; }
  void keep() override {}

private:
  bool& cancelled_;
};

class empty_allocator : public mesh::allocator {
public:
  bool cancelled = false;
  std::string scheduler() const override { return "consumer"; }
  caf::expected<std::unique_ptr<mesh::allocation>>
  allocate(const mesh::allocation_progress& progress) override {
    auto result = std::make_unique<empty_allocation>(cancelled);
    progress(result->status());
    return std::unique_ptr<mesh::allocation>{std::move(result)};
  }
  void cancel() override {}
};

int own_allocator(caf::actor_system& sys) {
  empty_allocator a;
  int calls = 0;
  auto hosts = mesh::host_mesh::allocate(
    sys, mesh::host_mesh_id::singleton("consumer"), a,
    [&](const mesh::allocation_status&) { ++calls; });
  if (hosts)
    return fail("an allocation without hosts gave a host mesh");
  if (hosts.error() != mesh::ec::allocation_failed)
    return fail("an allocation without hosts failed with "
                + mesh::to_string(hosts.error()));
  if (calls != 1 || !a.cancelled)
    return fail("own allocator: " + std::to_string(calls)
                + " progress calls, cancelled " + std::to_string(a.cancelled));
  std::printf("own allocator: refused as it should be (%s)\n",
              mesh::to_string(hosts.error()).c_str());
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
  if (int rc = own_allocator(sys))
    return rc;
  std::printf("consumer: ok\n");
  return 0;
}
