// Hostile input on every entry point (issue 12), on loopback only.
//
// Two entry points listen for peers: a meshd (mutual TLS with certificates of
// the test CA, test/meshd_daemon.hpp) and a local host in this process
// (mutual TLS with this process's mesh key as an external PSK). Each of them
// gets, in a case of its own:
//
//   a) 200 connections of random bytes (fixed seed);
//   b) TLS records and ClientHellos with garbage: made-up records, real
//      ClientHellos of `openssl s_client` truncated or with flipped bytes,
//      and ClientHellos of 128 KiB held open (what each one costs);
//   c) plain TCP BASP: crafted headers, and a real libmesh program (meshctl)
//      with MESH_TRANSPORT_INSECURE=1;
//   d) a valid certificate of another CA (openssl s_client, and meshctl);
//   e) an expired certificate signed by the right CA;
//   f) 500 idle TCP connections, held open until the end (and, for a meshd
//      allowed 256 descriptors, more connections than that);
//   g) a peer that sends a ClientHello one byte per second;
//   h) an authenticated peer (openssl s_client with client A's certificate,
//      or with the mesh key as TLS 1.3 external PSK) that announces a BASP
//      payload of 4 GiB - 1, and one that sends random BASP frames;
// and for meshd only:
//   i) internal messages of the host agent (registration without token,
//      proc exit reports, escalation, timers) from an attached client.
//
// After each: the host still serves an authenticated client that connects
// anew (meshd: attach and run a proc; local: a call from a fresh actor
// system plus a proc, which registers over a new connection), its RSS stayed
// within 64 MiB of its value before the attack (peak included: VmHWM after
// resetting it through /proc/PID/clear_refs), it holds no descriptor of a
// closed attack, and meshd exits 0 within 2 s of SIGTERM
// (MESH_TERMINATE_TIMEOUT=1s) with whatever the case still holds open; the
// local host's actor system is torn down with it. Idle and slow peers cost
// the host no CPU. Each case prints its RSS figures (start, peak, end) on
// stdout.
#include "actors/internal_interfaces.hpp"
#include "actors/proc_agent.hpp"
#include "bootstrap/basp_guard.hpp"
#include "bootstrap/network.hpp"
#include "bootstrap/payload.hpp"
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

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::host_mesh_id;
using mesh::proc_status;
using mesh::test::certs;
using mesh::test::meshd_daemon;
using clock_type = std::chrono::steady_clock;

namespace {

/// Built with AddressSanitizer (scripts/sanitize.sh): its allocator adds
/// redzones and keeps freed memory in quarantine, so the memory bounds below
/// measure ASan as much as libmesh; they are four times as wide there. The
/// normal run checks the real bounds.
#if defined(__SANITIZE_ADDRESS__)
constexpr long memory_scale = 4;
#else
constexpr long memory_scale = 1;
#endif

/// How far a host's RSS may grow over a case.
constexpr long rss_slack_kib = 64 * 1024 * memory_scale;

/// meshd's terminate_timeout here, and how long it may take to exit.
constexpr auto meshd_terminate_timeout = "1s";
constexpr auto meshd_exit_limit = 2s;

// -- bytes --------------------------------------------------------------------

std::string random_bytes(std::mt19937& gen, size_t n) {
  std::string result(n, '\0');
  for (auto& c : result)
    c = static_cast<char>(gen() & 0xff);
  return result;
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  for (unsigned char c : bytes) {
    result += digits[c >> 4];
    result += digits[c & 0xf];
  }
  return result;
}

void put_be(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    out += static_cast<char>((value >> (8 * i)) & 0xff);
}

/// A BASP header of CAF 0.17.6 (bootstrap/basp_guard.hpp): operation (1),
/// padding (2), flags (1), payload_len (4), operation_data (8),
/// source_actor (8), dest_actor (8), big-endian.
std::string basp_header(uint8_t op, uint32_t payload_len,
                        uint64_t operation_data = 0) {
  std::string h;
  h += static_cast<char>(op);
  h += std::string(3, '\0');
  put_be(h, payload_len, 4);
  put_be(h, operation_data, 8);
  put_be(h, 0, 8);
  put_be(h, 0, 8);
  REQUIRE(h.size() == mesh::bootstrap::basp_guard::header_size);
  return h;
}

/// A TLS record: content type, legacy version, length, body.
std::string tls_record(uint8_t type, std::string_view body,
                       std::optional<uint16_t> claimed_len = std::nullopt) {
  std::string r;
  r += static_cast<char>(type);
  r += "\x03\x01";
  put_be(r, claimed_len.value_or(static_cast<uint16_t>(body.size())), 2);
  r += body;
  return r;
}

// -- raw sockets --------------------------------------------------------------

/// Sends what the peer takes; stops quietly when it closed the connection.
void send_all(int fd, std::string_view bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    sent += static_cast<size_t>(n);
  }
}

/// File descriptors closed on destruction.
struct held_fds {
  std::vector<int> fds;
  held_fds() = default;
  held_fds(held_fds&& other) noexcept : fds(std::move(other.fds)) {
    other.fds.clear();
  }
  held_fds& operator=(held_fds&& other) noexcept {
    std::swap(fds, other.fds);
    return *this;
  }
  ~held_fds() {
    for (auto fd : fds)
      ::close(fd);
  }
};

/// For each connection, whether the peer closed it (EOF or reset) within
/// `within`; what it sends meanwhile (TLS alerts) is read and dropped.
std::vector<bool> closed_by_peer(const std::vector<int>& fds,
                                 std::chrono::milliseconds within) {
  std::vector<bool> closed(fds.size(), false);
  auto deadline = clock_type::now() + within;
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i)
      if (!closed[i]) {
        pfds.push_back({fds[i], POLLIN, 0});
        index.push_back(i);
      }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    if (pfds.empty() || left.count() <= 0)
      return closed;
    if (::poll(pfds.data(), pfds.size(), static_cast<int>(left.count())) <= 0)
      continue;
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0)
        continue;
      char buf[4096];
      auto n = ::recv(pfds[k].fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        closed[index[k]] = true;
    }
  }
}

size_t count(const std::vector<bool>& xs) {
  return static_cast<size_t>(std::count(xs.begin(), xs.end(), true));
}

/// Makes sure this process may hold `n` more descriptors.
void ensure_fd_room(rlim_t n) {
  rlimit lim{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  if (lim.rlim_cur < n) {
    lim.rlim_cur = std::min<rlim_t>(n, lim.rlim_max);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lim) == 0);
  }
  REQUIRE_MESSAGE(lim.rlim_cur >= n, "RLIMIT_NOFILE " << lim.rlim_cur);
}

/// The soft RLIMIT_NOFILE of process `pid`, from /proc/PID/limits.
long fd_limit_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/limits"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream fields{line.substr(14)};
      long soft = -1;
      fields >> soft;
      return soft;
    }
  return -1;
}

// -- memory -------------------------------------------------------------------

/// A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"); -1 if gone.
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  return -1;
}

