// `meshctl cert init` and `meshctl cert add` as users run them: the files
// and their modes, the certificates as the `openssl` command (an independent
// checker) sees them, the refusals, and a real meshd with mutual TLS on
// those certificates: a client of the CA gets in, one of another CA does not.
#include "mesh/actors.hpp"
#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "meshd_daemon.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::host_mesh_id;
using mesh::test::meshd_daemon;

namespace {

namespace fs = std::filesystem;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

size_t line_count(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

mesh::test::run_result meshctl(std::vector<std::string> args) {
  args.insert(args.begin(), mesh::test::build_path("tools/meshctl"));
  return mesh::test::run(args, 60s);
}

/// `openssl ARGS...`; its stdout and stderr together, and whether it exited 0.
struct openssl_result {
  bool ok = false;
  std::string text;
};

openssl_result openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  auto res = mesh::test::run(args, 60s);
  return {res.exit_code == 0, res.out + res.err};
}

/// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/mesh-cert-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }

  ~temp_dir() {
    std::error_code err;
    fs::remove_all(path, err);
  }

  std::string operator/(const std::string& name) const {
    return path + "/" + name;
  }
};

/// Permission bits of a file (-1 if it does not exist).
int mode_of(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return -1;
  return static_cast<int>(st.st_mode & 07777);
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  REQUIRE(::gethostname(name, sizeof(name) - 1) == 0);
  return name;
}

/// `meshctl cert init DIR ARGS...`, which must work.
void init(const std::string& dir, std::vector<std::string> args = {}) {
  args.insert(args.begin(), {"cert", "init", dir});
  auto res = meshctl(args);
  REQUIRE_MESSAGE(res.exit_code == 0, res.err);
}

/// `meshctl cert add DIR NAME ARGS...`, which must work.
void add(const std::string& dir, const std::string& name,
         std::vector<std::string> args = {}) {
  args.insert(args.begin(), {"cert", "add", dir, name});
  auto res = meshctl(args);
  REQUIRE_MESSAGE(res.exit_code == 0, res.err);
}

/// A refused command: exit code 1, nothing on stdout, one line on stderr
/// (returned).
std::string refused(std::vector<std::string> args) {
  auto res = meshctl(args);
  CHECK(res.exit_code == 1);
  CHECK(res.out.empty());
  CHECK_MESSAGE(line_count(res.err) == 1, res.err);
  CHECK_MESSAGE(res.err.rfind("meshctl: ", 0) == 0, res.err);
  return res.err;
}

/// The public key of a certificate or of a private key, as PEM.
std::string public_key_of_cert(const std::string& pem) {
  auto res = openssl({"x509", "-in", pem, "-noout", "-pubkey"});
  REQUIRE_MESSAGE(res.ok, res.text);
  return res.text;
}

std::string public_key_of_key(const std::string& key) {
  auto res = openssl({"pkey", "-in", key, "-pubout"});
  REQUIRE_MESSAGE(res.ok, res.text);
  return res.text;
}

std::string extensions(const std::string& pem, const std::string& names) {
  auto res = openssl({"x509", "-in", pem, "-noout", "-ext", names});
  REQUIRE_MESSAGE(res.ok, res.text);
  return res.text;
}

/// A client actor system with the given TLS files.
mesh::test::tls_client client_with(const std::string& cert,
                                   const std::string& key,
                                   const std::string& cafile) {
  return mesh::test::tls_client{
    {{"tls.certificate", cert}, {"tls.key", key}, {"tls.cafile", cafile}}};
}

std::unique_ptr<meshd_daemon> start_meshd(const std::string& dir) {
  std::string why;
  auto d = meshd_daemon::start(
    {mesh::test::meshd_path(), "--listen", "127.0.0.1:0", "--proc-command",
     mesh::test::mesh_child_path(), "--tls-cert", dir + "/node.pem",
     "--tls-key", dir + "/node.key", "--tls-ca", dir + "/ca.pem"},
    {}, &why);
  REQUIRE_MESSAGE(d, why);
  return d;
}

