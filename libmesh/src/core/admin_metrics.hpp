// The owner's counters and the admin endpoint's pure parts (issue 15,
// docs/admin-api.md): a call latency histogram of plain atomics, the bounded
// buffer of a proc's forwarded output lines, the low-cardinality cause class
// of a supervision event, and the Prometheus text rendering of it all.
//
// Layer 2: no actors, no sockets. The mesh controller (actors/) counts
// supervision events and buffers output lines; the actor mesh's call and
// cast paths (libmesh/src/client) count messages and latencies; the admin
// server (libmesh/src/client/admin_server.cpp) reads them.
#pragma once

#include "mesh/introspect.hpp"
#include "mesh/status.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mesh {

// --- call latency ------------------------------------------------------------

/// Upper bounds of the call latency buckets, in seconds (the last bucket,
/// +Inf, is implicit).
inline constexpr std::array<double, 14> latency_bounds = {
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
  0.1,    0.25,  0.5,    1,     2.5,   5,     10};

/// A histogram snapshot: cumulative counts per bound, then +Inf (= count).
struct histogram_snapshot {
  std::array<uint64_t, latency_bounds.size() + 1> cumulative{};
  double sum_seconds = 0;
  uint64_t count = 0;
};

/// Lock-free: one relaxed increment per bucket and two for sum and count.
class latency_histogram {
public:
  void observe(std::chrono::nanoseconds d);
  histogram_snapshot snapshot() const;

private:
  std::array<std::atomic<uint64_t>, latency_bounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
  std::atomic<uint64_t> count_{0};
};

// --- forwarded output lines --------------------------------------------------

struct log_line {
  uint64_t seq = 0; ///< From 1, per proc, increasing.
  bool is_stderr = false;
  std::string line;
};

/// The last `capacity` output lines of one proc. Thread-safe; readers may
/// wait (off actor threads only) for lines newer than the ones they have.
class log_buffer {
public:
  explicit log_buffer(size_t capacity = default_capacity) : cap_(capacity) {}

  static constexpr size_t default_capacity = 1000;

  struct page {
    /// The sequence number to ask `after` next time: the last line's, or
    /// `after` itself (capped at the newest line) when nothing is newer.
    uint64_t next = 0;
    std::vector<log_line> lines;
  };

  void append(bool is_stderr, std::string line);
  /// Lines with seq > `after`, oldest first, at most `max`.
  page after(uint64_t after, size_t max = default_capacity) const;
  /// As after(), but if nothing is newer waits up to `wait` for a line (or
  /// close()). Blocks the calling thread.
  page wait_after(uint64_t after, std::chrono::milliseconds wait,
                  size_t max = default_capacity) const;
  /// Wakes every waiter; later waits return at once.
  void close();
  uint64_t last_seq() const;

private:
  page after_locked(uint64_t after, size_t max) const;

  size_t cap_;
  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::deque<log_line> lines_;
  uint64_t last_ = 0;
  bool closed_ = false;
};

// --- supervision events ------------------------------------------------------

/// The cause class of a supervision event, from the proc's status at the
/// time: "actor_failed" (the proc is up, its member failed), "proc_exited"
/// (stopped), "proc_failed" (failed: a signal, a failed launch), "timeout",
/// "host_lost" (unknown), else "other". Low-cardinality, for a metric label.
/// (The mesh controller gives a restarted event the class of the restarting
/// event before it: by then the proc is up again.)
std::string_view cause_class(const proc_event& ev);

/// Supervision events counted by (action, cause class).
using supervision_counts =
  std::map<std::pair<std::string, std::string>, uint64_t>;

// --- Prometheus text exposition 0.0.4 -----------------------------------------

/// What /metrics renders, gathered by the admin server.
struct metrics_input {
  /// The tree: procs by status, per-proc CPU and RSS, per-member messages
  /// and mailbox depths.
  mesh_snapshot tree;
  struct proc_mesh_counters {
    std::string proc_mesh; ///< Its id.
    uint64_t casts_dropped = 0;
    supervision_counts supervision;
  };
  std::vector<proc_mesh_counters> proc_meshes;
  struct call_latency {
    std::string actor_mesh; ///< Its id.
    std::string name;
    histogram_snapshot calls;
  };
  std::vector<call_latency> latencies;
};

/// The Content-Type of render_metrics' text.
inline constexpr std::string_view metrics_content_type =
  "text/plain; version=0.0.4; charset=utf-8";

/// Renders the metrics (names and labels: docs/admin-api.md). Pure.
std::string render_metrics(const metrics_input& in);

/// A label value escaped for the exposition format (\\, \" and \n).
std::string escape_label(std::string_view value);

} // namespace mesh
