#include "up.hpp"

#include "echo_actor.hpp"
#include "health.hpp"
#include "progress.hpp"
#include "proc_table.hpp"

#include <mesh/actor_mesh.hpp>
#include <mesh/config.hpp>
#include <mesh/config_keys.hpp>
#include <mesh/host_mesh.hpp>
#include <mesh/slurm.hpp>

#include <caf/actor_system.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <ctime>
#include <memory>
#include <optional>
#include <thread>

#include <unistd.h>

namespace meshctl {

namespace {

/// While an allocator waits for its hosts, SIGINT and SIGTERM (blocked in
/// every thread) cancel it: this thread waits for them and calls
/// allocator::cancel(), which a signal handler could not.
class cancel_on_signal {
public:
  explicit cancel_on_signal(mesh::allocator& a)
    : thread_([this, &a] { run(a); }) {}

  ~cancel_on_signal() { stop(); }

  cancel_on_signal(const cancel_on_signal&) = delete;
  cancel_on_signal& operator=(const cancel_on_signal&) = delete;

  /// Stops waiting; returns the signal that cancelled, if one came.
  std::optional<int> stop() {
    done_ = true;
    if (thread_.joinable())
      thread_.join();
    auto sig = signal_.load();
    return sig == 0 ? std::nullopt : std::optional<int>{sig};
  }

private:
  void run(mesh::allocator& a) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    // Polled: a signal may never come, and stop() must end the wait.
    timespec tick{0, 100'000'000};
    while (!done_) {
      int sig = ::sigtimedwait(&set, nullptr, &tick);
      if (sig > 0) {
        signal_ = sig;
        spdlog::info("received signal {}, cancelling the allocation", sig);
        a.cancel();
        return;
      }
    }
  }

  std::atomic<bool> done_{false};
  std::atomic<int> signal_{0};
  std::thread thread_; ///< Last: starts once the flags exist.
};

/// Hosts from Slurm (mode slurm): `allocator` must outlive the host mesh
/// that owns its allocation; `interrupted` is the signal that cancelled it.
caf::expected<mesh::host_mesh>
allocate_hosts(caf::actor_system& sys, const mesh::mesh_file& file,
               const mesh::bootstrap_command& cmd, progress_display& progress,
               std::unique_ptr<mesh::allocator>& allocator,
               std::optional<int>& interrupted) {
  auto opts = *file.hosts.slurm;
  // meshd --proc-command takes a program alone; the spawns pass the whole
  // command (commands_for), so its arguments and environment still apply.
  opts.proc_command = mesh::bootstrap_command{cmd.program, {}, {}, {}};
  allocator = file.hosts.allocation == mesh::slurm_allocation::current
                ? mesh::slurm::in_allocation(std::move(opts))
                : mesh::slurm::job(std::move(opts));
  cancel_on_signal canceller{*allocator};
  auto hosts = mesh::host_mesh::allocate(
    sys, mesh::host_mesh_id::instance("slurm"), *allocator,
    [&progress](const mesh::allocation_status& st) { progress.allocation(st); });
  interrupted = canceller.stop();
  // A signal that came as the hosts came up is not lost: raised again, it
  // waits (blocked) for up's sigwait, which then shuts the mesh down.
  if (interrupted && hosts)
    ::kill(::getpid(), *interrupted);
  return hosts;
}

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
    case mesh::host_mode::slurm: // allocate_hosts
      break;
  }
  return mesh::host_mesh::attach(sys, mesh::host_mesh_id::instance("attach"),
                                 file.hosts.addresses);
}

/// The command of each proc of `spec`: its own bootstrap, else the hosts',
/// plus its env. Empty (the hosts' default command) when the spec changes
/// nothing, unless `always`.
mesh::per_rank_bootstrap commands_for(const mesh::proc_mesh_spec& spec,
                                      const mesh::bootstrap_command& hosts_cmd,
                                      bool always) {
  if (spec.env.empty() && !spec.bootstrap && !always)
    return {};
  auto cmd = spec.bootstrap ? *spec.bootstrap : hosts_cmd;
  for (auto& [k, v] : spec.env)
    cmd.env[k] = v;
  return [cmd](const mesh::point&) -> caf::expected<mesh::bootstrap_command> {
    return cmd;
  };
}