/// How many file descriptors process `pid` has open.
size_t fd_count(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it{
    "/proc/" + std::to_string(pid) + "/fd", ec};
  size_t n = 0;
  for (; !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
    ++n;
  return n;
}

/// CPU time (user + system) that process `pid` used so far.
std::chrono::milliseconds cpu_time(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  // Fields after the command name (which may hold spaces): state is field
  // 3, utime and stime are fields 14 and 15.
  std::istringstream fields{text.substr(text.rfind(')') + 2)};
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14)
      utime = std::stol(field);
    if (i == 15)
      stime = std::stol(field);
  }
  return std::chrono::milliseconds{(utime + stime) * 1000 /
                                   ::sysconf(_SC_CLK_TCK)};
}

/// CPU time that process `pid` uses during `window` while this thread
/// sleeps: a host that only holds idle connections uses next to none.
std::chrono::milliseconds cpu_while_idle(pid_t pid,
                                         std::chrono::milliseconds window) {
  auto before = cpu_time(pid);
  std::this_thread::sleep_for(window);
  return cpu_time(pid) - before;
}

/// RSS of a process over a case: its value at the start, its peak (VmHWM,
/// reset at the start) and its value at the end.
class rss_probe {
public:
  explicit rss_probe(pid_t pid) : pid_(pid) {
    // "5" resets the peak RSS to the current RSS (proc(5), clear_refs).
    std::ofstream{"/proc/" + std::to_string(pid) + "/clear_refs"} << "5";
    start_ = status_kib(pid, "VmRSS");
  }

  void check(const std::string& what) const {
    auto end = status_kib(pid_, "VmRSS");
    auto peak = std::max(status_kib(pid_, "VmHWM"), end);
    std::printf("hostile RSS %-40s start %7ld KiB  peak %7ld KiB  end %7ld "
                "KiB  (peak +%ld KiB)\n",
                what.c_str(), start_, peak, end, peak - start_);
    std::fflush(stdout);
    INFO(what << ": RSS start " << start_ << " KiB, peak " << peak
              << " KiB, end " << end << " KiB");
    REQUIRE(start_ > 0);
    CHECK(peak - start_ <= rss_slack_kib);
    CHECK(end - start_ <= rss_slack_kib);
  }

private:
  pid_t pid_;
  long start_ = -1;
};

// -- clients ------------------------------------------------------------------

std::map<std::string, std::string> no_tls() {
  return {{"tls.certificate", ""}, {"tls.key", ""}, {"tls.cafile", ""}};
}

/// Runs `openssl s_client` against `address` with `flags`; stdin carries
/// `input`, then EOF. -quiet (which implies -ign_eof) keeps it connected
/// after that EOF until the server closes: its stdout is exactly what the
/// server sent as application data (for a libmesh host: BASP).
mesh::test::run_result s_client(const std::string& address,
                                const std::vector<std::string>& flags,
                                const std::string& input,
                                std::chrono::milliseconds timeout = 20s) {
  std::vector<std::string> argv{"openssl", "s_client", "-connect", address,
                                "-quiet"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return mesh::test::run(argv, timeout, {}, input);
}

/// s_client's flags for this process's mesh key as TLS 1.3 external PSK, as
/// libmesh offers it (bootstrap/tls.hpp).
std::vector<std::string> psk_flags() {
  return {"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256",
          "-psk_identity", mesh::tls::key_identity(), "-psk",
          hex(mesh::tls::process_transport().key)};
}

std::vector<std::string> cert_flags(const std::string& who,
                                    const std::string& ca = "ca_a") {
  auto& p = certs();
  return {"-tls1_3", "-cert", p.path(who + ".pem"), "-key",
          p.path(who + ".key"), "-CAfile", p.path(ca + ".pem")};
}

/// The first record `openssl s_client` with `flags` sends: a real
/// ClientHello, captured on a listener of this process.
std::string capture_client_hello(const std::vector<std::string>& flags) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(lfd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), len) == 0);
  REQUIRE(::listen(lfd, 1) == 0);
  REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  auto address = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  mesh::test::run_result res;
  std::thread client{[&] { res = s_client(address, flags, "", 20s); }};
  std::string hello;
  pollfd pfd{lfd, POLLIN, 0};
  if (::poll(&pfd, 1, 20000) == 1) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    auto deadline = clock_type::now() + 20s;
    auto wanted = [&] {
      return hello.size() < 5
               ? size_t{5}
               : 5 + ((static_cast<unsigned char>(hello[3]) << 8) |
                      static_cast<unsigned char>(hello[4]));
    };
    while (fd >= 0 && hello.size() < wanted() &&
           clock_type::now() < deadline) {
      pollfd in{fd, POLLIN, 0};
      if (::poll(&in, 1, 1000) != 1)
        continue;
      char buf[4096];
      auto n = ::recv(fd, buf, std::min(sizeof(buf), wanted() - hello.size()),
                      0);
      if (n <= 0)
        break;
      hello.append(buf, static_cast<size_t>(n));
    }
    if (fd >= 0)
      ::close(fd);
  }
  ::close(lfd);
  client.join();
  REQUIRE_MESSAGE(hello.size() > 5, "no ClientHello; s_client: " << res.err);
  REQUIRE(hello[0] == '\x16');
  REQUIRE(hello[5] == '\x01');
  return hello;
}

/// Real ClientHellos, captured once per run.
const std::string& plain_client_hello() {
  static const std::string hello = capture_client_hello({"-tls1_3"});
  return hello;
}

const std::string& psk_client_hello() {
  static const std::string hello = capture_client_hello(psk_flags());
  return hello;
}

/// A certificate of client "expired" signed by CA-A, valid only in 2020:
/// everything right but the dates. Made with `openssl ca`, which (unlike
/// `openssl x509` in OpenSSL 3.0) takes explicit start and end dates.
const std::string& expired_certificate() {
  static const std::string made = [] {
    auto& p = certs();
    auto dir = p.path("expired-ca");
    std::filesystem::create_directories(dir);
    std::ofstream{dir + "/index.txt"};
    std::ofstream{dir + "/serial"} << "1000\n";
    std::ofstream{dir + "/ca.cnf"} << "[ca]\n"
                                      "default_ca = test\n"
                                      "[test]\n"
                                      "database = " << dir << "/index.txt\n"
                                      "new_certs_dir = " << dir << "\n"
                                      "serial = " << dir << "/serial\n"
                                      "default_md = sha256\n"
                                      "policy = anything\n"
                                      "unique_subject = no\n"
                                      "[anything]\n"
                                      "commonName = supplied\n";
    auto step = [](std::vector<std::string> argv) {
      auto res = mesh::test::run(argv, 60s);
      REQUIRE_MESSAGE(res.exit_code == 0, argv[1] << ": " << res.err);
    };
    step({"openssl", "req", "-newkey", "ec", "-pkeyopt",
          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
          p.path("expired.key"), "-out", p.path("expired.csr"), "-subj",
          "/CN=expired"});
    step({"openssl", "ca", "-batch", "-config", dir + "/ca.cnf", "-cert",
          p.path("ca_a.pem"), "-keyfile", p.path("ca_a.key"), "-in",
          p.path("expired.csr"), "-out", p.path("expired.pem"), "-notext",
          "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"});
    // It is what the test wants: signed by CA-A, expired.
    auto verify = mesh::test::run({"openssl", "verify", "-CAfile",
                                   p.path("ca_a.pem"), p.path("expired.pem")});
    auto said = verify.out + verify.err;
    REQUIRE_MESSAGE(said.find("certificate has expired") != std::string::npos,
                    said);
    return p.path("expired.pem");
  }();
  return made;
}

