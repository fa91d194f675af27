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

std::string describe(const mesh::allocation_status& status) {
  if (status.id.empty())
    return status.scheduler + ": submitting";
  auto out = fmt::format("{} job {}: {}", status.scheduler, status.id,
                         status.state.empty() ? "?" : status.state);
  // Slurm says "None" when it has no reason.
  if (!status.reason.empty() && status.reason != "None")
    out += " (" + status.reason + ")";
  if (status.hosts > 0 && (status.hosts_ready > 0 || status.state == "RUNNING"))
    out += fmt::format(", hosts ready {}/{}", status.hosts_ready, status.hosts);
  return out;
}

progress_display::progress_display(caf::actor_system& sys)
  : sys_(sys), state_(std::make_shared<progress_state>()),
    tty_(::isatty(2) == 1) {
  if (tty_)
    renderer_ = std::thread{[this] { render_loop(); }};
}

progress_display::~progress_display() {
  finish();
}

void progress_display::allocation(const mesh::allocation_status& status) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  if (!state_->allocation)
    state_->allocation_start = std::chrono::steady_clock::now();
  state_->allocation = status;
  // Not a terminal: one plain line per change (the callback sees changes
  // only), whatever the log level.
  if (!tty_) {
    fmt::print(stderr, "{}\n", describe(status));
    std::fflush(stderr);
  }
}

void progress_display::watch(const std::vector<mesh::host_agent_actor>& hosts,
                             size_t total_procs) {
  std::optional<mesh::allocation_status> allocated;
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    state_->total = total_procs;
    state_->watching = true;
    allocated = state_->allocation;
  }
  // On a terminal, the allocation's last line stays (it names the job).
  if (tty_ && allocated) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (drawn_) {
      fmt::print(stderr, "\r\033[K{}\n", describe(*allocated));
      drawn_ = false;
    }
  }
  subscriber_ = sys_.spawn(subscriber, state_, tty_);
  for (auto& h : hosts)
    caf::anon_send(h, mesh::subscribe_events_atom::value, std::string{},
                   subscriber_);
}

void progress_display::begin_mesh(const std::string& name, size_t ranks) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->mesh = name;
  state_->mesh_size = ranks;
  state_->mesh_ready.clear();
  state_->last_change = std::chrono::steady_clock::now();
}

void progress_display::finish() {
  if (subscriber_)
    caf::anon_send_exit(subscriber_, caf::exit_reason::user_shutdown);
  if (done_.exchange(true))
    return;
  cv_.notify_all();
  if (renderer_.joinable()) {
    renderer_.join();
    if (drawn_)
      std::fputs("\n", stderr);
  }
}

std::optional<mesh::allocation_status>
progress_display::last_allocation() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->allocation;
}

std::vector<std::string> progress_display::failures() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->failures;
}

void progress_display::render_loop() {
  using namespace std::chrono_literals;
  std::unique_lock<std::mutex> guard{mtx_};
  // One last frame after finish(): the line ends with the final counts.
  for (bool last = false; !last; cv_.wait_for(guard, 100ms)) {
    last = done_;
    auto line = current_line();
    if (line.empty())
      continue; // hosts are starting: nothing to show yet
    fmt::print(stderr, "\r\033[K{}", line);
    std::fflush(stderr);
    drawn_ = true;
  }
}

std::string progress_display::current_line() const {
  using namespace std::chrono_literals;
  std::lock_guard<std::mutex> guard{state_->mtx};
  auto now = std::chrono::steady_clock::now();
  if (!state_->watching) {
    if (!state_->allocation)
      return {};
    auto waited = now - state_->allocation_start;
    return fmt::format("{} ({:.0f}s)", describe(*state_->allocation),
                       std::chrono::duration<double>(waited).count());
  }
  auto line = fmt::format("procs ready {}/{}", state_->ready, state_->total);
  auto idle = now - state_->last_change;
  if (idle > 1s && state_->ready < state_->total) {
    size_t slowest = 0;
    while (state_->mesh_ready.count(slowest) > 0)
      ++slowest;
    if (slowest < state_->mesh_size)
      line += fmt::format(" (waiting {:.1f}s for {} rank {})",
                          std::chrono::duration<double>(idle).count(),
                          state_->mesh, slowest);
  }
  return line;
}

} // namespace meshctl
