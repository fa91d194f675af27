#include "mesh_view.hpp"

#include <mesh/status.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace meshctl {

namespace {

// --- a table of left- or right-aligned columns ------------------------------

struct table {
  std::vector<std::string> headers;
  std::vector<bool> right; ///< Right-aligned columns (numbers).
  std::vector<std::vector<std::string>> rows;

  std::vector<size_t> widths() const {
    std::vector<size_t> w(headers.size());
    for (size_t c = 0; c < headers.size(); ++c)
      w[c] = headers[c].size();
    for (auto& row : rows)
      for (size_t c = 0; c < row.size() && c < w.size(); ++c)
        w[c] = std::max(w[c], row[c].size());
    return w;
  }

  /// One line: columns separated by two spaces; the last column is not
  /// padded (it may be long: a cause).
  std::string line(const std::vector<std::string>& cells,
                   const std::vector<size_t>& w) const {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0)
        out += "  ";
      bool last = c + 1 == cells.size();
      if (right[c])
        out += fmt::format("{:>{}}", cells[c], w[c]);
      else if (last)
        out += cells[c];
      else
        out += fmt::format("{:<{}}", cells[c], w[c]);
    }
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    return out;
  }

  std::vector<std::string> lines() const {
    auto w = widths();
    std::vector<std::string> out{line(headers, w)};
    for (auto& row : rows)
      out.push_back(line(row, w));
    return out;
  }
};

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (auto& l : lines)
    out += l + '\n';
  return out;
}

/// `text` cut to `width` bytes, not inside a UTF-8 sequence.
std::string cut(const std::string& text, size_t width) {
  if (text.size() <= width)
    return text;
  size_t n = width;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80)
    --n;
  return text.substr(0, n);
}

/// Visible columns of `text` (UTF-8 code points).
size_t columns(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80)
      ++n;
  return n;
}

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

/// Procs of the whole tree counted by shown status, in status order.
std::string status_counts(const mesh::mesh_snapshot& snap) {
  std::map<std::string, uint64_t> counts;
  for (auto& h : snap.hosts)
    for (auto& p : h.procs)
      ++counts[shown_status(p)];
  // running first, then the others in their order of severity.
  std::vector<std::pair<int, std::string>> order;
  for (auto& [name, n] : counts) {
    int rank = name == "running" ? 0 : name == "no-answer" ? 9 : 5;
    if (name == "failed" || name == "timeout" || name == "unknown")
      rank = 10;
    order.emplace_back(rank, name);
  }
  std::sort(order.begin(), order.end());
  std::string out;
  for (auto& [rank, name] : order)
    out += (out.empty() ? "" : ", ") + fmt::format("{} {}", counts[name], name);
  return out;
}

size_t proc_count(const mesh::mesh_snapshot& snap) {
  size_t n = 0;
  for (auto& h : snap.hosts)
    n += h.procs.size();
  return n;
}

std::string host_counts(const mesh::host_snapshot& h) {
  std::string out;
  for (auto& [status, n] : h.procs_by_status)
    if (n > 0)
      out += (out.empty() ? "" : ", ") + fmt::format("{} {}", n, status);
  return out.empty() ? "-" : out;
}

std::string pid_text(int64_t pid) {
  return pid > 0 ? std::to_string(pid) : "-";
}

std::string count_text(int64_t n) {
  return n >= 0 ? std::to_string(n) : "-";
}

/// The mesh line shared by status and top.
std::string mesh_line(const mesh::mesh_snapshot& snap) {
  auto procs = proc_count(snap);
  auto counts = status_counts(snap);
  return fmt::format("mesh {} (owner pid {}): {}, {}{}", snap.id,
                     snap.owner_pid, plural(snap.hosts.size(), "host", "hosts"),
                     plural(procs, "proc", "procs"),
                     counts.empty() ? "" : ": " + counts);
}

std::string host_line(const mesh::host_snapshot& h) {
  if (!h.error.empty())
    return fmt::format("host {}: does not answer: {}", h.address, h.error);
  return fmt::format("host {}  pid {}  up {}  rss {}  cpu {}  procs: {}",
                     h.address, pid_text(h.pid), format_age(h.uptime_ms),
                     format_bytes(h.rss_bytes), format_age(h.cpu_time_ms),
                     host_counts(h));
}

int severity(const mesh::proc_snapshot& p) {
  using mesh::proc_status;
  if (is_failed_row(p))
    return 0;
  if (p.status == proc_status::running && !p.responsive)
    return 1;
  switch (p.status) {
    case proc_status::stopping: return 2;
    case proc_status::stopped: return 3;
    case proc_status::initializing: return 4;
    case proc_status::not_exist: return 5;
    default: return 6; // running
  }
}

} // namespace

