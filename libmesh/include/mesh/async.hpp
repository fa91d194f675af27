// The non-blocking face of the API: every operation of host_mesh,
// proc_mesh and actor_mesh that waits has a twin here for event-based
// actors (typed or not), delivering its result to the calling actor as a
// continuation, in CAF's style:
//
//   mesh::async::local(self).then(
//     [=](mesh::host_mesh& hosts) { ... },      // runs on `self`
//     [=](caf::error& err) { ... });            // so does this
//
// Contract:
// - Nothing here blocks a thread: an operation starts when then() is
//   called and runs in actors of libmesh (or, for calls, as requests of
//   `self` itself); then() returns at once.
// - Exactly one of the two callbacks runs, on `self`, as a message handler
//   of `self` (so it may touch `self`'s state), unless `self` has ended.
//   The one exception: a call whose every member is known to be gone fails
//   within then() itself (nothing is sent).
// - The blocking API is a thin wrapper over the same operations: the same
//   errors, the same cleanup of half-failed spawns, the same barriers.
// - then() must be called (once): an operation that is never asked for is
//   never started.
//
// `self` is the actor that receives the result: pass `this` of a
// class-based actor or the `self` pointer of a function-based one (for a
// stateful or typed actor too). Owning results (host_mesh, proc_mesh) are
// owned by whoever keeps them; a host_mesh released on an actor's thread
// without shutdown() starts its shutdown without waiting for it.
#pragma once

#include "mesh/export.hpp"

#include "mesh/actor_mesh.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/introspect.hpp"
#include "mesh/proc_mesh.hpp"
#include "mesh/supervisor.hpp"

#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

MESH_PUBLIC_BEGIN

namespace mesh {

/// A result of type T that an operation will deliver to an actor: call
/// then(on_value, on_error) once to start it. on_value takes T& (or T,
/// T&&, const T&); on_error takes caf::error&. Both must be copyable (they
/// are kept as std::function, as CAF keeps its message handlers).
template <class T>
class pending {
public:
  using value_fn = std::function<void(T&)>;
  using error_fn = std::function<void(caf::error&)>;
  using starter = std::function<void(value_fn, error_fn)>;

  explicit pending(starter start) : start_(std::move(start)) {}

  /// Starts the operation; one of the callbacks runs later on the actor.
  template <class OnValue, class OnError>
  void then(OnValue on_value, OnError on_error) {
    auto start = std::move(start_);
    if constexpr (std::is_invocable_v<OnValue&, T&>)
      start(value_fn{std::move(on_value)}, error_fn{std::move(on_error)});
    else
      start(value_fn{[f = std::move(on_value)](T& x) mutable {
              f(std::move(x));
            }},
            error_fn{std::move(on_error)});
  }

private:
  starter start_;
};

/// A result with no value: on_value takes no argument.
template <>
class pending<void> {
public:
  using value_fn = std::function<void()>;
  using error_fn = std::function<void(caf::error&)>;
  using starter = std::function<void(value_fn, error_fn)>;

  explicit pending(starter start) : start_(std::move(start)) {}

  /// Starts the operation; one of the callbacks runs later on the actor.
  template <class OnValue, class OnError>
  void then(OnValue on_value, OnError on_error) {
    auto start = std::move(start_);
    start(value_fn{std::move(on_value)}, error_fn{std::move(on_error)});
  }

private:
  starter start_;
};

namespace detail {

/// What libmesh's operations answer, turned into the results of
/// mesh/async.hpp (mesh_async.cpp); and access to the call path of actor
/// meshes.
struct async_access {
  /// Asks operation `op` for its answer on behalf of `self`; `handlers`
  /// take it.
  static void ask(caf::scheduled_actor* self, const caf::actor& op,
                  caf::behavior handlers);

  template <class R, class Handle>
  static void call(caf::scheduled_actor* self, const actor_mesh<Handle>& m,
                   caf::message msg, std::optional<duration> timeout,
                   typename pending<value_mesh<R>>::value_fn on_value,
                   typename pending<value_mesh<R>>::error_fn on_error) {
    auto t = timeout ? *timeout : m.default_timeout();
    // The callbacks move into the continuation: a copy of a std::function
    // is an allocation, twice per call.
    m.call_async(self, std::move(msg), t, true,
                 [m, on_value = std::move(on_value),
                  on_error = std::move(on_error)](
                   std::vector<std::optional<std::string>>& errors,
                   std::vector<caf::message>& replies) {
                   auto values =
                     m.template values_of<R>(m.all_or_error(errors, replies));
                   if (values)
                     on_value(*values);
                   else
                     on_error(values.error());
                 });
  }

