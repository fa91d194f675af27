// Boost.Process, used the obvious way: one bp::child per process, launched
// one after another. Kept in its own translation unit (Boost.Process and CAF
// together cost ~27 s of compile time).
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace bench {

/// Launches `n` copies of `exe args...`; returns their pids (detached).
std::vector<pid_t> launch_n(const std::string& exe,
                            const std::vector<std::string>& args, size_t n);

} // namespace bench
