#include "proc_table.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace meshctl {

std::optional<double> uptime_seconds(int64_t pid) {
  if (pid <= 0)
    return std::nullopt;
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return std::nullopt;
  // Field 22 (starttime, in clock ticks since boot) counts from after the
  // command name, which may contain spaces: start after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest{line.substr(close + 2)};
  std::string field;
  unsigned long long start = 0;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22)
      start = std::stoull(field);
  std::ifstream up{"/proc/uptime"};
  double since_boot = 0;
  if (!(up >> since_boot))
    return std::nullopt;
  return since_boot - static_cast<double>(start) / ::sysconf(_SC_CLK_TCK);
}

std::optional<long> rss_kib(int64_t pid) {
  if (pid <= 0)
    return std::nullopt;
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return std::nullopt;
}

std::string render_table(const std::vector<proc_row>& rows) {
  bool with_health = false;
  bool with_actor = false;
  for (auto& r : rows) {
    with_health = with_health || !r.health.empty() || r.latency;
    with_actor = with_actor || !r.actor.empty();
  }
  std::string out = fmt::format("{:<10} ", "MESH");
  if (with_actor)
    out += fmt::format("{:<10} ", "ACTOR");
  out += fmt::format("{:>4}  {:<22} {:<22} {:>7}  {:<9} {:>8} {:>9}", "RANK",
                     "POINT", "HOST", "PID", "STATUS", "UPTIME", "RSS");
  if (with_health)
    out += fmt::format("  {:>11}", "CALL");
  out += '\n';
  for (auto& r : rows) {
    auto& st = r.state;
    auto up = uptime_seconds(st.pid);
    auto rss = rss_kib(st.pid);
    out += fmt::format("{:<10} ", r.mesh);
    if (with_actor)
      out += fmt::format("{:<10} ", r.actor);
    out += fmt::format(
      "{:>4}  {:<22} {:<22} {:>7}  {:<9} {:>8} {:>9}", st.rank,
      r.point, st.host, st.pid > 0 ? std::to_string(st.pid) : "-",
      std::string{mesh::to_string(st.status)},
      up ? fmt::format("{:.1f}s", *up) : "-",
      rss ? fmt::format("{:.1f}MB", *rss / 1024.0) : "-");
    if (with_health)
      out += fmt::format("  {:>11}",
                         r.latency ? fmt::format("{:.2f}ms", *r.latency)
                                   : r.health);
    out += '\n';
  }
  return out;
}

} // namespace meshctl
