// Daemons a scheduler starts on a user's behalf (mesh/allocator.hpp): meshd
// --mesh-key-file (the client's key, no certificates), --address-file (how
// the client finds it) and --owner-timeout (a daemon whose client died, or
// that nobody claimed, ends by itself; one released by stop() stays). Real
// meshd processes and real client processes, on loopback.
#include "bootstrap/tls.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "meshd_daemon.hpp"
#include "support/actor_fixture.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using mesh::test::meshd_daemon;

namespace {

using owner_fixture = mesh::test::cluster_fixture;

/// A fresh 0700 directory, removed with everything in it.
struct temp_dir {
  std::string path;
  temp_dir() {
    auto templ =
      (std::filesystem::temp_directory_path() / "libmesh-owner-XXXXXX")
        .string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string operator/(const std::string& name) const {
    return path + "/" + name;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// meshd on a free loopback port, trusting only the key in `key_file`, procs
/// running mesh_child.
std::unique_ptr<meshd_daemon> start_keyed(const std::string& key_file,
                                          std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{mesh::test::meshd_path(), "--listen",
                                "127.0.0.1:0", "--proc-command",
                                mesh::test::mesh_child_path(),
                                "--mesh-key-file", key_file};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::string why;
  auto d = meshd_daemon::start(argv, {}, &why);
  REQUIRE_MESSAGE(d, why);
  return d;
}

/// Waits for a daemon's exit: its code, and how long after `since` it came.
std::pair<std::optional<int>, std::chrono::milliseconds>
exit_after(meshd_daemon& d, std::chrono::steady_clock::time_point since,
           std::chrono::milliseconds limit) {
  auto code = d.wait_exit(limit);
  return {code, std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - since)};
}

} // namespace

TEST_CASE("mesh keys round-trip as hex, and malformed texts are named") {
  std::string key(mesh::tls::key_size, '\0');
  for (size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<char>(i * 37 + 11);
  auto hex = mesh::tls::key_to_hex(key);
  CHECK(hex.size() == 64);
  CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  auto back = mesh::tls::key_from_hex(hex);
  REQUIRE(back);
  CHECK(*back == key);
  auto upper = hex;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto from_upper = mesh::tls::key_from_hex(upper + "\n");
  REQUIRE(from_upper);
  CHECK(*from_upper == key);
  for (auto bad : {std::string{}, hex.substr(1), hex + "00", hex + "\n\n",
                   hex.substr(0, 63) + "g", std::string(64, ' ')}) {
    auto res = mesh::tls::key_from_hex(bad);
    REQUIRE_FALSE(res);
    CHECK(mesh::to_string(res.error()).find("malformed mesh key")
          != std::string::npos);
  }
  auto res = mesh::tls::key_from_hex(hex.substr(0, 10) + "x" + hex.substr(11));
  REQUIRE_FALSE(res);
  CHECK(mesh::to_string(res.error()).find("position 11") != std::string::npos);
}

TEST_CASE_FIXTURE(owner_fixture,
                  "a mesh key file is written 0600 once, and only a file of "
                  "this user that nobody else can read is taken") {
  temp_dir dir;
  auto key = dir / "key";
  REQUIRE_FALSE(mesh::write_mesh_key_file(key));
  struct stat st {};
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto read = mesh::tls::read_key_file(key);
  REQUIRE(read);
  CHECK(*read == mesh::tls::process_transport().key);
  // Never over an existing file (it may be another job's).
  auto again = mesh::write_mesh_key_file(key);
  REQUIRE(again);
  CHECK(mesh::to_string(again).find("File exists") != std::string::npos);
  // The process's own key, adopted again: nothing changes.
  CHECK_FALSE(mesh::use_mesh_key_file(key));
  ::chmod(key.c_str(), 0640);
  auto loose = mesh::tls::read_key_file(key);
  REQUIRE_FALSE(loose);
  CHECK(mesh::to_string(loose.error()).find("is open to others (mode 0640)")
        != std::string::npos);
  ::chmod(key.c_str(), 0600);
  auto link = dir / "link";
  REQUIRE(::symlink(key.c_str(), link.c_str()) == 0);
  auto linked = mesh::tls::read_key_file(link);
  REQUIRE_FALSE(linked);
  CHECK(mesh::to_string(linked.error()).find("symbolic link")
        != std::string::npos);
  auto missing = mesh::tls::read_key_file(dir / "none");
  REQUIRE_FALSE(missing);
  CHECK(mesh::to_string(missing.error()).find(dir / "none")
        != std::string::npos);
  // Another key cannot replace the one this process uses.
  auto other = dir / "other";
  {
    std::ofstream out{other};
    out << std::string(64, 'a') << "\n";
  }
  ::chmod(other.c_str(), 0600);
  auto err = mesh::use_mesh_key_file(other);
  REQUIRE(err);
  CHECK(mesh::to_string(err).find("another mesh key") != std::string::npos);
}

TEST_CASE_FIXTURE(owner_fixture,
                  "meshd --mesh-key-file serves the key's holder with no "
                  "certificate, writes its address file, and refuses bad key "
                  "files and --insecure beside one") {
  temp_dir dir;
  auto key = dir / "key";
  REQUIRE_FALSE(mesh::write_mesh_key_file(key));
  auto d = start_keyed(key, {"--address-file", dir / "address"});
  CHECK(slurp(dir / "address") == d->address() + "\n");
  auto hosts = mesh::host_mesh::attach(
    sys, mesh::host_mesh_id::instance("keyed"), {d->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("w", mesh::extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto states = pm->states();
  REQUIRE(states);
  CHECK(states->front().status == mesh::proc_status::running);
  REQUIRE(hosts->shutdown());
  CHECK(d->wait_exit(30s) == 0);

  // A daemon with another key: this process cannot prove it, so the attach
  // fails in the TLS handshake, and the daemon stays up.
  auto other = dir / "other";
  {
    std::ofstream out{other};
    out << std::string(64, '7') << "\n";
  }
  ::chmod(other.c_str(), 0600);
  auto stranger = start_keyed(other);
  auto refused = mesh::host_mesh::attach(
    sys, mesh::host_mesh_id::instance("stranger"), {stranger->address()});
  REQUIRE_FALSE(refused);
  CHECK(stranger->running());

  ::chmod(other.c_str(), 0644);
  auto loose = mesh::test::run({mesh::test::meshd_path(), "--listen",
                                "127.0.0.1:0", "--mesh-key-file", other});
  CHECK(loose.exit_code == 2);
  CHECK_MESSAGE(loose.err.find("is open to others (mode 0644)")
                  != std::string::npos,
                loose.err);
  auto missing = mesh::test::run({mesh::test::meshd_path(), "--listen",
                                  "127.0.0.1:0", "--mesh-key-file",
                                  dir / "none"});
  CHECK(missing.exit_code == 2);
  CHECK_MESSAGE(missing.err.find(dir / "none") != std::string::npos,
                missing.err);
  auto both = mesh::test::run({mesh::test::meshd_path(), "--listen",
                               "127.0.0.1:0", "--mesh-key-file", key,
                               "--insecure"});
  CHECK(both.exit_code == 2);
  CHECK_MESSAGE(both.err.find("contradict") != std::string::npos, both.err);
  auto bad_timeout = mesh::test::run({mesh::test::meshd_path(), "--listen",
                                      "127.0.0.1:0", "--mesh-key-file", key,
                                      "--owner-timeout", "soon"});
  CHECK(bad_timeout.exit_code == 2);
  CHECK_MESSAGE(bad_timeout.err.find("--owner-timeout") != std::string::npos,
                bad_timeout.err);
}

TEST_CASE_FIXTURE(owner_fixture,
                  "meshd --owner-timeout ends a host that nobody claims") {
  temp_dir dir;
  auto key = dir / "key";
  REQUIRE_FALSE(mesh::write_mesh_key_file(key));
  auto started = std::chrono::steady_clock::now();
  auto d = start_keyed(key, {"--owner-timeout", "1"});
  auto [code, after] = exit_after(*d, started, 20s);
  CHECK(code == 0);
  MESSAGE("an unclaimed meshd with --owner-timeout 1 ended "
          << after.count() << " ms after its start");
  CHECK(after >= 1s);
  CHECK_MESSAGE(mesh::test::contains(d->stderr_text(), "owner timeout"),
                d->stderr_text());
}

TEST_CASE_FIXTURE(owner_fixture,
                  "a host whose client was SIGKILLed stops its procs and ends "
                  "within its owner timeout") {
  temp_dir dir;
  auto key = dir / "key";
  REQUIRE_FALSE(mesh::write_mesh_key_file(key));
  // 3 s, not less: the client must claim the host within it of meshd's
  // start, and a sanitized client takes over a second to start.
  auto d = start_keyed(key, {"--owner-timeout", "3s"});
  auto client = mesh::test::start_mesh_child({"attach", key, d->address()});
  REQUIRE_MESSAGE(client.ready, client.output);
  // Longer than the timeout: the claim holds the host while its owner lives.
  std::this_thread::sleep_for(4s);
  CHECK(d->running());
  ::kill(client.pid, SIGKILL);
  auto killed = std::chrono::steady_clock::now();
  ::waitpid(client.pid, nullptr, 0);
  ::close(client.out);
  auto [code, after] = exit_after(*d, killed, 20s);
  CHECK(code == 0);
  MESSAGE("meshd ended " << after.count()
                         << " ms after its client was SIGKILLed "
                            "(--owner-timeout 3s)");
  CHECK(after >= 3s);
  CHECK(after < 11s);
  CHECK_MESSAGE(mesh::test::contains(d->stderr_text(), "its owner is gone"),
                d->stderr_text());
}

TEST_CASE_FIXTURE(owner_fixture,
                  "a host released by stop() outlives its owner timeout and "
                  "takes another attach") {
  temp_dir dir;
  auto key = dir / "key";
  REQUIRE_FALSE(mesh::write_mesh_key_file(key));
  // 3 s, not 1: the client must first claim the host within it of meshd's
  // start, and a sanitized client takes over a second to start.
  auto d = start_keyed(key, {"--owner-timeout", "3s"});
  auto client = mesh::test::start_mesh_child({"attach", key, d->address()});
  REQUIRE_MESSAGE(client.ready, client.output);
  ::kill(client.pid, SIGTERM);
  CHECK(mesh::test::read_until(client, "stopped\n", 30s));
  ::kill(client.pid, SIGKILL);
  ::waitpid(client.pid, nullptr, 0);
  ::close(client.out);
  std::this_thread::sleep_for(4500ms);
  REQUIRE_MESSAGE(d->running(), d->stderr_text());
  // This process holds the same key (the client adopted the file).
  auto hosts = mesh::host_mesh::attach(
    sys, mesh::host_mesh_id::instance("again"), {d->address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("w", mesh::extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  REQUIRE(hosts->shutdown());
  CHECK(d->wait_exit(30s) == 0);
}
