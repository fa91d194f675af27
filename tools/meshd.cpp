// meshd: one machine's host for host_mesh::attach (architecture §3, §8).
//
// A cluster scheduler (systemd, Slurm, ...) starts one meshd per machine; a
// client then attaches to all of them by address. meshd runs the host side of
// a mesh (host agent, bootstrap proc manager and what the host agent starts
// with them) until SIGTERM/SIGINT or a shutdown_host message from a client,
// then stops its procs and exits 0.
//
// A host agent launches commands on request, so an open port is remote code
// execution (on loopback too: for every user of the machine): meshd refuses
// to serve without mutual TLS credentials unless the operator says
// --insecure, and then warns on every start (§7.6). `meshctl cert init DIR`
// makes the credentials.
//
// Exit codes: 0 clean, 1 runtime failure (cannot listen, host agent failed),
// 2 bad command line or unusable credentials (one line on stderr says why).
#include <mesh/config_keys.hpp>
#include <mesh/error.hpp>
#include <mesh/serve.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace {

/// Refuses to start: one line on stderr, exit code 2.
int refuse(const std::string& why) {
  std::fprintf(stderr, "meshd: %s\n", why.c_str());
  std::fflush(stderr);
  return 2;
}

// -- signals ------------------------------------------------------------------

/// SIGTERM/SIGINT write their number here; a watcher thread turns it into a
/// shutdown of the host agent (a handler may only do async-signal-safe work).
int signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
  auto byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] auto n = ::write(signal_pipe[1], &byte, 1);
}

bool install_signal_handlers() {
  if (::pipe2(signal_pipe, O_CLOEXEC) != 0)
    return false;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  return ::sigaction(SIGTERM, &sa, nullptr) == 0 &&
         ::sigaction(SIGINT, &sa, nullptr) == 0;
}

/// The bound on an exit after SIGTERM/SIGINT: once armed, meshd is ended
/// when the bound passes, whatever the orderly shutdown (host agent, procs,
/// then the actor system's teardown) still waits for. It outlives the actor
/// system, whose destructor is part of what it bounds.
class exit_watchdog {
public:
  exit_watchdog() : thread_([this] { run(); }) {}

  ~exit_watchdog() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  exit_watchdog(const exit_watchdog&) = delete;
  exit_watchdog& operator=(const exit_watchdog&) = delete;

  /// Ends meshd `limit` from now unless it has exited by then.
  void arm(std::chrono::milliseconds limit) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (deadline_)
        return;
      limit_ = limit;
      deadline_ = std::chrono::steady_clock::now() + limit;
    }
    cv_.notify_all();
  }

private:
  void run() {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [this] { return done_ || deadline_; });
    if (!cv_.wait_until(guard, *deadline_, [this] { return done_; })) {
      spdlog::error("the orderly shutdown did not finish within {} ms of the "
                    "signal; exiting now (procs die with meshd through their "
                    "parent-death signal)",
                    limit_.count());
      spdlog::default_logger()->flush();
      std::_Exit(1);
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  bool done_ = false;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::chrono::milliseconds limit_{0};
  std::thread thread_;
};

/// How long meshd may take to exit after SIGTERM: terminate_timeout (the
/// procs' grace) + 1 s, less the time the process needs to end.
std::chrono::milliseconds exit_bound() {
  auto grace = mesh::config_store::global().get(mesh::keys::terminate_timeout);
  return std::chrono::duration_cast<std::chrono::milliseconds>(grace) +
         std::chrono::milliseconds{800};
}

/// Runs until the pipe carries a 0 byte (meshd is done anyway): the first
/// signal shuts the host down politely and arms the watchdog, a second one
/// ends meshd at once (its procs die with it through their parent-death
/// signal).
void watch_signals(mesh::host_agent_actor agent, exit_watchdog& watchdog) {
  bool asked = false;
  for (;;) {
    unsigned char sig = 0;
    auto n = ::read(signal_pipe[0], &sig, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || sig == 0)
      return;
    if (asked) {
      spdlog::warn("second {}: exiting without waiting for the procs",
                   strsignal(sig));
      std::_Exit(1);
    }
    asked = true;
    auto bound = exit_bound();
    watchdog.arm(bound);
    spdlog::info("{}: stopping the procs, then exiting (at the latest in {} "
                 "ms)",
                 strsignal(sig), bound.count());
    caf::anon_send(agent, mesh::shutdown_host_atom::value);
  }
}

/// A timeout in seconds ("90") or as a duration ("90s", "2m").
caf::expected<mesh::duration> parse_timeout(const std::string& text) {
  if (!text.empty()
      && text.find_first_not_of("0123456789") == std::string::npos) {
    if (text.size() > 9)
      return mesh::make_error(mesh::ec::invalid_argument,
                              "'" + text + "' seconds is too long");
    return std::chrono::duration_cast<mesh::duration>(
      std::chrono::seconds{std::stoll(text)});
  }
  return mesh::parse_duration(text);
}

/// Writes "address\n" to `path` atomically: a temporary file beside it,
/// renamed over it, so a reader sees no file or the whole line.
std::string write_address_file(const std::string& path,
                               const std::string& address) {
  auto tmp = path + ".tmp." + std::to_string(::getpid());
  auto fd = ::open(tmp.c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return "cannot write " + tmp + ": " + std::strerror(errno);
  auto line = address + "\n";
  auto n = ::write(fd, line.data(), line.size());
  auto err = errno;
  bool ok = n == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  if (!ok && n >= 0)
    err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok)
      err = errno;
    ::unlink(tmp.c_str());
    return "cannot write " + path + ": " + std::strerror(err);
  }
  return {};
}

