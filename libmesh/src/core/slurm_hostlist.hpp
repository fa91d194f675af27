// Slurm's compressed host lists (SLURM_JOB_NODELIST, `scontrol show
// hostnames`): "node[01-03,7],login1" names node01 node02 node03 node7 login1.
//
// Grammar, as Slurm writes it: a comma-separated list of elements; an element
// is literal text and bracket groups, each group a comma-separated list of
// numbers or ranges LO-HI (LO <= HI). A group's numbers are zero-padded to
// the width LO is written with ("01-10" gives 01..10, "1-010" gives 1..10).
// Several groups in one element expand to their cartesian product, in
// Slurm's order: the last group varies fastest, then the first, the second,
// and so on. "rack[1-2]-n[1-2]" is rack1-n1 rack1-n2 rack2-n1 rack2-n2;
// "a[0-1]b[0-1]c[0-1]" is a0b0c0 a0b0c1 a1b0c0 a1b0c1 a0b1c0 ... Otherwise
// names come out in the order written, duplicates kept: all as `scontrol
// show hostnames` (Slurm 22.05) prints them.
//
// Stricter than Slurm where Slurm guesses: an empty list or element, an empty
// or half-open range ("n[5-]"), whitespace, or a ']' outside a group are
// errors, not skipped. Text after the last group ("n[1-2].ib") is accepted
// (Slurm 22.05 rejects it; it never writes it).
//
// Pure text code (layer 2): no processes.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::slurm {

/// At most this many names (Slurm's own bound on one range), so that
/// "n[0-99999999]" is an error rather than gigabytes.
constexpr size_t max_hostlist_names = 65536;

/// At most this many characters in one name (a DNS name's limit).
constexpr size_t max_hostname_length = 255;

/// The names of a host list, in order. ec::parse_error naming the input and
/// the 0-based position of what is wrong for malformed text, or for a list
/// of more than max_hostlist_names names or a name longer than
/// max_hostname_length.
caf::expected<std::vector<std::string>> expand_hostlist(std::string_view text);

} // namespace mesh::slurm
