// The owner's side of a host mesh: its lifetime, stop() and shutdown().
//
// Contract:
// - An owner ends its hosts exactly once: shutdown() is idempotent (later
//   calls return the first result), and destroying or assigning over an
//   owner that is still up shuts it down.
// - shutdown() is two-phase: every host drains its procs while networking
//   is up, then the hosts shut down; the host processes of
//   host_mesh::process are waited for and reaped by their launcher.
// - stop() ends the procs only; hosts this process does not run (attach)
//   are then left to their daemons.
// - Every wait is bounded by stop_timeout(); a host that does not answer is
//   a failure in the summary, one that is gone already is not.
#include "mesh/host_mesh.hpp"

#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mesh::keys {

// Read by stop_timeout() (declared in mesh/config_keys.hpp, architecture §6).
const config_key<duration> proc_stop_max_idle{
  "proc_stop_max_idle", std::chrono::seconds{30}, true,
  "stop barrier: longest time with no progress from any host"};

} // namespace mesh::keys

namespace mesh {

std::chrono::milliseconds stop_timeout(caf::actor_system& sys) {
  auto& store = config_of(sys);
  auto escalation =
    3 * store.get(keys::terminate_timeout) + std::chrono::seconds{5};
  return std::max<std::chrono::milliseconds>(
    store.get(keys::proc_stop_max_idle), escalation);
}

host_mesh::host_mesh(std::shared_ptr<data> d)
  : host_mesh_ref(std::move(d)), own_(std::make_unique<owned>()) {
}

host_mesh::host_mesh(host_mesh&&) noexcept = default;

host_mesh& host_mesh::operator=(host_mesh&& other) noexcept {
  if (this != &other) {
    if (own_ && own_->shutdown_pending())
      static_cast<void>(shutdown());
    host_mesh_ref::operator=(std::move(other));
    own_ = std::move(other.own_);
  }
  return *this;
}

host_mesh::~host_mesh() {
  if (own_ && own_->shutdown_pending()) {
    auto res = shutdown();
    if (!res)
      spdlog::error("shutting down host mesh {} on destruction: {}",
                    d_->id.to_string(), mesh::to_string(res.error()));
  }
}

host_mesh host_mesh::take(host_mesh_ref ref) {
  return host_mesh{std::move(ref.d_)};
}

const host_mesh_ref& host_mesh::as_ref() const {
  return *this;
}

shutdown_guard host_mesh::into_shutdown_guard() && {
  return shutdown_guard{std::move(*this)};
}

namespace {

/// Adds up per-host replies; a host that failed to answer is a failure.
caf::expected<shutdown_summary>
summarize(const std::vector<caf::expected<shutdown_summary>>& replies,
          const std::vector<std::string>& addrs, const std::string& what) {
  shutdown_summary total;
  for (size_t i = 0; i < replies.size(); ++i) {
    if (replies[i])
      total += *replies[i];
    // A host agent that no longer exists was shut down already (e.g. by
    // another owner of a taken reference): nothing is left to stop there.
    else if (replies[i].error() != caf::sec::request_receiver_down)
      total.failures.push_back("host " + addrs[i] + " (" + what + "): "
                               + mesh::to_string(replies[i].error()));
  }
  return total;
}

caf::expected<shutdown_summary> as_result(shutdown_summary s,
                                          const std::string& what) {
  if (s.failures.empty())
    return s;
  return make_error(ec::stop_failed, what, s.to_string());
}

} // namespace

caf::expected<shutdown_summary> host_mesh::stop() {
  if (!own_)
    return make_error(ec::not_running, "host mesh was moved from");
  if (own_->result)
    return make_error(ec::not_running,
                      "host mesh " + d_->id.to_string() + " was shut down");
  auto replies = gather<shutdown_summary>(
    *d_->sys, d_->agents, stop_timeout(*d_->sys), drain_atom::value,
    d_->id.to_string());
  own_->stopped = true;
  auto total = summarize(replies, d_->addrs, "stop");
  return as_result(std::move(*total), "stop of host mesh "
                                        + d_->id.to_string());
}

caf::expected<shutdown_summary> host_mesh::shutdown() {
  if (!own_)
    return make_error(ec::not_running, "host mesh was moved from");
  if (own_->result)
    return *own_->result;
  *d_->alive = false;
  auto& sys = *d_->sys;
  // Phase 1: every host terminates its procs while all networking is up.
  auto drained = gather<shutdown_summary>(
    sys, d_->agents, stop_timeout(sys), drain_atom::value, std::string{});
  auto total = *summarize(drained, d_->addrs, "drain");
  // Phase 2: the hosts themselves; nothing is left to flush.
  auto acks = gather<shutdown_summary>(sys, d_->agents, stop_timeout(sys),
                                             shutdown_host_atom::value);
  auto phase2 = *summarize(acks, d_->addrs, "shutdown");
  phase2.hosts = 0;
  total += phase2;
  total.hosts = 0;
  for (auto& ack : acks)
    if (ack)
      ++total.hosts;
  // host_mesh::process: the host processes exit once acked; wait for that,
  // then let the launcher reap them.
  if (own_->launcher) {
    caf::scoped_actor self{sys};
    for (size_t r = 0; r < own_->host_proc_names.size(); ++r)
      self
        ->request(own_->launcher, stop_timeout(sys), wait_status_atom::value,
                  own_->host_proc_names[r], proc_status::stopped, uint64_t{r})
        .receive([](uint64_t, proc_state&) {}, [](caf::error&) {});
  }
  for (auto& [agent, port] : own_->local_agents) {
    if (agent == own_->launcher) {
      auto res = gather<shutdown_summary>(
        sys, std::vector<host_agent_actor>{agent}, stop_timeout(sys),
        shutdown_host_atom::value);
      if (!res.front())
        total.failures.push_back("the launcher of the host processes: "
                                 + mesh::to_string(res.front().error()));
      else
        total.failures.insert(total.failures.end(),
                              res.front()->failures.begin(),
                              res.front()->failures.end());
    }
    static_cast<void>(sys.middleman().unpublish(agent, port));
  }
  own_->result = as_result(total, "shutdown of host mesh " + d_->id.to_string());
  return *own_->result;
}

shutdown_guard::shutdown_guard(host_mesh mesh) : mesh_(std::move(mesh)) {
}

shutdown_guard::~shutdown_guard() = default;

} // namespace mesh
