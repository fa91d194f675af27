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

#include "bootstrap/network.hpp"
#include "libmesh/src/client/admin_server.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
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
  : host_mesh_ref(std::move(d)), own_(std::make_shared<owned>()) {
}

host_mesh::host_mesh(host_mesh&&) noexcept = default;

namespace {

/// An owner that is let go while its hosts are up shuts them down: from an
/// application thread it waits (and logs a failure); on an actor's thread
/// the shutdown runs on by itself (~actor_system still waits for it), since
/// an actor must not wait.
void shut_down_released(host_mesh& mesh) {
  if (on_actor_thread()) {
    caf::anon_send(detail::shutdown_op(mesh), caf::get_atom::value);
    return;
  }
  auto res = mesh.shutdown();
  if (!res)
    spdlog::error("shutting down host mesh {} on destruction: {}",
                  mesh.id().to_string(), mesh::to_string(res.error()));
}

} // namespace

host_mesh& host_mesh::operator=(host_mesh&& other) noexcept {
  if (this != &other) {
    if (own_ && own_->shutdown_pending())
      shut_down_released(*this);
    host_mesh_ref::operator=(std::move(other));
    own_ = std::move(other.own_);
  }
  return *this;
}

host_mesh::~host_mesh() {
  if (own_ && own_->shutdown_pending())
    shut_down_released(*this);
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


namespace detail {

namespace {

/// Phase 3 of a shutdown, for host_mesh::process: the host processes exit
/// once acked; wait for that (each within stop_timeout), then `then()`.
template <class F>
void await_host_exits(caf::event_based_actor* self,
                      const std::shared_ptr<mesh_access::host_owned>& own,
                      F then) {
  auto n = own->host_proc_names.size();
  if (!own->launcher || n == 0) {
    then();
    return;
  }
  auto left = std::make_shared<size_t>(n);
  auto one_done = [left, then]() mutable {
    if (--*left == 0)
      then();
  };
  for (size_t r = 0; r < n; ++r)
    self
      ->request(own->launcher, stop_timeout(self->system()),
                wait_status_atom::value, own->host_proc_names[r],
                proc_status::stopped, uint64_t{r})
      .then([one_done](uint64_t, proc_state&) mutable { one_done(); },
            [one_done](caf::error&) mutable { one_done(); });
}

/// Phase 4: the agents this process runs: the launcher of host processes is
/// shut down (it reaps them), every one is unpublished.
template <class F>
void end_local_agents(caf::event_based_actor* self,
                      const std::shared_ptr<mesh_access::host_owned>& own,
                      std::shared_ptr<shutdown_summary> total, F then) {
  auto& sys = self->system();
  auto unpublish_all = [self, own, then]() mutable {
    auto left = std::make_shared<size_t>(own->local_agents.size());
    if (*left == 0) {
      then();
      return;
    }
    for (auto& [agent, port] : own->local_agents)
      self
        ->request(net::publisher(self->system()), caf::infinite,
                  caf::unpublish_atom::value, agent.address(), port)
        .then([left, then]() mutable {
                if (--*left == 0)
                  then();
              },
              [left, then](caf::error&) mutable {
                if (--*left == 0)
                  then();
              });
  };
  if (!own->launcher) {
    unpublish_all();
    return;
  }
  gather_then<shutdown_summary>(
    self, std::vector<host_agent_actor>{own->launcher}, stop_timeout(sys),
    [total, unpublish_all](
      std::vector<caf::expected<shutdown_summary>>& res) mutable {
      if (!res.front())
        total->failures.push_back("the launcher of the host processes: "
                                  + mesh::to_string(res.front().error()));
      else
        total->failures.insert(total->failures.end(),
                               res.front()->failures.begin(),
                               res.front()->failures.end());
      unpublish_all();
    },
    shutdown_host_atom::value);
}

/// Phase 5: the scheduler's allocation (allocate()), now that its daemons
/// were shut down: released on a thread of its own, since it runs the
/// scheduler's commands; a failure is one of the summary's.
template <class F>
void release_allocation(caf::event_based_actor* self,
                        const std::shared_ptr<mesh_access::host_owned>& own,
                        std::shared_ptr<shutdown_summary> total, F then) {
  auto alloc = std::move(own->alloc);
  if (!alloc) {
    then();
    return;
  }
  auto limit = stop_timeout(self->system());
  auto releaser = self->spawn<caf::detached>(
    [alloc, limit](caf::blocking_actor* worker) {
      // blocking: a detached actor's own thread, for the scheduler's commands
      auto err = alloc->release(limit);
      worker->receive([&](caf::get_atom) -> caf::result<caf::ok_atom> {
        if (err)
          return err;
        return caf::ok_atom::value;
      });
    });
  auto what = own->alloc_status
                ? "the allocation (" + own->alloc_status->scheduler + " job "
                    + own->alloc_status->id + ")"
                : std::string{"the allocation"};
  self->request(releaser, caf::infinite, caf::get_atom::value)
    .then([then](caf::ok_atom) mutable { then(); },
          [total, what, then](caf::error& err) mutable {
            total->failures.push_back(what + ": " + mesh::to_string(err));
            then();
          });
}

} // namespace

caf::actor shutdown_op_of(std::shared_ptr<mesh_access::host_data> d,
                          std::shared_ptr<mesh_access::host_owned> own) {
  auto& sys = *d->sys;
  if (own->result) {
    auto res = *own->result;
    return spawn_op(sys, [res](caf::event_based_actor*, op_outcome out) {
      if (res)
        out.done(*res);
      else
        out.fail(res.error());
      return caf::message_handler{};
    });
  }
  if (own->shutting_down)
    return failed_op(sys, make_error(ec::not_running,
                                     "host mesh " + d->id.to_string(),
                                     "its shutdown is already under way"));
  own->shutting_down = true;
  *d->alive = false;
  // The mesh leaves the registry and stops serving as its shutdown starts.
  if (own->admin)
    own->admin->stop();
  return spawn_op(sys, [d, own](caf::event_based_actor* self, op_outcome out) {
    auto& sys = self->system();
    auto what = "shutdown of host mesh " + d->id.to_string();
    // Phase 1: every host terminates its procs while all networking is up.
    gather_then<shutdown_summary>(
      self, d->agents, stop_timeout(sys),
      [self, d, own, out,
       what](std::vector<caf::expected<shutdown_summary>>& drained) {
        auto total = std::make_shared<shutdown_summary>(
          *summarize(drained, d->addrs, "drain"));
        // Phase 2: the hosts themselves; nothing is left to flush.
        gather_then<shutdown_summary>(
          self, d->agents, stop_timeout(self->system()),
          [self, d, own, out, what,
           total](std::vector<caf::expected<shutdown_summary>>& acks) {
            auto phase2 = *summarize(acks, d->addrs, "shutdown");
            phase2.hosts = 0;
            *total += phase2;
            total->hosts = 0;
            for (auto& ack : acks)
              if (ack)
                ++total->hosts;
            await_host_exits(self, own, [self, own, out, what, total] {
              end_local_agents(self, own, total, [self, own, out, what, total] {
                release_allocation(self, own, total, [own, out, what, total] {
                  own->result = as_result(*total, what);
                  if (*own->result)
                    out.done(**own->result);
                  else
                    out.fail(own->result->error());
                });
              });
            });
          },
          shutdown_host_atom::value);
      },
      drain_atom::value, std::string{});
    return caf::message_handler{};
  });
}

caf::actor shutdown_op(const host_mesh& mesh) {
  return shutdown_op_of(mesh_access::data_of(mesh),
                        mesh_access::owned_of(mesh));
}

caf::actor host_stop_op(const host_mesh& mesh) {
  return host_stop_op_of(mesh_access::data_of(mesh),
                         mesh_access::owned_of(mesh));
}

caf::actor host_stop_op_of(std::shared_ptr<mesh_access::host_data> d,
                           std::shared_ptr<mesh_access::host_owned> own) {
  if (own->result)
    return failed_op(*d->sys, make_error(ec::not_running,
                                         "host mesh " + d->id.to_string()
                                           + " was shut down"));
  return spawn_op(*d->sys, [d, own](caf::event_based_actor* self,
                                    op_outcome out) {
    gather_then<shutdown_summary>(
      self, d->agents, stop_timeout(self->system()),
      [self, d, own, out](std::vector<caf::expected<shutdown_summary>>& replies) {
        own->stopped = true;
        if (own->alloc)
          own->alloc->keep();
        auto total = std::make_shared<shutdown_summary>(
          *summarize(replies, d->addrs, "stop"));
        auto finish = [d, out, total]() mutable {
          auto res = as_result(std::move(*total),
                               "stop of host mesh " + d->id.to_string());
          if (res)
            out.done(*res);
          else
            out.fail(res.error());
        };
        if (!own->owner_token) {
          finish();
          return;
        }
        // Hosts this process does not run stay up for another attach: let
        // them go on purpose (acknowledged before stop() returns), so that
        // their owner timeout does not end them when this process does. A
        // host that does not acknowledge is one of the stop's failures.
        gather_then<caf::ok_atom>(
          self, d->agents, stop_timeout(self->system()),
          [d, total, finish](std::vector<caf::expected<caf::ok_atom>>& acks) mutable {
            for (size_t i = 0; i < acks.size(); ++i)
              if (!acks[i])
                total->failures.push_back(
                  "host " + d->addrs[i] + " (release): "
                  + mesh::to_string(acks[i].error()));
            finish();
          },
          release_atom::value, own->owner_token);
      },
      drain_atom::value, d->id.to_string());
    return caf::message_handler{};
  });
}

} // namespace detail

caf::expected<shutdown_summary> host_mesh::stop() {
  if (!own_)
    return make_error(ec::not_running, "host mesh was moved from");
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  return detail::await_op<shutdown_summary>(*d_->sys,
                                            detail::host_stop_op(*this));
}

caf::expected<shutdown_summary> host_mesh::shutdown() {
  if (!own_)
    return make_error(ec::not_running, "host mesh was moved from");
  if (own_->result)
    return *own_->result;
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  auto res = detail::await_op<shutdown_summary>(*d_->sys,
                                                detail::shutdown_op(*this));
  return own_->result ? *own_->result : res;
}

shutdown_guard::shutdown_guard(host_mesh mesh) : mesh_(std::move(mesh)) {
}

shutdown_guard::~shutdown_guard() = default;

} // namespace mesh
