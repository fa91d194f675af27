// meshctl: the command-line front end for mesh files (architecture §8), for
// the certificates of mutual TLS between meshd and clients (cert.hpp), and
// for watching running meshes through their owners' admin endpoints
// (inspect.hpp: ls, status, top, logs).
//
// Exit codes: 0 success, 1 the command failed (e.g. an invalid mesh file),
// 2 a usage error (unknown option, missing argument).
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "mesh/mesh_file.hpp"
#include "cert.hpp"
#include "echo_actor.hpp"
#include "inspect.hpp"
#include "mesh/system.hpp"
#include "up.hpp"

#include <caf/actor_system.hpp>

#include <csignal>

namespace {

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

// `meshctl validate FILE`: the summary on stdout, or every diagnostic on its
// own line on stderr.
int validate(const std::string& path) {
  spdlog::debug("validating mesh file {}", path);
  auto result = mesh::load_mesh_file(path);
  if (!result.file) {
    for (const auto& diagnostic : result.diagnostics)
      fmt::print(stderr, "{}\n", diagnostic.to_string());
    return exit_failure;
  }
  fmt::print("{}", result.file->summary());
  return 0;
}

// `meshctl up FILE [--once]`.
int up(const std::string& path, const meshctl::up_options& opts,
       mesh::config& cfg) {
  auto result = mesh::load_mesh_file(path);
  if (!result.file) {
    for (const auto& diagnostic : result.diagnostics)
      fmt::print(stderr, "{}\n", diagnostic.to_string());
    return exit_failure;
  }
  // Blocked before CAF starts its threads, so that every thread inherits the
  // mask and up() alone receives them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  caf::actor_system sys{cfg};
  return meshctl::up(sys, *result.file, opts);
}

} // namespace

