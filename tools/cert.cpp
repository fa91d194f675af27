#include "cert.hpp"

#include <fmt/format.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meshctl {

namespace {

namespace fs = std::filesystem;

/// A failure of the command; its message is the one line meshctl prints.
struct cert_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T, void (*Free)(T*)>
struct openssl_free {
  void operator()(T* ptr) const { Free(ptr); }
};

using pkey_ptr =
  std::unique_ptr<EVP_PKEY, openssl_free<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_free<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_free<BIO, BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, openssl_free<BIGNUM, BN_free>>;
using names_ptr =
  std::unique_ptr<GENERAL_NAMES,
                  openssl_free<GENERAL_NAMES, GENERAL_NAMES_free>>;

/// Why the last OpenSSL call failed, and an empty error queue.
std::string ssl_reason() {
  auto code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  if (auto reason = ERR_reason_error_string(code))
    return reason;
  return text;
}

void check(bool ok, std::string_view what) {
  if (!ok)
    throw cert_error(fmt::format("cannot {}: {}", what, ssl_reason()));
}

// -- names --------------------------------------------------------------------

/// The certificate's subjectAltName entries, in order, without duplicates.
struct alt_names {
  std::vector<std::string> dns;
  std::vector<std::string> ips;

  void add_dns(const std::string& name) {
    if (std::find(dns.begin(), dns.end(), name) == dns.end())
      dns.push_back(name);
  }

  void add_ip(const std::string& ip) {
    if (std::find(ips.begin(), ips.end(), ip) == ips.end())
      ips.push_back(ip);
  }

  bool empty() const { return dns.empty() && ips.empty(); }

  std::string to_string() const {
    std::string out;
    for (auto& name : dns)
      out += (out.empty() ? "DNS:" : ", DNS:") + name;
    for (auto& ip : ips)
      out += (out.empty() ? "IP:" : ", IP:") + ip;
    return out;
  }
};

bool is_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' ||
      name.front() == '-' || name.back() == '.')
    return false;
  auto body = std::string_view{name};
  if (body.rfind("*.", 0) == 0) // a wildcard, as the leftmost label only
    body.remove_prefix(2);
  return !body.empty() && std::all_of(body.begin(), body.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
}

/// The names a certificate gets from --ip/--dns (checked) on top of `base`.
alt_names alt_names_of(const cert_options& opts, alt_names base) {
  for (auto& ip : opts.ips) {
    std::unique_ptr<ASN1_OCTET_STRING,
                    openssl_free<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>
      bytes{a2i_IPADDRESS(ip.c_str())};
    ERR_clear_error();
    if (!bytes)
      throw cert_error(
        fmt::format("--ip '{}' is not an IPv4 or IPv6 address", ip));
    base.add_ip(ip);
  }
  for (auto& name : opts.dns) {
    if (!is_dns_name(name))
      throw cert_error(fmt::format(
        "--dns '{}' is not a DNS name (letters, digits, '-', '_' and '.')",
        name));
    base.add_dns(name);
  }
  return base;
}

std::string this_host() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0')
    return "localhost";
  return name;
}

/// NAME of `cert add`: it becomes NAME.pem and NAME.key in DIR.
void check_name(const std::string& name) {
  bool plain =
    !name.empty() && name.size() <= 64 && name.front() != '.' &&
    name.front() != '-' && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    });
  if (!plain)
    throw cert_error(fmt::format(
      "NAME '{}' must be a plain file name of at most 64 letters, digits, "
      "'-', '_' and '.'",
      name));
  if (name == "ca")
    throw cert_error("NAME 'ca' would replace the CA's own files; choose "
                     "another name");
}

// -- keys and certificates ----------------------------------------------------

pkey_ptr new_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  check(key != nullptr, "generate an ECDSA P-256 key");
  return key;
}

std::string date_of(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1)
    return "?";
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d", &tm);
  return text;
}

/// Adds one extension given in OpenSSL's configuration syntax; `issuer` is
/// the certificate itself for a self-signed one.
void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  auto ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, fmt::format("make the extension {}", OBJ_nid2sn(nid)));
  auto added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(added == 1, fmt::format("add the extension {}", OBJ_nid2sn(nid)));
}

