// One word of a POSIX shell command line, quoted so that the shell reads it
// back unchanged: for error messages (bootstrap_command::to_string) and for
// the scripts libmesh writes (the Slurm batch script, core/slurm_submit).
//
// Contract: for any string w without a NUL byte, `sh -c "printf %s $(quote)"`
// prints exactly w. Words of safe characters only are returned as they are
// (readable messages); anything else is single-quoted, with an embedded
// quote written as '\''. The empty word is ''.
#pragma once

#include <string>
#include <string_view>

namespace mesh {

/// `word` as one shell word.
std::string shell_quote(std::string_view word);

} // namespace mesh