// --- figures ----------------------------------------------------------------

std::string format_bytes(int64_t bytes) {
  if (bytes < 0)
    return "-";
  if (bytes < 1024)
    return fmt::format("{}B", bytes);
  double v = static_cast<double>(bytes);
  const char* units = "KMGTP";
  int u = -1;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f}{}", v, units[u]);
}

std::string format_age(int64_t ms) {
  if (ms < 0)
    return "-";
  if (ms < 1000)
    return fmt::format("{}ms", ms);
  int64_t s = ms / 1000;
  if (s < 60)
    return fmt::format("{}s", s);
  if (s < 3600)
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400)
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string format_percent(double percent) {
  if (percent < 0)
    return "-";
  return fmt::format("{:.1f}", percent);
}

std::string shown_status(const mesh::proc_snapshot& proc) {
  if (proc.status == mesh::proc_status::running && !proc.responsive)
    return "no-answer";
  return std::string{mesh::to_string(proc.status)};
}

bool is_failed_row(const mesh::proc_snapshot& proc) {
  return mesh::is_failure(proc.status)
         || proc.status == mesh::proc_status::unknown;
}

// --- ls ---------------------------------------------------------------------

std::string render_ls(const std::vector<ls_entry>& entries, int64_t now_ms) {
  table t{{"ID", "OWNER PID", "HOSTS", "PROCS", "AGE", "COMMAND"},
          {false, true, true, true, true, false},
          {}};
  for (auto& e : entries)
    t.rows.push_back(
      {e.mesh.id, std::to_string(e.mesh.owner_pid),
       std::to_string(e.mesh.hosts),
       e.snapshot ? std::to_string(proc_count(*e.snapshot)) : "?",
       format_age(std::max<int64_t>(0, now_ms - e.mesh.started_at_ms)),
       e.mesh.command_line});
  return join_lines(t.lines());
}

// --- status -----------------------------------------------------------------

std::string render_status(const mesh::mesh_snapshot& snap) {
  std::vector<std::string> out{mesh_line(snap), ""};
  table hosts{{"HOST", "PID", "UPTIME", "RSS", "CPU TIME", "PROCS"},
              {false, true, true, true, true, false},
              {}};
  for (auto& h : snap.hosts) {
    if (!h.error.empty())
      hosts.rows.push_back({h.address, "-", "-", "-", "-", "no answer"});
    else
      hosts.rows.push_back({h.address, pid_text(h.pid), format_age(h.uptime_ms),
                            format_bytes(h.rss_bytes),
                            format_age(h.cpu_time_ms), host_counts(h)});
  }
  for (auto& l : hosts.lines())
    out.push_back(l);

  table procs{{"PROC MESH", "RANK", "HOST", "PID", "STATUS", "UPTIME", "CPU%",
               "RSS", "THR", "FDS", "ACTORS"},
              {false, true, false, true, false, true, true, true, true, true,
               true},
              {}};
  for (auto& h : snap.hosts)
    for (auto& p : h.procs)
      procs.rows.push_back({p.proc_mesh, std::to_string(p.rank), p.host,
                            pid_text(p.pid), shown_status(p),
                            format_age(p.uptime_ms),
                            format_percent(p.cpu_percent),
                            format_bytes(p.rss_bytes), count_text(p.threads),
                            count_text(p.open_fds),
                            std::to_string(p.actors.size())});
  if (!procs.rows.empty()) {
    out.emplace_back();
    for (auto& l : procs.lines())
      out.push_back(l);
  }

  auto meshes = actor_meshes(snap);
  if (!meshes.empty()) {
    table actors{{"ACTOR MESH", "TYPE", "PROC MESH", "MEMBERS", "RUNNING",
                  "FAILED", "MAILBOX", "MESSAGES"},
                 {false, false, false, true, true, true, true, true},
                 {}};
    for (auto& a : meshes)
      actors.rows.push_back({a.name, a.type, a.proc_mesh,
                             std::to_string(a.members),
                             std::to_string(a.running),
                             std::to_string(a.failed), count_text(a.mailbox),
                             std::to_string(a.messages)});
    out.emplace_back();
    for (auto& l : actors.lines())
      out.push_back(l);
  }

  std::vector<std::string> failures;
  for (auto& h : snap.hosts) {
    if (!h.error.empty())
      failures.push_back(fmt::format("host {}: {}", h.address, h.error));
    for (auto& p : h.procs) {
      bool failed = is_failed_row(p);
      if (failed || (p.status == mesh::proc_status::running && !p.responsive))
        failures.push_back(fmt::format(
          "{} rank {} (pid {}): {}: {}", p.proc_mesh, p.rank, pid_text(p.pid),
          shown_status(p),
          !p.reason.empty() ? p.reason
          : failed          ? "no cause reported"
                            : "its proc agent did not answer in time"));
      if (failed)
        for (auto& line : p.stderr_tail)
          failures.push_back("  stderr: " + line);
      for (auto& a : p.actors)
        if (a.status == "failed")
          failures.push_back(fmt::format(
            "{} rank {} actor {} ({}): failed: {}", p.proc_mesh, p.rank,
            a.name, a.type,
            a.last_failure.empty() ? "no reason reported" : a.last_failure));
    }
  }
  if (!failures.empty()) {
    out.emplace_back();
    out.emplace_back("FAILURES");
    for (auto& f : failures)
      out.push_back(f);
  }
  return join_lines(out);
}

