// ELF inspection: which programs can serve as a zygote (bootstrap/zygote.hpp).
//
// Contract: reading a program never crashes and never says yes for anything
// but a well-formed 64-bit ELF program that names libmesh.so in DT_NEEDED:
// truncated, hostile or non-ELF files are "no".
#pragma once

#include <string>

namespace mesh::bootstrap::zygote {

/// True if `path` is an ELF program that needs libmesh.so (DT_NEEDED): a
/// libmesh program, which calls run_bootstrap_child first in main and so can
/// serve as a zygote. Wrappers (shells, numactl, env) and anything else are
/// exec'd for each proc, so that whatever they do runs once per proc.
bool links_libmesh(const std::string& path);

} // namespace mesh::bootstrap::zygote
