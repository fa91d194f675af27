#include "progress.hpp"

#include <mesh/id.hpp>

#include <caf/all.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>

namespace meshctl {

namespace {

/// Records events of procs of the mesh being brought up.
caf::behavior subscriber(caf::event_based_actor*,
                         std::shared_ptr<progress_state> st, bool tty) {
  return {
    [st, tty](const mesh::proc_event& ev) {
      std::lock_guard<std::mutex> guard{st->mtx};
      if (ev.status == mesh::proc_status::running) {
        ++st->ready;
        if (ev.proc_name.rfind(mesh::strip_label(st->mesh) + "-", 0) == 0)
          st->mesh_ready.insert(ev.rank);
        st->last_change = std::chrono::steady_clock::now();
        // Not a terminal: one plain line per proc, whatever the log level.
        if (!tty)
          fmt::print(stderr, "procs ready {}/{}: {} rank {} ({})\n",
                     st->ready, st->total, st->mesh, ev.rank, ev.proc_name);
      } else if (mesh::is_failure(ev.status)) {
        st->failures.push_back(fmt::format("rank {} ({}) {}: {}", ev.rank,
                                           ev.proc_name,
                                           mesh::to_string(ev.status),
                                           ev.reason));
        if (!tty)
          spdlog::warn("proc {} (rank {}) {}: {}", ev.proc_name, ev.rank,
                       mesh::to_string(ev.status), ev.reason);
      }
    },
    // Forwarded output is printed by each mesh's own controller.
    [](const mesh::proc_output&) {},
  };
}

} // namespace

progress_display::progress_display(
  caf::actor_system& sys, const std::vector<mesh::host_agent_actor>& hosts,
  size_t total_procs)
  : state_(std::make_shared<progress_state>()), tty_(::isatty(2) == 1) {
  state_->total = total_procs;
  subscriber_ = sys.spawn(subscriber, state_, tty_);
  for (auto& h : hosts)
    caf::anon_send(h, mesh::subscribe_events_atom::value, std::string{},
                   subscriber_);
  if (tty_)
    renderer_ = std::thread{[this] { render_loop(); }};
}

progress_display::~progress_display() {
  finish();
  caf::anon_send_exit(subscriber_, caf::exit_reason::user_shutdown);
}

void progress_display::begin_mesh(const std::string& name, size_t ranks) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->mesh = name;
  state_->mesh_size = ranks;
  state_->mesh_ready.clear();
  state_->last_change = std::chrono::steady_clock::now();
}

void progress_display::finish() {
  if (done_.exchange(true))
    return;
  cv_.notify_all();
  if (renderer_.joinable()) {
    renderer_.join();
    std::fputs("\n", stderr);
  }
}

std::vector<std::string> progress_display::failures() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->failures;
}

void progress_display::render_loop() {
  using namespace std::chrono_literals;
  std::unique_lock<std::mutex> guard{mtx_};
  // One last frame after finish(): the line ends with the final counts.
  for (bool last = false; !last;) {
    last = done_;
    std::string line;
    {
      std::lock_guard<std::mutex> st_guard{state_->mtx};
      line = fmt::format("procs ready {}/{}", state_->ready, state_->total);
      auto idle = std::chrono::steady_clock::now() - state_->last_change;
      if (idle > 1s && state_->ready < state_->total) {
        size_t slowest = 0;
        while (state_->mesh_ready.count(slowest) > 0)
          ++slowest;
        if (slowest < state_->mesh_size)
          line += fmt::format(
            " (waiting {:.1f}s for {} rank {})",
            std::chrono::duration<double>(idle).count(), state_->mesh,
            slowest);
      }
    }
    fmt::print(stderr, "\r\033[K{}", line);
    std::fflush(stderr);
    cv_.wait_for(guard, 100ms);
  }
}

} // namespace meshctl
