// Bring-up progress: a subscriber to the host agents' proc events, shown as a
// live line on a terminal ("procs ready 12/32") or as plain log lines.
#pragma once

#include <mesh/actors.hpp>

#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace meshctl {

/// What the subscriber has seen, shared with the renderer.
struct progress_state {
  std::mutex mtx;
  size_t total = 0;                 ///< Procs the file describes.
  size_t ready = 0;                 ///< Procs that reached running.
  std::string mesh;                 ///< Proc mesh being brought up.
  size_t mesh_size = 0;             ///< Its number of ranks.
  std::set<size_t> mesh_ready;      ///< Its ranks that are running.
  std::vector<std::string> failures; ///< "rank R (proc): why", in order.
  std::chrono::steady_clock::time_point last_change =
    std::chrono::steady_clock::now();
};

/// Subscribes to every host agent's events and renders progress until
/// stopped. On a terminal it redraws one line; otherwise it logs each proc
/// that becomes ready or fails.
class progress_display {
public:
  progress_display(caf::actor_system& sys,
                   const std::vector<mesh::host_agent_actor>& hosts,
                   size_t total_procs);
  ~progress_display();

  /// The proc mesh whose ranks are coming up now.
  void begin_mesh(const std::string& name, size_t ranks);

  /// Stops rendering (ends the live line).
  void finish();

  /// Every proc failure seen so far, one line each.
  std::vector<std::string> failures() const;

private:
  void render_loop();

  std::shared_ptr<progress_state> state_;
  caf::actor subscriber_;
  bool tty_;
  std::atomic<bool> done_{false};
  std::mutex mtx_;
  std::condition_variable cv_;
  std::thread renderer_;
};

} // namespace meshctl