void add_alt_names(X509* cert, const alt_names& names) {
  names_ptr gens{sk_GENERAL_NAME_new_null()};
  check(gens != nullptr, "allocate subjectAltName");
  auto push = [&](int type, ASN1_STRING* value) {
    auto gen = GENERAL_NAME_new();
    check(gen != nullptr && value != nullptr, "allocate subjectAltName");
    GENERAL_NAME_set0_value(gen, type, value);
    check(sk_GENERAL_NAME_push(gens.get(), gen) > 0, "add subjectAltName");
  };
  for (auto& name : names.dns) {
    auto value = ASN1_IA5STRING_new();
    check(value != nullptr &&
            ASN1_STRING_set(value, name.data(), static_cast<int>(name.size())),
          "allocate subjectAltName");
    push(GEN_DNS, value);
  }
  for (auto& ip : names.ips)
    push(GEN_IPADD, a2i_IPADDRESS(ip.c_str()));
  check(X509_add1_ext_i2d(cert, NID_subject_alt_name, gens.get(), 0,
                          X509V3_ADD_DEFAULT) == 1,
        "add subjectAltName");
}

/// What a certificate is for.
enum class role { ca, node, client };

std::string_view usage_of(role r) {
  switch (r) {
  case role::ca:
    return "keyCertSign, cRLSign";
  case role::node:
    return "serverAuth, clientAuth";
  case role::client:
    return "clientAuth";
  }
  return "";
}

struct cert_request {
  std::string common_name;
  role kind = role::node;
  alt_names names;
  int days = 3650;
};

/// A certificate for `key`, signed by `issuer` with `issuer_key`, or
/// self-signed (a CA) when `issuer` is null. It never outlives its issuer.
x509_ptr issue(const cert_request& req, EVP_PKEY* key, X509* issuer,
               EVP_PKEY* issuer_key) {
  x509_ptr cert{X509_new()};
  check(cert != nullptr, "allocate a certificate");
  auto c = cert.get();
  check(X509_set_version(c, X509_VERSION_3) == 1, "set the version");
  // A random 127-bit serial: unique without a serial file next to the CA.
  bignum_ptr serial{BN_new()};
  check(serial &&
          BN_rand(serial.get(), 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1,
        "make a serial number");
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(c)) != nullptr,
        "set the serial number");
  // Valid from an hour ago, for machines whose clocks are a little behind.
  check(X509_gmtime_adj(X509_getm_notBefore(c), -3600) != nullptr &&
          X509_time_adj_ex(X509_getm_notAfter(c), req.days, 0, nullptr) !=
            nullptr,
        "set the validity");
  if (issuer != nullptr &&
      ASN1_TIME_compare(X509_get0_notAfter(c), X509_get0_notAfter(issuer)) > 0)
    check(X509_set1_notAfter(c, X509_get0_notAfter(issuer)) == 1,
          "set the validity");
  auto subject = X509_get_subject_name(c);
  // X.509 limits a common name to 64 characters.
  auto cn = req.common_name.substr(0, 64);
  check(X509_NAME_add_entry_by_txt(
          subject, "O", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>("libmesh"), -1, -1, 0) == 1 &&
          X509_NAME_add_entry_by_txt(
            subject, "CN", MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1,
        "set the subject name");
  check(X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer)
                                       : subject) == 1,
        "set the issuer name");
  check(X509_set_pubkey(c, key) == 1, "set the public key");
  auto signer = issuer ? issuer : c;
  add_extension(c, signer, NID_subject_key_identifier, "hash");
  if (req.kind == role::ca) {
    add_extension(c, signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(c, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(c, signer, NID_authority_key_identifier, "keyid:always");
  } else {
    add_extension(c, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(c, signer, NID_key_usage, "critical,digitalSignature");
    add_extension(c, signer, NID_ext_key_usage,
                  req.kind == role::client ? "clientAuth"
                                           : "serverAuth,clientAuth");
    add_extension(c, signer, NID_authority_key_identifier, "keyid,issuer");
  }
  if (!req.names.empty())
    add_alt_names(c, req.names);
  check(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0,
        "sign the certificate");
  return cert;
}

std::string pem_of(X509* cert) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1,
        "encode the certificate");
  char* data = nullptr;
  auto len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

/// The key as unencrypted PKCS#8 PEM (meshd and CAF read no passphrases).
std::string pem_of(EVP_PKEY* key) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                        nullptr, nullptr) == 1,
        "encode the private key");
  char* data = nullptr;
  auto len = BIO_get_mem_data(bio.get(), &data);
  std::string text(data, static_cast<size_t>(len));
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  return text;
}