/// A mesh file for meshctl that attaches to `address` and runs one proc.
std::string attach_mesh_file(const std::string& address) {
  char tmpl[] = "/tmp/hostile-mesh-XXXXXX.yaml";
  int fd = ::mkstemps(tmpl, 5);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream{tmpl} << "hosts:\n"
                         "  mode: attach\n"
                         "  addresses: ['"
                      << address
                      << "']\n"
                         "proc_meshes:\n"
                         "  - name: intruders\n"
                         "    per_host: {procs: 1}\n"
                         "config:\n"
                         "  attach_config_timeout: 3s\n";
  return tmpl;
}

/// Runs `meshctl up --once` against `address` with `env`: a libmesh client
/// in a process of its own. It must fail; returns its stderr.
std::string meshctl_refused(const std::string& address,
                            const std::map<std::string, std::string>& env) {
  auto file = attach_mesh_file(address);
  auto started = clock_type::now();
  auto res = mesh::test::run(
    {mesh::test::build_path("tools/meshctl"), "up", "--once", file}, 60s, env);
  auto took = clock_type::now() - started;
  ::unlink(file.c_str());
  std::string how = env.count("MESH_TRANSPORT_INSECURE") ? "plain TCP" : "TLS";
  MESSAGE("meshctl (" << how << ") gave up after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                          took)
                          .count()
                     << " ms with " << res.exit_code.value_or(-1) << ": "
                     << res.err);
  CHECK_FALSE(res.timed_out);
  CHECK(res.exit_code.has_value());
  CHECK(res.exit_code != 0);
  return res.err;
}

// -- the two entry points -----------------------------------------------------

/// What a case attacks, and how it checks the aftermath.
class hostile_target {
public:
  virtual ~hostile_target() = default;
  /// "meshd" or "local".
  virtual std::string kind() const = 0;
  /// Where it listens ("127.0.0.1:PORT").
  virtual std::string address() const = 0;
  /// The process that listens.
  virtual pid_t pid() const = 0;
  /// Its stderr so far.
  virtual std::string log() const = 0;
  /// An authenticated client that connects anew is served: fails if not.
  virtual void check_serves() = 0;
  /// s_client flags of a peer it lets in.
  virtual std::vector<std::string> authenticated_flags() const = 0;
  /// The end of a case, with what it holds still open: meshd must exit 0
  /// within 2 s of SIGTERM; the local host must shut down, and its actor
  /// system must be torn down, within a few seconds.
  virtual void finish(held_fds& held) = 0;

  /// A case: the attack, then the checks. `attack` returns what must stay
  /// open until the end (idle connections).
  void run(const std::string& what, const std::function<held_fds()>& attack) {
    check_serves(); // warm: the first attach allocates for good
    auto fds = fd_count(pid());
    rss_probe rss{pid()};
    auto held = attack();
    check_serves();
    rss.check(kind() + " " + what);
    if (held.fds.empty()) {
      // Every connection of the attack is closed: the host holds none of
      // them (CAF closes a socket once both sides are done with it).
      auto deadline = clock_type::now() + 10s;
      while (fd_count(pid()) > fds + 8 && clock_type::now() < deadline)
        std::this_thread::sleep_for(20ms);
      INFO("open descriptors before " << fds << ", after " << fd_count(pid()));
      CHECK(fd_count(pid()) <= fds + 8);
    }
    finish(held);
  }

  /// Waits up to `limit` for `text` in log().
  bool log_shows(const std::string& text, std::chrono::milliseconds limit) {
    auto deadline = clock_type::now() + limit;
    while (log().find(text) == std::string::npos) {
      if (clock_type::now() >= deadline)
        return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
};

/// A meshd with the server certificate of CA-A, procs running mesh_child,
/// a short terminate_timeout.
struct meshd_target : mesh::test::reaped_fixture, hostile_target {
  std::unique_ptr<meshd_daemon> d;
  int probes = 0;

  /// `wrapper` runs meshd (e.g. prlimit with its arguments).
  explicit meshd_target(std::vector<std::string> wrapper = {}) {
    auto argv = wrapper;
    for (auto arg : {mesh::test::meshd_path(), std::string{"--listen"},
                     std::string{"127.0.0.1:0"}, std::string{"--proc-command"},
                     mesh::test::mesh_child_path()})
      argv.push_back(arg);
    auto tls = mesh::test::meshd_tls_flags();
    argv.insert(argv.end(), tls.begin(), tls.end());
    std::string why;
    d = meshd_daemon::start(
      argv, {{"MESH_TERMINATE_TIMEOUT", meshd_terminate_timeout}}, &why);
    REQUIRE_MESSAGE(d, why);
  }

  std::string kind() const override { return "meshd"; }
  std::string address() const override { return d->address(); }
  pid_t pid() const override { return d->pid(); }
  std::string log() const override { return d->stderr_text(); }

  std::vector<std::string> authenticated_flags() const override {
    return cert_flags("client_a");
  }

  void check_serves() override {
    REQUIRE_MESSAGE(d->running(), d->stderr_text());
    // A fresh actor system: a new connection, not CAF's cached one.
    mesh::test::tls_client c{mesh::test::client_tls_settings()};
    auto name = "probe" + std::to_string(probes++);
    auto hosts =
      host_mesh::attach(c.sys(), host_mesh_id::instance(name), {address()});
    REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
    auto pm = hosts->spawn(name, extent{{"procs", 1}});
    REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
    auto states = pm->states();
    REQUIRE(states);
    CHECK(states->front().status == proc_status::running);
    REQUIRE(hosts->stop());
  }

  void finish(held_fds&) override {
    auto sent = clock_type::now();
    d->signal(SIGTERM);
    auto code = d->wait_exit(std::chrono::duration_cast<
                             std::chrono::milliseconds>(meshd_exit_limit));
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - sent);
    std::printf("hostile meshd exited %d ms after SIGTERM\n",
                static_cast<int>(took.count()));
    CHECK_MESSAGE(code == 0, "meshd exit " << code.value_or(-1) << " after "
                                           << took.count() << " ms; stderr: "
                                           << d->stderr_text());
  }
};

/// A meshd allowed 256 descriptors, as a daemon under a small
/// RLIMIT_NOFILE would be (systemd's default soft limit is 1024).
struct meshd_few_fds_target : meshd_target {
  meshd_few_fds_target() : meshd_target({"prlimit", "--nofile=256:256"}) {}
};

/// Sends this process's stderr to a file while it lives (the local host logs
/// there), then copies what it caught to the real stderr.
class stderr_capture {
public:
  stderr_capture() {
    char tmpl[] = "/tmp/hostile-stderr-XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    path_ = tmpl;
    std::fflush(stderr);
    saved_ = ::dup(2);
    ::dup2(fd, 2);
    ::close(fd);
  }

