#include "bootstrap/tls.hpp"

#include "bootstrap/fd.hpp"

#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace mesh::keys {

// Read by the TLS set-up (declared in mesh/config_keys.hpp, architecture §6),
// the lowest layer that reads them; the bootstrap proc manager hands them to
// children and serve_host exports them. Process-local: never propagated.
const config_key<std::string> tls_certificate{
  "tls.certificate", std::string{}, false,
  "mutual TLS certificate (PEM file)"};
const config_key<std::string> tls_key{
  "tls.key", std::string{}, false,
  "mutual TLS private key (PEM file)"};
const config_key<std::string> tls_cafile{
  "tls.cafile", std::string{}, false,
  "mutual TLS CA bundle (PEM file)"};
const config_key<bool> transport_insecure{
  "transport.insecure", false, false,
  "plain TCP without authentication (anyone who can connect can run "
  "commands); read from the environment of the first process only"};
const config_key<int64_t> transport_max_message_size{
  "transport.max_message_size", int64_t{256} << 20, true,
  "largest message (bytes) a peer may announce; larger closes the "
  "connection"};

} // namespace mesh::keys

namespace mesh::tls {

namespace {

/// The reason of the oldest queued OpenSSL error (the root cause), and an
/// empty queue afterwards.
std::string openssl_reason() {
  std::string result;
  while (auto code = ERR_get_error()) {
    if (!result.empty())
      continue;
    if (auto reason = ERR_reason_error_string(code))
      result = reason;
    else
      result = "OpenSSL error " + std::to_string(code);
  }
  return result.empty() ? std::string{"unknown OpenSSL error"} : result;
}

/// Refuses every passphrase request: an encrypted key fails to load instead
/// of OpenSSL prompting on the terminal.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

caf::error unusable(const char* what, const std::string& path,
                    const std::string& why) {
  return make_error(ec::tls_error,
                    std::string{what} + " file '" + path + "' cannot be used",
                    why);
}

} // namespace

caf::expected<std::optional<credentials>>
from_config(const config_store& store) {
  credentials creds{store.get(keys::tls_certificate), store.get(keys::tls_key),
                    store.get(keys::tls_cafile)};
  std::string missing;
  int unset = 0;
  auto note = [&](const std::string& value, const char* name) {
    if (!value.empty())
      return;
    missing += (missing.empty() ? "" : ", ") + std::string{name};
    ++unset;
  };
  note(creds.certificate, keys::tls_certificate.name());
  note(creds.key, keys::tls_key.name());
  note(creds.cafile, keys::tls_cafile.name());
  if (unset == 3)
    return std::optional<credentials>{};
  if (!missing.empty())
    return make_error(ec::tls_error, "mutual TLS is only partly configured",
                      "set tls.certificate, tls.key and tls.cafile together "
                      "(missing: " +
                        missing + ")");
  return std::optional<credentials>{std::move(creds)};
}

namespace {

using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

/// Marks the contexts libmesh built (SSL_CTX ex_data), so that the
/// interposed calls act on CAF's sessions of those and nothing else.
int marker_index() {
  static int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                              nullptr);
  return index;
}

char marker = 0;

/// The process-wide transport state. Never destroyed: CAF's threads may
/// still make TLS calls while static destructors run.
struct process_state {
  std::mutex mtx;
  /// Set once, then never changed (read without the lock by the callbacks).
  std::atomic<const transport*> fixed{nullptr};
  std::string identity; ///< PSK identity of fixed's key.
  SSL_CTX* ctx = nullptr;
  std::optional<credentials> creds;
  caf::error creds_error;
  bool warm = false; ///< warm_up() ran in this process.
};

process_state& state() {
  static auto* st = new process_state;
  return *st;
}

/// TLS_AES_128_GCM_SHA256: the suite of the PSK session (SHA-256 is the
/// handshake hash of every suite offered).
const unsigned char psk_suite[] = {0x13, 0x01};

/// A session holding the mesh key as a TLS 1.3 external PSK.
SSL_SESSION* key_session(SSL* ssl, const transport& t) {
  auto cipher = SSL_CIPHER_find(ssl, psk_suite);
  if (cipher == nullptr)
    return nullptr;
  auto sess = SSL_SESSION_new();
  if (sess == nullptr)
    return nullptr;
  if (SSL_SESSION_set1_master_key(
        sess, reinterpret_cast<const unsigned char*>(t.key.data()),
        t.key.size()) != 1 ||
      SSL_SESSION_set_cipher(sess, cipher) != 1 ||
      SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION) != 1 ||
      SSL_SESSION_set1_id_context(
        sess, reinterpret_cast<const unsigned char*>("libmesh"), 7) != 1) {
    SSL_SESSION_free(sess);
    return nullptr;
  }
  return sess;
}

