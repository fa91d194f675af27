// mesh::introspect and its non-blocking twin (mesh/introspect.hpp,
// mesh/async.hpp): one operation actor (ops.hpp) that asks every host of a
// host mesh at once for its host_snapshot of this mesh's procs and puts the
// answers together in host order.
#include "mesh/introspect.hpp"

#include "libmesh/src/client/mesh_data.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
#include "mesh/async.hpp"

#include <caf/all.hpp>

#include <unistd.h>

#include <chrono>

namespace mesh::detail {

/// The operation's answer, a local message only (mesh_snapshot has no wire
/// form: it never leaves the client).
struct mesh_snapshot_box {
  mesh_snapshot snap;
};

} // namespace mesh::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::detail::mesh_snapshot_box)

namespace mesh {

namespace detail {

namespace {

/// What a host may take beyond the procs' deadline: sampling its procs from
/// /proc, its reply's way back. Past deadline + margin the host counts as
/// not answering.
constexpr std::chrono::milliseconds host_margin{1000};

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

/// Answers mesh_snapshot_box.
caf::actor introspect_op(const host_mesh_ref& hosts, duration deadline) {
  auto d = mesh_access::data_of(hosts);
  if (!*d->alive)
    return failed_op(*d->sys,
                     make_error(ec::not_running,
                                "host mesh " + d->id.to_string()
                                  + " was shut down"));
  if (deadline <= duration::zero())
    return failed_op(*d->sys,
                     make_error(ec::invalid_argument, "introspect",
                                "the deadline must be positive, not "
                                  + render_duration(deadline)));
  return spawn_op(*d->sys, [d, deadline](caf::event_based_actor* self,
                                         op_outcome out) {
    auto id = d->id.to_string();
    auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(deadline)
                + host_margin;
    gather_then<host_snapshot>(
      self, d->agents, idle,
      [d, out, id](std::vector<caf::expected<host_snapshot>>& replies) {
        mesh_snapshot snap;
        snap.id = id;
        snap.owner_pid = static_cast<int64_t>(::getpid());
        snap.taken_at_ms = unix_ms_now();
        for (size_t h = 0; h < replies.size(); ++h) {
          if (replies[h]) {
            snap.hosts.push_back(std::move(*replies[h]));
          } else {
            host_snapshot failed;
            failed.address = h < d->addrs.size() ? d->addrs[h] : std::string{};
            failed.error = mesh::to_string(replies[h].error());
            snap.hosts.push_back(std::move(failed));
          }
        }
        out.done(mesh_snapshot_box{std::move(snap)});
      },
      introspect_atom::value, id,
      relay_timeout{std::chrono::duration_cast<caf::timespan>(deadline)});
    return caf::message_handler{};
  });
}

} // namespace detail

caf::expected<mesh_snapshot> introspect(const host_mesh_ref& hosts,
                                        duration deadline) {
  auto& sys = *detail::mesh_access::data_of(hosts)->sys;
  // blocking: the blocking face, on an application thread (twin: mesh/async.hpp)
  auto box = detail::await_op<detail::mesh_snapshot_box>(
    sys, detail::introspect_op(hosts, deadline));
  if (!box)
    return std::move(box.error());
  return std::move(box->snap);
}

namespace async {

pending<mesh_snapshot> introspect(caf::scheduled_actor* self,
                                  const host_mesh_ref& hosts,
                                  duration deadline) {
  return pending<mesh_snapshot>{[self, hosts, deadline](auto on_value,
                                                        auto on_error) {
    detail::async_access::ask(
      self, detail::introspect_op(hosts, deadline),
      caf::behavior{[on_value](detail::mesh_snapshot_box& x) { on_value(x.snap); },
                    [on_error](caf::error& err) { on_error(err); }});
  }};
}

} // namespace async

} // namespace mesh