/// The daemon's children other than its zygote, once they have settled.
std::vector<pid_t> procs_of(const meshd_daemon& d) {
  auto others = [&] {
    auto kids = mesh::test::children_of(d.pid());
    kids.erase(std::remove_if(kids.begin(), kids.end(),
                              [](pid_t pid) {
                                return mesh::test::process_name(pid) ==
                                       "mesh-zygote";
                              }),
               kids.end());
    return kids;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!others().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  return others();
}

} // namespace

TEST_SUITE("cert") {

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert init writes a CA and a node certificate, keys 0600 "
                    "in a new 0700 directory, and prints how to use them") {
    temp_dir tmp;
    auto dir = tmp / "a/tls"; // its parent does not exist either
    auto res = meshctl({"cert", "init", dir, "--ip", "10.1.2.3"});
    REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    CHECK(res.err.empty());
    CHECK(mode_of(dir) == 0700);
    CHECK(mode_of(dir + "/ca.key") == 0600);
    CHECK(mode_of(dir + "/node.key") == 0600);
    for (auto pem : {"/ca.pem", "/node.pem"}) {
      CAPTURE(pem);
      CHECK(mode_of(dir + pem) != -1);
      CHECK((mode_of(dir + pem) & 0022) == 0); // nobody else may change it
    }
    // Nothing else, in particular no temporary file, is left in DIR.
    size_t entries = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator{dir})
      ++entries;
    CHECK(entries == 4);
    for (auto path : {"/ca.pem", "/ca.key", "/node.pem", "/node.key"})
      CHECK_MESSAGE(contains(res.out, dir + path), res.out);
    CHECK_MESSAGE(contains(res.out, "--tls-cert " + dir +
                                      "/node.pem --tls-key " + dir +
                                      "/node.key --tls-ca " + dir + "/ca.pem"),
                  res.out);
    CHECK_MESSAGE(contains(res.out, "MESH_TLS_CERTIFICATE=" + dir +
                                      "/node.pem MESH_TLS_KEY=" + dir +
                                      "/node.key MESH_TLS_CAFILE=" + dir +
                                      "/ca.pem"),
                  res.out);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert init: openssl verifies the node certificate against "
                    "the CA, whose extensions make it a CA") {
    temp_dir tmp;
    init(tmp.path);
    auto verified =
      openssl({"verify", "-CAfile", tmp / "ca.pem", tmp / "node.pem"});
    CHECK_MESSAGE(verified.ok, verified.text);
    CHECK_MESSAGE(contains(verified.text, "node.pem: OK"), verified.text);
    for (auto purpose : {"sslserver", "sslclient"}) {
      CAPTURE(purpose);
      auto res = openssl({"verify", "-purpose", purpose, "-CAfile",
                          tmp / "ca.pem", tmp / "node.pem"});
      CHECK_MESSAGE(res.ok, res.text);
    }
    auto ca = extensions(tmp / "ca.pem", "basicConstraints,keyUsage");
    CHECK_MESSAGE(contains(ca, "X509v3 Basic Constraints: critical"), ca);
    CHECK_MESSAGE(contains(ca, "CA:TRUE"), ca);
    CHECK_MESSAGE(contains(ca, "X509v3 Key Usage: critical"), ca);
    CHECK_MESSAGE(contains(ca, "Certificate Sign, CRL Sign"), ca);
    auto node = extensions(tmp / "node.pem", "basicConstraints");
    CHECK_MESSAGE(contains(node, "CA:FALSE"), node);
    // ECDSA P-256 keys, and a signature over SHA-256.
    for (auto key : {"ca.key", "node.key"}) {
      auto text = openssl({"pkey", "-in", tmp / key, "-noout", "-text"});
      CHECK_MESSAGE(contains(text.text, "NIST CURVE: P-256"), text.text);
    }
    auto text = openssl({"x509", "-in", tmp / "node.pem", "-noout", "-text"});
    CHECK_MESSAGE(contains(text.text, "ecdsa-with-SHA256"), text.text);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert init: each key belongs to its certificate") {
    temp_dir tmp;
    init(tmp.path);
    CHECK(public_key_of_cert(tmp / "ca.pem") ==
          public_key_of_key(tmp / "ca.key"));
    CHECK(public_key_of_cert(tmp / "node.pem") ==
          public_key_of_key(tmp / "node.key"));
    CHECK(public_key_of_cert(tmp / "ca.pem") !=
          public_key_of_cert(tmp / "node.pem"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert init: the node certificate names this host, "
                    "loopback and every --ip and --dns, for server and "
                    "client use") {
    temp_dir tmp;
    init(tmp.path, {"--ip", "10.1.2.3", "--ip", "fd00::7", "--dns",
                    "node.example", "--dns", "other.example"});
    auto san = extensions(tmp / "node.pem", "subjectAltName");
    for (auto name : {"IP Address:10.1.2.3", "IP Address:FD00:0:0:0:0:0:0:7",
                      "IP Address:127.0.0.1", "DNS:localhost",
                      "DNS:node.example", "DNS:other.example"})
      CHECK_MESSAGE(contains(san, name), san);
    CHECK_MESSAGE(contains(san, "DNS:" + hostname()), san);
    auto eku = extensions(tmp / "node.pem", "extendedKeyUsage");
    CHECK_MESSAGE(contains(eku, "TLS Web Server Authentication, TLS Web "
                                "Client Authentication"),
                  eku);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert init --days sets the validity") {
    temp_dir tmp;
    init(tmp.path, {"--days", "30"});
    for (auto pem : {"ca.pem", "node.pem"}) {
      CAPTURE(pem);
      CHECK(openssl({"x509", "-in", tmp / pem, "-noout", "-checkend",
                     std::to_string(29 * 86400)})
              .ok);
      CHECK_FALSE(openssl({"x509", "-in", tmp / pem, "-noout", "-checkend",
                           std::to_string(31 * 86400)})
                    .ok);
    }
    // The default is ten years.
    temp_dir other;
    init(other.path);
    CHECK(openssl({"x509", "-in", other / "ca.pem", "-noout", "-checkend",
                   std::to_string(3640 * 86400)})
            .ok);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert add --client issues a client-only certificate from "
                    "the CA") {
    temp_dir tmp;
    init(tmp.path);
    auto res = meshctl({"cert", "add", tmp.path, "alice", "--client"});
    REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    CHECK(mode_of(tmp / "alice.key") == 0600);
    CHECK(public_key_of_cert(tmp / "alice.pem") ==
          public_key_of_key(tmp / "alice.key"));
    auto eku = extensions(tmp / "alice.pem", "extendedKeyUsage");
    CHECK_MESSAGE(contains(eku, "TLS Web Client Authentication"), eku);
    CHECK_MESSAGE(!contains(eku, "Server"), eku);
    auto as_client = openssl({"verify", "-purpose", "sslclient", "-CAfile",
                              tmp / "ca.pem", tmp / "alice.pem"});
    CHECK_MESSAGE(as_client.ok, as_client.text);
    auto as_server = openssl({"verify", "-purpose", "sslserver", "-CAfile",
                              tmp / "ca.pem", tmp / "alice.pem"});
    CHECK_FALSE_MESSAGE(as_server.ok, as_server.text);
    // It is told the client settings, not a meshd command line.
    CHECK_MESSAGE(
      contains(res.out, "MESH_TLS_CERTIFICATE=" + tmp.path + "/alice.pem"),
      res.out);
    CHECK_MESSAGE(!contains(res.out, "--tls-cert"), res.out);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert add without --client issues a node certificate "
                    "named after NAME and --ip") {
    temp_dir tmp;
    init(tmp.path);
    add(tmp.path, "node2", {"--ip", "10.0.0.12"});
    auto verified =
      openssl({"verify", "-CAfile", tmp / "ca.pem", tmp / "node2.pem"});
    CHECK_MESSAGE(verified.ok, verified.text);
    auto san = extensions(tmp / "node2.pem", "subjectAltName");
    CHECK_MESSAGE(contains(san, "DNS:node2"), san);
    CHECK_MESSAGE(contains(san, "IP Address:10.0.0.12"), san);
    auto eku = extensions(tmp / "node2.pem", "extendedKeyUsage");
    CHECK_MESSAGE(contains(eku, "TLS Web Server Authentication, TLS Web "
                                "Client Authentication"),
                  eku);
    // Another certificate of the same CA: a different key and serial.
    CHECK(public_key_of_cert(tmp / "node2.pem") !=
          public_key_of_cert(tmp / "node.pem"));
    auto serial = [&](const std::string& pem) {
      return openssl({"x509", "-in", pem, "-noout", "-serial"}).text;
    };
    CHECK(serial(tmp / "node2.pem") != serial(tmp / "node.pem"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert init refuses to overwrite unless --force") {
    temp_dir tmp;
    init(tmp.path);
    auto ca = read_file(tmp / "ca.pem");
    auto key = read_file(tmp / "ca.key");
    auto err = refused({"cert", "init", tmp.path});
    CHECK_MESSAGE(
      contains(err, (tmp / "ca.pem") +
                      " exists already; pass --force to replace it"),
      err);
    CHECK(read_file(tmp / "ca.pem") == ca);
    CHECK(read_file(tmp / "ca.key") == key);
    // One file in the way is enough, and nothing is written then.
    temp_dir partly;
    std::ofstream{partly / "node.key"} << "mine\n";
    err = refused({"cert", "init", partly.path});
    CHECK_MESSAGE(contains(err, partly / "node.key"), err);
    CHECK(mode_of(partly / "ca.pem") == -1);
    CHECK(read_file(partly / "node.key") == "mine\n");
    // --force replaces all four, keys still 0600.
    ::chmod((tmp / "node.key").c_str(), 0644);
    init(tmp.path, {"--force"});
    CHECK(read_file(tmp / "ca.pem") != ca);
    CHECK(mode_of(tmp / "node.key") == 0600);
    CHECK(openssl({"verify", "-CAfile", tmp / "ca.pem", tmp / "node.pem"}).ok);
    // So does add.
    add(tmp.path, "w1");
    err = refused({"cert", "add", tmp.path, "w1"});
    CHECK_MESSAGE(contains(err, tmp / "w1.pem"), err);
    add(tmp.path, "w1", {"--force"});
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert add fails clearly without a usable CA and writes "
                    "nothing") {
    temp_dir tmp;
    auto err = refused({"cert", "add", tmp.path, "w1"});
    CHECK_MESSAGE(contains(err, "cannot read the CA certificate " +
                                  (tmp / "ca.pem") +
                                  ": No such file or directory"),
                  err);
    CHECK_MESSAGE(contains(err, "meshctl cert init"), err);
    CHECK(mode_of(tmp / "w1.pem") == -1);
    CHECK(mode_of(tmp / "w1.key") == -1);

    temp_dir ca;
    init(ca.path);
    // Only the CA certificate, not its key.
    fs::copy_file(ca / "ca.pem", tmp / "ca.pem");
    err = refused({"cert", "add", tmp.path, "w1"});
    CHECK_MESSAGE(contains(err, "cannot read the CA key " + (tmp / "ca.key") +
                                  ": No such file or directory"),
                  err);
    // A key that is not the CA's.
    fs::copy_file(ca / "node.key", tmp / "ca.key");
    err = refused({"cert", "add", tmp.path, "w1"});
    CHECK_MESSAGE(contains(err, "does not belong to the CA certificate"), err);
    // A certificate that is not a CA.
    fs::copy_file(ca / "node.pem", tmp / "ca.pem",
                  fs::copy_options::overwrite_existing);
    err = refused({"cert", "add", tmp.path, "w1"});
    CHECK_MESSAGE(contains(err, (tmp / "ca.pem") + " is not a CA certificate"),
                  err);
    // A passphrase-protected CA key is refused, not prompted for.
    temp_dir locked;
    fs::copy_file(ca / "ca.pem", locked / "ca.pem");
    REQUIRE(openssl({"pkey", "-in", ca / "ca.key", "-aes256", "-passout",
                     "pass:secret", "-out", locked / "ca.key"})
              .ok);
    err = refused({"cert", "add", locked.path, "w1"});
    CHECK_MESSAGE(contains(err, "holds no unencrypted PEM private key"), err);
    CHECK(mode_of(tmp / "w1.pem") == -1);
    CHECK(mode_of(locked / "w1.pem") == -1);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "cert: bad names, addresses and validities are refused") {
    temp_dir tmp;
    init(tmp.path);
    CHECK(contains(refused({"cert", "add", tmp.path, "../escape"}),
                   "must be a plain file name"));
    CHECK(contains(refused({"cert", "add", tmp.path, "ca"}),
                   "would replace the CA's own files"));
    CHECK(contains(refused({"cert", "add", tmp.path, "w1", "--ip", "10.0.0"}),
                   "--ip '10.0.0' is not an IPv4 or IPv6 address"));
    CHECK(contains(refused({"cert", "add", tmp.path, "w1", "--dns", "a b"}),
                   "--dns 'a b' is not a DNS name"));
    CHECK(mode_of(tmp / "w1.pem") == -1);
    temp_dir other;
    auto file = other / "file";
    std::ofstream{file} << "x\n";
    CHECK(contains(refused({"cert", "init", file}), "is not a directory"));
    // Usage errors: exit code 2.
    CHECK(meshctl({"cert", "init", other / "d", "--days", "0"}).exit_code == 2);
    CHECK(meshctl({"cert", "add", tmp.path}).exit_code == 2);
    CHECK(meshctl({"cert"}).exit_code == 2);
    auto help = meshctl({"cert", "add", "--help"});
    CHECK(help.exit_code == 0);
    for (auto opt : {"--client", "--ip", "--dns", "--days", "--force"})
      CHECK_MESSAGE(contains(help.out, opt), opt);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "meshd on cert init's files: a client certificate of the "
                    "same CA attaches and spawns, one of another CA is "
                    "refused") {
    temp_dir tmp;
    auto cluster = tmp / "cluster";
    auto stranger = tmp / "stranger";
    init(cluster);
    add(cluster, "alice", {"--client"});
    init(stranger);
    add(stranger, "mallory", {"--client"});
    auto d = start_meshd(cluster);
    {
      // Mallory trusts the cluster's CA, but her certificate is not of it.
      auto c = client_with(stranger + "/mallory.pem", stranger + "/mallory.key",
               cluster + "/ca.pem");
      auto hosts = host_mesh::attach(c.sys(), host_mesh_id::instance("mallory"),
                                     {d->address()});
      REQUIRE_FALSE(hosts);
      auto text = mesh::to_string(hosts.error());
      CHECK_MESSAGE(contains(text, d->address() + ": the TLS handshake failed"),
                    text);
    }
    CHECK(procs_of(*d).empty());
    CHECK(d->running());
    auto c = client_with(cluster + "/alice.pem", cluster + "/alice.key",
             cluster + "/ca.pem");
    auto hosts = host_mesh::attach(c.sys(), host_mesh_id::instance("alice"),
                                   {d->address()});
    REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
    auto pm = hosts->spawn("certified", extent{{"procs", 2}});
    REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
    auto states = pm->states();
    REQUIRE(states);
    CHECK(states->size() == 2);
    for (auto& st : *states)
      CHECK(st.status == mesh::proc_status::running);
    auto summary = hosts->shutdown();
    REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
    CHECK(summary->stopped_politely == 2);
    CHECK(d->wait_exit(30s) == 0);
    CHECK(!contains(d->stderr_text(), "--insecure"));
  }

} // TEST_SUITE
