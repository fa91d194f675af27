// A contender of the benchmark suite (bench/suite.py) that runs in a C++
// runner process (bench/runner.cpp): the floor, plain CAF + Boost.Process, or
// libmesh. Each brings up N workers, messages them and stops them; the runner
// turns every call into one line of the suite's protocol.
#pragma once

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bench {

/// N workers brought up to ready.
struct up_result {
  double ms = 0;             ///< Launch until every worker is ready.
  std::vector<int64_t> pids; ///< The workers' processes.
  double actors_ms = -1;     ///< libmesh: the actor mesh spawn after that.
};

/// Median and 99th percentile of a series of round trips.
struct latency {
  double median_us = 0;
  double p99_us = 0;
};

/// The same figure measured through two faces of an API in one command,
/// their samples taken in alternating blocks (libmesh: actor_mesh::call,
/// which blocks the calling thread, and mesh::async::call, whose next call
/// starts from the previous call's continuation in an event-based actor).
struct paired_latency {
  latency blocking;
  latency non_blocking;
};

/// A burst of casts to every worker, up to the proof of delivery.
struct cast_result {
  double ms = 0;
  uint64_t bytes = 0; ///< Payload bytes the workers confirm they received.
};

/// One contender; calls come in protocol order (up, messaging, down).
class contender {
public:
  virtual ~contender() = default;
  /// Launches `n` workers and waits until every one is ready.
  virtual caf::expected<up_result> up(size_t n) = 0;
  /// `k` sequential round trips to worker 0.
  virtual caf::expected<latency> round_trips(size_t k) = 0;
  /// Median of `k` gathers: one request to every worker, all replies back.
  virtual caf::expected<double> gather_ms(size_t k) = 0;
  /// As gather_ms, but as N concurrent direct requests from the client (the
  /// budget reference of libmesh's actor mesh call; the same as gather_ms
  /// for contenders whose gather is just that).
  virtual caf::expected<double> direct_ms(size_t k) { return gather_ms(k); }
  /// `k` round trips through the contender's own mesh API, if it has one.
  virtual caf::expected<latency> api_round_trips(size_t k);
  /// `k` round trips to worker 0 through the blocking mesh API and `k`
  /// through the non-blocking one, alternating (libmesh only).
  virtual caf::expected<paired_latency> paired_round_trips(size_t k);
  /// `k` call+gathers over every worker through each face, alternating
  /// (libmesh only; latency in microseconds).
  virtual caf::expected<paired_latency> paired_gathers(size_t k);
  /// `k` introspection rounds of the whole mesh (mesh::introspect: every
  /// host, proc and actor) and `k` call+gathers over every worker, in
  /// alternating blocks (libmesh only): `blocking` holds the call+gathers,
  /// `non_blocking` the introspections (µs).
  virtual caf::expected<paired_latency> paired_introspection(size_t k);
  /// CPU time (ms; their threads' schedstat run time) the workers used
  /// together over `seconds` seconds in which the client asks nothing of them; with
  /// `poll_ms` > 0 the client introspects the mesh every `poll_ms` meanwhile
  /// (what `meshctl top` costs them). libmesh only.
  virtual caf::expected<double> idle_cpu_ms(size_t seconds, size_t poll_ms);
  /// `count` casts of a `size`-byte payload to every worker, then waits
  /// until every worker confirms it has received all of them.
  virtual caf::expected<cast_result> cast(size_t size, size_t count) = 0;
  /// Stops every worker and waits until all processes have exited.
  virtual caf::expected<double> down() = 0;
};

/// posix_spawn (or, with `use_fork`, fork + exec) of bench/floor_echo over
/// loopback TCP.
std::unique_ptr<contender> make_floor_contender(bool use_fork);

/// CAF's default configuration, Boost.Process children (bench/caf_worker).
std::unique_ptr<contender> make_caf_contender();

/// host_mesh::local + spawn, an actor mesh of bench::worker, shutdown; `sys`
/// must have been configured by mesh::configure with the worker registered.
std::unique_ptr<contender> make_mesh_contender(caf::actor_system& sys);

/// The path of a program built next to this one.
std::string sibling_program(const std::string& name);

} // namespace bench
