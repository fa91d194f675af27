// The status table meshctl prints: one row per proc.
#pragma once

#include <mesh/status.hpp>

#include <optional>
#include <string>
#include <vector>

namespace meshctl {

/// One row of the table.
struct proc_row {
  std::string mesh;              ///< Proc mesh name.
  std::string actor;             ///< Actor mesh name (health rows only).
  mesh::proc_state state;        ///< As its host reports it.
  std::string point;             ///< Its point in the proc mesh's extent.
  std::optional<double> latency; ///< Health-call round trip in ms, if any.
  std::string health;            ///< Health-call outcome, if any.
};

/// Seconds since the process started and its resident set in KiB, read from
/// /proc (this machine's processes only; nullopt otherwise).
std::optional<double> uptime_seconds(int64_t pid);
std::optional<long> rss_kib(int64_t pid);

/// Renders the rows as an aligned text table.
std::string render_table(const std::vector<proc_row>& rows);

} // namespace meshctl
