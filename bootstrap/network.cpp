#include "bootstrap/network.hpp"

#include "bootstrap/tls.hpp"
#include "mesh/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/node_id.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <optional>
#include <thread>

namespace mesh::net {

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

caf::expected<endpoint> parse_endpoint(std::string_view text,
                                       bool allow_any_port) {
  auto fail = [&](const char* why) {
    return make_error(ec::parse_error, "address '" + std::string{text} + "'",
                      why);
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return fail("expected host:port");
  auto host = text.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      return fail("an IPv6 address must be written [address]:port");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return fail("an IPv6 address must be written [address]:port");
  }
  if (host.empty())
    return fail("the host is empty (expected host:port)");
  auto digits = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, err] =
    std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || err != std::errc{} ||
      end != digits.data() + digits.size() || port > 65535 ||
      (port == 0 && !allow_any_port))
    return fail(allow_any_port ? "the port must be a number from 0 to 65535"
                               : "the port must be a number from 1 to 65535");
  return endpoint{std::string{host}, static_cast<uint16_t>(port)};
}

bool is_loopback(std::string_view host) {
  if (host == "localhost")
    return true;
  std::string text{host};
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

bool uses_tls(caf::actor_system& sys) {
  return sys.has_openssl_manager() && !tls::process_transport().insecure;
}

caf::error check_transport(caf::actor_system& sys) {
  if (auto err = tls::ready())
    return err;
  // Credentials are read once, by mesh::configure(): settings made later
  // would be silently ignored.
  auto configured = tls::from_config();
  if (!configured)
    return std::move(configured.error());
  if (*configured != tls::current_credentials())
    return make_error(ec::tls_error,
                      "tls.certificate, tls.key and tls.cafile changed after "
                      "this actor system was configured",
                      "set them before calling mesh::configure()");
  if (!tls::process_transport().insecure && !sys.has_openssl_manager())
    return make_error(ec::tls_error,
                      "this actor system has no TLS (CAF's openssl module)",
                      "configure it with mesh::configure() or mesh::config; "
                      "libmesh never connects without authentication");
  return caf::none;
}

namespace {

caf::io::middleman_actor middleman_of(caf::actor_system& sys) {
  return uses_tls(sys) ? sys.openssl_manager().actor_handle()
                       : sys.middleman().actor_handle();
}

using clock = std::chrono::steady_clock;

duration left_until(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<duration>(deadline - clock::now());
  return left.count() > 0 ? left : duration{0};
}

/// An open TCP connection that proves the endpoint accepts connections (the
/// socket), or why it does not.
struct probe {
  int fd = -1;
  bool pending = false;
  caf::error failure;
  int error_code = 0; ///< The errno of the failure, if the connect said one.
};

caf::error unreachable(const endpoint& ep, std::string why) {
  return make_error(ec::host_unreachable, ep.to_string(), std::move(why));
}

std::string describe_errno(int code) {
  switch (code) {
  case ECONNREFUSED:
    return "connection refused (nothing listens on that port)";
  case ETIMEDOUT:
    return "timed out: the TCP connection was not accepted";
  default:
    return std::string{"cannot connect: "} + std::strerror(code);
  }
}

/// Starts a non-blocking TCP connect to the first address of `ep`, IPv4
/// preferred (as CAF's connect does).
probe start_probe(const endpoint& ep) {
  probe result;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto port = std::to_string(ep.port);
  if (auto rc = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    result.failure = unreachable(ep, "cannot resolve '" + ep.host +
                                       "': " + ::gai_strerror(rc));
    return result;
  }
  const addrinfo* pick = found;
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next)
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
  result.fd =
    ::socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (result.fd < 0) {
    result.failure = make_error(ec::system_error, "socket()",
                                std::string{std::strerror(errno)});
  } else if (::connect(result.fd, pick->ai_addr, pick->ai_addrlen) != 0) {
    if (errno == EINPROGRESS) {
      result.pending = true;
    } else {
      result.error_code = errno;
      result.failure = unreachable(ep, describe_errno(errno));
      ::close(result.fd);
      result.fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return result;
}

/// Waits until the connect of `p` is established or failed, or the deadline
/// passes (then the connect is abandoned).
void finish_probe(probe& p, const endpoint& ep, clock::time_point deadline,
                  duration timeout) {
  while (p.pending) {
    auto left = left_until(deadline);
    pollfd pfd{p.fd, POLLOUT, 0};
    auto wait_ms = std::min<int64_t>(left.count(), INT_MAX);
    auto n = wait_ms > 0 ? ::poll(&pfd, 1, static_cast<int>(wait_ms)) : 0;
    if (n < 0 && errno == EINTR)
      continue;
    p.pending = false;
    int code = ETIMEDOUT;
    if (n > 0) {
      socklen_t len = sizeof(code);
      ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &code, &len);
    }
    if (code == 0)
      return;
    ::close(p.fd);
    p.fd = -1;
    p.error_code = code;
    p.failure = n == 0
                  ? unreachable(ep, "timed out: no TCP connection within " +
                                      render_duration(timeout))
                  : unreachable(ep, describe_errno(code));
  }
}

} // namespace

knock_answer knock(const endpoint& ep, duration timeout) {
  auto p = start_probe(ep);
  finish_probe(p, ep, clock::now() + timeout, timeout);
  if (p.fd >= 0) {
    ::close(p.fd);
    return knock_answer::accepts;
  }
  return p.error_code == ECONNREFUSED ? knock_answer::refuses
                                      : knock_answer::silent;
}

namespace {

/// Why CAF's handshake with `ep` failed, in words.
caf::error handshake_failure(caf::actor_system& sys, const endpoint& ep,
                             const caf::error& err, duration timeout) {
  if (err == caf::sec::request_timeout)
    return unreachable(ep, "timed out: the connection was accepted but no "
                           "libmesh handshake completed within " +
                             render_duration(timeout));
  // CAF's own watchdog (middleman.connection-timeout) may end a silent
  // connection before our deadline does.
  if (err == caf::sec::connection_timeout)
    return unreachable(ep, "timed out: the connection was accepted but the "
                           "peer never answered");
  auto refused = [&](const std::string& how) {
    return make_error(ec::tls_error, ep.to_string(),
                      "the TLS handshake failed" + how);
  };
  const std::string causes =
    "the peer is not of this mesh and refused our certificate (or we have "
    "none: set tls.certificate, tls.key and tls.cafile), we did not trust "
    "its certificate, or it does not speak TLS";
  if (err == caf::sec::disconnect_during_handshake) {
    if (uses_tls(sys))
      return refused(": " + causes);
    return unreachable(ep, "the peer closed the connection during the "
                           "handshake (it requires authentication, and this "
                           "process runs with transport.insecure)");
  }
  // The TLS handshake runs after CAF's connect returned
  // (bootstrap/tls_interpose.cpp); its failure ends the connection.
  if (auto why = tls::handshake_failure(ep.host, ep.port))
    return refused(" (" + *why + "): " + causes);
  // Without a probe (loopback), a refused connect comes from CAF itself --
  // or the handshake failed in a way no TLS call saw (the peer reset the
  // connection): a port that accepts a TCP connection was not refusing.
  if (err == caf::sec::cannot_connect_to_node) {
    if (uses_tls(sys)) {
      auto p = start_probe(ep);
      finish_probe(p, ep, clock::now() + std::chrono::seconds{1},
                   std::chrono::seconds{1});
      if (p.fd >= 0) {
        ::close(p.fd);
        return refused(": the peer accepted the connection and closed it "
                       "(not of this mesh and no certificate it trusts, or "
                       "not TLS)");
      }
    }
    return unreachable(ep, "connection refused");
  }
  return unreachable(ep, "handshake failed: " + sys.render(err));
}

} // namespace

caf::io::middleman_actor publisher(caf::actor_system& sys) {
  return middleman_of(sys);
}

caf::expected<uint16_t> on_published(caf::actor_system& sys,
                                     const endpoint& where,
                                     caf::expected<uint16_t> answer) {
  if (!answer)
    return make_error(ec::system_error,
                      "cannot listen on " + where.to_string(),
                      sys.render(answer.error()));
  // Over TLS the guard runs in SSL_read (bootstrap/tls_interpose.cpp).
  if (!uses_tls(sys))
    tls::guard_plain_port(*answer);
  return answer;
}

caf::expected<uint16_t> publish(caf::actor_system& sys,
                                caf::strong_actor_ptr whom,
                                std::set<std::string> interface,
                                const std::string& host, uint16_t port) {
  if (auto err = check_transport(sys))
    return err;
  endpoint where{host, port};
  caf::expected<uint16_t> answer{uint16_t{0}};
  caf::scoped_actor self{sys};
  self
    ->request(middleman_of(sys), caf::infinite, caf::publish_atom::value, port,
              std::move(whom), std::move(interface), host, true)
    .receive([&](uint16_t bound) { answer = bound; },
             [&](caf::error& err) { answer = std::move(err); });
  return on_published(sys, where, std::move(answer));
}

caf::expected<caf::strong_actor_ptr>
connect(caf::actor_system& sys, const std::set<std::string>& interface,
        const endpoint& target, duration timeout, bool probe_first) {
  if (auto err = check_transport(sys))
    return err;
  auto deadline = clock::now() + timeout;
  // On loopback a connect() is accepted or refused at once and cannot stall
  // the middleman, so no probe there, nor towards a parent that launched us:
  // a probe is a second connection to the peer's BASP port that closes
  // before its handshake, and under heavy load peers with many such
  // connections were seen to lose messages to some children.
  probe p;
  if (probe_first && !is_loopback(target.host)) {
    p = start_probe(target);
    finish_probe(p, target, deadline, timeout);
    if (p.failure)
      return std::move(p.failure);
  }
  // The probe socket stays open until CAF's own connection is through, so a
  // server sees it as an ordinary connection that ends, never as one that
  // is gone before it was accepted.
  caf::expected<caf::strong_actor_ptr> result{caf::strong_actor_ptr{}};
  // CAF 0.17.6 stamps a connection it opens (basp_broker's connect_atom
  // handler) with no time until the peer's first message arrives, so its
  // heartbeat check (middleman.connection-timeout) closes one whose
  // handshake is still under way at its next tick, within one heartbeat
  // interval, as if the peer had been silent for the whole timeout. On a
  // loaded machine a TLS handshake can take that long: such an attempt
  // (closed by CAF, so it cannot complete later) is made again while the
  // deadline allows.
  for (bool again = true; again;) {
    again = false;
    caf::scoped_actor self{sys};
    self
      ->request(middleman_of(sys), left_until(deadline),
                caf::connect_atom::value, target.host, target.port)
      .receive(
        [&](caf::node_id&, caf::strong_actor_ptr& ptr,
            std::set<std::string>& found) {
          if (!ptr)
            result = unreachable(target, "no actor is published on that port");
          else if (!sys.assignable(found, interface))
            result = unreachable(target, "the actor published there is not "
                                         "the expected libmesh actor (another "
                                         "program or libmesh version)");
          else
            result = std::move(ptr);
        },
        [&](caf::error& err) {
          if (err == caf::sec::connection_timeout
              && left_until(deadline) > std::chrono::milliseconds{100})
            again = true;
          else
            result = handshake_failure(sys, target, err, timeout);
        });
  }
  if (p.fd >= 0)
    ::close(p.fd);
  return result;
}

void connect_each(
  caf::actor_system& sys, const std::set<std::string>& interface,
  const std::vector<endpoint>& targets, duration timeout,
  const std::function<void(size_t, caf::expected<caf::strong_actor_ptr>)>&
    then) {
  // One thread per target: a target that stalls (a dropped SYN, a peer that
  // never answers) holds up only its own thread, and each thread ends by
  // the deadline. Threads are cheap next to the connections they make.
  std::vector<std::thread> workers;
  workers.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i)
    workers.emplace_back(
      [&, i] { then(i, connect(sys, interface, targets[i], timeout)); });
  for (auto& w : workers)
    w.join();
}

} // namespace mesh::net
