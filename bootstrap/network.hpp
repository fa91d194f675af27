// Where libmesh processes meet: publishing an actor on a port and connecting
// to one, over plain BASP or mutual TLS, chosen in one place.
//
// Every connection is mutual TLS (bootstrap/tls.hpp: the mesh key, and
// certificates if configured), unless the operator chose plain TCP
// (transport.insecure, meshd --insecure). Every publish and connect first
// checks that the process's TLS context is ready (tls::ready()).
//
// Connecting never blocks past its deadline: CAF's remote_actor has no
// timeout of its own, and its middleman connects with a blocking connect()
// that would stall every other connect of the process behind an address that
// drops packets. So the TCP connection is first tried here, non-blocking and
// under the deadline; only endpoints that accepted it are handed to CAF, whose
// handshake is then awaited with a request timeout. (To a TLS peer the probe
// is a connection that ends without a handshake; bootstrap/tls_interpose.cpp
// keeps such failures from touching the peer's other connections.) Several
// targets are connected concurrently, each on its own thread, so one that
// stalls costs the others nothing.
#pragma once

#include "mesh/config.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/sec.hpp>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::net {

/// A host (name, IPv4 or IPv6 address) and a TCP port.
struct endpoint {
  std::string host;
  uint16_t port = 0;

  /// "host:port", with brackets around an IPv6 address ("[::1]:4000").
  std::string to_string() const;

  friend bool operator==(const endpoint& x, const endpoint& y) {
    return x.host == y.host && x.port == y.port;
  }
};

/// Parses "host:port" or "[v6-address]:port". The port must be 1..65535, or
/// 0..65535 with `allow_any_port` (0: let the system choose when listening).
/// ec::parse_error saying what is wrong otherwise.
caf::expected<endpoint> parse_endpoint(std::string_view text,
                                       bool allow_any_port = false);

/// What a plain TCP connect to a peer's port found.
enum class knock_answer {
  accepts, ///< Something listens there (maybe a stopped process).
  refuses, ///< Nothing listens: the process is gone.
  silent,  ///< No answer in time, or no route: the network or machine.
};

/// Knocks at `ep` with a plain TCP connect (closed at once) within
/// `timeout`: how supervision tells a peer that ended from one that hangs
/// or cannot be reached after its connection was lost. Blocks the caller.
knock_answer knock(const endpoint& ep, duration timeout);

/// True if `host` names this machine's loopback interface only (127.0.0.0/8,
/// ::1 or "localhost").
bool is_loopback(std::string_view host);

/// True if this actor system publishes and connects with mutual TLS (always,
/// unless the process runs with transport.insecure).
bool uses_tls(caf::actor_system& sys);

/// Fails if this process cannot publish or connect as configured: TLS keys
/// only partly set, credential files that do not load, an actor system not
/// configured by libmesh, or CAF not bound to libmesh's TLS context
/// (ec::tls_error).
caf::error check_transport(caf::actor_system& sys);

/// Publishes an actor with its messaging interface on host:port (port 0: a
/// free one), over TLS if the system uses it; returns the bound port.
caf::expected<uint16_t> publish(caf::actor_system& sys,
                                caf::strong_actor_ptr whom,
                                std::set<std::string> interface,
                                const std::string& host, uint16_t port);

/// The actor that publishes and connects for `sys` (CAF's middleman actor,
/// or its TLS twin): an event-based actor publishes without blocking by
/// requesting it `(publish_atom, port, whom, interface, host, true)` and
/// passing the answer through on_published().
caf::io::middleman_actor publisher(caf::actor_system& sys);

/// What the answer to a publish request means: the bound port (guarded
/// against oversized frames if it is plain TCP), or why nothing listens on
/// `where`, in libmesh's words.
caf::expected<uint16_t> on_published(caf::actor_system& sys,
                                     const endpoint& where,
                                     caf::expected<uint16_t> answer);

/// Typed form of publish().
template <class Handle>
caf::expected<uint16_t> publish(caf::actor_system& sys, const Handle& whom,
                                const std::string& host, uint16_t port = 0) {
  return publish(sys, caf::actor_cast<caf::strong_actor_ptr>(whom),
                 sys.message_types(whom), host, port);
}

/// Connects to the actor published at `target` within `timeout` and checks
/// that it has `interface`. A failure is ec::host_unreachable (refused,
/// unreachable, timed out, not a libmesh peer) or ec::tls_error (handshake
/// refused, credentials unusable), whose context starts with the endpoint.
///
/// With `probe` (for peers that may not exist, such as daemons named in a
/// mesh file) a non-loopback target is first reached with a plain TCP
/// connect under the deadline, because CAF's own connect blocks its
/// middleman until the kernel gives up on a dropped SYN. A child connecting
/// to the parent that launched it passes false: that parent listens.
caf::expected<caf::strong_actor_ptr>
connect(caf::actor_system& sys, const std::set<std::string>& interface,
        const endpoint& target, duration timeout, bool probe = true);

/// Connects to every target at once, each within `timeout`, and calls
/// `then(i, result)` for target i as soon as its connection is up or has
/// failed, on a thread of that target alone (so `then` may block, e.g. on a
/// request to the new peer, without holding up the other targets). Returns
/// once every `then` has returned.
void connect_each(
  caf::actor_system& sys, const std::set<std::string>& interface,
  const std::vector<endpoint>& targets, duration timeout,
  const std::function<void(size_t, caf::expected<caf::strong_actor_ptr>)>&
    then);

/// Typed connect().
template <class Handle>
caf::expected<Handle> connect(caf::actor_system& sys, const endpoint& target,
                              duration timeout, bool probe = true) {
  auto ptr = connect(sys, sys.message_types<Handle>(), target, timeout, probe);
  if (!ptr)
    return std::move(ptr.error());
  return caf::actor_cast<Handle>(std::move(*ptr));
}

/// Typed connect_each().
template <class Handle>
void connect_each(
  caf::actor_system& sys, const std::vector<endpoint>& targets,
  duration timeout,
  const std::function<void(size_t, caf::expected<Handle>)>& then) {
  connect_each(sys, sys.message_types<Handle>(), targets, timeout,
               [&](size_t i, caf::expected<caf::strong_actor_ptr> ptr) {
                 if (ptr)
                   then(i, caf::actor_cast<Handle>(std::move(*ptr)));
                 else
                   then(i, std::move(ptr.error()));
               });
}

/// Connects to every target at once (see connect_each()); one result per
/// target, in order.
template <class Handle>
std::vector<caf::expected<Handle>>
connect_all(caf::actor_system& sys, const std::vector<endpoint>& targets,
            duration timeout) {
  // Every entry is overwritten by connect_each().
  std::vector<caf::expected<Handle>> result(
    targets.size(), caf::expected<Handle>{caf::sec::runtime_error});
  connect_each<Handle>(
    sys, targets, timeout,
    [&](size_t i, caf::expected<Handle> x) { result[i] = std::move(x); });
  return result;
}

} // namespace mesh::net
