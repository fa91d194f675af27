// What /proc says about a process: CPU time, threads, RSS, open fds (issue
// 15's introspection samples them when asked, never on a timer).
//
// Contracts:
// * The parsers are pure (text in, figures or an error out) and never crash
//   or read past their input: malformed, truncated or out-of-range text is
//   an ec::parse_error that says which field of which file is wrong.
// * /proc/<pid>/stat is parsed from the LAST ')': the command name (comm)
//   between "(" and ")" may hold spaces, ')' and anything else but NUL.
// * Numbers are unsigned decimals that must fit in int64_t; a field that
//   does not is an error, not a wrapped value.
// * The readers read a live process's files once each; a process that is
//   gone (or a pid <= 0) is an ec::system_error naming the pid.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string_view>

namespace mesh::bootstrap {

/// The fields of /proc/<pid>/stat libmesh uses.
struct proc_stat {
  char state = '?';          ///< Field 3: R, S, D, T, Z, ...
  int64_t utime_ticks = 0;   ///< Field 14, clock ticks.
  int64_t stime_ticks = 0;   ///< Field 15, clock ticks.
  int64_t num_threads = 0;   ///< Field 20.
  int64_t starttime_ticks = 0; ///< Field 22, clock ticks after boot.
};

/// One process's figures, as the introspection reports them.
struct proc_sample {
  int64_t cpu_time_ms = 0; ///< User + system.
  int64_t rss_bytes = 0;
  int64_t threads = 0;
  int64_t open_fds = 0;
  char state = '?';
};

/// Parses the text of /proc/<pid>/stat.
caf::expected<proc_stat> parse_proc_stat(std::string_view text);

/// Parses the text of /proc/<pid>/statm: its second field (resident pages)
/// times `page_size` bytes.
caf::expected<int64_t> parse_statm_rss(std::string_view text,
                                       int64_t page_size);

/// Clock ticks (sysconf(_SC_CLK_TCK)) to milliseconds, without overflow
/// for any int64_t tick count; ticks_per_second must be positive.
int64_t ticks_to_ms(int64_t ticks, int64_t ticks_per_second);

/// Reads /proc/<pid>/stat and statm and counts /proc/<pid>/fd's entries.
caf::expected<proc_sample> sample_process(int64_t pid);

/// The same for the calling process (/proc/self).
caf::expected<proc_sample> sample_self();

} // namespace mesh::bootstrap