  ~stderr_capture() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    auto caught = text();
    std::fwrite(caught.data(), 1, caught.size(), stderr);
    ::unlink(path_.c_str());
  }

  std::string text() const {
    std::ifstream in{path_};
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

private:
  std::string path_;
  int saved_ = -1;
};

/// A local host in this process (procs run mesh_child), authenticated with
/// this process's mesh key only: no certificates.
struct local_target : mesh::test::reaped_fixture, hostile_target {
  stderr_capture err;
  std::vector<std::unique_ptr<mesh::config_override>> overrides = [] {
    std::vector<std::unique_ptr<mesh::config_override>> result;
    auto settings = no_tls();
    settings.emplace("terminate_timeout", mesh::test::polite_window());
    for (auto& [k, v] : settings)
      result.push_back(std::make_unique<mesh::config_override>(k, v));
    return result;
  }();
  mesh::test::test_config cfg;
  std::unique_ptr<caf::actor_system> sys =
    std::make_unique<caf::actor_system>(cfg);
  std::optional<host_mesh> hosts;
  int probes = 0;

  local_target() {
    mesh::bootstrap_command cmd;
    cmd.program = mesh::test::mesh_child_path();
    auto h = host_mesh::local_with_bootstrap(*sys, cmd);
    REQUIRE_MESSAGE(h, mesh::to_string(h.error()));
    hosts.emplace(std::move(*h));
  }

  ~local_target() {
    if (hosts)
      hosts->shutdown();
  }

  std::string kind() const override { return "local"; }
  std::string address() const override { return hosts->host_addrs()[0]; }
  pid_t pid() const override { return ::getpid(); }
  std::string log() const override { return err.text(); }

  std::vector<std::string> authenticated_flags() const override {
    return psk_flags();
  }

  void check_serves() override {
    // A call from a fresh actor system of this process (it holds the mesh
    // key): a new TLS connection to the host agent.
    {
      mesh::test::tls_client peer{no_tls()};
      auto ep = mesh::net::parse_endpoint(address());
      REQUIRE(ep);
      auto agent =
        mesh::net::connect<mesh::host_agent_actor>(peer.sys(), *ep, 10s);
      REQUIRE_MESSAGE(agent, mesh::to_string(agent.error()));
      caf::scoped_actor self{peer.sys()};
      bool answered = false;
      self->request(*agent, 10s, mesh::list_procs_atom::value)
        .receive([&](const std::vector<std::string>&) { answered = true; },
                 [](caf::error& e) { FAIL(mesh::to_string(e)); });
      CHECK(answered);
    }
    // A proc: a child that registers over a connection of its own.
    auto name = "probe" + std::to_string(probes++);
    auto pm = hosts->spawn(name, extent{{"procs", 1}});
    REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
    auto states = pm->states();
    REQUIRE(states);
    CHECK(states->front().status == proc_status::running);
    REQUIRE(pm->stop());
  }

  void finish(held_fds& held) override {
    auto started = clock_type::now();
    auto summary = hosts->shutdown();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - started);
    CHECK_MESSAGE(summary, mesh::to_string(summary.error()));
    CHECK(took < 10s);
    hosts.reset();
    // The actor system goes too, with the attack's connections still open:
    // CAF's multiplexer must not wait for them (it did for a connection
    // whose TLS handshake never finished). If it hangs, a watchdog shuts
    // them down from this side, which lets it go: the test fails instead of
    // hanging. (The teardown itself runs on this thread: CAF 0.17's actor
    // system waits for every thread that used it to let go of its logger.)
    std::atomic<bool> gone{false};
    std::atomic<bool> rescued{false};
    std::thread watchdog{[&, fds = held.fds] {
      auto deadline = clock_type::now() + 5s;
      while (!gone && clock_type::now() < deadline)
        std::this_thread::sleep_for(10ms);
      if (gone)
        return;
      rescued = true;
      for (auto fd : fds)
        ::shutdown(fd, SHUT_RDWR);
    }};
    auto teardown_started = clock_type::now();
    sys.reset();
    gone = true;
    watchdog.join();
    auto teardown_took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - teardown_started);
    CHECK_MESSAGE(!rescued, "the actor system waited for "
                              << held.fds.size() << " idle connection(s)");
    std::printf("hostile local host shut down in %d ms, its actor system "
                "torn down in %d ms\n",
                static_cast<int>(took.count()),
                static_cast<int>(teardown_took.count()));
  }
};

// -- the attacks --------------------------------------------------------------

/// a) 200 connections, each with 1..4096 random bytes. Every connection
/// whose bytes cannot begin a TLS record is closed by the host.
held_fds random_connections(hostile_target& t) {
  std::mt19937 gen{0x5eed};
  held_fds conns;
  std::vector<bool> must_close;
  for (int i = 0; i < 200; ++i) {
    auto bytes = random_bytes(gen, 1 + gen() % 4096);
    int fd = mesh::test::raw_connect(t.address());
    conns.fds.push_back(fd);
    // 0x16 starts a handshake record: the host may wait for the rest.
    must_close.push_back(bytes[0] != '\x16');
    send_all(fd, bytes);
  }
  auto closed = closed_by_peer(conns.fds, 10s);
  size_t expected = 0, missing = 0;
  for (size_t i = 0; i < closed.size(); ++i) {
    expected += must_close[i];
    missing += must_close[i] && !closed[i];
  }
  MESSAGE(count(closed) << " of 200 random connections closed by the host ("
                        << expected << " had to be)");
  CHECK(missing == 0);
  return {};
}

