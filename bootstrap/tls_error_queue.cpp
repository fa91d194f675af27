// Keeps one failed TLS connection from breaking every other one.
//
// OpenSSL reports why an I/O call failed through a per-thread error queue,
// and SSL_get_error() only works if that queue was empty before the call.
// CAF 0.17's openssl module runs every TLS connection of a process on its
// one multiplexer thread and never empties the queue: its only call that
// would drain it sits inside a log statement that Debian's build compiles
// out. So after one peer fails a handshake (a port scan, a plain-TCP client,
// a certificate from the wrong CA), the next SSL_read that merely has no
// data yet on a healthy connection is taken for a fatal error and that
// connection is dropped; requests on it then time out. Measured: one TCP
// connect-and-close against a TLS meshd broke every established client.
//
// libmesh therefore defines the four TLS I/O calls CAF makes. Each empties
// the calling thread's queue, exactly as OpenSSL asks every caller to do,
// then calls OpenSSL's own function. Being linked before libssl, libmesh's
// definitions are the ones CAF binds to; tls::error_queue_guarded() tells
// whether that is so in this process.
#include "bootstrap/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

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

} // namespace

// These must interpose OpenSSL's own definitions, so they are exported even
// though libmesh is built with hidden visibility (and libmesh.map lists them).
#define MESH_INTERPOSE __attribute__((visibility("default")))

extern "C" {

MESH_INTERPOSE int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = openssl_function<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
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
  // The SSL_read everyone binds to must be the one defined in libmesh.
  Dl_info self{};
  Dl_info bound{};
  auto used = ::dlsym(RTLD_DEFAULT, "SSL_read");
  return used != nullptr &&
         ::dladdr(reinterpret_cast<void*>(&error_queue_guarded), &self) != 0 &&
         ::dladdr(used, &bound) != 0 && self.dli_fbase == bound.dli_fbase;
}

} // namespace mesh::tls
