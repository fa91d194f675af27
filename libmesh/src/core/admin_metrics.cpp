#include "libmesh/src/core/admin_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mesh {

// --- latency_histogram -------------------------------------------------------

void latency_histogram::observe(std::chrono::nanoseconds d) {
  auto ns = d.count() < 0 ? 0 : static_cast<uint64_t>(d.count());
  double seconds = static_cast<double>(ns) / 1e9;
  size_t i = 0;
  while (i < latency_bounds.size() && seconds > latency_bounds[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

histogram_snapshot latency_histogram::snapshot() const {
  histogram_snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // The buckets were read one by one: the count is their total, so that
  // +Inf and _count agree in the rendering.
  s.count = running;
  s.sum_seconds =
    static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

// --- log_buffer --------------------------------------------------------------

void log_buffer::append(bool is_stderr, std::string line) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    lines_.push_back(log_line{++last_, is_stderr, std::move(line)});
    while (lines_.size() > cap_)
      lines_.pop_front();
  }
  cv_.notify_all();
}

log_buffer::page log_buffer::after_locked(uint64_t after, size_t max) const {
  page p;
  p.next = std::min(after, last_);
  // Sequence numbers are consecutive: the first newer line's index follows.
  if (!lines_.empty() && after < last_) {
    auto first = lines_.front().seq;
    size_t i = after < first ? 0 : static_cast<size_t>(after - first + 1);
    for (; i < lines_.size() && p.lines.size() < max; ++i)
      p.lines.push_back(lines_[i]);
    if (!p.lines.empty())
      p.next = p.lines.back().seq;
  }
  return p;
}

log_buffer::page log_buffer::after(uint64_t after, size_t max) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return after_locked(after, max);
}

log_buffer::page log_buffer::wait_after(uint64_t after,
                                        std::chrono::milliseconds wait,
                                        size_t max) const {
  std::unique_lock<std::mutex> lock{mtx_};
  cv_.wait_for(lock, wait, [&] { return closed_ || last_ > after; });
  return after_locked(after, max);
}

void log_buffer::close() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    closed_ = true;
  }
  cv_.notify_all();
}

uint64_t log_buffer::last_seq() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return last_;
}

// --- cause class -------------------------------------------------------------

std::string_view cause_class(const proc_event& ev) {
  switch (ev.status) {
    case proc_status::initializing:
    case proc_status::running:
      return "actor_failed";
    case proc_status::stopping:
    case proc_status::stopped:
      return "proc_exited";
    case proc_status::failed:
      return "proc_failed";
    case proc_status::timeout:
      return "timeout";
    case proc_status::unknown:
      return "host_lost";
    case proc_status::not_exist:
      break;
  }
  return "other";
}

// --- Prometheus --------------------------------------------------------------

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

using labels = std::vector<std::pair<std::string_view, std::string>>;

std::string number(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back as `v` (0.0005, not
  // 0.00050000000000000001).
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}

struct writer {
  std::string out;

  void family(std::string_view name, std::string_view type,
              std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  }

  void sample(std::string_view name, const labels& ls, const std::string& v) {
    out += name;
    if (!ls.empty()) {
      out += '{';
      bool first = true;
      for (auto& [k, val] : ls) {
        if (!first)
          out += ',';
        first = false;
        out += k;
        out += "=\"";
        out += escape_label(val);
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    out += v;
    out += '\n';
  }
};

labels proc_labels(const proc_snapshot& p) {
  return {{"proc_mesh", p.proc_mesh},
          {"rank", std::to_string(p.rank)},
          {"proc", p.name}};
}

} // namespace

std::string render_metrics(const metrics_input& in) {
  writer w;
  std::vector<const proc_snapshot*> procs;
  for (auto& h : in.tree.hosts)
    for (auto& p : h.procs)
      procs.push_back(&p);

  w.family("mesh_procs", "gauge", "Procs of the mesh by status.");
  std::map<proc_status, uint64_t> by_status;
  for (int s = 0; s <= static_cast<int>(proc_status::unknown); ++s)
    by_status[static_cast<proc_status>(s)] = 0;
  for (auto* p : procs)
    ++by_status[p->status];
  for (auto& [s, n] : by_status)
    w.sample("mesh_procs", {{"status", std::string{to_string(s)}}},
             std::to_string(n));

  w.family("mesh_proc_cpu_percent", "gauge",
           "CPU used by the proc since the previous introspection, percent "
           "of one core (sampled).");
  for (auto* p : procs)
    if (p->cpu_percent >= 0)
      w.sample("mesh_proc_cpu_percent", proc_labels(*p), number(p->cpu_percent));

  w.family("mesh_proc_resident_memory_bytes", "gauge",
           "Resident set size of the proc's process.");
  for (auto* p : procs)
    if (p->rss_bytes >= 0)
      w.sample("mesh_proc_resident_memory_bytes", proc_labels(*p),
               std::to_string(p->rss_bytes));

  w.family("mesh_actor_messages_sent_total", "counter",
           "Calls and casts the owner sent to each actor mesh member through "
           "the mesh API.");
  // A member: its proc's labels and its actor mesh.
  auto member_labels = [&](const proc_snapshot& p, const actor_snapshot& a) {
    auto ls = proc_labels(p);
    ls.emplace_back("actor_mesh", a.actor_mesh);
    ls.emplace_back("actor", a.name);
    return ls;
  };
  for (auto* p : procs)
    for (auto& a : p->actors)
      w.sample("mesh_actor_messages_sent_total", member_labels(*p, a),
               std::to_string(a.mesh_messages));

  w.family("mesh_actor_mailbox_depth", "gauge",
           "Messages waiting in a member's mailbox when its proc agent looked "
           "(sampled; only where known).");
  for (auto* p : procs)
    for (auto& a : p->actors)
      if (a.mailbox_depth >= 0)
        w.sample("mesh_actor_mailbox_depth", member_labels(*p, a),
                 std::to_string(a.mailbox_depth));

  w.family("mesh_call_duration_seconds", "histogram",
           "Duration of the owner's calls to actor meshes, from send to the "
           "last reply or error.");
  for (auto& l : in.latencies) {
    labels base{{"actor_mesh", l.actor_mesh}, {"actor", l.name}};
    for (size_t i = 0; i <= latency_bounds.size(); ++i) {
      auto ls = base;
      ls.emplace_back("le", i < latency_bounds.size()
                              ? number(latency_bounds[i])
                              : std::string{"+Inf"});
      w.sample("mesh_call_duration_seconds_bucket", ls,
               std::to_string(l.calls.cumulative[i]));
    }
    w.sample("mesh_call_duration_seconds_sum", base, number(l.calls.sum_seconds));
    w.sample("mesh_call_duration_seconds_count", base,
             std::to_string(l.calls.count));
  }

  w.family("mesh_casts_dropped_total", "counter",
           "Casts not sent because their member was known to be gone.");
  for (auto& m : in.proc_meshes)
    w.sample("mesh_casts_dropped_total", {{"proc_mesh", m.proc_mesh}},
             std::to_string(m.casts_dropped));

  w.family("mesh_supervision_events_total", "counter",
           "Supervision events by action and cause class.");
  for (auto& m : in.proc_meshes)
    for (auto& [key, n] : m.supervision)
      w.sample("mesh_supervision_events_total",
               {{"proc_mesh", m.proc_mesh},
                {"action", key.first},
                {"cause", key.second}},
               std::to_string(n));
  return std::move(w.out);
}

} // namespace mesh