/// b) TLS records that look right and are not, and real ClientHellos
/// truncated or with flipped bytes.
held_fds tls_garbage(hostile_target& t) {
  std::mt19937 gen{0xc11e};
  struct attempt {
    std::string label;
    std::string bytes;
    bool must_close; // false: the host may wait for more
  };
  std::vector<attempt> attempts;
  auto hello_header = [](uint32_t len) {
    std::string h{"\x01"};
    put_be(h, len, 3);
    return h;
  };
  // A handshake record holding a ClientHello header and random bytes.
  attempts.push_back({"random ClientHello body",
                      tls_record(0x16, hello_header(508) +
                                         random_bytes(gen, 508)),
                      true});
  attempts.push_back(
    {"record of 16 KiB claimed, 100 bytes sent",
     tls_record(0x16, hello_header(16380) + random_bytes(gen, 96), 16384),
     false});
  attempts.push_back({"record longer than TLS allows",
                      tls_record(0x16, random_bytes(gen, 1000), 0xffff), true});
  // A ClientHello that claims 16 MiB, in full records: OpenSSL refuses a
  // ClientHello above 128 KiB or so, whatever its records say.
  {
    std::string bytes;
    std::string body = hello_header(0xffffff) + random_bytes(gen, 16380);
    for (int i = 0; i < 12; ++i) {
      bytes += tls_record(0x16, body);
      body = random_bytes(gen, 16384);
    }
    attempts.push_back({"ClientHello of 16 MiB claimed", bytes, true});
  }
  attempts.push_back({"alert before hello",
                      tls_record(0x15, std::string{"\x02\x28", 2}), true});
  attempts.push_back(
    {"change_cipher_spec before hello", tls_record(0x14, "\x01"), true});
  attempts.push_back({"application data before hello",
                      tls_record(0x17, random_bytes(gen, 64)), true});
  attempts.push_back({"SSLv2-style hello",
                      std::string{"\x80\x2e\x01\x03\x01", 5} +
                        random_bytes(gen, 43),
                      true});
  {
    std::string empties;
    for (int i = 0; i < 64; ++i)
      empties += tls_record(0x16, "");
    attempts.push_back({"64 empty handshake records", empties, true});
  }
  for (auto* hello : {&plain_client_hello(), &psk_client_hello()}) {
    auto kind = hello == &plain_client_hello() ? std::string{"ClientHello"}
                                               : std::string{"PSK ClientHello"};
    for (size_t n : {size_t{1}, size_t{3}, size_t{5}, size_t{6}, size_t{9},
                     size_t{43}, hello->size() / 2, hello->size() - 1})
      attempts.push_back({kind + " cut at " + std::to_string(n),
                          hello->substr(0, n), false});
    // A whole hello, then a record of nothing TLS knows.
    attempts.push_back({kind + " then garbage",
                        *hello + "\xff" + random_bytes(gen, 200), true});
    for (int i = 0; i < 25; ++i) {
      auto bytes = *hello;
      auto flips = 1 + gen() % 8;
      for (size_t f = 0; f < flips; ++f)
        bytes[gen() % bytes.size()] ^= static_cast<char>(1 + gen() % 255);
      attempts.push_back(
        {kind + " with flipped bytes #" + std::to_string(i), bytes, false});
    }
  }
  held_fds conns;
  for (auto& a : attempts) {
    int fd = mesh::test::raw_connect(t.address());
    conns.fds.push_back(fd);
    send_all(fd, a.bytes);
  }
  auto closed = closed_by_peer(conns.fds, 10s);
  size_t waited = 0;
  for (size_t i = 0; i < attempts.size(); ++i) {
    if (attempts[i].must_close)
      CHECK_MESSAGE(closed[i], attempts[i].label << ": still open");
    else if (!closed[i])
      ++waited;
  }
  MESSAGE(attempts.size() << " TLS garbage connections, " << count(closed)
                          << " closed by the host, " << waited
                          << " left waiting for more (closed by the test)");
  return {};
}

/// A ClientHello that announces `size` bytes of body, in full records, with
/// its last byte missing: the host keeps all of it while it waits.
std::string big_client_hello(std::mt19937& gen, uint32_t size) {
  std::string body{"\x01"};
  put_be(body, size, 3);
  body += random_bytes(gen, size);
  std::string bytes;
  for (size_t at = 0; at < body.size(); at += 16384)
    bytes += tls_record(0x16, std::string_view{body}.substr(at, 16384));
  bytes.pop_back();
  return bytes;
}

/// b') What an unauthenticated peer can make the host keep: 100 connections
/// that each send a ClientHello of 128 KiB but its last byte, held open.
/// OpenSSL buffers a ClientHello of up to 131396 bytes (its
/// CLIENT_HELLO_MAX_LENGTH) whatever the context says, plus one record of
/// read buffer (the 64 KiB read-ahead buffer only comes after the
/// handshake, bootstrap/tls_interpose.cpp) and the session: measured 220 KiB
/// of RSS per connection (with MALLOC_PERTURB_, as meson sets it, too),
/// held as long as the peer keeps the connection open. Nothing in libmesh
/// or CAF bounds how many such handshakes wait at once but RLIMIT_NOFILE
/// (65536 in config/meshd.service: ~14 GiB), so this is an amplification
/// any peer that can connect has. Asserted is what holds: the cost per
/// connection stays under 256 KiB, a larger ClientHello is refused at once,
/// and the host serves meanwhile (run()).
held_fds big_hellos(hostile_target& t) {
  std::mt19937 gen{0xb16};
  auto held_hello = big_client_hello(gen, 128 * 1024);
  auto too_big = big_client_hello(gen, 140 * 1024);
  auto before = status_kib(t.pid(), "VmRSS");
  held_fds conns;
  constexpr size_t n = 100;
  for (size_t i = 0; i < n; ++i) {
    conns.fds.push_back(mesh::test::raw_connect(t.address()));
    send_all(conns.fds.back(), held_hello);
  }
  int refused = mesh::test::raw_connect(t.address());
  send_all(refused, too_big);
  auto closed = closed_by_peer({refused}, 10s);
  ::close(refused);
  CHECK_MESSAGE(closed[0], "a ClientHello of 140 KiB was kept");
  // The host has read them all once none of them is still in the socket
  // buffers; they wait for their last byte.
  std::this_thread::sleep_for(1s);
  CHECK(count(closed_by_peer(conns.fds, 100ms)) == 0);
  auto per_connection = (status_kib(t.pid(), "VmRSS") - before) / long{n};
  MESSAGE(t.kind() << " keeps " << per_connection
                   << " KiB of RSS per unauthenticated connection holding a "
                      "ClientHello of 128 KiB");
  CHECK(per_connection < 256 * memory_scale);
  return conns;
}

/// c) BASP in plain TCP to the TLS port: crafted headers (an oversized one
/// too), then a real libmesh client with MESH_TRANSPORT_INSECURE=1.
held_fds plain_basp(hostile_target& t) {
  std::mt19937 gen{0xba5b};
  std::vector<std::string> frames{
    basp_header(0x00, 64) + random_bytes(gen, 64),
    basp_header(0x01, 16, 3) + random_bytes(gen, 16),
    basp_header(0x02, 0xffffffff),
    basp_header(0x06, 0),
  };
  held_fds conns;
  for (auto& f : frames) {
    int fd = mesh::test::raw_connect(t.address());
    conns.fds.push_back(fd);
    send_all(fd, f);
  }
  auto closed = closed_by_peer(conns.fds, 10s);
  for (size_t i = 0; i < closed.size(); ++i)
    CHECK_MESSAGE(closed[i], "plain BASP frame " << i << " left open");
  auto err = meshctl_refused(t.address(), {{"MESH_TRANSPORT_INSECURE", "1"}});
  CHECK_MESSAGE(err.find(t.address()) != std::string::npos, err);
  return {};
}

