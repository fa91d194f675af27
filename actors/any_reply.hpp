// Replies of any type for event-based actors.
//
// CAF 0.17 has no catch-all response handler for event-based actors; a
// reply that matches no handler becomes sec::unexpected_response carrying
// the reply as its context, which is how a reply of any type is recovered
// here. Used by the comm actor's relays and by actor mesh calls that an
// actor makes.
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace mesh {

/// A type no reply has: the one handler besides the error handler.
struct no_such_reply {};

/// Response handlers that give `on_reply(caf::message&)` whatever the
/// receiver replied (the message is the handler's to move from), and
/// `on_error(caf::error&)` its error (or the timeout).
template <class OnReply, class OnError>
caf::behavior any_reply(OnReply on_reply, OnError on_error) {
  return caf::behavior{[](no_such_reply) {},
                       [on_reply, on_error](caf::error& err) mutable {
                         if (err == caf::sec::unexpected_response) {
                           // The context itself, not a copy: a shared
                           // message would be copied deep by the first
                           // get_mutable_as (a relay's gathered results).
                           on_reply(err.context());
                         } else {
                           on_error(err);
                         }
                       }};
}

} // namespace mesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::no_such_reply)
