// Mutual TLS between clients and meshd, with a CA, server and client
// certificates made at test time by the `openssl` command: who gets in, who
// is refused (and that nothing is spawned then), and that unusable
// credentials are refused up front with a message instead of the hang or
// abort CAF would produce.
#include "bootstrap/basp_guard.hpp"
#include "bootstrap/network.hpp"
#include "bootstrap/tls.hpp"
#include "mesh/actors.hpp"
#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "meshd_daemon.hpp"
#include "support/actor_fixture.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::host_mesh_id;
using mesh::test::certs;
using mesh::test::meshd_daemon;

namespace {

using client = mesh::test::tls_client;

std::map<std::string, std::string> client_creds(const std::string& who,
                                                const std::string& ca) {
  return mesh::test::client_tls_settings(who, ca);
}

/// Settings of a client without TLS, even while another client with TLS
/// exists (settings are process-wide).
std::map<std::string, std::string> no_tls() {
  return {{"tls.certificate", ""}, {"tls.key", ""}, {"tls.cafile", ""}};
}

std::vector<std::string> tls_meshd_argv() {
  auto& p = certs();
  return {mesh::test::meshd_path(),
          "--listen",
          "127.0.0.1:0",
          "--proc-command",
          mesh::test::mesh_child_path(),
          "--tls-cert",
          p.path("server.pem"),
          "--tls-key",
          p.path("server.key"),
          "--tls-ca",
          p.path("ca_a.pem")};
}

std::unique_ptr<meshd_daemon>
start(const std::vector<std::string>& argv,
      std::map<std::string, std::string> env = {}) {
  std::string why;
  auto d = meshd_daemon::start(argv, env, &why);
  REQUIRE_MESSAGE(d, why);
  return d;
}

std::unique_ptr<meshd_daemon> start_tls_meshd() {
  return start(tls_meshd_argv());
}

/// Attaches with client A's certificate and checks that the daemon runs no
/// proc, which is what a refused client must leave behind.
void check_nothing_spawned(const meshd_daemon& d) {
  client good{client_creds("client_a", "ca_a")};
  auto hosts = host_mesh::attach(good.sys(), host_mesh_id::instance("check"),
                                 {d.address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  caf::scoped_actor self{good.sys()};
  self->request(hosts->agent(0), 10s, mesh::list_procs_atom::value)
    .receive(
      [](const std::vector<std::string>& names) { CHECK(names.empty()); },
      [](caf::error& err) { FAIL(mesh::to_string(err)); });
  // The daemon starts its zygote when it starts listening; nothing else may
  // be there. (Under load the zygote may not have named itself yet: a proc
  // would stay, the zygote's old name does not.)
  auto others = [&] {
    auto kids = mesh::test::children_of(d.pid());
    kids.erase(std::remove_if(kids.begin(), kids.end(),
                              [](pid_t pid) {
                                return mesh::test::process_name(pid)
                                       == "mesh-zygote";
                              }),
               kids.end());
    return kids;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!others().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(others().empty());
  REQUIRE(hosts->stop());
}

/// Runs meshd with TLS flags that must be refused; returns its stderr.
std::string refused_start(const std::string& cert, const std::string& key,
                          const std::string& ca) {
  auto res =
    mesh::test::run({mesh::test::meshd_path(), "--listen", "127.0.0.1:0",
                     "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca},
                    30s);
  CHECK_FALSE(res.timed_out);
  CHECK(res.exit_code == 2);
  CHECK(res.out.empty());
  return res.err;
}

} // namespace

// -- who gets in
// ----------------------------------------------------------------

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "mutual TLS: a client certified by the daemon's CA attaches, "
                  "runs procs and shuts the daemon down") {
  auto d = start_tls_meshd();
  client c{client_creds("client_a", "ca_a")};
  CHECK(mesh::net::uses_tls(c.sys()));
  auto hosts =
    host_mesh::attach(c.sys(), host_mesh_id::instance("tls"), {d->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("secure", extent{{"procs", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  for (auto& st : *states)
    CHECK(st.status == mesh::proc_status::running);
  // Procs of the daemon talk TLS too: they inherited its credentials.
  caf::scoped_actor self{c.sys()};
  self
    ->request(pm->agent(0), 10s, mesh::get_config_atom::value,
              std::string{"tls.certificate"})
    .receive(
      [&](const std::string& v) { CHECK(v == certs().path("server.pem")); },
      [](caf::error& err) { FAIL(mesh::to_string(err)); });
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->stopped_politely == 2);
  CHECK(d->wait_exit(30s) == 0);
  // meshd's TLS connections run with libmesh's guard of OpenSSL's errors.
  CHECK(d->stderr_text().find("do not go through libmesh") ==
        std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "mutual TLS: a client certified by another CA is refused "
                  "and nothing is spawned") {
  auto d = start_tls_meshd();
  {
    client c{client_creds("client_b", "ca_a")};
    auto hosts = host_mesh::attach(c.sys(), host_mesh_id::instance("other"),
                                   {d->address()});
    REQUIRE_FALSE(hosts);
    auto text = mesh::to_string(hosts.error());
    CHECK_MESSAGE(text.find("TLS error: " + d->address() +
                            ": the TLS handshake failed") != std::string::npos,
                  text);
  }
  check_nothing_spawned(*d);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "mutual TLS: a client of another mesh without a "
                  "certificate is refused and nothing is spawned") {
  auto d = start_tls_meshd();
  {
    // It has a mesh key of its own (every process has), not the daemon's.
    client plain{no_tls()};
    CHECK(mesh::net::uses_tls(plain.sys()));
    auto hosts = host_mesh::attach(plain.sys(), host_mesh_id::instance("plain"),
                                   {d->address()});
    REQUIRE_FALSE(hosts);
    auto text = mesh::to_string(hosts.error());
    CHECK_MESSAGE(text.find("TLS error: " + d->address() +
                            ": the TLS handshake failed") != std::string::npos,
                  text);
  }
  check_nothing_spawned(*d);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "mutual TLS: a CAF connection without a certificate of the "
                  "CA (only another mesh's key) is refused") {
  auto d = start_tls_meshd();
  {
    caf::actor_system_config cfg;
    mesh::configure(cfg);
    cfg.load<caf::openssl::manager>();
    caf::actor_system sys{cfg};
    auto ep = mesh::net::parse_endpoint(d->address());
    REQUIRE(ep);
    caf::scoped_actor self{sys};
    self
      ->request(sys.openssl_manager().actor_handle(), 20s,
                caf::connect_atom::value, ep->host, ep->port)
      .receive(
        [](caf::node_id&, caf::strong_actor_ptr&, std::set<std::string>&) {
          FAIL("an anonymous client got in");
        },
        [](caf::error& err) { CHECK(err != caf::none); });
  }
  check_nothing_spawned(*d);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "mutual TLS: a TLS client refuses a plain daemon") {
  auto d = start({mesh::test::meshd_path(), "--listen", "127.0.0.1:0",
                  "--insecure", "--proc-command",
                  mesh::test::mesh_child_path()});
  client c{client_creds("client_a", "ca_a")};
  mesh::config_override timeout{"attach_config_timeout", "5s"};
  auto hosts =
    host_mesh::attach(c.sys(), host_mesh_id::instance("mixed"), {d->address()});
  REQUIRE_FALSE(hosts);
  CHECK(mesh::is(hosts.error(), mesh::ec::config_push_failed));
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find(d->address()) != std::string::npos, text);
  CHECK(d->running());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshd takes TLS credentials from MESH_TLS_* variables") {
  auto& p = certs();
  auto d = start({mesh::test::meshd_path(), "--listen", "127.0.0.1:0",
                  "--proc-command", mesh::test::mesh_child_path()},
                 {{"MESH_TLS_CERTIFICATE", p.path("server.pem")},
                  {"MESH_TLS_KEY", p.path("server.key")},
                  {"MESH_TLS_CAFILE", p.path("ca_a.pem")}});
  client plain{no_tls()};
  auto refused =
    host_mesh::attach(plain.sys(), host_mesh_id::instance("p"), {d->address()});
  CHECK_FALSE(refused);
  client c{client_creds("client_a", "ca_a")};
  auto hosts = host_mesh::attach(c.sys(), host_mesh_id::instance("envtls"),
                                 {d->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  REQUIRE(hosts->shutdown());
  CHECK(d->wait_exit(30s) == 0);
}

/// The value of `name` in the environment of process `pid` (nullopt: unset).
std::optional<std::string> environment_of(int64_t pid, const std::string& name) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/environ"};
  std::string entry;
  while (std::getline(in, entry, '\0'))
    if (entry.rfind(name + "=", 0) == 0)
      return entry.substr(name.size() + 1);
  return std::nullopt;
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a local host mesh under TLS runs its procs over TLS") {
  client c{client_creds("client_a", "ca_a")};
  // configure() exports nothing: the host hands its own credentials to each
  // child it launches (config snapshots never carry them).
  CHECK(std::getenv("MESH_TLS_CERTIFICATE") == nullptr);
  mesh::bootstrap_command cmd;
  cmd.program = mesh::test::mesh_child_path();
  auto hosts = host_mesh::local_with_bootstrap(c.sys(), cmd);
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("local", extent{{"procs", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  CHECK(environment_of((*states)[0].pid, "MESH_TLS_CERTIFICATE")
        == certs().path("client_a.pem"));
  CHECK(environment_of((*states)[0].pid, "MESH_TLS_CAFILE")
        == certs().path("ca_a.pem"));
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
  CHECK(summary->stopped_politely == 2);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a host without TLS hands its children no credentials, "
                  "whatever this process's environment says") {
  client plain{no_tls()};
  // Set after the client's configuration was read: only children could
  // pick it up, and they must not.
  ::setenv("MESH_TLS_CERTIFICATE", "/nonexistent/stale.pem", 1);
  mesh::bootstrap_command cmd;
  cmd.program = mesh::test::mesh_child_path();
  auto hosts = host_mesh::local_with_bootstrap(plain.sys(), cmd);
  ::unsetenv("MESH_TLS_CERTIFICATE");
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("plain", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  CHECK(environment_of((*states)[0].pid, "MESH_TLS_CERTIFICATE")
        == std::string{});
  CHECK(hosts->shutdown());
}

// -- credentials that cannot work -------------------------------------------

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshd refuses a certificate file that does not exist") {
  auto& p = certs();
  auto err = refused_start(p.path("missing.pem"), p.path("server.key"),
                           p.path("ca_a.pem"));
  CHECK_MESSAGE(err.find("certificate file '" + p.path("missing.pem") +
                         "' cannot be used: No such file or directory") !=
                  std::string::npos,
                err);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshd refuses a key that does not belong to its "
                  "certificate") {
  auto& p = certs();
  auto err = refused_start(p.path("server.pem"), p.path("client_a.key"),
                           p.path("ca_a.pem"));
  CHECK_MESSAGE(err.find("the key in '" + p.path("client_a.key") +
                         "' does not belong to the certificate in '" +
                         p.path("server.pem") + "'") != std::string::npos,
                err);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshd refuses a passphrase-protected key without "
                  "prompting") {
  auto& p = certs();
  auto err = refused_start(p.path("server.pem"), p.path("encrypted.key"),
                           p.path("ca_a.pem"));
  CHECK_MESSAGE(err.find("key file '" + p.path("encrypted.key") +
                         "' cannot be used") != std::string::npos,
                err);
  CHECK_MESSAGE(err.find("not passphrase-protected") != std::string::npos, err);
  CHECK(err.find("Enter PEM pass phrase") == std::string::npos);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshd refuses a certificate too weak for OpenSSL's "
                  "security level") {
  auto& p = certs();
  auto err =
    refused_start(p.path("weak.pem"), p.path("weak.key"), p.path("ca_a.pem"));
  CHECK_MESSAGE(err.find("certificate file '" + p.path("weak.pem") +
                         "' cannot be used: ee key too small") !=
                  std::string::npos,
                err);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshd refuses a CA file that holds no certificate") {
  auto& p = certs();
  auto err = refused_start(p.path("server.pem"), p.path("server.key"),
                           p.path("not_pem.pem"));
  CHECK_MESSAGE(err.find("CA file '" + p.path("not_pem.pem") +
                         "' cannot be used") != std::string::npos,
                err);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "meshd refuses TLS flags given without the others") {
  auto& p = certs();
  auto res =
    mesh::test::run({mesh::test::meshd_path(), "--listen", "127.0.0.1:0",
                     "--tls-cert", p.path("server.pem")});
  CHECK(res.exit_code == 2);
  CHECK_MESSAGE(res.err.find("--tls-cert, --tls-key and --tls-ca go "
                             "together: missing --tls-key, --tls-ca") !=
                  std::string::npos,
                res.err);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a client with unusable credentials gets a TLS error "
                  "instead of a hang") {
  auto d = start_tls_meshd();
  auto creds = client_creds("client_a", "ca_a");
  creds["tls.key"] = certs().path("client_b.key");
  client c{creds};
  auto hosts = host_mesh::attach(c.sys(), host_mesh_id::instance("badkey"),
                                 {d->address()});
  REQUIRE_FALSE(hosts);
  CHECK(mesh::is(hosts.error(), mesh::ec::tls_error));
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(
    text.find("does not belong to the certificate") != std::string::npos, text);
  CHECK(d->running());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a client with only some TLS keys set is told which are "
                  "missing") {
  client c{{{"tls.certificate", certs().path("client_a.pem")}}};
  auto hosts = host_mesh::attach(c.sys(), host_mesh_id::instance("partial"),
                                 {"127.0.0.1:1"});
  REQUIRE_FALSE(hosts);
  CHECK(mesh::is(hosts.error(), mesh::ec::tls_error));
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find("mutual TLS is only partly configured") !=
                  std::string::npos,
                text);
  CHECK_MESSAGE(text.find("missing: tls.key, tls.cafile") != std::string::npos,
                text);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "TLS keys set after the actor system was configured are "
                  "reported, not ignored") {
  client c;
  auto creds = client_creds("client_a", "ca_a");
  std::vector<std::unique_ptr<mesh::config_override>> late;
  for (auto& [k, v] : creds)
    late.push_back(std::make_unique<mesh::config_override>(k, v));
  auto hosts =
    host_mesh::attach(c.sys(), host_mesh_id::instance("late"), {"127.0.0.1:1"});
  REQUIRE_FALSE(hosts);
  auto text = mesh::to_string(hosts.error());
  CHECK_MESSAGE(text.find("changed after this actor system was configured") !=
                  std::string::npos,
                text);
}

TEST_CASE("libmesh guards OpenSSL's error queue in this process") {
  CHECK(mesh::tls::error_queue_guarded());
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a TLS daemon keeps its clients while other connections "
                  "fail their handshake") {
  auto d = start_tls_meshd();
  client c{client_creds("client_a", "ca_a")};
  auto hosts =
    host_mesh::attach(c.sys(), host_mesh_id::instance("kept"), {d->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto before = hosts->spawn("before", extent{{"procs", 1}});
  REQUIRE_MESSAGE(before, mesh::to_string(before.error()));
  // A connect-and-close, garbage, a half-open and an idle connection, then
  // a client without TLS: each fails its handshake at the daemon.
  ::close(mesh::test::raw_connect(d->address()));
  int garbage = mesh::test::raw_connect(d->address());
  std::string noise(2048, '\x16');
  CHECK(::send(garbage, noise.data(), noise.size(), MSG_NOSIGNAL) > 0);
  ::close(garbage);
  int idle = mesh::test::raw_connect(d->address());
  int half = mesh::test::raw_connect(d->address());
  ::shutdown(half, SHUT_WR);
  {
    client plain{no_tls()};
    CHECK_FALSE(host_mesh::attach(plain.sys(), host_mesh_id::instance("no"),
                                  {d->address()}));
  }
  // The established client still talks to the daemon and to its proc.
  auto after = hosts->spawn("after", extent{{"procs", 1}});
  REQUIRE_MESSAGE(after, mesh::to_string(after.error()));
  caf::scoped_actor self{c.sys()};
  self
    ->request(before->agent(0), 10s, mesh::get_config_atom::value,
              std::string{"listen_address"})
    .receive([](const std::string& v) { CHECK(v == "127.0.0.1"); },
             [](caf::error& err) { FAIL(mesh::to_string(err)); });
  // And new clients still get in.
  client other{client_creds("client_a", "ca_a")};
  auto again = host_mesh::attach(other.sys(), host_mesh_id::instance("new"),
                                 {d->address()});
  REQUIRE_MESSAGE(again, mesh::to_string(again.error()));
  REQUIRE(again->stop());
  ::close(idle);
  ::close(half);
  REQUIRE(hosts->shutdown());
  CHECK(d->wait_exit(30s) == 0);
}

TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                  "a TLS client keeps its connections when another host fails "
                  "the handshake") {
  auto good = start_tls_meshd();
  auto plain = start({mesh::test::meshd_path(), "--listen", "127.0.0.1:0",
                      "--insecure", "--proc-command",
                      mesh::test::mesh_child_path()});
  client c{client_creds("client_a", "ca_a")};
  auto hosts = host_mesh::attach(c.sys(), host_mesh_id::instance("good"),
                                 {good->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  CHECK_FALSE(host_mesh::attach(c.sys(), host_mesh_id::instance("bad"),
                                {plain->address()}));
  auto pm = hosts->spawn("still", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  REQUIRE(hosts->shutdown());
  CHECK(good->wait_exit(30s) == 0);
}

// -- tls::check and tls::from_config -----------------------------------------

TEST_CASE("tls::check accepts a matching certificate, key and CA") {
  auto& p = certs();
  CHECK_FALSE(mesh::tls::check(
    {p.path("client_a.pem"), p.path("client_a.key"), p.path("ca_a.pem")}));
}

TEST_CASE("tls::check names an unreadable key file") {
  auto& p = certs();
  auto err = mesh::tls::check(
    {p.path("client_a.pem"), p.path("nope.key"), p.path("ca_a.pem")});
  REQUIRE(err);
  CHECK(mesh::is(err, mesh::ec::tls_error));
  CHECK(mesh::to_string(err) ==
        "TLS error: key file '" + p.path("nope.key") +
          "' cannot be used: No such file or directory");
}

TEST_CASE("tls::from_config: none set, all set, or an error naming what is "
          "missing") {
  auto none = mesh::tls::from_config();
  REQUIRE(none);
  CHECK_FALSE(*none);
  {
    mesh::config_override cert{"tls.certificate", "/c.pem"};
    mesh::config_override key{"tls.key", "/k.pem"};
    auto partial = mesh::tls::from_config();
    REQUIRE_FALSE(partial);
    CHECK(mesh::to_string(partial.error()) ==
          "TLS error: mutual TLS is only partly configured: set "
          "tls.certificate, tls.key and tls.cafile together (missing: "
          "tls.cafile)");
    mesh::config_override ca{"tls.cafile", "/ca.pem"};
    auto all = mesh::tls::from_config();
    REQUIRE(all);
    REQUIRE(*all);
    CHECK((*all)->certificate == "/c.pem");
    CHECK((*all)->key == "/k.pem");
    CHECK((*all)->cafile == "/ca.pem");
  }
}

// -- the mesh key, the handshake behind CAF's back, the frame guard -----------

namespace {

/// CPU time (user + system) this process has used so far.
std::chrono::microseconds cpu_used() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return std::chrono::seconds{tv.tv_sec} +
           std::chrono::microseconds{tv.tv_usec};
  };
  return std::chrono::duration_cast<std::chrono::microseconds>(
    us(ru.ru_utime) + us(ru.ru_stime));
}

std::string header_with_length(uint32_t len) {
  std::string h(mesh::bootstrap::basp_guard::header_size, '\0');
  h[0] = 4; // an operation; the guard reads only the length
  h[4] = static_cast<char>(len >> 24);
  h[5] = static_cast<char>(len >> 16);
  h[6] = static_cast<char>(len >> 8);
  h[7] = static_cast<char>(len);
  return h;
}

bool feed(mesh::bootstrap::basp_guard& g, const std::string& bytes) {
  return g.feed(reinterpret_cast<const unsigned char*>(bytes.data()),
                bytes.size());
}

} // namespace

TEST_CASE("basp_guard follows frames and refuses an oversized header") {
  mesh::bootstrap::basp_guard g{1024};
  CHECK(feed(g, header_with_length(1024) + std::string(1024, 'x')));
  CHECK(feed(g, header_with_length(0)));
  // A header split across reads, announcing one byte too many.
  auto big = header_with_length(1025);
  CHECK(feed(g, big.substr(0, 5)));
  CHECK_FALSE(feed(g, big.substr(5)));
  CHECK(g.refused());
  CHECK(g.refused_size() == 1025);
  CHECK_FALSE(feed(g, header_with_length(0)));
}

TEST_CASE("basp_guard does not read payload bytes as headers") {
  mesh::bootstrap::basp_guard g{64};
  // A payload full of 0xff would be a 4 GiB header if misread.
  CHECK(feed(g, header_with_length(64)));
  for (int i = 0; i < 64; ++i)
    CHECK(feed(g, std::string(1, '\xff')));
  CHECK(feed(g, header_with_length(64) + std::string(64, '\xff') +
                  header_with_length(0)));
  CHECK_FALSE(g.refused());
  CHECK_FALSE(feed(g, header_with_length(0xffffffff)));
  CHECK(g.refused_size() == 0xffffffffu);
}

TEST_CASE_FIXTURE(mesh::test::actor_fixture,
                  "a connection that stalls in the TLS handshake costs the "
                  "host no CPU (CAF would spin on it)") {
  mesh::bootstrap_command child;
  child.program = mesh::test::mesh_child_path();
  auto hosts = host_mesh::local_with_bootstrap(sys, child);
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto addr = hosts->host_addrs()[0];
  // One idle connection, one that sent part of a ClientHello.
  int idle = mesh::test::raw_connect(addr);
  int partial = mesh::test::raw_connect(addr);
  const char hello_start[] = {0x16, 0x03, 0x01, 0x01, 0x00, 0x01};
  REQUIRE(::send(partial, hello_start, sizeof(hello_start), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(sizeof(hello_start)));
  std::this_thread::sleep_for(200ms); // accepted by now
  auto before = cpu_used();
  std::this_thread::sleep_for(1s);
  auto used = cpu_used() - before;
  // A spinning multiplexer burns the whole second; an idle one ~nothing.
  CHECK_MESSAGE(used < 300ms, "used " << used.count() << " us of CPU");
  // The host still serves: a proc comes up over TLS and registers.
  auto procs = hosts->spawn("after-stall", extent{{"gpus", 1}});
  REQUIRE_MESSAGE(procs, mesh::to_string(procs.error()));
  ::close(idle);
  ::close(partial);
  REQUIRE(hosts->shutdown());
}

TEST_CASE("a mesh key's identity names it without revealing it") {
  auto id = mesh::tls::key_identity();
  REQUIRE(id.size() == 8 + 32);
  CHECK(id.rfind("libmesh-", 0) == 0);
  auto& key = mesh::tls::process_transport().key;
  CHECK(key.size() == mesh::tls::key_size);
  CHECK(id.find(key) == std::string::npos);
  // A second adopt of the same transport is a no-op; another is refused.
  CHECK_FALSE(mesh::tls::adopt(mesh::tls::process_transport()));
  auto other = mesh::tls::adopt(
    mesh::tls::transport{false, std::string(mesh::tls::key_size, 'o')});
  REQUIRE(other);
  CHECK(mesh::to_string(other).find("already uses another transport") !=
        std::string::npos);
  auto malformed = mesh::tls::adopt(mesh::tls::transport{false, "short"});
  CHECK(mesh::to_string(malformed).find("malformed mesh key") !=
        std::string::npos);
}

TEST_CASE("CAF binds to libmesh's OpenSSL definitions, so this process is "
          "ready to publish and connect") {
  CHECK(mesh::tls::error_queue_guarded());
  CHECK_FALSE(mesh::tls::ready());
}
