#include "mesh/proc_mesh.hpp"

#include "actors/mesh_controller.hpp"
#include "libmesh/src/mesh_data.hpp"
#include "mesh/error.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

namespace mesh {

proc_mesh::proc_mesh(std::unique_ptr<data> d) : d_(std::move(d)) {
}

proc_mesh::proc_mesh(proc_mesh&&) noexcept = default;

proc_mesh& proc_mesh::operator=(proc_mesh&& other) noexcept {
  if (this != &other) {
    if (d_ && d_->controller)
      caf::anon_send_exit(d_->controller, caf::exit_reason::user_shutdown);
    d_ = std::move(other.d_);
  }
  return *this;
}

proc_mesh::~proc_mesh() {
  // The controller must end with its mesh: ~actor_system waits for every
  // actor.
  if (d_ && d_->controller)
    caf::anon_send_exit(d_->controller, caf::exit_reason::user_shutdown);
}

const proc_mesh_id& proc_mesh::id() const {
  return d_->id;
}

mesh::extent proc_mesh::extent() const {
  return d_->extent;
}

size_t proc_mesh::size() const {
  return d_->extent.num_ranks();
}

caf::actor_system& proc_mesh::system() const {
  return *d_->sys;
}

proc_agent_actor proc_mesh::agent(size_t rank) const {
  std::lock_guard<std::mutex> guard{d_->shared->mtx};
  auto& procs = d_->shared->procs;
  return rank < procs.size() && procs[rank].state.status == proc_status::running
           ? procs[rank].agent
           : proc_agent_actor{};
}

void proc_mesh::on_event(std::function<void(const proc_event&)> handler) {
  std::lock_guard<std::mutex> guard{d_->shared->mtx};
  d_->shared->handlers.push_back(std::move(handler));
}

caf::expected<std::vector<proc_state>> proc_mesh::states() const {
  auto replies = gather<std::vector<proc_info>>(
    *d_->sys, d_->hosts, std::chrono::seconds{10}, proc_state_atom::value,
    d_->id.to_string(), std::vector<std::string>{});
  std::vector<proc_state> result(size());
  for (size_t r = 0; r < result.size(); ++r) {
    auto h = r / d_->procs_per_host;
    result[r].rank = r;
    result[r].proc_name = d_->names[r];
    result[r].host = d_->host_addrs[h];
    result[r].status = proc_status::unknown;
    if (!replies[h])
      result[r].reason = "host did not answer: "
                         + mesh::to_string(replies[h].error());
  }
  for (auto& reply : replies)
    if (reply)
      for (auto& info : *reply)
        if (info.state.rank < result.size())
          result[info.state.rank] = info.state;
  return result;
}

caf::expected<void> proc_mesh::stop(std::string reason) {
  auto replies = gather<shutdown_summary>(
    *d_->sys, d_->hosts, stop_timeout(), stop_procs_atom::value,
    d_->id.to_string(), std::vector<std::string>{}, reason);
  shutdown_summary total;
  for (size_t h = 0; h < replies.size(); ++h) {
    if (replies[h])
      total += *replies[h];
    else
      total.failures.push_back("host " + d_->host_addrs[h] + ": "
                               + mesh::to_string(replies[h].error()));
  }
  if (!total.failures.empty())
    return make_error(ec::stop_failed, "proc mesh " + d_->id.to_string(),
                      total.to_string());
  return caf::unit;
}

} // namespace mesh