/// Client side: offer the mesh key.
int offer_key(SSL* ssl, const EVP_MD* md, const unsigned char** id,
              size_t* idlen, SSL_SESSION** sess) {
  *sess = nullptr;
  auto& st = state();
  auto t = st.fixed.load(std::memory_order_acquire);
  if (t == nullptr || t->insecure)
    return 1;
  auto cipher = SSL_CIPHER_find(ssl, psk_suite);
  if (cipher == nullptr ||
      (md != nullptr && SSL_CIPHER_get_handshake_digest(cipher) != md))
    return 1; // after a HelloRetryRequest for another hash: no PSK
  *sess = key_session(ssl, *t);
  *id = reinterpret_cast<const unsigned char*>(st.identity.data());
  *idlen = st.identity.size();
  return 1;
}

/// Server side: accept the identity of the mesh key, nothing else (a peer
/// without it must then present a certificate of the CA, if there is one).
int find_key(SSL* ssl, const unsigned char* id, size_t idlen,
             SSL_SESSION** sess) {
  *sess = nullptr;
  auto& st = state();
  auto t = st.fixed.load(std::memory_order_acquire);
  if (t == nullptr || t->insecure || idlen != st.identity.size() ||
      CRYPTO_memcmp(id, st.identity.data(), idlen) != 0)
    return 1;
  *sess = key_session(ssl, *t);
  return *sess != nullptr ? 1 : 0;
}

/// "libmesh-" and 32 hex digits of SHA-256 over a label and the key: names
/// the key to peers without revealing it.
std::string identity_of(const std::string& key) {
  std::string input = "libmesh mesh key identity\n" + key;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string result = "libmesh-";
  for (unsigned i = 0; i < 16 && i < len; ++i) {
    result += hex[digest[i] >> 4];
    result += hex[digest[i] & 0xf];
  }
  return result;
}

/// Marks a complete context as libmesh's: from now on the interposed set-up
/// calls of bootstrap/tls_interpose.cpp leave it alone.
caf::expected<SSL_CTX*> mark(ctx_ptr ctx) {
  if (SSL_CTX_set_ex_data(ctx.get(), marker_index(), &marker) != 1)
    return make_error(ec::tls_error, "cannot configure an OpenSSL context",
                      openssl_reason());
  return ctx.release();
}