/// d) A valid certificate of CA-B (which the host does not trust), with
/// s_client (trusting the host's CA, so only the host can refuse) and with
/// a libmesh client in a process of its own.
held_fds other_ca(hostile_target& t) {
  auto res = s_client(t.address(), cert_flags("client_b"),
                      basp_header(0x01, 0));
  CHECK_FALSE(res.timed_out);
  CHECK_MESSAGE(res.out.empty(), "the host spoke BASP to client B");
  MESSAGE("s_client with client B: " << res.err);
  auto err = meshctl_refused(t.address(),
                             mesh::test::client_tls_env("client_b", "ca_a"));
  CHECK_MESSAGE(err.find("TLS handshake failed") != std::string::npos, err);
  return {};
}

/// e) A certificate signed by CA-A that expired in 2020.
held_fds expired(hostile_target& t) {
  auto& p = certs();
  auto res = s_client(t.address(),
                      {"-tls1_3", "-cert", expired_certificate(), "-key",
                       p.path("expired.key"), "-CAfile", p.path("ca_a.pem")},
                      basp_header(0x01, 0));
  CHECK_FALSE(res.timed_out);
  CHECK_MESSAGE(res.out.empty(), "the host spoke BASP to an expired client");
  MESSAGE("s_client with an expired certificate: " << res.err);
  if (t.kind() == "meshd") // alert 45: certificate_expired
    CHECK_MESSAGE(res.err.find("alert number 45") != std::string::npos,
                  res.err);
  return {};
}

/// f) 500 idle TCP connections, held while the host is checked and until
/// the end of the case (meshd gets its SIGTERM with them open).
held_fds idle_connections(hostile_target& t) {
  ensure_fd_room(4096);
  auto limit = fd_limit_of(t.pid());
  MESSAGE(t.kind() << "'s RLIMIT_NOFILE: " << limit);
  REQUIRE_MESSAGE(limit > 1100, "the host cannot hold 500 connections");
  held_fds conns;
  for (int i = 0; i < 500; ++i)
    conns.fds.push_back(mesh::test::raw_connect(t.address()));
  // None of them is closed for being idle this soon, nor was refused.
  auto closed = closed_by_peer(conns.fds, 1s);
  CHECK(count(closed) == 0);
  // Holding them costs the host no CPU (CAF 0.17 alone spins its
  // multiplexer on each connection whose TLS handshake waits).
  auto cpu = cpu_while_idle(t.pid(), 1s);
  MESSAGE(t.kind() << " used " << cpu.count()
                   << " ms of CPU in 1 s holding 500 idle connections");
  CHECK(cpu < 300ms);
  t.check_serves();
  return conns;
}

/// f') More idle connections than the host may open descriptors, held for
/// a second, then closed. While they are held, accept() fails with EMFILE:
/// CAF 0.17's tcp::try_accept (libcaf_io/src/policy/tcp.cpp) returns false
/// and leaves the connection in the backlog, and the acceptor, the
/// listening socket staying readable for epoll, tries again at once. The
/// host spins a core (strace: accept = -1 EMFILE, epoll_wait = 1, over and
/// over) and accepts no new client until a descriptor is free. That is
/// inside CAF (libmesh does not make the accept call); it lasts as long as
/// someone holds the host's whole RLIMIT_NOFILE, which config/meshd.service
/// sets to 65536. What does hold, and is asserted: the host does not crash,
/// and once the connections are gone it goes back to idle, serves, stays
/// within its memory bound and exits on SIGTERM (run()).
held_fds beyond_fd_limit(hostile_target& t) {
  auto limit = fd_limit_of(t.pid());
  REQUIRE(limit > 0);
  REQUIRE(limit <= 1024);
  ensure_fd_room(static_cast<rlim_t>(limit) + 1024);
  {
    held_fds conns;
    for (long i = 0; i < limit + 64; ++i)
      conns.fds.push_back(mesh::test::raw_connect(t.address()));
    auto cpu = cpu_while_idle(t.pid(), 1s);
    MESSAGE(t.kind() << " with RLIMIT_NOFILE " << limit << " held "
                     << fd_count(t.pid()) << " descriptors for " << limit + 64
                     << " connections and used " << cpu.count()
                     << " ms of CPU in 1 s");
  }
  // The backlog drains (what was left there was closed meanwhile), and
  // the host idles again.
  std::this_thread::sleep_for(500ms);
  auto cpu = cpu_while_idle(t.pid(), 1s);
  MESSAGE(t.kind() << " used " << cpu.count()
                   << " ms of CPU in 1 s after the connections closed");
  CHECK(cpu < 300ms);
  return {};
}

/// g) A ClientHello at one byte per second, while the host serves others.
held_fds slow_peer(hostile_target& t) {
  held_fds conns;
  int fd = mesh::test::raw_connect(t.address());
  conns.fds.push_back(fd);
  const auto& hello = plain_client_hello();
  std::atomic<bool> stop{false};
  std::thread dripper{[&] {
    for (size_t i = 0; i < 5 && !stop; ++i) {
      send_all(fd, hello.substr(i, 1));
      for (int k = 0; k < 10 && !stop; ++k)
        std::this_thread::sleep_for(100ms);
    }
  }};
  auto started = clock_type::now();
  t.check_serves();
  auto took = clock_type::now() - started;
  // Waiting for the rest of the hello costs the host no CPU.
  auto cpu = cpu_while_idle(t.pid(), 1500ms);
  MESSAGE(t.kind() << " used " << cpu.count()
                   << " ms of CPU in 1.5 s while the peer dripped");
  CHECK(cpu < 450ms);
  dripper.join();
  MESSAGE("served in "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took)
               .count()
          << " ms while a peer sent one byte per second");
  // The slow peer is still connected, waiting: the host neither stalled nor
  // dropped it.
  CHECK(count(closed_by_peer(conns.fds, 100ms)) == 0);
  return conns;
}

/// h) An authenticated peer that announces a BASP payload of 4 GiB - 1, and
/// one that announces 256 MiB + 1: the frame guard closes both before CAF
/// allocates, and says so.
held_fds oversized_frame(hostile_target& t) {
  for (uint32_t size : {uint32_t{0xffffffff},
                        static_cast<uint32_t>(mesh::tls::max_message_size() +
                                              1)}) {
    CAPTURE(size);
    auto started = clock_type::now();
    auto res = s_client(t.address(), t.authenticated_flags(),
                        basp_header(0x01, size), 30s);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - started);
    MESSAGE("s_client announcing " << size << " bytes: closed after "
                                   << took.count() << " ms, exit "
                                   << res.exit_code.value_or(-1));
    // It got in (the host sent its BASP handshake) and was then thrown out.
    CHECK_FALSE(res.timed_out);
    CHECK(took < 10s);
    CHECK_MESSAGE(!res.out.empty(), "not authenticated? " << res.err);
    CHECK_MESSAGE(t.log_shows("announced a message of " +
                                std::to_string(size) + " bytes",
                              5s),
                  t.log());
  }
  return {};
}

