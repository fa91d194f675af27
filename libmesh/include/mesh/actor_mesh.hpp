// Actor meshes: one actor per proc of a proc mesh, messaged as one
// (architecture §4, §5). Made by proc_mesh::spawn<Handle>.
//
// Contract:
// - A view (range) addresses a subset of the members; cast and call reach
//   exactly the members of the view, and call's values are positioned by the
//   rank in the view.
// - Casts and calls to members on H hosts cost the caller H messages: each
//   host's comm actor fans out to its members and gathers their replies (a
//   host with a single member of the view is addressed directly).
// - call never hangs: a member that is dead, gone or silent past the timeout
//   makes it return an error naming every such rank. A rank whose member is
//   known to have failed or lost its proc (supervision) fails the call at
//   once, before anything is sent; one whose proc or host is lost while the
//   call waits fails the call as soon as supervision knows (not at the
//   timeout, and without waiting for the other members).
//   call_each gives the outcome of each member instead of all-or-error.
// - A cast skips members known to be gone and counts them as dropped
//   (proc_mesh::health).
// - Casts are fire and forget but bounded: every `cast_credit` casts to a
//   host, the cast waits until that host's members have processed it.
// - The messages and replies of typed handles are checked at compile time.
// - A supervised actor mesh (supervise; mesh/supervisor.hpp) has its failed
//   members restarted: every handle and view stays valid and reaches the new
//   member; a call to a rank that is restarting fails at once ("restarting"),
//   a cast to it is dropped and counted.
#pragma once

#include "mesh/export.hpp"

#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/extent.hpp"
#include "mesh/handles.hpp"
#include "mesh/id.hpp"
#include "mesh/region.hpp"
#include "mesh/status.hpp"
#include "mesh/supervisor.hpp"
#include "mesh/value_mesh.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/behavior.hpp>
#include <caf/duration.hpp>
#include <caf/message_id.hpp>
#include <caf/timespan.hpp>
#include <caf/check_typed_input.hpp>
#include <caf/detail/implicit_conversions.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/is_typed_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/response_type.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

class proc_mesh;
class proc_mesh_ref;

/// Casts to one host between two waits for its members to catch up.
constexpr uint64_t cast_credit = 1024;

