// Mutual TLS credentials: which files a process uses and whether they work.
//
// CAF's openssl module reads the certificate, key and CA files only when a
// connection is made, and then fails badly: a client's remote_actor hangs
// forever and a server aborts (reference/caf_0.17_tls_notes.md). So libmesh
// loads and checks the files itself, at start-up and before every connect or
// publish, with the same OpenSSL calls CAF will make, and refuses with an
// error that names the file and the problem.
#pragma once

#include "mesh/config.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <optional>
#include <string>

namespace mesh::tls {

/// The three PEM files of mutual TLS. CAF has no server-only mode: with any
/// of them set, every peer must present a certificate signed by `cafile`.
struct credentials {
  std::string certificate; ///< This process's certificate (chain), PEM.
  std::string key;         ///< Its private key, PEM, not encrypted.
  std::string cafile;      ///< The CA bundle peers must be signed by, PEM.
};

/// The credentials of the configuration store (tls.certificate, tls.key,
/// tls.cafile): nullopt if none is set, ec::tls_error naming the missing
/// keys if only some are.
caf::expected<std::optional<credentials>>
from_config(const config_store& store = config_store::global());

/// Loads the files as CAF will and checks them: each is a readable PEM file,
/// the key is unencrypted and belongs to the certificate, the certificate is
/// valid now and strong enough for OpenSSL's security level, and the CA
/// bundle holds at least one certificate. ec::tls_error names the file and
/// the problem. Never prompts for a passphrase.
caf::error check(const credentials& creds);

/// True if CAF's TLS connections in this process run with libmesh's guard of
/// OpenSSL's error queue (bootstrap/tls_error_queue.cpp); false if another
/// definition of OpenSSL's I/O calls comes first, in which case one peer that
/// fails its handshake can drop this process's other TLS connections.
bool error_queue_guarded();

} // namespace mesh::tls