/// A context for libmesh's connections: TLS 1.3 only, mutual
/// authentication with the mesh key or, with `creds`, certificates of their
/// CA; no session tickets (nothing to resume: the key is the resumption).
caf::expected<SSL_CTX*> build_context(const std::optional<credentials>& creds) {
  if (creds)
    for (auto [what, path] :
         {std::pair<const char*, const std::string*>{"certificate",
                                                     &creds->certificate},
          {"key", &creds->key},
          {"CA", &creds->cafile}}) {
      if (path->empty())
        return make_error(ec::tls_error, std::string{"no "} + what + " file",
                          "mutual TLS needs a certificate, a key and a CA "
                          "file");
      if (::access(path->c_str(), R_OK) != 0)
        return unusable(what, *path, std::strerror(errno));
    }
  ERR_clear_error();
  ctx_ptr ctx{SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return make_error(ec::tls_error, "cannot create an OpenSSL context",
                      openssl_reason());
  auto c = ctx.get();
  SSL_CTX_set_default_passwd_cb(c, no_passphrase);
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(
        c, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256") != 1 ||
      SSL_CTX_set1_groups_list(c, "X25519:P-256") != 1 ||
      SSL_CTX_set_num_tickets(c, 0) != 1 ||
      SSL_CTX_set_session_id_context(
        c, reinterpret_cast<const unsigned char*>("libmesh"), 7) != 1)
    return make_error(ec::tls_error, "cannot configure an OpenSSL context",
                      openssl_reason());
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  // Read up to four records per read(2) (a 1 MiB message is 64 records: 128
  // reads without); SSL_pending is interposed so that CAF still sees what
  // is buffered. Read-ahead and its 64 KiB buffer are given to each
  // connection once its handshake is done (SSL_read in
  // bootstrap/tls_interpose.cpp), not here.
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     nullptr);
  SSL_CTX_set_psk_use_session_callback(c, offer_key);
  SSL_CTX_set_psk_find_session_callback(c, find_key);
  if (!creds)
    return mark(std::move(ctx));
  // The key alone first, so that a key that cannot be read is told apart
  // from one that belongs to another certificate.
  {
    ctx_ptr key_only{SSL_CTX_new(TLS_method()), SSL_CTX_free};
    if (!key_only)
      return make_error(ec::tls_error, "cannot create an OpenSSL context",
                        openssl_reason());
    SSL_CTX_set_default_passwd_cb(key_only.get(), no_passphrase);
    if (SSL_CTX_use_PrivateKey_file(key_only.get(), creds->key.c_str(),
                                    SSL_FILETYPE_PEM) != 1)
      return unusable("key", creds->key,
                      openssl_reason() +
                        " (keys must be PEM and not passphrase-protected)");
  }
  if (SSL_CTX_use_certificate_chain_file(c, creds->certificate.c_str()) != 1)
    return unusable("certificate", creds->certificate, openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(c, creds->key.c_str(), SSL_FILETYPE_PEM) !=
        1 ||
      SSL_CTX_check_private_key(c) != 1)
    return make_error(ec::tls_error,
                      "the key in '" + creds->key +
                        "' does not belong to the certificate in '" +
                        creds->certificate + "'",
                      openssl_reason());
  auto cert = SSL_CTX_get0_certificate(c);
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    return unusable("certificate", creds->certificate,
                    "the certificate has expired");
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
    return unusable("certificate", creds->certificate,
                    "the certificate is not valid yet");
  if (SSL_CTX_load_verify_locations(c, creds->cafile.c_str(), nullptr) != 1)
    return unusable("CA", creds->cafile, openssl_reason());
  auto objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(c));
  if (sk_X509_OBJECT_num(objects) <= 0)
    return unusable("CA", creds->cafile, "it holds no certificate");
  ERR_clear_error();
  return mark(std::move(ctx));
}

/// One mutual-TLS handshake with the mesh key between two in-memory
/// sessions of `ctx`, and one record each way. OpenSSL 3 fetches and builds
/// its algorithm implementations (X25519, HKDF, AES-GCM, SHA-256) from its
/// providers at first use, several milliseconds per process; done here, a
/// zygote pays it once and every proc it forks inherits the warm caches,
/// and no process pays it on the critical path of its first connection.
void warm_up(SSL_CTX* ctx) {
  auto client = SSL_new(ctx);
  auto server = SSL_new(ctx);
  auto to_server = BIO_new(BIO_s_mem());
  auto to_client = BIO_new(BIO_s_mem());
  if (client == nullptr || server == nullptr || to_server == nullptr ||
      to_client == nullptr) {
    SSL_free(client);
    SSL_free(server);
    BIO_free(to_server);
    BIO_free(to_client);
    ERR_clear_error();
    return;
  }
  BIO_up_ref(to_server);
  BIO_up_ref(to_client);
  SSL_set_bio(client, to_client, to_server);
  SSL_set_bio(server, to_server, to_client);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  int rc = 0;
  int rs = 0;
  for (int i = 0; i < 8 && (rc != 1 || rs != 1); ++i) {
    if (rc != 1)
      rc = SSL_do_handshake(client);
    if (rs != 1)
      rs = SSL_do_handshake(server);
  }
  if (rc == 1 && rs == 1) {
    char byte = 0;
    SSL_write(client, "w", 1);
    SSL_read(server, &byte, 1);
    SSL_write(server, "w", 1);
    SSL_read(client, &byte, 1);
  }
  SSL_free(client);
  SSL_free(server);
  ERR_clear_error();
}

/// Replaces the shared context (st.mtx held). Sessions that CAF made from
/// the old one keep it alive through their own reference.
void install_context(process_state& st, SSL_CTX* ctx,
                     std::optional<credentials> creds) {
  if (st.ctx != nullptr)
    SSL_CTX_free(st.ctx);
  st.ctx = ctx;
  st.creds = std::move(creds);
  st.creds_error = caf::none;
}

/// Builds the context without certificates if none is there yet (st.mtx
/// held).
caf::error ensure_context(process_state& st) {
  if (st.ctx != nullptr)
    return caf::none;
  auto ctx = build_context(std::nullopt);
  if (!ctx)
    return std::move(ctx.error());
  install_context(st, *ctx, std::nullopt);
  return caf::none;
}