// -- reading the CA ----------------------------------------------------------

/// Never prompts: an encrypted key fails to load instead.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

std::FILE* open_for_reading(const fs::path& path, std::string_view what,
                            std::string_view hint) {
  auto file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    auto code = errno;
    throw cert_error(fmt::format("cannot read the {} {}: {}{}", what,
                                 path.string(), std::strerror(code),
                                 code == ENOENT ? hint : ""));
  }
  return file;
}

struct certificate_authority {
  x509_ptr cert;
  pkey_ptr key;
};

certificate_authority read_ca(const fs::path& dir) {
  auto cert_path = dir / "ca.pem";
  auto key_path = dir / "ca.key";
  certificate_authority ca;
  {
    auto file = open_for_reading(
      cert_path, "CA certificate",
      fmt::format("; create a CA with `meshctl cert init {}`", dir.string()));
    ca.cert.reset(PEM_read_X509(file, nullptr, no_passphrase, nullptr));
    std::fclose(file);
    if (!ca.cert)
      throw cert_error(fmt::format("{} holds no PEM certificate ({})",
                                   cert_path.string(), ssl_reason()));
  }
  if ((X509_get_extension_flags(ca.cert.get()) & EXFLAG_CA) == 0 ||
      ((X509_get_extension_flags(ca.cert.get()) & EXFLAG_KUSAGE) != 0 &&
       (X509_get_key_usage(ca.cert.get()) & KU_KEY_CERT_SIGN) == 0))
    throw cert_error(fmt::format("{} is not a CA certificate (it lacks "
                                 "basicConstraints CA:TRUE or keyCertSign)",
                                 cert_path.string()));
  if (X509_cmp_current_time(X509_get0_notAfter(ca.cert.get())) <= 0)
    throw cert_error(fmt::format("the CA certificate {} expired on {}",
                                 cert_path.string(),
                                 date_of(X509_get0_notAfter(ca.cert.get()))));
  {
    auto file = open_for_reading(
      key_path, "CA key",
      "; certificates are issued where the CA's key is, in the directory "
      "`meshctl cert init` made");
    ca.key.reset(PEM_read_PrivateKey(file, nullptr, no_passphrase, nullptr));
    std::fclose(file);
    if (!ca.key)
      throw cert_error(fmt::format(
        "{} holds no unencrypted PEM private key ({}); meshctl reads no "
        "passphrases",
        key_path.string(), ssl_reason()));
  }
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    ERR_clear_error();
    throw cert_error(fmt::format("the key in {} does not belong to the CA "
                                 "certificate {}",
                                 key_path.string(), cert_path.string()));
  }
  return ca;
}

// -- files --------------------------------------------------------------------

/// A file to write: its text and whether it is a private key.
struct output_file {
  fs::path path;
  std::string text;
  bool secret = false;
};

std::string errno_text() {
  return std::strerror(errno);
}

