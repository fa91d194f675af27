// The end of a command's or a job's output, for an error message that
// quotes what the program said (sbatch's stderr, the last lines of a Slurm
// job's output).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mesh {

/// The last `n` lines of `text` that hold more than blanks, each cut to
/// `max_line` bytes, oldest first, without their newlines.
std::vector<std::string> last_lines(std::string_view text, size_t n,
                                    size_t max_line = 200);

} // namespace mesh
