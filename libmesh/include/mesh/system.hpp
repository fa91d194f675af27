// Embedding libmesh in a CAF application: configure the caller's actor system.
#pragma once

#include "mesh/export.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include <memory>
#include <optional>
#include <string>

MESH_PUBLIC_BEGIN

namespace mesh {

/// Prepares `cfg` for libmesh: gives it a configuration store of its own
/// (mesh::config_of), loads `caf::io::middleman`, registers libmesh's
/// message types and error renderer, and sets libmesh's scheduler and
/// failure-detection defaults (a sharing scheduler with two workers, BASP
/// heartbeats). Call it before `cfg.parse(...)` so that command-line options
/// and INI files can still override every default.
///
/// Security. configure() also loads `caf::openssl::manager`: every
/// connection libmesh makes or accepts is TLS 1.3 with mutual
/// authentication, set up with no help from you. The processes of a mesh
/// share a random key (handed to children in their bootstrap payload, never
/// written to disk) and prove it to each other; with `tls.certificate`,
/// `tls.key` and `tls.cafile` set (environment MESH_TLS_*, e.g. made by
/// `meshctl cert init`), the same process also authenticates with those
/// certificates, as a client attaching to a `meshd` must. The files are read
/// and checked here, once; a problem is reported by the first spawn, attach
/// or connect. Plain TCP only with MESH_TRANSPORT_INSECURE=1 in the first
/// process's environment (it warns).
///
/// An application that already uses CAF's openssl module for connections of
/// its own: libmesh serves every CAF TLS session of the process from one
/// OpenSSL context (built once, not per connection), so CAF's `openssl.*`
/// settings are not used. Keep your certificates by giving the same files as
/// `tls.certificate`, `tls.key` and `tls.cafile` before calling configure():
/// your own CAF peers then authenticate with them exactly as before (mutual
/// TLS 1.3, peers signed by that CA), and libmesh's processes use them too.
/// OpenSSL used directly by the application (not through CAF) is untouched.
void configure(caf::actor_system_config& cfg);

/// Convenience: an actor_system_config on which configure() has been called.
class config : public caf::actor_system_config {
public:
  config();

private:
  /// Drops this config's configuration store (mesh::config_of) when the
  /// config is destroyed.
  std::shared_ptr<void> store_guard_;
};

/// The child entry point: call it first in main(), after registering your
/// actor types in `cfg` (and after configure(cfg)). Not a bootstrap child (no
/// MESH_BOOTSTRAP variable): returns std::nullopt at once. Otherwise runs the
/// host or proc role this process was launched for to completion and returns
/// its exit code: 0 clean, 1 an actor failed or the parent was lost, 2 bad
/// payload (with a one-line message on stderr).
std::optional<int> run_bootstrap_child(caf::actor_system_config& cfg);

/// Writes this process's mesh key to a new file at `path` that only its
/// owner may read (mode 0600; an existing file is an error), for daemons that
/// a scheduler starts on this user's behalf: `meshd --mesh-key-file PATH`
/// then accepts this process (and only holders of the key) over TLS, with no
/// certificates. The file is a secret: keep it where only this user can
/// read it. ec::tls_error if this process serves plain TCP.
caf::error write_mesh_key_file(const std::string& path);

/// Makes the key in a mesh key file (write_mesh_key_file) this process's
/// mesh key, so that it can attach to daemons started with that file by
/// another process of this user. Call it before making the actor system:
/// ec::tls_error if this process uses another key already, or if the file
/// is not this user's, is readable by others, or is malformed.
caf::error use_mesh_key_file(const std::string& path);

} // namespace mesh

MESH_PUBLIC_END
