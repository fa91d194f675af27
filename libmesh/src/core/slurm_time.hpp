// A Slurm time limit as a mesh file writes it (hosts.time, config/README.md):
// Slurm's own syntax, or one of our durations.
//
// Contract:
// * Slurm's syntax passes through unchanged: "MM", "MM:SS", "HH:MM:SS",
//   "D-HH", "D-HH:MM", "D-HH:MM:SS" (each field 1 to 9 decimal digits; like
//   Slurm, no range check: "10:90" is 11.5 minutes) and "UNLIMITED" /
//   "INFINITE" (any case). "0" is Slurm's "no limit".
// * A duration ("90s", "10m", "2h"; mesh/config.hpp parse_duration) is
//   converted: whole minutes to "M" (Slurm's minutes), anything else to
//   "[D-]HH:MM:SS". It must be whole seconds and not zero (write 0 or
//   UNLIMITED for no limit: a zero duration would read as a mistake).
// * Anything else is an ec::invalid_argument whose text says what is wrong
//   and what the syntax is. Never throws; input size is not bounded but the
//   work is linear in it.
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace mesh::slurm {

/// The text for sbatch --time=... that `text` means, as above.
caf::expected<std::string> time_limit(std::string_view text);

} // namespace mesh::slurm
