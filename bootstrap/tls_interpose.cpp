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
#include "bootstrap/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

/// True if the code at `address` is CAF's openssl module.
bool in_caf_openssl(const void* address) {
  static std::atomic<const void*> known_base{nullptr};
  Dl_info info{};
  if (::dladdr(address, &info) == 0)
    return false;
  if (info.dli_fbase == known_base.load(std::memory_order_relaxed))
    return true;
  if (info.dli_fname == nullptr ||
      std::strstr(info.dli_fname, "libcaf_openssl") == nullptr)
    return false;
  known_base.store(info.dli_fbase, std::memory_order_relaxed);
  return true;
}

bool is_shared(const SSL_CTX* ctx) {
  return mesh::tls::is_mesh_context(ctx);
}

/// The frame guard of one connection, kept with its SSL object.
struct connection_guard {
  mesh::bootstrap::basp_guard frames;
  bool reported = false;
};

int guard_index() {
  static int index = SSL_get_ex_new_index(
    0, nullptr, nullptr, nullptr,
    [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
      delete static_cast<connection_guard*>(ptr);
    });
  return index;
}

/// Follows what SSL_read returned on a libmesh connection; false if the
/// peer announced a message larger than allowed.
bool guard_read(SSL* ssl, const void* buf, int n) {
  if (!is_shared(SSL_get_SSL_CTX(ssl)))
    return true;
  auto index = guard_index();
  auto guard = static_cast<connection_guard*>(SSL_get_ex_data(ssl, index));
  if (guard == nullptr) {
    guard = new connection_guard{
      mesh::bootstrap::basp_guard{mesh::tls::max_message_size()}};
    if (SSL_set_ex_data(ssl, index, guard) != 1) {
      delete guard;
      return true;
    }
  }
  if (guard->frames.feed(static_cast<const unsigned char*>(buf),
                         static_cast<size_t>(n)))
    return true;
  if (!guard->reported) {
    guard->reported = true;
    std::fprintf(stderr,
                 "libmesh: closing a connection whose peer announced a "
                 "message of %u bytes (transport.max_message_size is %llu)\n",
                 guard->frames.refused_size(),
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

MESH_INTERPOSE int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = openssl_function<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  auto n = real(ssl, buf, num);
  if (n > 0 && !guard_read(ssl, buf, n)) {
    ERR_raise_data(ERR_LIB_SSL, SSL_R_EXCESSIVE_MESSAGE_SIZE,
                   "libmesh: message larger than transport.max_message_size");
    return -1;
  }
  return n;
}

MESH_INTERPOSE int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real =
    openssl_function<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

MESH_INTERPOSE int SSL_accept(SSL* ssl) {
  static auto real = openssl_function<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

MESH_INTERPOSE int SSL_connect(SSL* ssl) {
  static auto real = openssl_function<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

namespace mesh::tls {

bool error_queue_guarded() {
  // The definitions everyone binds to must be the ones in this object.
  Dl_info self{};
  if (::dladdr(reinterpret_cast<void*>(&error_queue_guarded), &self) == 0)
    return false;
  for (auto name : {"SSL_read", "SSL_CTX_new", "SSL_CTX_set_verify"}) {
    Dl_info bound{};
    auto used = ::dlsym(RTLD_DEFAULT, name);
    if (used == nullptr || ::dladdr(used, &bound) == 0 ||
        bound.dli_fbase != self.dli_fbase)
      return false;
  }
  return true;
}

} // namespace mesh::tls
