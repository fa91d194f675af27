// A meshd daemon started by a test: launched in the background, its address
// read from its first stdout line, its stderr kept in a file, and killed and
// reaped when the test lets go of it. Plus what tests of daemons look at:
// raw connections and the process tree.
#pragma once

#include "support/actor_fixture.hpp"
#include "support/process.hpp"

#include <caf/actor_system.hpp>

#include <filesystem>
#include <fstream>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mesh::test {

/// The built meshd executable.
std::string meshd_path();

/// The built mesh_child executable (a proc command that registers nothing).
std::string mesh_child_path();

/// A plain TCP connection to "host:port" (IPv4), for clients that speak no
/// protocol at all; fails the test if it cannot be made.
int raw_connect(const std::string& address);

class meshd_daemon {
public:
  /// Starts `argv` (meshd with its arguments, possibly behind a wrapper such
  /// as `ip netns exec NS`) with the environment of this process minus its
  /// MESH_TLS_* and MESH_BOOTSTRAP variables, plus `env`, in a process group
  /// of its own. Waits at most 30 s for the line "listening on HOST:PORT";
  /// nullptr if the daemon exited or stayed silent (then `failure` says why).
  static std::unique_ptr<meshd_daemon>
  start(const std::vector<std::string>& argv,
        const std::map<std::string, std::string>& env = {},
        std::string* failure = nullptr);

  /// Kills the daemon (if it still runs) and reaps it.
  ~meshd_daemon();

  meshd_daemon(const meshd_daemon&) = delete;
  meshd_daemon& operator=(const meshd_daemon&) = delete;

  /// "host:port" from the daemon's first stdout line.
  const std::string& address() const { return address_; }

  pid_t pid() const { return pid_; }

  /// Sends a signal to the daemon.
  void signal(int sig) const;

  /// Waits at most `timeout` for the daemon to exit and reaps it: its exit
  /// code, or 128 + signal; nullopt if it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  /// True until the daemon has exited (and was reaped by wait_exit()).
  bool running();

  /// Everything the daemon wrote to stderr so far.
  std::string stderr_text() const;

private:
  meshd_daemon() = default;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_ = -1;
  std::optional<int> status_;
  std::string address_;
  std::string err_path_;
};

/// Certificates for the whole run, made once in a temporary directory that
/// is removed at exit: CA-A signs the server and client A, CA-B signs
/// client B; plus a passphrase-protected key and a too weak certificate.
class test_pki {
public:
  static const test_pki& get() {
    static test_pki instance;
    return instance;
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  /// Why generating failed ("" if it worked).
  const std::string& failure() const { return failure_; }

  ~test_pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

private:
  test_pki() {
    char tmpl[] = "/tmp/mesh-tls-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      failure_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    std::ofstream{path("leaf.ext")}
      << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    make_ca("ca_a");
    make_ca("ca_b");
    make_leaf("server", "ca_a");
    make_leaf("client_a", "ca_a");
    make_leaf("client_b", "ca_b");
    openssl({"pkey", "-in", path("server.key"), "-aes256", "-passout",
             "pass:secret", "-out", path("encrypted.key")});
    openssl({"req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout",
             path("weak.key"), "-out", path("weak.pem"), "-days", "2", "-subj",
             "/CN=weak"});
    std::ofstream{path("not_pem.pem")} << "this is not a certificate\n";
  }

  void openssl(std::vector<std::string> args) {
    if (!failure_.empty())
      return;
    args.insert(args.begin(), "openssl");
    auto res = mesh::test::run(args, std::chrono::seconds{60});
    if (res.exit_code != 0)
      failure_ = "openssl " + args[1] + " failed: " + res.err;
  }

  void make_ca(const std::string& name) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             path(name + ".key"), "-out", path(name + ".pem"), "-days", "2",
             "-subj", "/CN=libmesh test " + name});
  }

  void make_leaf(const std::string& name, const std::string& ca) {
    openssl({"req", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             path(name + ".key"), "-out", path(name + ".csr"), "-subj",
             "/CN=" + name});
    openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA",
             path(ca + ".pem"), "-CAkey", path(ca + ".key"), "-set_serial",
             std::to_string(++serial_), "-days", "2", "-extfile",
             path("leaf.ext"), "-out", path(name + ".pem")});
  }

  std::string dir_;
  std::string failure_;
  int serial_ = 0;
};


/// The run's certificates; fails the test if they could not be made.
const test_pki& certs();

/// meshd's flags to serve with the server certificate of CA-A.
std::vector<std::string> meshd_tls_flags();

/// The tls.* settings of a client with `who`'s certificate trusting `ca`.
std::map<std::string, std::string>
client_tls_settings(const std::string& who = "client_a",
                    const std::string& ca = "ca_a");

/// The same as MESH_TLS_* environment variables, for programs the test runs.
std::map<std::string, std::string>
client_tls_env(const std::string& who = "client_a",
               const std::string& ca = "ca_a");

/// A client actor system with `settings` (e.g. client_tls_settings()) and a
/// short terminate_timeout. The settings are process-wide overrides made
/// before mesh::configure() runs, which is when TLS credentials are read.
class tls_client {
public:
  explicit tls_client(std::map<std::string, std::string> settings = {}) {
    settings.emplace("terminate_timeout", polite_window());
    for (auto& [k, v] : settings)
      overrides_.push_back(std::make_unique<mesh::config_override>(k, v));
    cfg_ = std::make_unique<mesh::config>();
    sys_ = std::make_unique<caf::actor_system>(*cfg_);
  }

  caf::actor_system& sys() { return *sys_; }

private:
  std::vector<std::unique_ptr<mesh::config_override>> overrides_;
  std::unique_ptr<mesh::config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
};

/// actor_fixture for clients of meshd daemons: the actor system holds client
/// A's certificate of CA-A, which the daemons of meshd_tls_flags() trust.
struct cluster_fixture : reaped_fixture {
  std::vector<std::unique_ptr<mesh::config_override>> tls = [] {
    std::vector<std::unique_ptr<mesh::config_override>> result;
    for (auto& [k, v] : client_tls_settings())
      result.push_back(std::make_unique<mesh::config_override>(k, v));
    return result;
  }();
  mesh::config_override fast_terminate{"terminate_timeout", polite_window()};
  test_config cfg;
  caf::actor_system sys{cfg};
};

} // namespace mesh::test