/// Writes all files or, when one exists already and `force` is not set,
/// none: each goes to a temporary file in the same directory first (0600
/// from its creation; 0644 minus the umask for certificates), then takes its
/// name (without --force by link(), which never replaces a file).
void write_files(const std::vector<output_file>& files, bool force) {
  if (!force)
    for (auto& f : files) {
      struct stat st;
      if (::lstat(f.path.c_str(), &st) == 0)
        throw cert_error(fmt::format(
          "{} exists already; pass --force to replace it", f.path.string()));
    }
  auto mask = ::umask(0);
  ::umask(mask);
  std::vector<std::string> temps;
  auto cleanup = [&] {
    for (auto& t : temps)
      ::unlink(t.c_str());
  };
  try {
    for (auto& f : files) {
      auto tmpl =
        (f.path.parent_path() / ("." + f.path.filename().string() + ".XXXXXX"))
          .string();
      int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
      if (fd < 0)
        throw cert_error(fmt::format("cannot create a file in {}: {}",
                                     f.path.parent_path().string(),
                                     errno_text()));
      temps.push_back(tmpl);
      mode_t mode = f.secret ? 0600 : (0644 & ~mask);
      int code = ::fchmod(fd, mode) == 0 ? 0 : errno;
      size_t done = 0;
      while (code == 0 && done < f.text.size()) {
        auto n = ::write(fd, f.text.data() + done, f.text.size() - done);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          code = n < 0 ? errno : EIO;
        else
          done += static_cast<size_t>(n);
      }
      if (code == 0 && ::fsync(fd) != 0)
        code = errno;
      if (::close(fd) != 0 && code == 0)
        code = errno;
      if (code != 0)
        throw cert_error(fmt::format("cannot write {}: {}", f.path.string(),
                                     std::strerror(code)));
    }
    for (size_t i = 0; i < files.size(); ++i) {
      auto& target = files[i].path;
      if (force) {
        if (::rename(temps[i].c_str(), target.c_str()) != 0)
          throw cert_error(
            fmt::format("cannot write {}: {}", target.string(), errno_text()));
      } else {
        if (::link(temps[i].c_str(), target.c_str()) != 0)
          throw cert_error(
            fmt::format("cannot write {}: {}{}", target.string(), errno_text(),
                        errno == EEXIST ? "; pass --force to replace it" : ""));
        ::unlink(temps[i].c_str());
      }
    }
    temps.clear();
  } catch (...) {
    cleanup();
    throw;
  }
}

fs::path absolute_dir(const std::string& dir) {
  std::error_code err;
  auto abs = fs::absolute(dir, err);
  if (err)
    abs = dir;
  abs = abs.lexically_normal();
  if (!abs.has_filename() && abs.has_parent_path())
    abs = abs.parent_path();
  return abs;
}

/// DIR for `init`: created 0700 (with any missing parents) unless it is a
/// directory already.
void make_dir(const fs::path& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw cert_error(
        fmt::format("{} exists and is not a directory", dir.string()));
    return;
  }
  std::error_code err;
  if (dir.has_parent_path())
    fs::create_directories(dir.parent_path(), err);
  if (err)
    throw cert_error(fmt::format("cannot create {}: {}",
                                 dir.parent_path().string(), err.message()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw cert_error(
      fmt::format("cannot create {}: {}", dir.string(), errno_text()));
  // The umask can only take bits away; make sure none is missing either.
  if (::chmod(dir.c_str(), 0700) != 0)
    throw cert_error(
      fmt::format("cannot chmod 0700 {}: {}", dir.string(), errno_text()));
}

// -- what to tell the user ----------------------------------------------------

/// `path` as one word for a POSIX shell.
std::string shell_word(const std::string& path) {
  bool plain =
    !path.empty() && std::all_of(path.begin(), path.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || std::strchr("/._-+,:=@%", c) != nullptr;
    });
  if (plain)
    return path;
  std::string quoted = "'";
  for (char c : path)
    quoted += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return quoted + "'";
}

/// "node certificate for NAME (serverAuth, clientAuth), valid until DATE,
/// names DNS:..., IP:...".
std::string describe(X509* cert, role kind, const std::string& subject,
                     const alt_names& names, bool clipped = false) {
  auto text = fmt::format("{} certificate{} ({}), valid until {}{}",
                          kind == role::ca     ? "CA"
                          : kind == role::node ? "node"
                                               : "client-only",
                          subject.empty() ? std::string{} : " for " + subject,
                          usage_of(kind), date_of(X509_get0_notAfter(cert)),
                          clipped ? " (the CA's end)" : "");
  if (!names.empty())
    text += ", names " + names.to_string();
  return text;
}

void print_settings(const fs::path& cert, const fs::path& key,
                    const fs::path& ca, bool serves) {
  if (serves)
    fmt::print("meshd with this certificate:\n"
               "  meshd --listen HOST:PORT --tls-cert {} --tls-key {} "
               "--tls-ca {}\n",
               shell_word(cert.string()), shell_word(key.string()),
               shell_word(ca.string()));
  fmt::print("clients with this certificate (before mesh::configure() runs):\n"
             "  export MESH_TLS_CERTIFICATE={} MESH_TLS_KEY={} "
             "MESH_TLS_CAFILE={}\n",
             shell_word(cert.string()), shell_word(key.string()),
             shell_word(ca.string()));
}

