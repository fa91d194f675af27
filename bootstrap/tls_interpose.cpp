// Where CAF's openssl module meets libmesh's TLS context.
//
// CAF 0.17's openssl module cannot be configured the way libmesh needs: it
// builds a new SSL_CTX for every connection (re-reading certificate, key and
// CA files each time, ~0.1 ms of OpenSSL 3 context set-up plus file I/O on
// the critical path of every connect), knows nothing of pre-shared keys, and
// never empties OpenSSL's error queue. libmesh therefore defines a few of the
// OpenSSL calls CAF makes. Being linked before libssl, these definitions are
// the ones CAF binds to (tls::error_queue_guarded() checks that at run time,
// and tls::ready() refuses to serve or connect when it is not so):
//
// * SSL_CTX_new, when called from libcaf_openssl while libmesh has a context
//   (bootstrap/tls.hpp), returns that context with one more reference
//   instead of a new one. CAF's session then "configures" it with its
//   certificate files, cipher list and verify mode; those calls do nothing
//   on libmesh's contexts (they are built once, complete, and shared by
//   every session, so must not change under them). Everyone else's calls
//   (other code of the application using OpenSSL) go to OpenSSL unchanged.
// * SSL_read, SSL_write, SSL_accept and SSL_connect empty the calling
//   thread's error queue first, as OpenSSL asks every caller to do. CAF runs
//   every TLS connection of a process on its one multiplexer thread and
//   never empties the queue (its only call that would sits inside a log
//   statement that Debian's build compiles out), so after one peer failed
//   its handshake the next SSL_read that merely had no data yet on a healthy
//   connection was taken for a fatal error. Measured: one TCP connect-and-
//   close against a TLS meshd broke every established client.
// * SSL_read also runs the BASP frame guard (bootstrap/basp_guard.hpp) over
//   what it returns on libmesh's connections: a header announcing more than
//   transport.max_message_size fails the read, and CAF closes the
//   connection instead of allocating the announced size.
#include "bootstrap/basp_guard.hpp"
#include "bootstrap/code_range.hpp"
#include "bootstrap/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

/// OpenSSL's definition of `name`: the next one after libmesh's.
template <class F>
F openssl_function(const char* name) {
  auto f = reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
  if (f == nullptr) {
    std::fprintf(stderr, "libmesh: OpenSSL's %s not found: %s\n", name,
                 ::dlerror());
    std::abort();
  }
  return f;
}

/// True if the code at `address` is CAF's openssl module (found once).
bool in_caf_openssl(const void* address) {
  static const auto range = mesh::bootstrap::find_code("libcaf_openssl");
  return range.contains(address);
}

bool is_shared(const SSL_CTX* ctx) {
  return mesh::tls::is_mesh_context(ctx);
}

/// The most CAF may write before a handshake completed.
constexpr size_t max_pending = 64 * 1024;

/// What libmesh keeps with each SSL object of its contexts.
struct connection_state {
  explicit connection_state(uint64_t max_payload) : frames(max_payload) {}
  mesh::bootstrap::basp_guard frames;
  bool reported = false;
  /// The handshake goes on behind CAF's back (see SSL_accept below).
  bool deferred = false;
  /// What CAF wrote before the handshake was done, sent once it is.
  std::string pending;
  /// OpenSSL reads ahead on this connection (once its handshake is done).
  bool reading_ahead = false;
};

int state_index() {
  static int index = SSL_get_ex_new_index(
    0, nullptr, nullptr, nullptr,
    [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
      delete static_cast<connection_state*>(ptr);
    });
  return index;
}

/// The state of a connection of libmesh's contexts (made on first use), or
/// null for anyone else's.
connection_state* state_of(SSL* ssl) {
  if (!is_shared(SSL_get_SSL_CTX(ssl)))
    return nullptr;
  auto index = state_index();
  auto st = static_cast<connection_state*>(SSL_get_ex_data(ssl, index));
  if (st == nullptr) {
    st = new connection_state(mesh::tls::max_message_size());
    if (SSL_set_ex_data(ssl, index, st) != 1) {
      delete st;
      return nullptr;
    }
  }
  return st;
}

