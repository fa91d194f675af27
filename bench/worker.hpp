// The worker actor of the messaging benchmarks, one definition shared by the
// plain CAF baseline child (bench/caf_worker.cpp) and the libmesh actor mesh
// (bench/mesh_contender.cpp), so that both sides measure the same actor and
// only the runtime around it differs.
//
//   int32_t x       -> x            a round trip (and one member of a gather)
//   std::string s   -> (nothing)    a cast payload; its bytes are counted
//   get_atom        -> uint64_t     payload bytes received so far
#pragma once

#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <cstdint>
#include <string>

namespace bench {

struct worker_state {
  static inline const char* name = "bench_worker";
  /// Payload bytes received: the sender's proof that its casts arrived.
  uint64_t received = 0;
};

/// The worker: echoes integers, counts payload bytes, reports the count.
inline caf::behavior worker(caf::stateful_actor<worker_state>* self) {
  return {
    [](int32_t x) { return x; },
    [self](const std::string& payload) {
      self->state.received += payload.size();
    },
    [self](caf::get_atom) { return self->state.received; },
  };
}

} // namespace bench