/// h') Authenticated peers that send random BASP frames (payloads of at
/// most 1 KiB) after their TLS handshake, ten at once.
held_fds authenticated_garbage(hostile_target& t) {
  std::mt19937 gen{0xf4a3};
  std::vector<std::string> inputs;
  for (int i = 0; i < 10; ++i) {
    auto header = random_bytes(gen, 32);
    uint32_t len = gen() % 1024;
    for (int b = 0; b < 4; ++b)
      header[4 + b] = static_cast<char>((len >> (8 * (3 - b))) & 0xff);
    inputs.push_back(header + random_bytes(gen, len));
  }
  std::vector<mesh::test::run_result> results(inputs.size());
  std::vector<std::thread> peers;
  for (size_t i = 0; i < inputs.size(); ++i)
    peers.emplace_back([&, i] {
      results[i] = s_client(t.address(), t.authenticated_flags(), inputs[i],
                            8s);
    });
  for (auto& p : peers)
    p.join();
  size_t closed = 0;
  for (auto& r : results) {
    CHECK_MESSAGE(!r.out.empty(), "not authenticated? " << r.err);
    closed += !r.timed_out;
  }
  MESSAGE(closed << " of " << inputs.size()
                 << " authenticated peers with random frames were closed by "
                    "the host within 8 s");
  return {};
}

