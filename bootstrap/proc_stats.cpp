#include "bootstrap/proc_stats.hpp"

#include "mesh/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

namespace mesh::bootstrap {

namespace {

caf::error bad(std::string_view file, const std::string& why) {
  return make_error(ec::parse_error, std::string{file}, why);
}

/// An unsigned decimal that fits in int64_t, or nothing.
bool to_int64(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 19) // 19 digits cannot overflow uint64_t
    return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return false;
  out = static_cast<int64_t>(v);
  return true;
}

/// Splits at single spaces (what the kernel writes); a trailing '\n' ends
/// the text. Returns false on an empty field (two spaces in a row).
template <class F>
bool each_field(std::string_view text, F f) {
  if (!text.empty() && text.back() == '\n')
    text.remove_suffix(1);
  size_t i = 0;
  size_t n = 0;
  while (i <= text.size()) {
    auto end = text.find(' ', i);
    if (end == std::string_view::npos)
      end = text.size();
    auto field = text.substr(i, end - i);
    if (field.empty())
      return false;
    if (!f(n++, field))
      return true;
    i = end + 1;
  }
  return true;
}

/// Reads a small /proc file whole (their sizes are reported as 0, so no
/// stat; at most `limit` bytes).
caf::expected<std::string> read_small(const std::string& path, size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(ec::system_error, "open " + path, std::string{std::strerror(errno)});
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      auto err = errno;
      ::close(fd);
      return make_error(ec::system_error, "read " + path, std::string{std::strerror(err)});
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      ::close(fd);
      return make_error(ec::parse_error, path, "longer than expected");
    }
  }
  ::close(fd);
  return out;
}

/// `own`: the directory is the calling process's, whose entries include
/// the descriptor reading it holds open.
caf::expected<int64_t> count_fds(const std::string& dir, bool own) {
  auto* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return make_error(ec::system_error, "opendir " + dir, std::string{std::strerror(errno)});
  int64_t n = 0;
  while (auto* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      ++n;
  ::closedir(d);
  // Reading our own fd directory holds one fd open for it: not one of the
  // process's own.
  if (own && n > 0)
    --n;
  return n;
}

caf::expected<proc_sample> sample_dir(const std::string& dir, bool own) {
  auto stat_text = read_small(dir + "/stat", 64 * 1024);
  if (!stat_text)
    return std::move(stat_text.error());
  auto stat = parse_proc_stat(*stat_text);
  if (!stat)
    return std::move(stat.error());
  auto statm_text = read_small(dir + "/statm", 4096);
  if (!statm_text)
    return std::move(statm_text.error());
  auto rss = parse_statm_rss(*statm_text, ::sysconf(_SC_PAGESIZE));
  if (!rss)
    return std::move(rss.error());
  auto fds = count_fds(dir + "/fd", own);
  if (!fds)
    return std::move(fds.error());
  auto hz = ::sysconf(_SC_CLK_TCK);
  proc_sample s;
  s.cpu_time_ms = ticks_to_ms(stat->utime_ticks, hz) +
                  ticks_to_ms(stat->stime_ticks, hz);
  s.rss_bytes = *rss;
  s.threads = stat->num_threads;
  s.open_fds = *fds;
  s.state = stat->state;
  return s;
}

} // namespace

caf::expected<proc_stat> parse_proc_stat(std::string_view text) {
  constexpr std::string_view file = "/proc/<pid>/stat";
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos ||
      close < open)
    return bad(file, "no '(comm)' in '" + std::string{text.substr(0, 80)} +
                       "'");
  int64_t pid = 0;
  auto pid_text = text.substr(0, open);
  if (pid_text.empty() || pid_text.back() != ' ' ||
      !to_int64(pid_text.substr(0, pid_text.size() - 1), pid))
    return bad(file, "field 1 (pid) is not a number");
  auto rest = text.substr(close + 1);
  if (rest.size() < 2 || rest[0] != ' ')
    return bad(file, "truncated after the command name");
  rest.remove_prefix(1);
  proc_stat out;
  // Field 3 is rest's field 0; we need up to field 22 (rest's 19).
  constexpr size_t last = 22 - 3;
  size_t seen = 0;
  std::string error;
  bool clean = each_field(rest, [&](size_t i, std::string_view f) {
    seen = i + 1;
    auto field = i + 3;
    int64_t* target = nullptr;
    switch (field) {
      case 3:
        if (f.size() != 1) {
          error = "field 3 (state) is not one letter";
          return false;
        }
        out.state = f[0];
        return true;
      case 14: target = &out.utime_ticks; break;
      case 15: target = &out.stime_ticks; break;
      case 20: target = &out.num_threads; break;
      case 22: target = &out.starttime_ticks; break;
      default: return i < last;
    }
    if (!to_int64(f, *target)) {
      error = "field " + std::to_string(field) + " is not a number that fits "
              "in 64 bits: '" + std::string{f.substr(0, 40)} + "'";
      return false;
    }
    return i < last;
  });
  if (!error.empty())
    return bad(file, error);
  if (!clean && seen <= last)
    return bad(file, "an empty field after field " + std::to_string(seen + 2));
  if (seen <= last)
    return bad(file, "truncated: " + std::to_string(seen + 2) +
                       " fields, at least 22 expected");
  return out;
}

caf::expected<int64_t> parse_statm_rss(std::string_view text,
                                       int64_t page_size) {
  constexpr std::string_view file = "/proc/<pid>/statm";
  if (page_size <= 0)
    return make_error(ec::invalid_argument, "parse_statm_rss",
                      "page size must be positive");
  int64_t pages = -1;
  std::string error;
  bool clean = each_field(text, [&](size_t i, std::string_view f) {
    int64_t v = 0;
    if (!to_int64(f, v)) {
      error = "field " + std::to_string(i + 1) + " is not a number: '" +
              std::string{f.substr(0, 40)} + "'";
      return false;
    }
    if (i == 1)
      pages = v;
    return true;
  });
  if (!error.empty())
    return bad(file, error);
  if (!clean)
    return bad(file, "an empty field");
  if (pages < 0)
    return bad(file, "truncated: no resident field");
  if (pages > std::numeric_limits<int64_t>::max() / page_size)
    return bad(file, "resident pages overflow 64 bits");
  return pages * page_size;
}

int64_t ticks_to_ms(int64_t ticks, int64_t ticks_per_second) {
  if (ticks_per_second <= 0 || ticks <= 0)
    return 0;
  // Whole seconds and the rest apart: ticks * 1000 could overflow.
  return ticks / ticks_per_second * 1000 +
         ticks % ticks_per_second * 1000 / ticks_per_second;
}

caf::expected<proc_sample> sample_process(int64_t pid) {
  if (pid <= 0)
    return make_error(ec::invalid_argument, "sample_process",
                      "pid " + std::to_string(pid) + " is not a process");
  return sample_dir("/proc/" + std::to_string(pid), pid == ::getpid());
}

caf::expected<proc_sample> sample_self() {
  return sample_dir("/proc/self", true);
}

} // namespace mesh::bootstrap