// --- top --------------------------------------------------------------------

std::string_view to_string(sort_key key) {
  switch (key) {
    case sort_key::cpu: return "cpu";
    case sort_key::rss: return "rss";
    case sort_key::status: return "status";
  }
  return "?";
}

std::vector<const mesh::proc_snapshot*> sorted_procs(
  const mesh::mesh_snapshot& snap, sort_key key) {
  std::vector<const mesh::proc_snapshot*> procs;
  for (auto& h : snap.hosts)
    for (auto& p : h.procs)
      procs.push_back(&p);
  auto tie = [](const mesh::proc_snapshot* p) {
    return std::tie(p->proc_mesh, p->rank);
  };
  std::stable_sort(procs.begin(), procs.end(), [&](auto* a, auto* b) {
    switch (key) {
      case sort_key::cpu:
        if (a->cpu_percent != b->cpu_percent)
          return a->cpu_percent > b->cpu_percent;
        break;
      case sort_key::rss:
        if (a->rss_bytes != b->rss_bytes)
          return a->rss_bytes > b->rss_bytes;
        break;
      case sort_key::status:
        if (severity(*a) != severity(*b))
          return severity(*a) < severity(*b);
        break;
    }
    return tie(a) < tie(b);
  });
  return procs;
}

std::vector<actor_mesh_row> actor_meshes(const mesh::mesh_snapshot& snap) {
  std::map<std::pair<std::string, std::string>, actor_mesh_row> rows;
  for (auto& h : snap.hosts)
    for (auto& p : h.procs)
      for (auto& a : p.actors) {
        auto& row = rows[{p.proc_mesh, a.name}];
        row.name = a.name;
        row.type = a.type;
        row.proc_mesh = p.proc_mesh;
        ++row.members;
        // A member is only as alive as its proc.
        if (a.status == "failed" || is_failed_row(p)) {
          ++row.failed;
          if (row.last_failure.empty())
            row.last_failure = !a.last_failure.empty() ? a.last_failure
                                                       : p.reason;
        } else if (a.status == "running"
                   && p.status == mesh::proc_status::running) {
          ++row.running;
        }
        if (a.mailbox_depth >= 0)
          row.mailbox = std::max<int64_t>(row.mailbox, 0) + a.mailbox_depth;
        row.messages += a.mesh_messages;
      }
  std::vector<actor_mesh_row> out;
  for (auto& [key, row] : rows)
    out.push_back(std::move(row));
  return out;
}

