// Operation actors: the one implementation of every mesh operation that is
// not a message round trip of its own (bring-up, spawns, states, stops,
// shutdowns).
//
// Contract:
// - An operation is an event-based actor that starts its work when it is
//   spawned and never blocks its thread: it waits only by messages
//   (requests with continuations, gathers, timers).
// - It answers exactly one `get_atom` request, from whoever asks first, with
//   its result or error, and quits once it has both the result and the
//   question (whichever comes last).
// - The non-blocking face (mesh/async.hpp) asks it from the caller's actor
//   and gets the answer as a continuation; the blocking face (await_op)
//   asks it from a scoped actor on the calling thread. Neither adds logic.
#pragma once

#include "mesh/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/message_handler.hpp>
#include <caf/response_promise.hpp>
#include <caf/scoped_actor.hpp>

#include <memory>
#include <optional>
#include <utility>

namespace mesh {

/// Whether the calling thread was started by an actor system (a scheduler
/// worker or another CAF thread): an actor's, which must not block
/// (configure() marks those threads).
bool on_actor_thread();

} // namespace mesh

namespace mesh::detail {

/// How an operation ends: `done(xs...)` with its result, `fail(err)` with an
/// error. Copies share one outcome; only the first call counts.
class op_outcome {
public:
  explicit op_outcome(caf::event_based_actor* self)
    : self_(self), st_(std::make_shared<state>()) {}

  template <class... Ts>
  void done(Ts&&... xs) const {
    settle(caf::make_message(std::forward<Ts>(xs)...), caf::error{});
  }

  void fail(caf::error err) const { settle(caf::message{}, std::move(err)); }

  /// Whether the operation has ended.
  bool settled() const { return st_->settled; }

  /// The get_atom handler: answers now or once the outcome is known.
  caf::response_promise ask() const {
    st_->promise = self_->make_response_promise();
    st_->asked = true;
    flush();
    return st_->promise;
  }

private:
  struct state {
    bool settled = false;
    bool asked = false;
    caf::message value;
    caf::error error;
    caf::response_promise promise;
  };

  void settle(caf::message value, caf::error err) const {
    if (st_->settled)
      return;
    st_->settled = true;
    st_->value = std::move(value);
    st_->error = std::move(err);
    flush();
  }

  void flush() const {
    if (!st_->settled || !st_->asked)
      return;
    if (st_->error)
      st_->promise.deliver(std::move(st_->error));
    else
      st_->promise.deliver(std::move(st_->value));
    self_->quit();
  }

  caf::event_based_actor* self_;
  std::shared_ptr<state> st_;
};

/// Spawns an operation: `body(self, outcome)` starts the work and returns
/// the handlers the operation needs for messages of its own (timers), if
/// any (a caf::message_handler, possibly empty).
template <class Body>
caf::actor spawn_op(caf::actor_system& sys, Body body) {
  return sys.spawn(
    [body = std::move(body)](caf::event_based_actor* self) mutable {
      op_outcome outcome{self};
      caf::message_handler own = body(self, outcome);
      return caf::behavior{own.or_else(
        [outcome](caf::get_atom) { return outcome.ask(); })};
    });
}

/// An operation that fails at once with `err` (a request refused before
/// any work, answered the same way as every other outcome).
inline caf::actor failed_op(caf::actor_system& sys, caf::error err) {
  return spawn_op(sys, [err](caf::event_based_actor*, op_outcome out) {
    out.fail(err);
    return caf::message_handler{};
  });
}

/// The blocking face: asks `op` from the calling thread and waits for its
/// answer, a single value of type R (caf::unit_t: none).
template <class R>
caf::expected<R> await_op(caf::actor_system& sys, const caf::actor& op) {
  caf::expected<R> result{caf::sec::runtime_error};
  // blocking: the blocking face of every operation, on an application thread
  caf::scoped_actor self{sys};
  // blocking: the blocking face of every operation, on an application thread
  if constexpr (std::is_same_v<R, caf::unit_t>)
    self->request(op, caf::infinite, caf::get_atom::value)
      .receive([&]() { result = caf::unit; },
               [&](caf::error& err) { result = std::move(err); });
  else
    self->request(op, caf::infinite, caf::get_atom::value)
      // blocking: the blocking face of every operation, on an application thread
      .receive([&](R& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace mesh::detail
