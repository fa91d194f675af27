// libmesh errors: one enum, one category, one renderer.
//
// Every fallible libmesh function returns a `caf::error` (inside a
// `caf::expected<T>`) of the category `mesh::error_category`. Its code is a
// `mesh::ec`; its context is a list of strings which, rendered, reads as one
// sentence naming what failed and why (rank, host, command, exit status where
// they apply). `mesh::configure()` registers the renderer with the actor
// system, so `sys.render(err)` and `mesh::to_string(err)` agree.
#pragma once

#include "mesh/export.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/make_message.hpp>

MESH_PUBLIC_BEGIN

namespace mesh {

/// The error category of all libmesh errors.
constexpr caf::atom_value error_category = caf::atom("mesh");

/// libmesh error codes. Values are stable (they cross process boundaries):
/// append new ones at the end, never renumber. Zero is reserved by CAF for
/// "no error".
enum class ec : uint8_t {
  /// An argument violates the documented contract of the function.
  invalid_argument = 1,
  /// A label is not of the form [a-z][a-z0-9_-]* (1..63 characters).
  invalid_label,
  /// Two extents to be concatenated share a dimension label.
  overlapping_label,
  /// Coordinates or sizes do not match the number of dimensions.
  dimension_mismatch,
  /// A rank, index or coordinate lies outside its extent.
  out_of_range,
  /// A slice names a dimension the region does not have.
  invalid_dimension,
  /// A slice selects no rank.
  empty_range,
  /// Text does not follow the expected grammar (extent, point, region, id).
  parse_error,
  /// A configuration value is malformed or a key is unknown.
  invalid_config,
  /// The MESH_BOOTSTRAP payload is malformed, forged or of another version.
  bad_payload,
  /// A mesh YAML file is invalid; the context lists every problem found.
  invalid_mesh_file,
  /// An operating-system call failed (file, pipe, socket, process).
  system_error,
  /// A proc or host could not be launched (program missing, exec failed).
  spawn_failed,
  /// A proc or host exited or was killed before or after it became ready.
  proc_failed,
  /// Procs or hosts did not become ready within the configured timeout.
  spawn_timeout,
  /// Something could not be stopped (a process survived SIGKILL, a host did
  /// not acknowledge its shutdown).
  stop_failed,
  /// A host could not be reached or did not answer in time.
  host_unreachable,
  /// Pushing the client's configuration to a host failed (attach, HM-1..4).
  config_push_failed,
  /// A bootstrap child presented a wrong or already used token.
  handshake_refused,
  /// An actor could not be spawned on a proc.
  actor_spawn_failed,
  /// A call to an actor mesh failed or timed out for some ranks.
  call_failed,
  /// The mesh was already shut down or stopped.
  not_running,
  /// TLS credentials are missing, unreadable or were refused.
  tls_error,
  /// A scheduler (mesh/allocator.hpp: Slurm) refused a request for hosts, or
  /// the allocation ended before its hosts were up; the context holds the
  /// scheduler's own words.
  allocation_failed,
  /// The caller gave up on a running operation (allocator::cancel, Ctrl-C).
  cancelled,
};

/// The enumerator's name, e.g. "spawn_failed".
std::string to_string(ec code);

/// A short phrase saying what went wrong, e.g. "spawn failed". The rendered
/// error is this phrase followed by the context.
std::string_view describe(ec code);

namespace detail {
inline std::string to_context(std::string x) { return x; }
inline std::string to_context(std::string_view x) { return std::string{x}; }
inline std::string to_context(const char* x) { return std::string{x}; }
template <class T>
std::string to_context(const T& x) {
  using std::to_string;
  return to_string(x);
}
} // namespace detail

/// Builds a libmesh error. Each context argument becomes one string; rendered,
/// they are joined by ": " after the phrase of `code`, so write them as parts
/// of one sentence, most general first:
/// `make_error(ec::spawn_failed, "rank 3 on host 127.0.0.1:4100",
///             "program '/opt/x' does not exist")`.
template <class... Ts>
caf::error make_error(ec code, Ts&&... context) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(detail::to_context(
                      std::forward<Ts>(context))...)};
}

/// True if `err` is a libmesh error with the given code.
bool is(const caf::error& err, ec code);

/// Renders a libmesh error as one sentence, e.g. "spawn failed: rank 3 on
/// host 127.0.0.1:4100: program '/opt/x' does not exist". Errors of other
/// categories are rendered as CAF would.
std::string to_string(const caf::error& err);

/// The renderer `mesh::configure()` registers for `error_category`.
std::string render_error(uint8_t code, const caf::message& context);

} // namespace mesh

MESH_PUBLIC_END