/// i) What only a host's own actors may send to its host agent, sent by an
/// attached client (with client A's certificate) over its real connection
/// to meshd: registrations without the exact token, proc exit reports,
/// output lines, escalation and handshake timers, actor failures, a new
/// endpoint. Nothing changes (the same check as host_agent_test's HA-2 and
/// R-1, there between two actor systems of one process).
held_fds internal_messages(hostile_target& t) {
  mesh::test::tls_client c{mesh::test::client_tls_settings()};
  auto hosts =
    host_mesh::attach(c.sys(), host_mesh_id::instance("forger"), {t.address()});
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto remote = hosts->agent(0);
  caf::scoped_actor client{c.sys()};
  caf::scoped_actor events{c.sys()};
  // Two procs that print their payload (so the test knows their tokens) and
  // sleep; neither registers by itself, and pm-1 has no handshake deadline.
  client->send(remote, mesh::subscribe_events_atom::value, std::string{"pm"},
               caf::actor_cast<caf::actor>(events));
  mesh::spawn_procs_request req;
  req.proc_mesh_id = "pm";
  req.host_mesh_id = "forger";
  mesh::bootstrap_command cmd;
  cmd.program = "/bin/sh";
  cmd.args = {"-c", "echo \"$MESH_BOOTSTRAP\"; exec sleep 60"};
  req.default_command = cmd;
  req.config = {{"bootstrap_zygote", "false"},
                {"host_spawn_ready_timeout", "0s"}};
  for (uint64_t r = 0; r < 2; ++r)
    req.procs.push_back(
      {"pm-" + std::to_string(r), r, std::nullopt, std::nullopt});
  client->request(remote, caf::infinite, mesh::spawn_procs_atom::value, req);
  std::map<std::string, std::string> tokens;
  bool timed_out = false;
  events->receive_while([&] { return tokens.size() < 2 && !timed_out; })(
    [&](mesh::proc_output& out) {
      if (auto p = mesh::bootstrap::decode(out.line))
        tokens[p->name] = p->token;
    },
    [](mesh::proc_event&) {}, caf::after(20s) >> [&] { timed_out = true; });
  REQUIRE_FALSE(timed_out);
  auto states = [&] {
    std::vector<mesh::proc_info> result;
    client
      ->request(remote, 10s, mesh::proc_state_atom::value, std::string{"pm"},
                std::vector<std::string>{})
      .receive([&](std::vector<mesh::proc_info>& xs) { result = std::move(xs); },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    REQUIRE(result.size() == 2);
    return result;
  };
  auto names = [&] {
    std::vector<std::string> result;
    client->request(remote, 10s, mesh::list_procs_atom::value)
      .receive([&](std::vector<std::string>& xs) { result = std::move(xs); },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    return result;
  };
  mesh::registrar_actor reg;
  client->request(remote, 10s, mesh::registrar_atom::value)
    .receive([&](mesh::registrar_actor& r) { reg = std::move(r); },
             [&](caf::error& err) { FAIL(mesh::to_string(err)); });
  REQUIRE(reg);
  auto register_via = [&](const auto& whom, const std::string& name,
                          const std::string& token, caf::actor agent) {
    caf::error result;
    client
      ->request(whom, 10s, mesh::register_child_atom::value,
                mesh::child_registration{name, token, 4242, std::move(agent),
                                         "", 0})
      .receive([](caf::ok_atom) {},
               [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  auto refused = [](const caf::error& err) {
    return mesh::is(err, mesh::ec::handshake_refused);
  };
  // pm-0 registers as a child would, with its exact token: it runs.
  auto agent = c.sys().spawn(mesh::proc_agent, std::string{"pm-0"}, reg);
  REQUIRE_FALSE(register_via(reg, "pm-0", tokens["pm-0"],
                             caf::actor_cast<caf::actor>(agent)));
  auto before = states();
  REQUIRE(before[0].state.status == proc_status::running);
  REQUIRE(before[1].state.status == proc_status::initializing);
  auto names_before = names();
  // What the spawn and the registration pushed came before the replies.
  bool drained = false;
  events->receive_while([&] { return !drained; })(
    [](mesh::proc_event&) {}, [](mesh::proc_output&) {},
    caf::after(std::chrono::milliseconds{0}) >> [&] { drained = true; });
  // Registrations without the exact token, for the proc that waits.
  auto fake = c.sys().spawn([]() -> caf::behavior {
    return {[](mesh::stop_proc_atom, const std::string&) {}};
  });
  auto fake_handle = caf::actor_cast<caf::actor>(fake);
  for (auto token : {std::string{"0123456789abcdef0123456789abcdef"},
                     std::string{}, tokens["pm-0"]})
    CHECK(refused(register_via(reg, "pm-1", token, fake_handle)));
  CHECK(refused(register_via(reg, "pm-9", tokens["pm-1"], fake_handle)));
  CHECK(refused(register_via(reg, "pm-1", tokens["pm-1"], caf::actor{})));
  CHECK(refused(register_via(reg, "pm-0", tokens["pm-0"], fake_handle)));
  // The host agent's internal messages, anonymously and from the client.
  auto target = caf::actor_cast<caf::actor>(remote);
  auto forge = [&](auto... xs) {
    caf::anon_send(target, xs...);
    client->send(target, xs...);
  };
  for (auto name : {std::string{"pm-0"}, std::string{"pm-1"}}) {
    forge(mesh::proc_exited_atom::value,
          mesh::proc_exit{name, 0, std::nullopt, {}});
    forge(mesh::proc_exited_atom::value,
          mesh::proc_exit{name, std::nullopt, 9, "forged"});
    forge(mesh::proc_output_atom::value,
          mesh::proc_output{name, 0, true, "forged"});
    forge(mesh::ready_timeout_atom::value, name);
    forge(mesh::ready_timeout_atom::value, mesh::handshake_deadline{name});
    for (int32_t stage = 0; stage < 4; ++stage)
      forge(mesh::escalate_atom::value, name, stage);
    forge(mesh::actor_failed_atom::value,
          mesh::actor_failure{name, "w", "am", "forged to the host agent"});
  }
  forge(mesh::set_endpoint_atom::value, std::string{"evil.example"},
        uint16_t{1});
  // The host agent's side of a registration, even with pm-1's exact token.
  CHECK(refused(register_via(target, "pm-1", tokens["pm-1"], fake_handle)));
  // A failure of a proc that never registered, to the registrar.
  client->send(reg, mesh::actor_failed_atom::value,
               mesh::actor_failure{"pm-1", "w", "am", "forged"});
  // A request through the registrar orders what was sent before it.
  CHECK(refused(register_via(reg, "pm-1", "wrong", caf::actor{})));
  auto after = states();
  for (size_t i = 0; i < 2; ++i) {
    INFO("rank " << i);
    CHECK(after[i].state.status == before[i].state.status);
    CHECK(after[i].state.pid == before[i].state.pid);
    CHECK(after[i].state.host == before[i].state.host);
    CHECK(after[i].state.stderr_tail == before[i].state.stderr_tail);
    CHECK_FALSE(after[i].state.exit_code);
    CHECK_FALSE(after[i].state.signal);
    CHECK(after[i].address == before[i].address);
  }
  CHECK(names() == names_before);
  CHECK(t.log().find("refused an internal message") != std::string::npos);
  // Nothing was pushed: no status change, no actor event, no line.
  bool quiet = false;
  events->receive_while([&] { return !quiet; })(
    [&](mesh::proc_event& ev) {
      FAIL_CHECK("unexpected event for " << ev.proc_name << ": " << ev.reason);
    },
    [&](mesh::proc_output& out) {
      FAIL_CHECK("unexpected line of " << out.name << ": " << out.line);
    },
    caf::after(std::chrono::milliseconds{200}) >> [&] { quiet = true; });
  // The procs are still the host's to stop.
  client
    ->request(remote, 30s, mesh::stop_procs_atom::value, std::string{"pm"},
              std::vector<std::string>{}, std::string{"test done"})
    .receive([](mesh::shutdown_summary& s) { CHECK(s.total() == 2); },
             [](caf::error& err) { FAIL_CHECK(mesh::to_string(err)); });
  caf::anon_send_exit(fake, caf::exit_reason::kill);
  caf::anon_send_exit(agent, caf::exit_reason::kill);
  REQUIRE(hosts->stop());
  return {};
}

} // namespace

// -- meshd --------------------------------------------------------------------

TEST_CASE_FIXTURE(meshd_target, "hostile meshd: a) random bytes") {
  run("a) random bytes", [&] { return random_connections(*this); });
}

TEST_CASE_FIXTURE(meshd_target, "hostile meshd: b) TLS garbage") {
  run("b) TLS garbage", [&] { return tls_garbage(*this); });
}

TEST_CASE_FIXTURE(meshd_target,
                  "hostile meshd: b') ClientHellos of 128 KiB held open") {
  run("b') big ClientHellos held", [&] { return big_hellos(*this); });
}

TEST_CASE_FIXTURE(meshd_target, "hostile meshd: c) plain TCP BASP") {
  run("c) plain TCP BASP", [&] { return plain_basp(*this); });
}

TEST_CASE_FIXTURE(meshd_target, "hostile meshd: d) certificate of another CA") {
  run("d) other CA", [&] { return other_ca(*this); });
}

TEST_CASE_FIXTURE(meshd_target, "hostile meshd: e) expired certificate") {
  run("e) expired certificate", [&] { return expired(*this); });
}

TEST_CASE_FIXTURE(meshd_target, "hostile meshd: f) 500 idle connections") {
  run("f) 500 idle connections", [&] { return idle_connections(*this); });
}

// Not under AddressSanitizer: at the descriptor limit its report files
// cannot be opened, and it ends the process instead of reporting.
TEST_CASE_FIXTURE(meshd_few_fds_target,
                  "hostile meshd: f') more connections than descriptors" *
                    doctest::skip(memory_scale != 1)) {
  run("f') beyond RLIMIT_NOFILE", [&] { return beyond_fd_limit(*this); });
}

TEST_CASE_FIXTURE(meshd_target, "hostile meshd: g) one byte per second") {
  run("g) one byte per second", [&] { return slow_peer(*this); });
}

TEST_CASE_FIXTURE(meshd_target,
                  "hostile meshd: h) authenticated oversized BASP frame") {
  run("h) oversized frame", [&] { return oversized_frame(*this); });
}

TEST_CASE_FIXTURE(meshd_target,
                  "hostile meshd: h) authenticated random BASP frames") {
  run("h) random frames", [&] { return authenticated_garbage(*this); });
}

TEST_CASE_FIXTURE(meshd_target,
                  "hostile meshd: i) internal messages from an attached "
                  "client change nothing") {
  run("i) internal messages", [&] { return internal_messages(*this); });
}

// -- local host ---------------------------------------------------------------

TEST_CASE_FIXTURE(local_target, "hostile local host: a) random bytes") {
  run("a) random bytes", [&] { return random_connections(*this); });
}

TEST_CASE_FIXTURE(local_target, "hostile local host: b) TLS garbage") {
  run("b) TLS garbage", [&] { return tls_garbage(*this); });
}

TEST_CASE_FIXTURE(local_target,
                  "hostile local host: b') ClientHellos of 128 KiB held "
                  "open") {
  run("b') big ClientHellos held", [&] { return big_hellos(*this); });
}

TEST_CASE_FIXTURE(local_target, "hostile local host: c) plain TCP BASP") {
  run("c) plain TCP BASP", [&] { return plain_basp(*this); });
}

TEST_CASE_FIXTURE(local_target,
                  "hostile local host: d) certificate of another CA") {
  run("d) other CA", [&] { return other_ca(*this); });
}

TEST_CASE_FIXTURE(local_target, "hostile local host: e) expired certificate") {
  run("e) expired certificate", [&] { return expired(*this); });
}

TEST_CASE_FIXTURE(local_target, "hostile local host: f) 500 idle connections") {
  run("f) 500 idle connections", [&] { return idle_connections(*this); });
}

TEST_CASE_FIXTURE(local_target, "hostile local host: g) one byte per second") {
  run("g) one byte per second", [&] { return slow_peer(*this); });
}

TEST_CASE_FIXTURE(local_target,
                  "hostile local host: h) oversized BASP frame with the mesh "
                  "key") {
  run("h) oversized frame", [&] { return oversized_frame(*this); });
}

TEST_CASE_FIXTURE(local_target,
                  "hostile local host: h) random BASP frames with the mesh "
                  "key") {
  run("h) random frames", [&] { return authenticated_garbage(*this); });
}