namespace detail {

struct actor_mesh_core;
struct actor_mesh_plan;
struct async_access;

/// Sends `msg` to `dest` as a request of `self` (any event-based actor,
/// typed or not) and runs `handlers` on `self` with the reply or the error
/// (caf::sec::request_timeout after `timeout`; caf::infinite: none).
/// Returns the id the reply will carry.
caf::message_id request_as(caf::scheduled_actor* self, const caf::actor& dest,
                           caf::message msg, const caf::duration& timeout,
                           caf::behavior handlers);

/// The non-template part of every actor_mesh<Handle>: the members, the view,
/// and the type-erased cast and call.
class actor_mesh_base {
public:
  /// An empty mesh (size() == 0), e.g. before a message fills it.
  actor_mesh_base();
  /// Number of members in this view.
  size_t size() const;
  /// The shape of this view (the proc mesh's extent for an unsliced mesh).
  mesh::extent extent() const;
  /// This view as a region of the proc mesh's ranks.
  const mesh::region& region() const;
  /// The name given at spawn.
  const std::string& name() const;
  /// The actor mesh id (a fresh uid per spawn, labelled with the name).
  const actor_mesh_id& id() const;
  /// The actor system the mesh is used from.
  caf::actor_system& system() const;
  /// Calls `handler` (on a libmesh thread; keep it short) when a member of
  /// the actor mesh fails or its proc ends; `rank` is the proc mesh's rank.
  /// Handlers are shared by every view of the actor mesh. A member's
  /// failure that no handler and no subscriber receives is logged as an
  /// error.
  void on_event(std::function<void(const proc_event&)> handler) const;
  /// Sends every event the on_event handlers get from now on (member
  /// failures, supervision events) to `subscriber` as a `proc_event`
  /// message. The subscriber is monitored and dropped when it ends. Works
  /// while the proc mesh object lives (its controller sends the events).
  void subscribe(caf::actor subscriber) const;
  /// Attaches a supervisor with `policy` to the actor mesh (every view:
  /// the whole actor mesh is supervised) (mesh/supervisor.hpp). Ranks
  /// already gone are restarted at once. Errors: another actor mesh of the
  /// proc mesh is supervised already, or its proc mesh object was
  /// destroyed (ec::not_running), or max_restarts is 0 or within is not
  /// positive (ec::invalid_argument).
  caf::expected<void> supervise(supervisor_policy policy) const;

protected:
  friend class mesh::proc_mesh;
  friend class mesh::proc_mesh_ref;
  friend struct detail::async_access;
  /// How a call that an actor made ends: why each member failed (none: it
  /// replied) and the replies, by view rank.
  using call_done = std::function<void(std::vector<std::optional<std::string>>&,
                                       std::vector<caf::message>&)>;
  /// The non-blocking call: the requests go out from `self`, and `done`
  /// runs on `self` once every member answered, failed or timed out.
  void call_async(caf::scheduled_actor* self, caf::message msg,
                  duration timeout, bool fail_fast, call_done done) const;
  /// The operation that attaches a supervisor (both faces of supervise):
  /// answers nothing once the controller took the policy.
  caf::actor supervise_op(supervisor_policy policy) const;
  /// A call's outcome as all-or-error (call).
  caf::expected<std::vector<caf::message>>
  all_or_error(std::vector<std::optional<std::string>>& errors,
               std::vector<caf::message>& replies) const;
  /// A call's outcome per member (call_each).
  std::vector<caf::expected<caf::message>>
  each_outcome(std::vector<std::optional<std::string>>& errors,
               std::vector<caf::message>& replies) const;
  actor_mesh_base(std::shared_ptr<actor_mesh_core> core, mesh::region view);
  /// The member at a view rank (empty if out of range).
  caf::actor member(size_t rank) const;
  /// The view narrowed along `label`.
  caf::expected<actor_mesh_base> sliced(std::string_view label, size_t begin,
                                        size_t end, size_t step) const;
  /// Sends `msg` to every member of the view.
  void cast_message(caf::message msg) const;
  /// Requests every member of the view; replies by view rank, or an error
  /// naming each rank that failed.
  caf::expected<std::vector<caf::message>> call_message(caf::message msg,
                                                        duration timeout) const;
  /// Requests every member of the view; one outcome per view rank.
  std::vector<caf::expected<caf::message>>
  call_each_message(caf::message msg, duration timeout) const;
  /// The work of both: replies by view rank, and why each failed member
  /// failed (in words that follow its where()). With `fail_fast` (call) the
  /// first member known dead ends the wait for all.
  std::vector<std::optional<std::string>>
  call_outcomes(const caf::message& msg, duration timeout,
                std::vector<caf::message>& replies, bool fail_fast) const;
  /// This view's wire form (handles.hpp).
  actor_mesh_wire wire() const;
  /// The view a process rebuilds from a wire form (on `sys`).
  static actor_mesh_base from_wire(caf::actor_system* sys,
                                   actor_mesh_wire w);
  /// The error for a reply that is not one value of the expected type.
  caf::error unexpected_reply(size_t rank, const caf::message& reply) const;
  /// The call_timeout config value.
  duration default_timeout() const;

  std::shared_ptr<actor_mesh_core> core_;
  std::shared_ptr<const actor_mesh_plan> plan_;
};

} // namespace detail

/// A mesh of actors, one per proc, reached through handles of type Handle
/// (`caf::actor` or a `caf::typed_actor<...>`). Copyable; copies and views
/// share the actors, which live until their procs stop. Like a proc mesh,
/// it must be destroyed before its actor system (it keeps actors of its own
/// for the blocking calls).
template <class Handle>
class actor_mesh : public detail::actor_mesh_base {
public:
  /// An empty mesh (size() == 0), e.g. one that a message will fill.
  actor_mesh() = default;

  /// The member at `rank` of this view (empty if rank >= size()).
  Handle get(size_t rank) const {
    return caf::actor_cast<Handle>(member(rank));
  }

  /// The view of the members whose `label` coordinate is in [begin, end)
  /// by step. Errors as region::range.
  caf::expected<actor_mesh> range(std::string_view label, size_t begin,
                                  size_t end, size_t step = 1) const {
    auto view = sliced(label, begin, end, step);
    if (!view)
      return std::move(view.error());
    return actor_mesh{std::move(*view)};
  }

  /// Sends the message to every member of this view; replies are dropped.
  template <class... Ts>
  void cast(Ts&&... msg) const {
    check_input<Ts...>();
    cast_message(caf::make_message(std::forward<Ts>(msg)...));
  }

  /// Sends the message to every member of this view and gathers one reply of
  /// type R per member (R = caf::message takes any reply), positioned by the
  /// view rank; the timeout is the config key call_timeout.
  template <class R, class... Ts>
  caf::expected<value_mesh<R>> call(Ts&&... msg) const {
    return gather_as<R>(default_timeout(), std::forward<Ts>(msg)...);
  }

  /// As call, with an explicit timeout. A std::chrono::duration as the first
  /// argument is always the timeout, never part of the message.
  template <class R, class Rep, class Period, class... Ts>
  caf::expected<value_mesh<R>> call(std::chrono::duration<Rep, Period> timeout,
                                    Ts&&... msg) const {
    return gather_as<R>(std::chrono::duration_cast<duration>(timeout),
                        std::forward<Ts>(msg)...);
  }