/// A proc mesh that came up, with the actor meshes spawned on it.
struct running_mesh {
  std::string name;
  mesh::proc_mesh procs;
  std::vector<std::pair<std::string, mesh::actor_mesh<echo_actor>>> actors;
};

std::vector<proc_row> collect_rows(const std::vector<running_mesh>& meshes) {
  std::vector<proc_row> rows;
  for (auto& m : meshes) {
    auto& name = m.name;
    auto& pm = m.procs;
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

/// Calls every actor once; fills the latency column. True if all answered.
bool health_round(caf::actor_system& sys, const std::vector<running_mesh>& meshes,
                  std::vector<proc_row>& rows) {
  std::vector<proc_row> result;
  std::vector<echo_actor> targets;
  for (auto& m : meshes)
    for (auto& [actor_name, am] : m.actors)
      for (size_t r = 0; r < am.size(); ++r) {
        for (auto& row : rows)
          if (row.mesh == m.name && row.state.rank == r) {
            result.push_back(row);
            result.back().actor = actor_name;
          }
        targets.push_back(am.get(r));
      }
  auto timeout = mesh::config_of(sys).get(mesh::keys::call_timeout);
  auto probes = probe(sys, targets, timeout);
  bool all = true;
  for (size_t i = 0; i < probes.size() && i < result.size(); ++i) {
    result[i].latency = probes[i].latency_ms;
    if (!probes[i].latency_ms) {
      all = false;
      result[i].health = "no answer";
      spdlog::error("health call to {} {} rank {} failed: {}", result[i].mesh,
                    result[i].actor, result[i].state.rank, probes[i].error);
    }
  }
  rows = std::move(result);
  return all;
}

/// Ends what `up` started: the two-phase shutdown of hosts it brought up
/// (on Slurm the daemons end, and the job with them); for attached hosts
/// only this mesh's procs, the daemons stay up for the next attach.
int shut_down(mesh::host_mesh& hosts, mesh::host_mode mode) {
  bool attached = mode == mesh::host_mode::attach;
  auto summary = attached ? hosts.stop() : hosts.shutdown();
  auto what = attached ? "stop" : "shutdown";
  if (!summary) {
    fmt::print("{}: {}\n", what, mesh::to_string(summary.error()));
    return 1;
  }
  fmt::print("{}: {}\n", what, summary->to_string());
  return 0;
}

} // namespace

int up(caf::actor_system& sys, const mesh::mesh_file& file,
       const up_options& opts) {
  // Unknown actor types are found before anything starts.
  bool types_ok = true;
  for (auto& spec : file.proc_meshes)
    for (auto& a : spec.actors) {
      auto& known = actor_types();
      if (std::find(known.begin(), known.end(), a.type) != known.end())
        continue;
      types_ok = false;
      std::string list;
      for (auto& k : known)
        list += (list.empty() ? "" : ", ") + k;
      fmt::print(stderr,
                 "{}:{}:{}: unknown actor type '{}' (meshctl ships: {})\n",
                 file.path, a.position.line, a.position.column, a.type, list);
    }
  if (!types_ok)
    return 1;
  // The file's overrides are the file layer: the environment still wins.
  std::map<std::string, std::string> overrides{file.config.begin(),
                                               file.config.end()};
  if (auto err = mesh::config_of(sys).set_layer(
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
  bool slurm = file.hosts.mode == mesh::host_mode::slurm;
  // On Slurm's nodes procs run meshctl itself (it knows the echo type) by
  // its path alone: this process's arguments and environment stay here.
  if (slurm && !file.hosts.bootstrap)
    *cmd = mesh::bootstrap_command{cmd->program, {}, {}, {}};
  spdlog::info("bringing up {} host(s) ({})", file.num_hosts(),
               mesh::to_string(file.hosts.mode));
  progress_display progress{sys};
  std::unique_ptr<mesh::allocator> allocator;
  std::optional<int> interrupted;
  auto hosts = slurm ? allocate_hosts(sys, file, *cmd, progress, allocator,
                                      interrupted)
                     : bring_up_hosts(sys, file, *cmd);
  if (!hosts) {
    progress.finish();
    if (interrupted && mesh::is(hosts.error(), mesh::ec::cancelled)) {
      // Nothing came up and nothing is left: the end Ctrl-C asked for,
      // with the exit code of an interrupted mesh that shut down cleanly.
      auto last = progress.last_allocation();
      fmt::print(stderr, "meshctl: interrupted by signal {}: {}\n",
                 *interrupted,
                 last && !last->id.empty()
                   ? "cancelled " + describe(*last)
                   : mesh::to_string(hosts.error()));
      return 0;
    }
    fmt::print(stderr, "meshctl: hosts did not come up: {}\n",
               mesh::to_string(hosts.error()));
    return 1;
  }
  std::vector<mesh::host_agent_actor> agents;
  for (size_t h = 0; h < hosts->extent().num_ranks(); ++h)
    agents.push_back(hosts->agent(h));
  std::vector<running_mesh> meshes;
  {
    // Counted on the hosts that came up: a Slurm allocation decides how
    // many when the file does not say.
    size_t total_procs = 0;
    for (auto& spec : file.proc_meshes)
      total_procs += hosts->extent().num_ranks() * spec.per_host.num_ranks();
    progress.watch(agents, total_procs);
    for (auto& spec : file.proc_meshes) {
      progress.begin_mesh(spec.name, hosts->extent().num_ranks()
                                       * spec.per_host.num_ranks());
      auto pm = hosts->spawn(spec.name, spec.per_host, spec.proc_bind,
                             commands_for(spec, *cmd, slurm));
      if (!pm) {
        progress.finish();
        fmt::print(stderr, "meshctl: proc mesh {} did not come up: {}\n",
                   spec.name, mesh::to_string(pm.error()));
        for (auto& line : progress.failures())
          fmt::print(stderr, "  failed: {}\n", line);
        shut_down(*hosts, file.hosts.mode);
        return 1;
      }
      auto name = spec.name;
      pm->on_event([name](const mesh::proc_event& ev) {
        if (mesh::is_failure(ev.status))
          spdlog::error("proc mesh {} rank {} ({}) {}: {}", name, ev.rank,
                        ev.proc_name, mesh::to_string(ev.status), ev.reason);
      });
      meshes.push_back(running_mesh{spec.name, std::move(*pm), {}});
    }
    progress.finish();
  }
  for (size_t i = 0; i < file.proc_meshes.size(); ++i) {
    auto& spec = file.proc_meshes[i];
    for (auto& a : spec.actors) {
      auto am = meshes[i].procs.spawn<echo_actor>(a.name, a.type, a.args);
      if (!am) {
        fmt::print(stderr, "meshctl: {}:{}:{}: actor mesh {} did not start: {}\n",
                   file.path, a.position.line, a.position.column, a.name,
                   mesh::to_string(am.error()));
        shut_down(*hosts, file.hosts.mode);
        return 1;
      }
      meshes[i].actors.emplace_back(a.name, std::move(*am));
    }
  }
  auto rows = collect_rows(meshes);
  int code = 0;
  if (opts.once && !health_round(sys, meshes, rows))
    code = 1;
  fmt::print("{}", render_table(rows));
  std::fflush(stdout);
  if (!opts.once) {
    fmt::print("mesh is up; Ctrl-C or SIGTERM shuts it down\n");
    std::fflush(stdout);
    auto sig = wait_for_signal();
    spdlog::info("received signal {}, shutting down", sig);
  }
  auto shutdown_code = shut_down(*hosts, file.hosts.mode);
  return code != 0 ? code : shutdown_code;
}

} // namespace meshctl