/// Follows what SSL_read returned; false if the peer announced a message
/// larger than allowed.
bool guard_read(connection_state& st, const void* buf, int n) {
  if (st.frames.feed(static_cast<const unsigned char*>(buf),
                     static_cast<size_t>(n)))
    return true;
  if (!st.reported) {
    st.reported = true;
    std::fprintf(stderr,
                 "libmesh: closing a connection whose peer announced a "
                 "message of %u bytes (transport.max_message_size is %llu)\n",
                 st.frames.refused_size(),
                 static_cast<unsigned long long>(
                   mesh::tls::max_message_size()));
  }
  return false;
}

} // namespace

// These must interpose OpenSSL's own definitions, so they are exported even
// though libmesh is built with hidden visibility (and libmesh.map lists them).
#define MESH_INTERPOSE __attribute__((visibility("default")))

extern "C" {

MESH_INTERPOSE SSL_CTX* SSL_CTX_new(const SSL_METHOD* method) {
  static auto real =
    openssl_function<SSL_CTX* (*)(const SSL_METHOD*)>("SSL_CTX_new");
  if (in_caf_openssl(__builtin_return_address(0)))
    if (auto shared = mesh::tls::acquire_context())
      return shared;
  return real(method);
}

MESH_INTERPOSE int SSL_CTX_use_certificate_chain_file(SSL_CTX* ctx,
                                                      const char* file) {
  static auto real = openssl_function<int (*)(SSL_CTX*, const char*)>(
    "SSL_CTX_use_certificate_chain_file");
  return is_shared(ctx) ? 1 : real(ctx, file);
}

MESH_INTERPOSE int SSL_CTX_use_PrivateKey_file(SSL_CTX* ctx, const char* file,
                                               int type) {
  static auto real = openssl_function<int (*)(SSL_CTX*, const char*, int)>(
    "SSL_CTX_use_PrivateKey_file");
  return is_shared(ctx) ? 1 : real(ctx, file, type);
}

MESH_INTERPOSE int SSL_CTX_load_verify_locations(SSL_CTX* ctx,
                                                 const char* file,
                                                 const char* path) {
  static auto real =
    openssl_function<int (*)(SSL_CTX*, const char*, const char*)>(
      "SSL_CTX_load_verify_locations");
  return is_shared(ctx) ? 1 : real(ctx, file, path);
}

MESH_INTERPOSE void SSL_CTX_set_verify(SSL_CTX* ctx, int mode,
                                       SSL_verify_cb callback) {
  static auto real = openssl_function<void (*)(SSL_CTX*, int, SSL_verify_cb)>(
    "SSL_CTX_set_verify");
  if (!is_shared(ctx))
    real(ctx, mode, callback);
}

MESH_INTERPOSE int SSL_CTX_set_cipher_list(SSL_CTX* ctx, const char* list) {
  static auto real = openssl_function<int (*)(SSL_CTX*, const char*)>(
    "SSL_CTX_set_cipher_list");
  return is_shared(ctx) ? 1 : real(ctx, list);
}

MESH_INTERPOSE void SSL_CTX_set_default_passwd_cb(SSL_CTX* ctx,
                                                  pem_password_cb* cb) {
  static auto real =
    openssl_function<void (*)(SSL_CTX*, pem_password_cb*)>(
      "SSL_CTX_set_default_passwd_cb");
  if (!is_shared(ctx))
    real(ctx, cb);
}

MESH_INTERPOSE void SSL_CTX_set_default_passwd_cb_userdata(SSL_CTX* ctx,
                                                           void* data) {
  static auto real = openssl_function<void (*)(SSL_CTX*, void*)>(
    "SSL_CTX_set_default_passwd_cb_userdata");
  if (!is_shared(ctx))
    real(ctx, data);
}

MESH_INTERPOSE long SSL_CTX_ctrl(SSL_CTX* ctx, int cmd, long larg,
                                 void* parg) {
  static auto real = openssl_function<long (*)(SSL_CTX*, int, long, void*)>(
    "SSL_CTX_ctrl");
  // CAF's anonymous set-up picks a curve with SSL_CTX_set_tmp_ecdh.
  if (cmd == SSL_CTRL_SET_TMP_ECDH && is_shared(ctx))
    return 1;
  return real(ctx, cmd, larg, parg);
}

// CAF 0.17 keeps a socket registered for writing while it has data queued
// and its session answers "success, 0 bytes" for as long as the handshake
// waits for the peer: a server whose BASP handshake is queued the moment it
// accepts spins its multiplexer thread (epoll, read, EAGAIN, and three signal
// mask calls per turn) until the client's Finished arrives. Measured: ~470
// turns per proc while 32 procs connected, 5 ms of CPU each, bring-up 3-4x
// slower than plain TCP; idle connections that never send a ClientHello
// would spin it forever. So on libmesh's connections the handshake runs
// behind CAF's back: SSL_accept and SSL_connect report success as soon as
// the handshake waits for the peer, SSL_write keeps what CAF writes until
// the handshake is done (and reports it written, so CAF stops asking to
// write), and SSL_read, which CAF calls whenever the socket is readable,
// drives the handshake on, then sends what was kept, then reads. (The same
// spin also kept CAF's graceful close of such a connection from ever ending,
// so an actor system with one stalled peer hung in its destructor. CAF fixed
// it in 0.18.4, upstream commit 7267d945b; Debian ships 0.17.6.)

namespace {

using io_fn = int (*)(SSL*, void*, int);
using write_fn = int (*)(SSL*, const void*, int);

io_fn real_read() {
  static auto f = openssl_function<io_fn>("SSL_read");
  return f;
}

write_fn real_write() {
  static auto f = openssl_function<write_fn>("SSL_write");
  return f;
}

/// Sends the kept bytes once the handshake is done: 1 when all are sent,
/// -1 with OpenSSL's error state otherwise (SSL_get_error tells whether to
/// retry). The kept buffer is not touched until a write succeeded, as
/// OpenSSL requires for a retry.
int flush_pending(SSL* ssl, connection_state& st) {
  while (!st.pending.empty()) {
    auto n = real_write()(ssl, st.pending.data(),
                          static_cast<int>(st.pending.size()));
    if (n <= 0)
      return -1;
    st.pending.erase(0, static_cast<size_t>(n));
  }
  return 1;
}

/// Drives a deferred handshake on: 1 once it is done (and the kept bytes
/// are sent), else what OpenSSL returned.
int continue_handshake(SSL* ssl, connection_state& st) {
  if (!SSL_is_init_finished(ssl)) {
    auto rc = SSL_do_handshake(ssl);
    if (rc != 1)
      return rc;
  }
  return flush_pending(ssl, st);
}

/// Remembers why the handshake with the peer of `ssl` failed, for the
/// connect that started it (tls::handshake_failure).
void note_failure(SSL* ssl, int rc) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (::getpeername(SSL_get_fd(ssl), reinterpret_cast<sockaddr*>(&addr),
                    &len) == 0) {
    if (addr.ss_family == AF_INET) {
      auto v4 = reinterpret_cast<sockaddr_in*>(&addr);
      ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
      port = ntohs(v4->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto v6 = reinterpret_cast<sockaddr_in6*>(&addr);
      ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
      port = ntohs(v6->sin6_port);
    }
  }
  std::string reason;
  auto err = SSL_get_error(ssl, rc);
  if (auto code = ERR_peek_error(); code != 0 && err == SSL_ERROR_SSL) {
    auto text = ERR_reason_error_string(code);
    reason = text != nullptr ? text : "TLS error";
  } else {
    reason = "the peer closed the connection";
  }
  mesh::tls::note_handshake_failure(std::string{host} + ":" +
                                      std::to_string(port),
                                    std::move(reason));
}

/// Whether a handshake call that returned `rc` merely waits for the peer.
/// If it failed instead, a client notes why (for net::connect).
bool waits_for_peer(SSL* ssl, int rc) {
  auto err = SSL_get_error(ssl, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
    return true;
  if (!SSL_is_server(ssl))
    note_failure(ssl, rc);
  return false;
}

/// After a handshake call of CAF's: whether to tell CAF it is done.
int defer(SSL* ssl, int rc) {
  if (rc == 1 || !is_shared(SSL_get_SSL_CTX(ssl)) ||
      !waits_for_peer(ssl, rc))
    return rc;
  auto st = state_of(ssl);
  if (st == nullptr)
    return rc;
  st->deferred = true;
  return 1;
}

} // namespace

MESH_INTERPOSE int SSL_read(SSL* ssl, void* buf, int num) {
  ERR_clear_error();
  auto st = state_of(ssl);
  if (st == nullptr)
    return real_read()(ssl, buf, num);
  if (st->deferred) {
    auto rc = continue_handshake(ssl, *st);
    if (rc != 1) {
      // Kept bytes that cannot go out now would wait for a write CAF never
      // makes: the connection is given up rather than left hanging.
      if (SSL_is_init_finished(ssl)) {
        if (SSL_get_error(ssl, rc) == SSL_ERROR_WANT_WRITE)
          ERR_raise_data(ERR_LIB_SSL, SSL_R_BAD_WRITE_RETRY,
                         "libmesh: cannot send the first message");
        return -1;
      }
      waits_for_peer(ssl, rc);
      return rc;
    }
    st->deferred = false;
  }
  // Read-ahead only once the handshake is done. A handshake call that read
  // ahead (SSL_accept or SSL_connect in CAF's make_session, or SSL_write
  // driving a deferred handshake) took the peer's first records along with
  // its Finished into OpenSSL's buffer, where CAF, which reads only when the
  // socket is readable, never looked: measured, 10 of 30 authenticated
  // s_client sessions whose first record (a BASP header announcing 256 MiB)
  // came with their Finished were never read, never refused and never
  // closed (strace: read(2) of 1000 bytes inside SSL_accept, then nothing).
  // The 64 KiB buffer comes with it: until then a connection that has not
  // proved anything keeps OpenSSL's default (one record).
  if (!st->reading_ahead && SSL_is_init_finished(ssl)) {
    SSL_set_read_ahead(ssl, 1);
    SSL_set_default_read_buffer_len(ssl, 64 * 1024);
    SSL_free_buffers(ssl);
    st->reading_ahead = true;
  }
  auto n = real_read()(ssl, buf, num);
  if (n > 0 && !guard_read(*st, buf, n)) {
    ERR_raise_data(ERR_LIB_SSL, SSL_R_EXCESSIVE_MESSAGE_SIZE,
                   "libmesh: message larger than transport.max_message_size");
    return -1;
  }
  return n;
}

MESH_INTERPOSE int SSL_write(SSL* ssl, const void* buf, int num) {
  ERR_clear_error();
  auto st = state_of(ssl);
  if (st == nullptr || !st->deferred)
    return real_write()(ssl, buf, num);
  auto rc = continue_handshake(ssl, *st);
  if (rc == 1) {
    st->deferred = false;
    return real_write()(ssl, buf, num);
  }
  if (SSL_is_init_finished(ssl) || !waits_for_peer(ssl, rc))
    return rc;
  // CAF writes its BASP handshake here, a few hundred bytes; a peer that
  // never finishes its handshake must not make us keep more.
  if (st->pending.size() + static_cast<size_t>(num) > max_pending) {
    ERR_raise_data(ERR_LIB_SSL, SSL_R_EXCESSIVE_MESSAGE_SIZE,
                   "libmesh: too much to send before the handshake");
    return -1;
  }
  st->pending.append(static_cast<const char*>(buf), static_cast<size_t>(num));
  ERR_clear_error();
  return num;
}

// CAF's session blocks SIGPIPE around every OpenSSL call (two
// pthread_sigmask calls and a sigtimedwait: three system calls per read or
// write, ~24 per round trip), because OpenSSL's socket BIO writes with
// write(2). libmesh's connections instead get a socket BIO that sends with
// MSG_NOSIGNAL, so a peer that hangs up cannot raise SIGPIPE, and those
// calls, when CAF's openssl module makes them, do nothing.

namespace {

int nosignal_write(BIO* bio, const char* buf, int len) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  BIO_clear_retry_flags(bio);
  auto n = ::send(fd, buf, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

const BIO_METHOD* nosignal_socket() {
  static const BIO_METHOD* method = [] {
    auto base = BIO_s_socket();
    auto m = BIO_meth_new(BIO_TYPE_SOCKET, "libmesh socket");
    if (m == nullptr)
      return base;
    BIO_meth_set_write(m, nosignal_write);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return const_cast<const BIO_METHOD*>(m);
  }();
  return method;
}

/// Whether SIGPIPE is taken care of for every TLS connection CAF makes
/// (they all use libmesh's contexts, whose SSL_set_fd uses the socket BIO
/// above): then CAF's signal juggling can be skipped.
bool sigpipe_safe(const void* caller) {
  static const bool guarded = mesh::tls::error_queue_guarded();
  return guarded && in_caf_openssl(caller);
}

} // namespace

MESH_INTERPOSE int SSL_set_fd(SSL* ssl, int fd) {
  static auto real = openssl_function<int (*)(SSL*, int)>("SSL_set_fd");
  if (!is_shared(SSL_get_SSL_CTX(ssl)))
    return real(ssl, fd);
  auto bio = BIO_new(nosignal_socket());
  if (bio == nullptr)
    return real(ssl, fd);
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);
  return 1;
}

MESH_INTERPOSE int pthread_sigmask(int how, const sigset_t* set,
                                   sigset_t* old) {
  static auto real =
    openssl_function<int (*)(int, const sigset_t*, sigset_t*)>(
      "pthread_sigmask");
  if (sigpipe_safe(__builtin_return_address(0))) {
    if (old != nullptr)
      sigemptyset(old);
    return 0;
  }
  return real(how, set, old);
}

MESH_INTERPOSE int sigtimedwait(const sigset_t* set, siginfo_t* info,
                                const struct timespec* timeout) {
  static auto real = openssl_function<int (*)(
    const sigset_t*, siginfo_t*, const struct timespec*)>("sigtimedwait");
  if (sigpipe_safe(__builtin_return_address(0))) {
    errno = EAGAIN;
    return -1;
  }
  return real(set, info, timeout);
}

// With read-ahead (bootstrap/tls.cpp), OpenSSL may hold whole records that
// it has read from the socket but not yet decrypted; SSL_pending does not
// count those, and CAF, which asks SSL_pending whether to keep reading
// without waiting for the socket, would then wait for data that already
// arrived. On libmesh's connections it hears "plenty" while anything is
// buffered.
MESH_INTERPOSE int SSL_pending(const SSL* ssl) {
  static auto real = openssl_function<int (*)(const SSL*)>("SSL_pending");
  if (is_shared(SSL_get_SSL_CTX(ssl)) && SSL_has_pending(ssl))
    return INT_MAX;
  return real(ssl);
}

MESH_INTERPOSE int SSL_accept(SSL* ssl) {
  static auto real = openssl_function<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return defer(ssl, real(ssl));
}

MESH_INTERPOSE int SSL_connect(SSL* ssl) {
  static auto real = openssl_function<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return defer(ssl, real(ssl));
}

} // extern "C"

namespace mesh::tls {

bool error_queue_guarded() {
  // The definitions everyone binds to must be the ones in this object.
  Dl_info self{};
  if (::dladdr(reinterpret_cast<void*>(&error_queue_guarded), &self) == 0)
    return false;
  for (auto name : {"SSL_read", "SSL_CTX_new", "SSL_CTX_set_verify",
                    "SSL_set_fd"}) {
    Dl_info bound{};
    auto used = ::dlsym(RTLD_DEFAULT, name);
    if (used == nullptr || ::dladdr(used, &bound) == 0 ||
        bound.dli_fbase != self.dli_fbase)
      return false;
  }
  return true;
}

} // namespace mesh::tls