/// Fixes the transport (st.mtx held).
void fix(process_state& st, transport t) {
  if (!t.insecure)
    st.identity = identity_of(t.key);
  st.fixed.store(new transport(std::move(t)), std::memory_order_release);
}

} // namespace

caf::error check(const credentials& creds) {
  auto ctx = build_context(creds);
  if (!ctx)
    return std::move(ctx.error());
  SSL_CTX_free(*ctx);
  return caf::none;
}

const transport& process_transport() {
  auto& st = state();
  if (auto t = st.fixed.load(std::memory_order_acquire))
    return *t;
  std::lock_guard<std::mutex> guard{st.mtx};
  if (auto t = st.fixed.load(std::memory_order_acquire))
    return *t;
  transport t;
  if (config_store::global().get(keys::transport_insecure)) {
    t.insecure = true;
    std::fprintf(stderr,
                 "libmesh: WARNING: transport.insecure is set: this process "
                 "and its children serve plain TCP without authentication; "
                 "anyone who can reach their ports can run commands as this "
                 "user\n");
  } else {
    t.key.resize(key_size);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(t.key.data()),
                   static_cast<int>(key_size)) != 1) {
      std::fprintf(stderr, "libmesh: no randomness for the mesh key\n");
      std::abort();
    }
  }
  fix(st, std::move(t));
  return *st.fixed.load(std::memory_order_acquire);
}

std::string key_identity() {
  auto& t = process_transport();
  if (t.insecure)
    return {};
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  return st.identity;
}

caf::error adopt(transport t) {
  if (!t.insecure && t.key.size() != key_size)
    return make_error(ec::tls_error, "malformed mesh key",
                      "expected " + std::to_string(key_size) + " bytes, got " +
                        std::to_string(t.key.size()));
  if (t.insecure && !t.key.empty())
    return make_error(ec::tls_error, "malformed transport",
                      "plain TCP with a mesh key");
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  if (auto fixed = st.fixed.load(std::memory_order_acquire)) {
    if (*fixed == t)
      return caf::none;
    return make_error(ec::tls_error,
                      "this process already uses another transport",
                      fixed->insecure ? "plain TCP" : "another mesh key");
  }
  fix(st, std::move(t));
  if (st.fixed.load()->insecure)
    return caf::none;
  if (auto err = ensure_context(st))
    return err;
  st.warm = true;
  warm_up(st.ctx);
  return caf::none;
}

std::string key_to_hex(const std::string& key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(key.size() * 2);
  for (unsigned char c : key) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0x0f]);
  }
  return out;
}

caf::expected<std::string> key_from_hex(std::string_view text) {
  if (!text.empty() && text.back() == '\n')
    text.remove_suffix(1);
  if (text.size() != key_size * 2)
    return make_error(ec::tls_error, "malformed mesh key",
                      "expected " + std::to_string(key_size * 2)
                        + " hex digits, got " + std::to_string(text.size())
                        + " characters");
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string key(key_size, '\0');
  for (size_t i = 0; i < key_size; ++i) {
    auto hi = value(text[2 * i]);
    auto lo = value(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return make_error(ec::tls_error, "malformed mesh key",
                        "not a hex digit at position "
                          + std::to_string(2 * i + (hi < 0 ? 1 : 2)));
    key[i] = static_cast<char>((hi << 4) | lo);
  }
  return key;
}

caf::error write_key_file(const std::string& path) {
  auto& t = process_transport();
  if (t.insecure)
    return make_error(ec::tls_error, "cannot write a mesh key to " + path,
                      "this process serves plain TCP (transport.insecure)");
  auto fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC
                                   | O_NOFOLLOW,
                   0600);
  if (fd < 0)
    return make_error(ec::tls_error, "cannot write a mesh key to " + path,
                      bootstrap::errno_text(errno));
  auto text = key_to_hex(t.key) + "\n";
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      auto err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return make_error(ec::tls_error, "cannot write a mesh key to " + path,
                        bootstrap::errno_text(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = errno;
    ::unlink(path.c_str());
    return make_error(ec::tls_error, "cannot write a mesh key to " + path,
                      bootstrap::errno_text(err));
  }
  return caf::none;
}

caf::expected<std::string> read_key_file(const std::string& path) {
  auto fail = [&](std::string why) {
    return make_error(ec::tls_error, "mesh key file " + path, std::move(why));
  };
  auto fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return fail(errno == ELOOP ? std::string{"is a symbolic link"}
                               : bootstrap::errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto err = errno;
    ::close(fd);
    return fail(bootstrap::errno_text(err));
  }
  std::string text;
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return fail("belongs to uid " + std::to_string(st.st_uid)
                + ", not to this user");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o",
                  static_cast<unsigned>(st.st_mode & 07777));
    return fail(std::string{"is open to others (mode "} + mode
                + "); it must be readable by its owner only (chmod 600)");
  }
  char buf[key_size * 2 + 2];
  size_t got = 0;
  for (;;) {
    auto n = ::read(fd, buf + got, sizeof(buf) - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = errno;
      ::close(fd);
      return fail(bootstrap::errno_text(err));
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
    if (got == sizeof(buf))
      break;
  }
  ::close(fd);
  auto key = key_from_hex(std::string_view{buf, got});
  if (!key)
    return fail(mesh::to_string(key.error()));
  return key;
}

