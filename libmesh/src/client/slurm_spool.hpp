// The spool directory of a Slurm allocation (mesh/slurm.hpp): where the
// client hands the daemons their mesh key and script, and where each daemon
// leaves its address. It must be on storage that every node sees.
//
//   <root>/                 0700, made if missing (spool_root,
//                           MESH_SLURM_SPOOL, ~/.libmesh/slurm)
//   <root>/<name>-<hex>/    0700, one per allocation
//     key                   0600, the mesh key (tls::write_key_file; absent
//                           with an insecure transport)
//     job.sh                0700, the batch script (sbatch only)
//     job.out               the job's (or the overlap step's) output
//     job_id                the Slurm job id + "\n" (written once known)
//     host_count            nodes * hosts_per_node + "\n"
//     hosts/<rank>          "host:port\n", written by meshd (atomically)
//
// Contracts:
// * A root or spool that is a symlink, not ours, or open to group/other is
//   refused (ec::system_error naming it): the key must stay this user's.
// * Files are created with O_EXCL and O_NOFOLLOW, so a planted file or link
//   is an error, never followed.
// * Blocking: file I/O on the allocating thread (never an actor's).
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace mesh::slurm {

/// The spool root to use: `configured`, else $MESH_SLURM_SPOOL, else
/// $HOME/.libmesh/slurm; absolute (relative to the working directory).
std::string resolve_spool_root(const std::string& configured);

/// Makes `root` (and missing parents, 0700) and checks it is private.
caf::error make_spool_root(const std::string& root);

/// A new spool directory under `root` for a job named `job_name`, with its
/// hosts/ directory; returns its absolute path.
caf::expected<std::string> make_spool(const std::string& root,
                                      const std::string& job_name);

/// Creates `path` with `mode` holding `content` (it must not exist).
caf::error write_new_file(const std::string& path, const std::string& content,
                          unsigned mode);

/// The content of `path` (at most 1 MiB), or an error naming it.
caf::expected<std::string> read_small_file(const std::string& path);

/// The last bytes (at most 64 KiB) of `path`; "" if it cannot be read.
std::string read_tail(const std::string& path);

/// How many of hosts/0 .. hosts/<n-1> exist.
size_t hosts_ready(const std::string& spool, size_t n);

/// The addresses in hosts/0 .. hosts/<n-1>, each "host:port"; an error
/// names a file that is missing or malformed.
caf::expected<std::vector<std::string>> read_addresses(const std::string& spool,
                                                       size_t n);

/// Removes the spool directory and everything in it (best effort).
void remove_spool(const std::string& spool);

} // namespace mesh::slurm
