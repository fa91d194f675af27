#include "inspect.hpp"

#include "admin_client.hpp"
#include "mesh_view.hpp"

#include <mesh/error.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>

namespace meshctl {

using namespace std::chrono_literals;

namespace {

/// How long status and logs wait for the endpoint (connect, and read on top
/// of any deadline or long poll they ask for).
constexpr auto request_timeout = 5s;
/// How long the owner gives its hosts to answer /v1/mesh.
constexpr auto tree_deadline = 2s;
/// ls asks every mesh in turn: shorter.
constexpr auto ls_timeout = 1s;
constexpr auto ls_deadline = 500ms;
/// One long poll of logs -f.
constexpr auto follow_wait = 1s;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

int fail(const std::string& what) {
  fmt::print(stderr, "meshctl: {}\n", what);
  return 1;
}

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) {
  stop_requested = true;
}

} // namespace

int ls_command() {
  auto meshes = mesh::running_meshes();
  if (!meshes)
    return fail(mesh::to_string(meshes.error()));
  std::vector<ls_entry> entries;
  for (auto& m : *meshes) {
    ls_entry e{m, std::nullopt};
    try {
      e.snapshot = admin_client{m, ls_timeout}.mesh_tree(ls_deadline);
    } catch (const command_error&) {
      // Admin off, or no answer in time: "?".
    }
    entries.push_back(std::move(e));
  }
  if (entries.empty()) {
    fmt::print(stderr, "meshctl: no mesh is running\n");
    return 0;
  }
  fmt::print("{}", render_ls(entries, now_ms()));
  return 0;
}

int status_command(const std::string& id, bool json) {
  try {
    admin_client client{find_mesh(id), request_timeout};
    if (json) {
      auto body = client.get(
        fmt::format("/v1/mesh?deadline_ms={}",
                    std::chrono::milliseconds{tree_deadline}.count()),
        tree_deadline);
      fmt::print("{}", body);
      if (body.empty() || body.back() != '\n')
        fmt::print("\n");
      return 0;
    }
    fmt::print("{}", render_status(client.mesh_tree(tree_deadline)));
    return 0;
  } catch (const command_error& e) {
    return fail(e.what());
  }
}

int logs_command(const logs_options& opts) {
  try {
    admin_client client{find_mesh(opts.mesh), request_timeout};
    uint64_t next = 0;
    if (opts.follow) {
      // Where the forwarded lines are now: what comes after is followed.
      // Asked before the tail, so that a line is shown twice rather than
      // lost.
      next = client.logs(opts.rank, opts.proc_mesh, 0, 0ms).next;
    }
    auto proc = client.proc(opts.rank, opts.proc_mesh);
    for (auto& line : proc.stderr_tail)
      fmt::print("{}\n", line);
    std::fflush(stdout);
    if (!opts.follow)
      return 0;
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    while (!stop_requested) {
      log_page page;
      try {
        page = client.logs(opts.rank, opts.proc_mesh, next, follow_wait);
      } catch (const command_error&) {
        // A signal that interrupted the long poll ends it: not an error.
        if (stop_requested)
          break;
        throw;
      }
      for (auto& l : page.lines)
        fmt::print("{}\n", l.line);
      std::fflush(stdout);
      next = page.next;
    }
    return 0;
  } catch (const command_error& e) {
    return fail(e.what());
  }
}

} // namespace meshctl
