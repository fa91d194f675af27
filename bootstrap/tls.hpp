// How a libmesh process proves who it is, and checks who its peers are.
//
// Every BASP connection of a mesh is TLS 1.3 with mutual authentication,
// established before CAF delivers a single message (architecture §7.6):
//
// * The mesh key. Every process of a mesh holds the same 32 random bytes,
//   made by the first process that needs them (the client) and handed to
//   each child in its bootstrap payload (environment of the child only, never
//   a file). Connections between them authenticate with it as a TLS 1.3
//   external pre-shared key with an X25519 exchange (psk_dhe_ke): each side
//   proves it holds the key, with forward secrecy, without certificates or
//   signatures. Nothing to set up, nothing left on disk when the mesh ends.
// * Certificates, for peers that do not share the key: a client attaching to
//   a meshd, and that client's connections to the meshd's procs. With
//   tls.certificate, tls.key and tls.cafile set (meshctl cert init / add),
//   the same context also authenticates with certificates from that CA.
//
// A peer that proves neither is refused during the handshake. Plain TCP is
// only used when the operator says so (meshd --insecure, or
// MESH_TRANSPORT_INSECURE=1), with a warning at every start.
//
// The context is built once per process (not per connection, as CAF's
// openssl module would: it re-creates an SSL_CTX and re-reads the files for
// every session, ~0.1 ms and file I/O each); CAF's sessions are bound to it
// by bootstrap/tls_interpose.cpp. Certificate files are loaded and checked
// here, once, with an error that names the file and the problem: CAF itself
// only notices bad files at the first connection, where remote_actor hangs
// and a server aborts (reference/caf_0.17_tls_notes.md).
#pragma once

#include "mesh/config.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;

namespace mesh::tls {

/// The three PEM files of mutual TLS. CAF has no server-only mode: with any
/// of them set, every peer must present a certificate signed by `cafile`.
struct credentials {
  std::string certificate; ///< This process's certificate (chain), PEM.
  std::string key;         ///< Its private key, PEM, not encrypted.
  std::string cafile;      ///< The CA bundle peers must be signed by, PEM.

  friend bool operator==(const credentials& x, const credentials& y) {
    return x.certificate == y.certificate && x.key == y.key &&
           x.cafile == y.cafile;
  }
  friend bool operator!=(const credentials& x, const credentials& y) {
    return !(x == y);
  }
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

/// True if CAF's TLS connections in this process run through libmesh's
/// OpenSSL definitions (bootstrap/tls_interpose.cpp): the shared context, the
/// error-queue guard and the message-size guard. False if another definition
/// of OpenSSL's calls comes first; then ready() refuses to serve or connect.
bool error_queue_guarded();

/// Bytes of the mesh key.
constexpr size_t key_size = 32;

/// How this process's connections are secured.
struct transport {
  /// Plain TCP, unauthenticated: only when the operator asked for it.
  bool insecure = false;
  /// The mesh key (key_size random bytes); empty when insecure.
  std::string key;

  friend bool operator==(const transport& x, const transport& y) {
    return x.insecure == y.insecure && x.key == y.key;
  }
};

/// This process's transport. The first call fixes it, unless adopt() did
/// before: plain TCP if transport.insecure is set in the environment (with a
/// warning on stderr), else a new random mesh key.
const transport& process_transport();

/// The TLS 1.3 PSK identity under which this process offers its mesh key:
/// "libmesh-" and 32 hex digits of SHA-256 over a label and the key (names
/// the key without revealing it). Empty when insecure.
std::string key_identity();

/// Makes `t` this process's transport, before anything used it: a bootstrap
/// child adopts its parent's from its payload, meshd --insecure adopts plain
/// TCP. Builds the TLS context at once (so that a zygote has it before it
/// forks). ec::tls_error if the process already uses another transport or
/// `t` is malformed (a key of the wrong size).
caf::error adopt(transport t);

/// A mesh key as text: 2 lowercase hex digits per byte.
std::string key_to_hex(const std::string& key);

/// The key a text of key_size * 2 hex digits (either case) names, with one
/// trailing newline allowed; ec::tls_error saying what is wrong otherwise.
caf::expected<std::string> key_from_hex(std::string_view text);

/// Writes this process's mesh key to a new file `path` (key_to_hex and a
/// newline) that only its owner may read (0600, created exclusively: an
/// existing file is an error). For daemons started by a scheduler on this
/// user's behalf (mesh/slurm.hpp), which adopt it with read_key_file.
/// ec::tls_error if this process's transport is plain TCP.
caf::error write_key_file(const std::string& path);

/// Reads a mesh key file: a regular file (not a symlink) owned by this user,
/// readable by nobody else, holding key_to_hex of a key. ec::tls_error
/// naming the file and the problem otherwise.
caf::expected<std::string> read_key_file(const std::string& path);

/// The certificate credentials of this process's TLS context: nullopt for
/// none (the mesh key only). Loads and checks the files now (see check());
/// on success later connections use them, on failure the context keeps the
/// previous ones and ready() reports the error until a good set is given.
/// Credentials are process-wide: the last configured actor system wins.
caf::error use_credentials(const std::optional<credentials>& creds);

/// Records that the configured credentials are unusable (e.g. only some of
/// the three keys set): ready() reports `reason` until use_credentials()
/// succeeds.
void refuse_credentials(caf::error reason);

/// The credentials the TLS context uses, if any (children inherit them).
std::optional<credentials> current_credentials();

/// Whether this process can publish and connect now: its transport is fixed
/// (process_transport()), and unless insecure, its TLS context is built from
/// good credentials and CAF's sessions are bound to it. ec::tls_error with
/// the reason otherwise.
caf::error ready();

/// Largest BASP payload a peer may announce (transport.max_message_size); a
/// connection whose peer announces more is closed before CAF allocates it.
uint64_t max_message_size();

/// Puts the BASP frame guard on plain TCP connections accepted on `port`
/// (bootstrap/plain_interpose.cpp): net::publish calls it for every port it
/// publishes when the transport is insecure. (A connection that CAF already
/// read from before the call stays unguarded.)
void guard_plain_port(uint16_t port);

/// For bootstrap/tls_interpose.cpp: a TLS handshake with the peer at
/// `address` ("ip:port") failed for `reason`. CAF reports such a failure
/// only as a connection that could not be made; net::connect asks here why.
void note_handshake_failure(const std::string& address, std::string reason);

/// Why the last handshake with host:port failed (and forgets it), if one
/// did; by port alone when the host is a name rather than an address.
std::optional<std::string> handshake_failure(const std::string& host,
                                             uint16_t port);

/// For bootstrap/tls_interpose.cpp: the shared TLS context with one more
/// reference (the caller frees it), or null before one is built.
SSL_CTX* acquire_context();

/// For bootstrap/tls_interpose.cpp: whether `ctx` is a context libmesh built
/// (current or replaced).
bool is_mesh_context(const SSL_CTX* ctx);

} // namespace mesh::tls