caf::error use_credentials(const std::optional<credentials>& creds) {
  auto& st = state();
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    if (st.ctx != nullptr && st.creds == creds && !st.creds_error)
      return caf::none;
  }
  auto ctx = build_context(creds);
  std::lock_guard<std::mutex> guard{st.mtx};
  if (!ctx) {
    st.creds_error = ctx.error();
    return std::move(ctx.error());
  }
  install_context(st, *ctx, creds);
  return caf::none;
}

void refuse_credentials(caf::error reason) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  st.creds_error = std::move(reason);
}

std::optional<credentials> current_credentials() {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  return st.creds;
}

caf::error ready() {
  auto& t = process_transport();
  if (t.insecure)
    return caf::none;
  auto& st = state();
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    if (st.creds_error)
      return st.creds_error;
    if (auto err = ensure_context(st))
      return err;
    if (!st.warm) {
      st.warm = true;
      warm_up(st.ctx);
    }
  }
  if (!error_queue_guarded())
    return make_error(ec::tls_error,
                      "CAF's TLS sessions do not run through libmesh's "
                      "OpenSSL definitions",
                      "link libmesh before libssl (another definition of "
                      "SSL_CTX_new comes first); refusing to connect "
                      "without authentication");
  return caf::none;
}

uint64_t max_message_size() {
  static std::atomic<uint64_t> limit{0};
  auto x = limit.load(std::memory_order_relaxed);
  if (x == 0) {
    auto configured = config_store::global().get(keys::transport_max_message_size);
    x = configured > 0 ? static_cast<uint64_t>(configured) : 1;
    limit.store(x, std::memory_order_relaxed);
  }
  return x;
}

namespace {

struct failure_log {
  std::mutex mtx;
  std::map<std::string, std::string> by_address; ///< "ip:port" -> reason
};

failure_log& failures() {
  static auto* log = new failure_log;
  return *log;
}

} // namespace

void note_handshake_failure(const std::string& address, std::string reason) {
  auto& log = failures();
  std::lock_guard<std::mutex> guard{log.mtx};
  if (log.by_address.size() >= 64)
    log.by_address.erase(log.by_address.begin());
  log.by_address[address] = std::move(reason);
}

std::optional<std::string> handshake_failure(const std::string& host,
                                             uint16_t port) {
  auto& log = failures();
  std::lock_guard<std::mutex> guard{log.mtx};
  auto suffix = ":" + std::to_string(port);
  auto i = log.by_address.find(host + suffix);
  if (i == log.by_address.end())
    for (auto j = log.by_address.begin(); j != log.by_address.end(); ++j)
      if (j->first.size() > suffix.size() &&
          j->first.compare(j->first.size() - suffix.size(), suffix.size(),
                           suffix) == 0) {
        i = j;
        break;
      }
  if (i == log.by_address.end())
    return std::nullopt;
  auto reason = std::move(i->second);
  log.by_address.erase(i);
  return reason;
}

SSL_CTX* acquire_context() {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  if (st.ctx != nullptr)
    SSL_CTX_up_ref(st.ctx);
  return st.ctx;
}

bool is_mesh_context(const SSL_CTX* ctx) {
  return ctx != nullptr &&
         SSL_CTX_get_ex_data(ctx, marker_index()) == &marker;
}

} // namespace mesh::tls
