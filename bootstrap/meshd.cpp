// meshd: one machine's host for host_mesh::attach (architecture §3, §8).
//
// A cluster scheduler (systemd, Slurm, ...) starts one meshd per machine; a
// client then attaches to all of them by address. meshd runs the host side of
// a mesh (host agent, bootstrap proc manager and what the host agent starts
// with them) until SIGTERM/SIGINT or a shutdown_host message from a client,
// then stops its procs and exits 0.
//
// A host agent launches commands on request, so an open port is remote code
// execution: meshd refuses a non-loopback address without mutual TLS unless
// the operator says --insecure, and then warns on every start (§7.6).
//
// Exit codes: 0 clean, 1 runtime failure (cannot listen, host agent failed),
// 2 bad command line or unusable credentials (one line on stderr says why).
#include "actors/host_agent.hpp"
#include "bootstrap/network.hpp"
#include "bootstrap/tls.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"
#include "mesh/system.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

namespace {

struct options {
  std::string listen;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  bool insecure = false;
  std::string proc_command;
};

/// Refuses to start: one line on stderr, exit code 2.
int refuse(const std::string& why) {
  std::fprintf(stderr, "meshd: %s\n", why.c_str());
  std::fflush(stderr);
  return 2;
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

/// The environment is where children look for settings this process has and
/// a client's config push must not override (env beats client_override).
void export_setting(const mesh::config_key<std::string>& key,
                    const std::string& value) {
  auto info = mesh::config_registry::instance().find(key.name());
  ::setenv(info->env_name().c_str(), value.c_str(), 1);
}

/// The TLS credentials to serve with: the --tls-* flags (all three or none),
/// else tls.* from MESH_TLS_* variables; checked like CAF will use them.
caf::expected<std::optional<mesh::tls::credentials>>
credentials_of(const options& opts) {
  int given =
    !opts.tls_cert.empty() + !opts.tls_key.empty() + !opts.tls_ca.empty();
  std::optional<mesh::tls::credentials> creds;
  if (given == 3) {
    creds = mesh::tls::credentials{
      absolute(opts.tls_cert), absolute(opts.tls_key), absolute(opts.tls_ca)};
  } else if (given > 0) {
    std::string missing;
    for (auto [flag, value] : {std::pair{"--tls-cert", &opts.tls_cert},
                               std::pair{"--tls-key", &opts.tls_key},
                               std::pair{"--tls-ca", &opts.tls_ca}})
      if (value->empty())
        missing += std::string{missing.empty() ? "" : ", "} + flag;
    return mesh::make_error(mesh::ec::tls_error,
                            "--tls-cert, --tls-key and --tls-ca go together",
                            "missing " + missing);
  } else {
    auto configured = mesh::tls::from_config();
    if (!configured)
      return std::move(configured.error());
    creds = std::move(*configured);
  }
  if (creds)
    if (auto err = mesh::tls::check(*creds))
      return err;
  return creds;
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

/// Runs until the pipe carries a 0 byte (meshd is done anyway): the first
/// signal shuts the host down politely, a second one ends meshd at once
/// (its procs die with it through their parent-death signal).
void watch_signals(mesh::host_agent_actor agent) {
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
    spdlog::info("{}: stopping the procs, then exiting", strsignal(sig));
    caf::anon_send(agent, mesh::shutdown_host_atom::value);
  }
}

int serve(const options& opts, const mesh::net::endpoint& where,
          const std::optional<mesh::tls::credentials>& creds) {
  // Everything children must share with meshd goes into the environment
  // before the actor system (and its threads) exists.
  export_setting(mesh::keys::listen_address, where.host);
  if (creds) {
    export_setting(mesh::keys::tls_certificate, creds->certificate);
    export_setting(mesh::keys::tls_key, creds->key);
    export_setting(mesh::keys::tls_cafile, creds->cafile);
  }
  if (auto err = mesh::config_store::global().load_env())
    return refuse(mesh::to_string(err));
  mesh::host_agent_options agent_opts;
  agent_opts.bootstrap_children = true;
  if (!opts.proc_command.empty()) {
    mesh::bootstrap_command cmd;
    cmd.program = absolute(opts.proc_command);
    if (::access(cmd.program.c_str(), X_OK) != 0)
      return refuse("--proc-command '" + opts.proc_command +
                    "' is not an executable file");
    agent_opts.default_command = std::move(cmd);
  } else {
    // meshd itself: its main runs the bootstrap child role first.
    auto cmd = mesh::bootstrap_command::current();
    if (!cmd)
      return refuse(mesh::to_string(cmd.error()));
    agent_opts.default_command = std::move(*cmd);
  }
  if (!install_signal_handlers())
    return refuse(std::string{"cannot install signal handlers: "} +
                  std::strerror(errno));
  mesh::config cfg;
  caf::actor_system sys{cfg};
  auto published = mesh::publish_host_agent(sys, std::move(agent_opts),
                                            where.host, where.port);
  if (!published) {
    spdlog::error("{}", mesh::to_string(published.error()));
    return 1;
  }
  auto [agent, port] = *published;
  mesh::net::endpoint bound{where.host, port};
  // The first line of stdout is the contract with scripts and tests.
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);
  spdlog::info("serving host {} with {}, procs run {}", bound.to_string(),
               creds ? "mutual TLS" : "plain TCP",
               opts.proc_command.empty() ? std::string{"meshd itself"}
                                         : absolute(opts.proc_command));
  if (creds && !mesh::tls::error_queue_guarded())
    spdlog::warn("OpenSSL's I/O calls do not go through libmesh first: one "
                 "client that fails its TLS handshake may drop the others");
  std::thread watcher{watch_signals, agent};
  caf::error reason;
  {
    caf::scoped_actor self{sys};
    self->monitor(agent);
    self->receive([&](caf::down_msg& msg) { reason = msg.reason; });
  }
  unsigned char done = 0;
  [[maybe_unused]] auto n = ::write(signal_pipe[1], &done, 1);
  watcher.join();
  if (reason && reason != caf::exit_reason::normal) {
    spdlog::error("the host agent failed: {}", sys.render(reason));
    return 1;
  }
  spdlog::info("host {} shut down", bound.to_string());
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
  options opts;
  CLI::App app{"meshd: runs one machine's libmesh host, which clients join "
               "with host_mesh::attach"};
  app
    .add_option("--listen", opts.listen,
                "HOST:PORT to listen on; port 0 picks a free port. The "
                "first stdout line is 'listening on HOST:PORT'")
    ->required();
  app.add_option("--tls-cert", opts.tls_cert,
                 "PEM certificate of this host (mutual TLS; with --tls-key "
                 "and --tls-ca)");
  app.add_option("--tls-key", opts.tls_key,
                 "PEM private key of --tls-cert (not passphrase-protected)");
  app.add_option("--tls-ca", opts.tls_ca,
                 "PEM CA bundle; only clients with a certificate it signed "
                 "may connect");
  app.add_flag("--insecure", opts.insecure,
               "allow plain TCP on a non-loopback address: anyone who "
               "reaches the port can run commands as this user");
  app.add_option("--proc-command", opts.proc_command,
                 "program that procs run (it must call "
                 "mesh::run_bootstrap_child); default: meshd itself");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto where = mesh::net::parse_endpoint(opts.listen, true);
  if (!where)
    return refuse("--listen: " + mesh::to_string(where.error()));
  auto creds = credentials_of(opts);
  if (!creds)
    return refuse(mesh::to_string(creds.error()));
  if (!*creds && !opts.insecure && !mesh::net::is_loopback(where->host))
    return refuse("refusing to listen on " + where->to_string() +
                  " without TLS: anyone who can reach it could run "
                  "commands on this machine. Give --tls-cert, --tls-key "
                  "and --tls-ca, or --insecure on a network you trust");
  if (opts.insecure && *creds)
    spdlog::info("--insecure is ignored: mutual TLS is on");
  else if (opts.insecure)
    spdlog::warn("WARNING: --insecure: {} serves plain TCP; anyone who can "
                 "reach it can run commands on this machine as this user",
                 where->to_string());
  return serve(opts, *where, *creds);
}
