// Serving one machine's host for host_mesh::attach: what meshd does, as a
// public call, for an application that embeds a host in its own daemon.
//
// Two phases, because CAF chooses its transport (plain TCP or mutual TLS)
// when the actor system is configured:
//
//   mesh::host_options opts{"0.0.0.0:4000", cert, key, ca};
//   if (auto err = mesh::prepare_host(opts)) ...       // before the config
//   mesh::config cfg;                                  // picks up TLS
//   caf::actor_system sys{cfg};
//   auto host = mesh::serve_host(sys, opts);           // publishes the host
//   ... host->address() ...; host->wait();             // until shut down
//
// A host runs commands on request, so an open port is remote code
// execution (on loopback too, for every user of the machine): prepare_host
// refuses to serve without mutual TLS credentials, on any address, unless
// `insecure` says so in so many words (architecture §7.6). `meshctl cert
// init DIR` makes the credentials.
#pragma once

#include "mesh/export.hpp"

#include "mesh/actors.hpp"
#include "mesh/bootstrap.hpp"

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <optional>
#include <string>

MESH_PUBLIC_BEGIN

namespace mesh {

/// How a process serves its host.
struct host_options {
  /// "HOST:PORT" to listen on; port 0 picks a free one.
  std::string listen = "127.0.0.1:0";
  /// Mutual TLS: all three PEM files, or none (then the tls.* configuration
  /// keys, e.g. MESH_TLS_CERTIFICATE, decide).
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_cafile;
  /// Allows plain TCP without credentials (on any address).
  bool insecure = false;
  /// What procs run; default: this executable (which must call
  /// run_bootstrap_child first in main).
  std::optional<bootstrap_command> proc_command;
  /// A mesh key file (64 hex digits, readable by its owner only, written by
  /// the client that will attach: mesh/slurm.hpp): the host adopts the key,
  /// so that client connects over TLS with it, no certificates needed, and
  /// nobody without the key does. Not with `insecure`.
  std::string mesh_key_file;
  /// Once no client has owned this host for this long (from its start until
  /// the first attach, and after an owner was lost without releasing it by
  /// host_mesh::stop()), the host stops its procs and ends. 0: never.
  duration owner_timeout{0};
};

/// Checks `opts` (the address parses, TLS files are all given or none and
/// load, TLS credentials are given unless `insecure`, proc_command is an
/// executable file) and makes its listen address and TLS files this
/// process's settings, which the children of the host inherit. Call it
/// before configuring the actor system; the error is one sentence.
caf::error prepare_host(const host_options& opts);

/// A host served by this process.
class served_host {
public:
  served_host() = default;
  served_host(caf::actor_system& sys, host_agent_actor agent,
              std::string address, bool tls);

  /// "host:port" it listens on.
  const std::string& address() const { return address_; }
  /// True if peers must present a certificate of the CA (mutual TLS).
  bool uses_tls() const { return tls_; }
  /// The host agent, published on address().
  const host_agent_actor& agent() const { return agent_; }
  /// Asks the host to stop its procs and end (shutdown_host); returns at once.
  void shutdown() const;
  /// Blocks until the host has ended; its exit reason (none: a clean end).
  caf::error wait() const;

private:
  caf::actor_system* sys_ = nullptr;
  host_agent_actor agent_;
  std::string address_;
  bool tls_ = false;
};

/// Starts a host agent on `sys` that launches procs as OS children and
/// publishes it on opts.listen (after prepare_host(opts)).
caf::expected<served_host> serve_host(caf::actor_system& sys,
                                      const host_options& opts);

} // namespace mesh

MESH_PUBLIC_END