  template <class R, class Handle>
  static void
  call_each(caf::scheduled_actor* self, const actor_mesh<Handle>& m,
            caf::message msg, std::optional<duration> timeout,
            typename pending<value_mesh<caf::expected<R>>>::value_fn on_value) {
    auto t = timeout ? *timeout : m.default_timeout();
    m.call_async(self, std::move(msg), t, false,
                 [m, on_value = std::move(on_value)](
                   std::vector<std::optional<std::string>>& errors,
                   std::vector<caf::message>& replies) {
                   auto values =
                     m.template each_of<R>(m.each_outcome(errors, replies));
                   on_value(values);
                 });
  }

  template <class Handle>
  static void cast(const actor_mesh<Handle>& m, caf::message msg) {
    m.cast_message(std::move(msg));
  }

  template <class Handle, class... Ts>
  static constexpr void check_input() {
    actor_mesh<Handle>::template check_input<Ts...>();
  }

  template <class Handle, class R, class... Ts>
  static constexpr void check_reply() {
    actor_mesh<Handle>::template check_reply<R, Ts...>();
  }

  /// The operation that spawns an actor mesh (answers its core).
  static caf::actor spawn_actors(const proc_mesh_ref& procs, std::string name,
                                 std::string type, caf::message args,
                                 std::set<std::string> interface);

  /// Turns a spawned actor mesh's answer into actor_mesh<Handle>.
  template <class Handle>
  static void spawned(caf::scheduled_actor* self, const caf::actor& op,
                      mesh::extent extent,
                      typename pending<actor_mesh<Handle>>::value_fn on_value,
                      typename pending<actor_mesh<Handle>>::error_fn on_error) {
    ask_core(self, op,
             [extent, on_value](std::shared_ptr<actor_mesh_core>& core) {
               auto result = make_actor_mesh<Handle>(std::move(core), extent);
               on_value(result);
             },
             std::move(on_error));
  }

  template <class Handle>
  static caf::actor supervise_op(const actor_mesh<Handle>& m,
                                 supervisor_policy policy) {
    return m.supervise_op(policy);
  }

  /// An actor mesh from a spawned core, viewed whole.
  template <class Handle>
  static actor_mesh<Handle> make_actor_mesh(std::shared_ptr<actor_mesh_core> core,
                                            mesh::extent extent) {
    return actor_mesh<Handle>{
      actor_mesh_base{std::move(core), mesh::region{std::move(extent)}}};
  }