/// "wrote" and one line per file: its path, then what it holds.
void print_written(const std::vector<std::pair<fs::path, std::string>>& files) {
  size_t width = 0;
  for (auto& [path, _] : files)
    width = std::max(width, path.string().size());
  fmt::print("wrote\n");
  for (auto& [path, what] : files)
    fmt::print("  {:<{}}  {}\n", path.string(), width, what);
  fmt::print("\n");
}

int failed(const cert_error& err) {
  ERR_clear_error();
  fmt::print(stderr, "meshctl: {}\n", err.what());
  return 1;
}

} // namespace

int cert_init(const cert_options& opts) {
  try {
    auto dir = absolute_dir(opts.dir);
    auto host = this_host();
    alt_names defaults;
    defaults.add_dns(host);
    defaults.add_dns("localhost");
    defaults.add_ip("127.0.0.1");
    auto names = alt_names_of(opts, defaults);
    auto ca_path = dir / "ca.pem";
    auto ca_key_path = dir / "ca.key";
    auto node_path = dir / "node.pem";
    auto node_key_path = dir / "node.key";
    // Refuse before creating anything when a file is in the way.
    if (!opts.force)
      for (auto& path : {ca_path, ca_key_path, node_path, node_key_path})
        if (struct stat st; ::lstat(path.c_str(), &st) == 0)
          throw cert_error(fmt::format(
            "{} exists already; pass --force to replace it", path.string()));
    auto ca_key = new_key();
    auto ca = issue({"libmesh CA " + host, role::ca, {}, opts.days},
                    ca_key.get(), nullptr, nullptr);
    auto node_key = new_key();
    auto node = issue({host, role::node, names, opts.days}, node_key.get(),
                      ca.get(), ca_key.get());
    make_dir(dir);
    write_files({{ca_path, pem_of(ca.get()), false},
                 {ca_key_path, pem_of(ca_key.get()), true},
                 {node_path, pem_of(node.get()), false},
                 {node_key_path, pem_of(node_key.get()), true}},
                opts.force);
    print_written(
      {{ca_path, describe(ca.get(), role::ca, {}, {})},
       {ca_key_path, "the CA's private key (mode 0600; it signs new "
                     "certificates: keep it off the cluster)"},
       {node_path, describe(node.get(), role::node, host, names)},
       {node_key_path, "its private key (mode 0600)"}});
    print_settings(node_path, node_key_path, ca_path, true);
    fmt::print("\nmore nodes and clients: meshctl cert add {} NAME [--client] "
               "[--ip ADDR] [--dns NAME]\n",
               shell_word(dir.string()));
    return 0;
  } catch (const cert_error& err) {
    return failed(err);
  }
}

int cert_add(const cert_options& opts) {
  try {
    check_name(opts.name);
    auto dir = absolute_dir(opts.dir);
    alt_names base;
    if (!opts.client)
      base.add_dns(opts.name);
    auto names = alt_names_of(opts, base);
    auto cert_path = dir / (opts.name + ".pem");
    auto key_path = dir / (opts.name + ".key");
    auto ca = read_ca(dir);
    auto kind = opts.client ? role::client : role::node;
    auto key = new_key();
    auto cert = issue({opts.name, kind, names, opts.days}, key.get(),
                      ca.cert.get(), ca.key.get());
    write_files({{cert_path, pem_of(cert.get()), false},
                 {key_path, pem_of(key.get()), true}},
                opts.force);
    bool clipped = ASN1_TIME_compare(X509_get0_notAfter(cert.get()),
                                     X509_get0_notAfter(ca.cert.get())) == 0;
    print_written(
      {{cert_path, describe(cert.get(), kind, opts.name, names, clipped)},
       {key_path, "its private key (mode 0600)"}});
    fmt::print("Copy {}, {} and ca.pem (never ca.key) to where they are used; "
               "the paths below are this machine's.\n",
               cert_path.filename().string(), key_path.filename().string());
    print_settings(cert_path, key_path, dir / "ca.pem", !opts.client);
    return 0;
  } catch (const cert_error& err) {
    return failed(err);
  }
}

} // namespace meshctl