std::vector<std::string> render_top(const mesh::mesh_snapshot& snap,
                                    const top_view& view) {
  // Each line as text plus its attribute; attributes are added last, around
  // the text cut to the width.
  struct line {
    std::string text;
    const char* sgr = nullptr;
    bool pad = false; ///< Fill the row to the width (reverse video).
  };
  auto procs = sorted_procs(snap, view.sort);
  size_t selected = procs.empty() ? 0
                                  : std::min(view.selected, procs.size() - 1);

  std::string title = "meshctl top - " + mesh_line(snap);
  title += fmt::format("  [sort: {}, every {}]", to_string(view.sort),
                       format_age(view.interval_ms));
  std::vector<line> head{{title, view.color ? sgr_heading : nullptr}};
  if (!view.error.empty())
    head.push_back({fmt::format("refresh failed ({} ago): {}",
                                format_age(view.now_ms - snap.taken_at_ms),
                                view.error),
                    sgr_failed});
  for (auto& h : snap.hosts)
    head.push_back({host_line(h), h.error.empty() ? nullptr : sgr_failed});

  table pt{{"PROC MESH", "RANK", "PID", "STATUS", "CPU%", "RSS", "THR", "FDS",
            "ACTORS", "UPTIME", "CAUSE"},
           {false, true, true, false, true, true, true, true, true, true,
            false},
           {}};
  for (auto* p : procs)
    pt.rows.push_back({p->proc_mesh, std::to_string(p->rank), pid_text(p->pid),
                       shown_status(*p), format_percent(p->cpu_percent),
                       format_bytes(p->rss_bytes), count_text(p->threads),
                       count_text(p->open_fds),
                       std::to_string(p->actors.size()),
                       format_age(p->uptime_ms), p->reason});
  auto pw = pt.widths();

  auto meshes = actor_meshes(snap);
  table at{{"ACTOR MESH", "TYPE", "PROC MESH", "MEMBERS", "RUNNING", "FAILED",
            "MAILBOX", "MESSAGES", "LAST FAILURE"},
           {false, false, false, true, true, true, true, true, false},
           {}};
  for (auto& a : meshes)
    at.rows.push_back({a.name, a.type, a.proc_mesh, std::to_string(a.members),
                       std::to_string(a.running), std::to_string(a.failed),
                       count_text(a.mailbox), std::to_string(a.messages),
                       a.last_failure});
  auto aw = at.widths();

  std::string keys = "q quit  c sort by CPU  r sort by RSS  s sort by status"
                     "  up/down select";

  // The height budget: the keys line is always the last line; then the
  // title, the procs' header and one proc row at least; then as many proc
  // rows as fit next to the actor meshes (procs first, up to 5), then the
  // actor meshes, then the rest of the procs.
  size_t avail = view.height > 0 ? view.height - 1 : 0;
  size_t actor_block = meshes.empty() ? 0 : 2 + meshes.size();
  size_t head_room = std::min(head.size(), avail > 2 ? avail - 2 : 1);
  if (head.size() > head_room)
    head.resize(head_room);
  size_t room = avail > head.size() ? avail - head.size() : 0;
  size_t proc_rows = 0;
  size_t actor_rows = 0;
  if (room >= 2) {
    size_t free = room - 2; // blank + header of the procs
    size_t first = std::min(procs.size(), std::min<size_t>(free, 5));
    free -= first;
    // Actor meshes need a blank, a header and one row to be worth showing.
    if (actor_block > 0 && free >= 3) {
      actor_rows = std::min(meshes.size(), free - 2);
      free -= 2 + actor_rows;
    }
    proc_rows = first + std::min(procs.size() - first, free);
  }

  std::vector<line> lines = head;
  if (room >= 2) {
    lines.push_back({""});
    lines.push_back({pt.line(pt.headers, pw), view.color ? sgr_heading : nullptr,
                     true});
    size_t start = 0;
    if (proc_rows > 0 && selected >= proc_rows)
      start = selected - proc_rows + 1;
    for (size_t i = start; i < start + proc_rows && i < procs.size(); ++i) {
      line l{pt.line(pt.rows[i], pw)};
      if (is_failed_row(*procs[i]))
        l.sgr = sgr_failed;
      if (i == selected) {
        l.sgr = l.sgr ? "\x1b[1;31;7m" : sgr_selected;
        l.pad = true;
      }
      lines.push_back(std::move(l));
    }
  }
  if (actor_rows > 0) {
    lines.push_back({""});
    lines.push_back({at.line(at.headers, aw), view.color ? sgr_heading : nullptr,
                     true});
    for (size_t i = 0; i < actor_rows; ++i)
      lines.push_back({at.line(at.rows[i], aw),
                       meshes[i].failed > 0 ? sgr_failed : nullptr});
  }
  if (view.height == 0)
    return {};
  while (lines.size() < avail)
    lines.push_back({""});
  lines.resize(avail);
  lines.push_back({keys});

  std::vector<std::string> out;
  for (auto& l : lines) {
    auto text = cut(l.text, view.width);
    if (l.pad)
      text += std::string(view.width - columns(text), ' ');
    if (view.color && l.sgr && !text.empty())
      out.push_back(l.sgr + text + sgr_reset);
    else
      out.push_back(text);
  }
  return out;
}

std::string strip_ansi(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b' && i + 1 < line.size() && line[i + 1] == '[') {
      size_t j = i + 2;
      while (j < line.size() && !(line[j] >= 0x40 && line[j] <= 0x7e))
        ++j;
      i = j;
      continue;
    }
    out += line[i];
  }
  return out;
}

} // namespace meshctl