int main(int argc, char** argv) {
  // meshctl is also the default bootstrap command of the procs it starts.
  mesh::config cfg;
  meshctl::register_actor_types(cfg);
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;

  CLI::App app{"Brings up meshes of hosts, procs and actors described by YAML "
               "mesh files (see config/README.md).",
               "meshctl"};
  app.require_subcommand(1);
  // Global options may also follow the subcommand's name.
  app.fallthrough();

  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "Log verbosity")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
    ->capture_default_str();

  std::string file;
  auto* validate_cmd = app.add_subcommand(
    "validate", "Check a mesh file; print a summary if it is valid, else "
                "every problem as file:line:col: message");
  validate_cmd->add_option("FILE", file, "The mesh file")->required();

  meshctl::up_options up_opts;
  auto* up_cmd = app.add_subcommand(
    "up", "Bring up the mesh a file describes, print its status table and "
          "keep it up until Ctrl-C or SIGTERM; then shut it down");
  up_cmd->add_option("FILE", file, "The mesh file")->required();
  up_cmd->add_flag("--once", up_opts.once,
                   "Run one health round (a call to every actor) and shut "
                   "down; exit 0 only if every rank answered");

  meshctl::cert_options cert_opts;
  auto* cert_cmd = app.add_subcommand(
    "cert", "Make the certificates of mutual TLS between meshd hosts and "
            "their clients (a CA, then one certificate per node or client)");
  cert_cmd->require_subcommand(1);
  auto* cert_init_cmd = cert_cmd->add_subcommand(
    "init", "Create DIR (mode 0700) with a new CA (ca.pem, ca.key) and a "
            "certificate for this machine (node.pem, node.key); print the "
            "meshd and client settings that use them");
  cert_init_cmd->add_option("DIR", cert_opts.dir, "Directory of the files")
    ->required();
  auto* cert_add_cmd = cert_cmd->add_subcommand(
    "add", "Issue DIR/NAME.pem and DIR/NAME.key from the CA in DIR (ca.pem, "
           "ca.key): a node certificate, or a client-only one with --client");
  cert_add_cmd->add_option("DIR", cert_opts.dir, "Directory of the CA")
    ->required();
  cert_add_cmd->add_option("NAME", cert_opts.name,
                           "Base name of the files; a node certificate also "
                           "gets it as a DNS name")
    ->required();
  cert_add_cmd->add_flag("--client", cert_opts.client,
                         "A client-only certificate (clientAuth): it cannot "
                         "serve as meshd");
  for (auto* cmd : {cert_init_cmd, cert_add_cmd}) {
    cmd->add_option("--ip", cert_opts.ips,
                    "An IP address for subjectAltName (repeatable)")
      ->type_name("ADDR")
      ->allow_extra_args(false);
    cmd->add_option("--dns", cert_opts.dns,
                    "A DNS name for subjectAltName (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
    cmd->add_option("--days", cert_opts.days,
                    cmd == cert_init_cmd
                      ? "Validity of the CA and the node certificate"
                      : "Validity of the certificate (at most the CA's)")
      ->check(CLI::Range(1, 36500))
      ->capture_default_str();
    cmd->add_flag("--force", cert_opts.force,
                  cmd == cert_init_cmd
                    ? "Replace existing files (a new CA: certificates of "
                      "the old one no longer get in)"
                    : "Replace existing files");
  }

  auto* ls_cmd = app.add_subcommand(
    "ls", "List this user's running meshes: id, owner pid, hosts, procs, "
          "age and command");

  std::string mesh_id;
  bool json = false;
  auto* status_cmd = app.add_subcommand(
    "status", "Show a running mesh: its hosts, procs (status, pid, CPU, RSS, "
              "actors), actor meshes and failures with their cause");
  status_cmd->add_option("MESH", mesh_id,
                         "Mesh id or a prefix of it; may be omitted when "
                         "one mesh is running");
  status_cmd->add_flag("--json", json,
                       "Print the tree as JSON, as the mesh's admin endpoint "
                       "serves it (docs/admin-api.md)");

  meshctl::top_options top_opts;
  auto* top_cmd = app.add_subcommand(
    "top", "A live full-screen view of a running mesh; keys: q quit, c/r/s "
           "sort by CPU/RSS/status, up/down select. Off a terminal, one "
           "snapshot in plain text");
  top_cmd->add_option("MESH", top_opts.mesh,
                      "Mesh id or a prefix of it; may be omitted when one "
                      "mesh is running");
  top_cmd->add_option("--interval", top_opts.interval_s,
                      "Seconds between refreshes")
    ->check(CLI::Range(0.1, 3600.0))
    ->capture_default_str();

  meshctl::logs_options logs_opts;
  auto* logs_cmd = app.add_subcommand(
    "logs", "Print a proc's stderr tail; with -f, then its forwarded output "
            "lines as they come (the mesh needs log_forwarding) until Ctrl-C");
  logs_cmd->add_option("MESH", logs_opts.mesh, "Mesh id or a prefix of it")
    ->required();
  logs_cmd->add_option("RANK", logs_opts.rank, "Rank of the proc")->required();
  logs_cmd->add_option("--proc-mesh", logs_opts.proc_mesh,
                       "The proc mesh (id or name prefix) when the mesh "
                       "has several");
  logs_cmd->add_flag("-f,--follow", logs_opts.follow,
                     "Keep printing the proc's lines as they come");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is reported as a parse error with exit code 0.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
      return app.exit(e);
    fmt::print(stderr, "meshctl: {} (see meshctl --help)\n", e.what());
    return exit_usage;
  }
  // Logs go to stderr: stdout carries the command's output (the summary).
  spdlog::set_default_logger(spdlog::stderr_color_st("meshctl"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*validate_cmd)
    return validate(file);
  if (*up_cmd)
    return up(file, up_opts, cfg);
  if (*cert_init_cmd)
    return meshctl::cert_init(cert_opts);
  if (*cert_add_cmd)
    return meshctl::cert_add(cert_opts);
  if (*ls_cmd)
    return meshctl::ls_command();
  if (*status_cmd)
    return meshctl::status_command(mesh_id, json);
  if (*top_cmd)
    return meshctl::top_command(top_opts);
  if (*logs_cmd)
    return meshctl::logs_command(logs_opts);
  return exit_usage;
}
