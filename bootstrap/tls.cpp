#include "bootstrap/tls.hpp"

#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

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

caf::error check(const credentials& creds) {
  struct file {
    const char* what;
    const std::string& path;
  };
  for (auto [what, path] : {file{"certificate", creds.certificate},
                            file{"key", creds.key}, file{"CA", creds.cafile}}) {
    if (path.empty())
      return make_error(ec::tls_error, std::string{"no "} + what + " file",
                        "mutual TLS needs a certificate, a key and a CA file");
    if (::access(path.c_str(), R_OK) != 0)
      return unusable(what, path, std::strerror(errno));
  }
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{
    SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return make_error(ec::tls_error, "cannot create an OpenSSL context",
                      openssl_reason());
  SSL_CTX_set_default_passwd_cb(ctx.get(), no_passphrase);
  // The key alone first, so that a key that cannot be read is told apart
  // from one that belongs to another certificate.
  {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> key_only{
      SSL_CTX_new(TLS_method()), SSL_CTX_free};
    if (!key_only)
      return make_error(ec::tls_error, "cannot create an OpenSSL context",
                        openssl_reason());
    SSL_CTX_set_default_passwd_cb(key_only.get(), no_passphrase);
    if (SSL_CTX_use_PrivateKey_file(key_only.get(), creds.key.c_str(),
                                    SSL_FILETYPE_PEM) != 1)
      return unusable("key", creds.key,
                      openssl_reason() +
                        " (keys must be PEM and not passphrase-protected)");
  }
  // The calls and their order are those of CAF's openssl session, so that
  // what passes here also passes there.
  if (SSL_CTX_use_certificate_chain_file(ctx.get(),
                                         creds.certificate.c_str()) != 1)
    return unusable("certificate", creds.certificate, openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), creds.key.c_str(),
                                  SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    return make_error(ec::tls_error,
                      "the key in '" + creds.key +
                        "' does not belong to the certificate in '" +
                        creds.certificate + "'",
                      openssl_reason());
  auto cert = SSL_CTX_get0_certificate(ctx.get());
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    return unusable("certificate", creds.certificate,
                    "the certificate has expired");
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
    return unusable("certificate", creds.certificate,
                    "the certificate is not valid yet");
  if (SSL_CTX_load_verify_locations(ctx.get(), creds.cafile.c_str(), nullptr) !=
      1)
    return unusable("CA", creds.cafile, openssl_reason());
  auto objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx.get()));
  if (sk_X509_OBJECT_num(objects) <= 0)
    return unusable("CA", creds.cafile, "it holds no certificate");
  ERR_clear_error();
  return caf::none;
}

} // namespace mesh::tls