int serve(const mesh::host_options& opts, const std::string& address_file) {
  if (!install_signal_handlers())
    return refuse(std::string{"cannot install signal handlers: "} +
                  std::strerror(errno));
  exit_watchdog watchdog;
  mesh::config cfg;
  caf::actor_system sys{cfg};
  auto host = mesh::serve_host(sys, opts);
  if (!host) {
    spdlog::error("{}", mesh::to_string(host.error()));
    return 1;
  }
  if (!address_file.empty()) {
    if (auto why = write_address_file(address_file, host->address());
        !why.empty()) {
      // Nobody could find this host: serving would only hold the port.
      spdlog::error("{}", why);
      host->shutdown();
      host->wait();
      return 1;
    }
  }
  // The first line of stdout is the contract with scripts and tests (the
  // address file, if any, is written by then).
  std::printf("listening on %s\n", host->address().c_str());
  std::fflush(stdout);
  if (opts.owner_timeout > mesh::duration{0})
    spdlog::info("ends once no client has owned it for {}",
                 mesh::render_duration(opts.owner_timeout));
  if (opts.insecure && host->uses_tls())
    spdlog::info("--insecure is ignored: mutual TLS is on");
  else if (opts.insecure)
    spdlog::warn("WARNING: --insecure: {} serves plain TCP; anyone who can "
                 "reach it can run commands on this machine as this user",
                 host->address());
  spdlog::info("serving host {} with {}, procs run {}", host->address(),
               host->uses_tls() ? "mutual TLS" : "plain TCP",
               opts.proc_command ? opts.proc_command->program
                                 : std::string{"meshd itself"});
  std::thread watcher{watch_signals, host->agent(), std::ref(watchdog)};
  auto reason = host->wait();
  unsigned char done = 0;
  [[maybe_unused]] auto n = ::write(signal_pipe[1], &done, 1);
  watcher.join();
  if (reason) {
    spdlog::error("the host agent failed: {}", sys.render(reason));
    return 1;
  }
  spdlog::info("host {} shut down", host->address());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  // Procs launched by meshd run meshd again: the child role comes first.
  {
    mesh::config child_cfg;
    if (auto code = mesh::run_bootstrap_child(child_cfg))
      return *code;
  }
  // stdout carries only the "listening on" line; logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("meshd"));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e meshd[%P] %l: %v");
  mesh::host_options opts;
  std::string proc_command;
  std::string address_file;
  std::string owner_timeout;
  CLI::App app{"meshd: runs one machine's libmesh host, which clients join "
               "with host_mesh::attach"};
  app
    .add_option("--listen", opts.listen,
                "HOST:PORT to listen on; port 0 picks a free port. The "
                "first stdout line is 'listening on HOST:PORT'")
    ->required();
  app.add_option("--tls-cert", opts.tls_certificate,
                 "PEM certificate of this host (mutual TLS; with --tls-key "
                 "and --tls-ca)");
  app.add_option("--tls-key", opts.tls_key,
                 "PEM private key of --tls-cert (not passphrase-protected)");
  app.add_option("--tls-ca", opts.tls_cafile,
                 "PEM CA bundle; only clients with a certificate it signed "
                 "may connect");
  app.add_flag("--insecure", opts.insecure,
               "serve plain TCP without credentials (on any address, "
               "loopback included): anyone who reaches the port can run "
               "commands as this user");
  app.add_option("--mesh-key-file", opts.mesh_key_file,
                 "file with the mesh key of the client that will attach (64 "
                 "hex digits, mode 0600; mesh/slurm.hpp writes it): clients "
                 "holding that key connect over TLS, no certificates needed");
  app.add_option("--address-file", address_file,
                 "once listening, write 'HOST:PORT' and a newline to this "
                 "file (atomically: a temporary file renamed into place), for "
                 "a scheduler's client to find this host");
  app.add_option("--owner-timeout", owner_timeout,
                 "end (stopping the procs) once no client has owned this host "
                 "for this long: from the start until the first attach, and "
                 "after its owner was lost without detaching (seconds, or a "
                 "duration such as 90s or 2m; 0, the default: never)");
  app.add_option("--proc-command", proc_command,
                 "program that procs run (it must call "
                 "mesh::run_bootstrap_child); default: meshd itself");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  // The TLS flags go together (checked here to name the missing flags).
  int tls_flags = !opts.tls_certificate.empty() + !opts.tls_key.empty() +
                  !opts.tls_cafile.empty();
  if (tls_flags > 0 && tls_flags < 3) {
    std::string missing;
    for (auto [flag, value] : {std::pair{"--tls-cert", &opts.tls_certificate},
                               std::pair{"--tls-key", &opts.tls_key},
                               std::pair{"--tls-ca", &opts.tls_cafile}})
      if (value->empty())
        missing += std::string{missing.empty() ? "" : ", "} + flag;
    return refuse("--tls-cert, --tls-key and --tls-ca go together: missing " +
                  missing);
  }
  if (!proc_command.empty())
    opts.proc_command = mesh::bootstrap_command{proc_command, {}, {}, {}};
  if (!owner_timeout.empty()) {
    auto timeout = parse_timeout(owner_timeout);
    if (!timeout)
      return refuse("--owner-timeout: " + mesh::to_string(timeout.error()));
    opts.owner_timeout = *timeout;
  }
  if (auto err = mesh::prepare_host(opts)) {
    // A bad address is named after the host_options field, which is
    // meshd's --listen; other refusals are sentences of their own.
    auto why = mesh::to_string(err);
    constexpr std::string_view field = "invalid argument: listen: ";
    constexpr std::string_view invalid = "invalid argument: ";
    if (why.rfind(field, 0) == 0)
      why = "--listen: " + why.substr(field.size());
    else if (why.rfind(invalid, 0) == 0)
      why = why.substr(invalid.size());
    return refuse(why);
  }
  return serve(opts, address_file);
}
