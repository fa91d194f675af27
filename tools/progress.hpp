// Bring-up progress, shown as a live line on a terminal or as plain lines:
// first, for hosts a scheduler hands out, where the request is ("slurm job
// 42: PENDING (Priority)"); then a subscriber to the host agents' proc events
// counts procs ("procs ready 12/32").
#pragma once

#include <mesh/actors.hpp>
#include <mesh/allocator.hpp>

#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace meshctl {

/// "slurm job 42: PENDING (Priority)", "slurm job 42: RUNNING, hosts ready
/// 1/2": one line for a scheduler's status.
std::string describe(const mesh::allocation_status& status);

/// What the subscriber has seen, shared with the renderer.
struct progress_state {
  std::mutex mtx;
  /// The scheduler's latest status while hosts are allocated, and since when.
  std::optional<mesh::allocation_status> allocation;
  std::chrono::steady_clock::time_point allocation_start;
  bool watching = false;            ///< watch() was called: count procs.
  size_t total = 0;                 ///< Procs the file describes.
  size_t ready = 0;                 ///< Procs that reached running.
  std::string mesh;                 ///< Proc mesh being brought up.
  size_t mesh_size = 0;             ///< Its number of ranks.
  std::set<size_t> mesh_ready;      ///< Its ranks that are running.
  std::vector<std::string> failures; ///< "rank R (proc): why", in order.
  std::chrono::steady_clock::time_point last_change =
    std::chrono::steady_clock::now();
};

/// Renders progress until stopped: an allocation's status while hosts are
/// allocated, then the procs of the hosts it watches. On a terminal it
/// redraws one line; otherwise it prints each allocation status and logs
/// each proc that becomes ready or fails.
class progress_display {
public:
  explicit progress_display(caf::actor_system& sys);
  ~progress_display();

  /// The scheduler's status changed (an allocation_progress callback).
  void allocation(const mesh::allocation_status& status);

  /// Subscribes to every host agent's events; the line then counts procs.
  void watch(const std::vector<mesh::host_agent_actor>& hosts,
             size_t total_procs);

  /// The proc mesh whose ranks are coming up now.
  void begin_mesh(const std::string& name, size_t ranks);

  /// Stops rendering (ends the live line) and listening to the hosts.
  void finish();

  /// The scheduler's latest status, if allocation() was called.
  std::optional<mesh::allocation_status> last_allocation() const;

  /// Every proc failure seen so far, one line each.
  std::vector<std::string> failures() const;

private:
  void render_loop();
  /// The live line now; empty while there is nothing to show.
  std::string current_line() const;

  caf::actor_system& sys_;
  std::shared_ptr<progress_state> state_;
  caf::actor subscriber_;
  bool tty_;
  bool drawn_ = false; ///< The renderer drew a line (to end with a newline).
  std::atomic<bool> done_{false};
  std::mutex mtx_;
  std::condition_variable cv_;
  std::thread renderer_;
};

} // namespace meshctl