  /// As call, but with one outcome per member of this view, positioned by
  /// the view rank: its reply, or the error for that member alone (gone,
  /// failed, no answer in time, a reply of another type). A member's failure
  /// loses none of the other replies; a member known to be gone is not asked.
  template <class R, class... Ts>
  value_mesh<caf::expected<R>> call_each(Ts&&... msg) const {
    return gather_each<R>(default_timeout(), std::forward<Ts>(msg)...);
  }

  /// As call_each, with an explicit timeout (a std::chrono::duration as the
  /// first argument is always the timeout).
  template <class R, class Rep, class Period, class... Ts>
  value_mesh<caf::expected<R>>
  call_each(std::chrono::duration<Rep, Period> timeout, Ts&&... msg) const {
    return gather_each<R>(std::chrono::duration_cast<duration>(timeout),
                          std::forward<Ts>(msg)...);
  }

  /// An actor mesh travels in messages (handles.hpp); the receiving
  /// side's Handle must match the sender's (CAF checks nothing here).
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, actor_mesh& x) {
    return detail::inspect_wire<detail::actor_mesh_wire>(
      f, [&] { return x.wire(); },
      [&](caf::actor_system* sys, detail::actor_mesh_wire&& w) {
        x = actor_mesh{actor_mesh::from_wire(sys, std::move(w))};
      });
  }

private:
  friend class proc_mesh;
  friend class proc_mesh_ref;
  friend struct detail::async_access;

  explicit actor_mesh(detail::actor_mesh_base base)
    : detail::actor_mesh_base(std::move(base)) {}

  template <class R, class... Ts>
  caf::expected<value_mesh<R>> gather_as(duration timeout, Ts&&... msg) const {
    check_input<Ts...>();
    check_reply<R, Ts...>();
    return values_of<R>(
      call_message(caf::make_message(std::forward<Ts>(msg)...), timeout));
  }

  template <class R, class... Ts>
  value_mesh<caf::expected<R>> gather_each(duration timeout,
                                           Ts&&... msg) const {
    check_input<Ts...>();
    check_reply<R, Ts...>();
    return each_of<R>(
      call_each_message(caf::make_message(std::forward<Ts>(msg)...), timeout));
  }

  /// An all-or-error call's replies as values of type R, by view rank (both
  /// faces of call).
  template <class R>
  caf::expected<value_mesh<R>>
  values_of(caf::expected<std::vector<caf::message>> replies) const {
    if (!replies)
      return std::move(replies.error());
    std::vector<R> values;
    values.reserve(replies->size());
    for (size_t r = 0; r < replies->size(); ++r) {
      auto& reply = (*replies)[r];
      if constexpr (std::is_same_v<R, caf::message>) {
        values.push_back(std::move(reply));
      } else {
        if (!reply.template match_elements<R>())
          return unexpected_reply(r, reply);
        values.push_back(reply.template get_as<R>(0));
      }
    }
    return value_mesh<R>::make(extent(), std::move(values));
  }

  /// Per-member outcomes as values of type R (both faces of call_each).
  template <class R>
  value_mesh<caf::expected<R>>
  each_of(std::vector<caf::expected<caf::message>> replies) const {
    std::vector<caf::expected<R>> values;
    values.reserve(replies.size());
    for (size_t r = 0; r < replies.size(); ++r) {
      auto& reply = replies[r];
      if (!reply) {
        values.emplace_back(std::move(reply.error()));
      } else if constexpr (std::is_same_v<R, caf::message>) {
        values.emplace_back(std::move(*reply));
      } else {
        if (reply->template match_elements<R>())
          values.emplace_back(reply->template get_as<R>(0));
        else
          values.emplace_back(unexpected_reply(r, *reply));
      }
    }
    // One value per member of this view: make() cannot fail.
    return std::move(
      *value_mesh<caf::expected<R>>::make(extent(), std::move(values)));
  }

  template <class... Ts>
  using response_of =
    caf::response_type<caf::signatures_of_t<Handle>,
                       caf::detail::strip_and_convert_t<Ts>...>;

  template <class... Ts>
  static constexpr void check_input() {
    static_assert(response_of<Ts...>::valid,
                  "the actor mesh's handle type does not accept this message");
  }

  template <class R, class... Ts>
  static constexpr void check_reply() {
    if constexpr (caf::is_typed_actor<Handle>::value &&
                  !std::is_same_v<R, caf::message>)
      static_assert(std::is_same_v<typename response_of<Ts...>::type,
                                   caf::detail::type_list<R>>,
                    "R is not the reply type of this message for the actor "
                    "mesh's handle type");
  }
};

} // namespace mesh

MESH_PUBLIC_END