  static void
  ask_core(caf::scheduled_actor* self, const caf::actor& op,
           std::function<void(std::shared_ptr<actor_mesh_core>&)> on_value,
           std::function<void(caf::error&)> on_error);
};

} // namespace detail

/// The non-blocking twins of the blocking API (see the top of this file).
namespace async {

// --- host meshes -------------------------------------------------------------

/// host_mesh::local.
pending<host_mesh> local(caf::scheduled_actor* self);

/// host_mesh::local_with_bootstrap.
pending<host_mesh> local_with_bootstrap(caf::scheduled_actor* self,
                                        bootstrap_command cmd);

/// host_mesh::local_in_process.
pending<host_mesh> local_in_process(caf::scheduled_actor* self);

/// host_mesh::process.
pending<host_mesh> process(caf::scheduled_actor* self, mesh::extent hosts,
                           bootstrap_command cmd);

/// host_mesh::attach (the connects run on a thread of their own).
pending<host_mesh> attach(caf::scheduled_actor* self, host_mesh_id id,
                          std::vector<std::string> addrs);

/// host_mesh::shutdown. `hosts` may be destroyed before the result comes
/// (its shutdown runs on; the owner records the outcome).
pending<shutdown_summary> shutdown(caf::scheduled_actor* self,
                                   host_mesh& hosts);

/// host_mesh::stop.
pending<shutdown_summary> stop(caf::scheduled_actor* self, host_mesh& hosts);

/// mesh::introspect (mesh/introspect.hpp): the tree of a host mesh, one
/// round to every host with `deadline` for its procs.
pending<mesh_snapshot> introspect(caf::scheduled_actor* self,
                                  const host_mesh_ref& hosts,
                                  duration deadline = std::chrono::seconds{2});

// --- proc meshes -------------------------------------------------------------

/// host_mesh_ref::spawn: the shapes are checked and `per_rank` runs now,
/// on the calling actor; a failure of either is delivered as the error.
pending<proc_mesh> spawn(caf::scheduled_actor* self,
                         const host_mesh_ref& hosts, std::string name,
                         mesh::extent per_host,
                         std::optional<std::vector<proc_bind>> bind = {},
                         per_rank_bootstrap per_rank = {});

/// proc_mesh_ref::states.
pending<std::vector<proc_state>> states(caf::scheduled_actor* self,
                                        const proc_mesh_ref& procs);

/// proc_mesh_ref::stop.
pending<void> stop(caf::scheduled_actor* self, const proc_mesh_ref& procs,
                   std::string reason = "stopped by client");

// --- actor meshes ------------------------------------------------------------

/// proc_mesh_ref::spawn<Handle>.
template <class Handle, class... Ts>
pending<actor_mesh<Handle>> spawn(caf::scheduled_actor* self,
                                  const proc_mesh_ref& procs, std::string name,
                                  std::string actor_type, Ts&&... init_args) {
  auto args = caf::make_message(std::forward<Ts>(init_args)...);
  return pending<actor_mesh<Handle>>{
    [self, procs, name, actor_type, args](auto on_value, auto on_error) {
      auto op = detail::async_access::spawn_actors(
        procs, name, actor_type, args,
        procs.system().template message_types<Handle>());
      detail::async_access::spawned<Handle>(self, op, procs.extent(),
                                            std::move(on_value),
                                            std::move(on_error));
    }};
}

/// actor_mesh::call: the requests go out from `self` (no other actor in
/// between); the replies come back to it.
template <class R, class Handle, class... Ts>
pending<value_mesh<R>> call(caf::scheduled_actor* self,
                            const actor_mesh<Handle>& mesh, Ts&&... msg) {
  detail::async_access::check_input<Handle, Ts...>();
  detail::async_access::check_reply<Handle, R, Ts...>();
  return pending<value_mesh<R>>{
    [self, mesh, m = caf::make_message(std::forward<Ts>(msg)...)](
      auto on_value, auto on_error) {
      detail::async_access::call<R>(self, mesh, m, std::nullopt,
                                    std::move(on_value), std::move(on_error));
    }};
}

/// actor_mesh::call with an explicit timeout (a std::chrono::duration right
/// after the mesh is always the timeout).
template <class R, class Handle, class Rep, class Period, class... Ts>
pending<value_mesh<R>> call(caf::scheduled_actor* self,
                            const actor_mesh<Handle>& mesh,
                            std::chrono::duration<Rep, Period> timeout,
                            Ts&&... msg) {
  detail::async_access::check_input<Handle, Ts...>();
  detail::async_access::check_reply<Handle, R, Ts...>();
  auto t = std::chrono::duration_cast<duration>(timeout);
  return pending<value_mesh<R>>{
    [self, mesh, t, m = caf::make_message(std::forward<Ts>(msg)...)](
      auto on_value, auto on_error) {
      detail::async_access::call<R>(self, mesh, m, t, std::move(on_value),
                                    std::move(on_error));
    }};
}

/// actor_mesh::call_each: on_error never runs (every member's failure is in
/// its own outcome).
template <class R, class Handle, class... Ts>
pending<value_mesh<caf::expected<R>>>
call_each(caf::scheduled_actor* self, const actor_mesh<Handle>& mesh,
          Ts&&... msg) {
  detail::async_access::check_input<Handle, Ts...>();
  detail::async_access::check_reply<Handle, R, Ts...>();
  return pending<value_mesh<caf::expected<R>>>{
    [self, mesh, m = caf::make_message(std::forward<Ts>(msg)...)](
      auto on_value, auto) {
      detail::async_access::call_each<R>(self, mesh, m, std::nullopt,
                                         std::move(on_value));
    }};
}

/// actor_mesh::cast, which never blocks an actor: from an actor's thread
/// its credit points (a wait every cast_credit casts to a host) are
/// skipped, as CAF's own sends are unpaced; pace a flood with calls.
template <class Handle, class... Ts>
void cast(const actor_mesh<Handle>& mesh, Ts&&... msg) {
  detail::async_access::check_input<Handle, Ts...>();
  detail::async_access::cast(mesh, caf::make_message(std::forward<Ts>(msg)...));
}

/// actor_mesh::supervise (mesh/supervisor.hpp).
template <class Handle>
pending<void> supervise(caf::scheduled_actor* self,
                        const actor_mesh<Handle>& mesh,
                        supervisor_policy policy) {
  return pending<void>{[self, mesh, policy](auto on_value, auto on_error) {
    detail::async_access::ask(
      self, detail::async_access::supervise_op(mesh, policy),
      caf::behavior{[on_value]() { on_value(); },
                    [on_error](caf::error& err) { on_error(err); }});
  }};
}

/// actor_mesh::subscribe and proc_mesh_ref::subscribe need no twin: they
/// only send a message. The subscriber gets every mesh::proc_event
/// (including supervision events) as a message.

} // namespace async

} // namespace mesh

MESH_PUBLIC_END
