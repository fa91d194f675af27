#include "actors/comm_actor.hpp"

#include "actors/any_reply.hpp"

#include "mesh/config.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <memory>

namespace mesh {

namespace {

using comm_ptr = comm_actor_actor::stateful_pointer<comm_actor_state>;

/// Requests `target` with `msg` and hands whatever it replies to `on_reply`
/// as a caf::message (actors/any_reply.hpp).
template <class OnReply, class OnError>
void request_any(comm_ptr self, const caf::actor& target, caf::timespan timeout,
                 const caf::message& msg, OnReply on_reply, OnError on_error) {
  self->request(target, timeout, msg)
    .then([](no_such_reply) {},
          [on_reply, on_error](caf::error& err) mutable {
            if (err == caf::sec::unexpected_response) {
              auto reply = err.context();
              on_reply(reply);
            } else {
              on_error(err);
            }
          });
}

/// Replies to a gather once its last member is settled.
struct pending_gather {
  std::vector<gather_result> results;
  std::vector<bool> done; ///< By member: settled (a reply, error or down).
  size_t left = 0;
  caf::typed_response_promise<std::vector<gather_result>> promise;

  void settle() {
    if (--left == 0)
      promise.deliver(std::move(results));
  }
  /// Settles member `i` unless it was already.
  template <class F>
  void settle(size_t i, F fill) {
    if (done[i])
      return;
    done[i] = true;
    fill(results[i]);
    settle();
  }
};

/// Replies to a cast_sync once every member has processed the cast.
struct pending_sync {
  size_t left = 0;
  std::vector<bool> done; ///< By member.
  caf::typed_response_promise<caf::ok_atom> promise;

  void settle() {
    if (--left == 0)
      promise.deliver(caf::ok_atom::value);
  }
  void settle(size_t i) {
    if (done[i])
      return;
    done[i] = true;
    settle();
  }
};

/// Calls `gone` if `member` ends (its actor or its connection) while
/// `owner` is alive; monitors the member on first use.
void watch(comm_ptr self, const caf::actor& member, std::weak_ptr<void> owner,
           std::function<void()> gone) {
  auto& list = self->state.watches[member.address()];
  if (list.empty())
    self->monitor(member);
  // Done gathers and syncs leave expired entries: dropped here.
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](auto& w) { return w.owner.expired(); }),
             list.end());
  list.push_back({std::move(owner), std::move(gone)});
}

void on_member_down(comm_ptr self, const caf::down_msg& msg) {
  auto i = self->state.watches.find(msg.source);
  if (i == self->state.watches.end())
    return;
  auto list = std::move(i->second);
  self->state.watches.erase(i);
  for (auto& w : list)
    if (!w.owner.expired())
      w.gone();
}

void deliver_cast(comm_ptr self, const std::vector<comm_member>& members,
                  const caf::message& msg) {
  ++self->state.stats.casts;
  for (auto& m : members) {
    if (!m.actor)
      continue;
    // Anonymous: a member's reply to a cast has nowhere to go.
    caf::anon_send(m.actor, msg);
    ++self->state.stats.delivered;
  }
}

} // namespace

std::string explain_member_error(caf::actor_system& sys, const caf::error& err,
                                 caf::timespan timeout) {
  if (err == caf::sec::request_timeout)
    return "did not answer within " +
           render_duration(std::chrono::duration_cast<duration>(timeout));
  if (err == caf::sec::request_receiver_down)
    return "is gone (its actor ended or its proc is down)";
  if (err == caf::sec::unexpected_message)
    return "has no handler for the message";
  return "replied with an error: " + sys.render(err);
}

comm_actor_actor::behavior_type comm_actor(comm_ptr self) {
  self->set_down_handler(
    [self](const caf::down_msg& msg) { on_member_down(self, msg); });
  return {
    [self](cast_atom, const std::vector<comm_member>& members,
           const caf::message& msg) { deliver_cast(self, members, msg); },
    [self](cast_sync_atom, const std::vector<comm_member>& members,
           const caf::message& msg,
           relay_timeout wait) -> caf::result<caf::ok_atom> {
      auto timeout = wait.value();
      deliver_cast(self, members, msg);
      auto pending = std::make_shared<pending_sync>();
      pending->promise = self->make_response_promise<caf::ok_atom>();
      pending->left = 1; // Released below, after every probe is sent.
      pending->done.resize(members.size());
      for (size_t i = 0; i < members.size(); ++i) {
        auto& m = members[i];
        if (!m.actor)
          continue;
        ++pending->left;
        // CAF answers this system query itself, after every message the
        // member received before it: the reply proves the cast was handled.
        self
          ->request(m.actor, timeout, caf::sys_atom::value,
                    caf::get_atom::value, std::string{"info"})
          .then([pending, i](caf::ok_atom, const std::string&,
                             const caf::strong_actor_ptr&,
                             const std::string&) { pending->settle(i); },
                [pending, i](caf::error&) { pending->settle(i); });
        std::weak_ptr<pending_sync> weak = pending;
        watch(self, m.actor, weak, [weak, i] {
          if (auto p = weak.lock())
            p->settle(i);
        });
      }
      auto result = pending->promise;
      pending->settle();
      return result;
    },
    [self](gather_atom, const std::vector<comm_member>& members,
           const caf::message& msg,
           relay_timeout wait) -> caf::result<std::vector<gather_result>> {
      auto timeout = wait.value();
      ++self->state.stats.gathers;
      auto pending = std::make_shared<pending_gather>();
      pending->promise =
        self->make_response_promise<std::vector<gather_result>>();
      pending->results.resize(members.size());
      pending->done.resize(members.size());
      pending->left = 1; // Released below, after every request is sent.
      for (size_t i = 0; i < members.size(); ++i) {
        auto& slot = pending->results[i];
        slot.rank = members[i].rank;
        if (!members[i].actor) {
          slot.error = "has no actor";
          continue;
        }
        ++pending->left;
        ++self->state.stats.delivered;
        request_any(
          self, members[i].actor, timeout, msg,
          [pending, i](caf::message& reply) {
            pending->settle(i, [&](gather_result& r) {
              r.ok = true;
              r.value = std::move(reply);
            });
          },
          [self, pending, i, timeout](caf::error& err) {
            pending->settle(i, [&](gather_result& r) {
              r.error = explain_member_error(self->system(), err, timeout);
            });
          });
        std::weak_ptr<pending_gather> weak = pending;
        watch(self, members[i].actor, weak, [weak, i] {
          if (auto p = weak.lock())
            p->settle(i, [](gather_result& r) {
              r.error = "is gone: its actor ended or its proc's connection "
                        "to its host was lost";
            });
        });
      }
      auto result = pending->promise;
      pending->settle();
      return result;
    },
    [self](comm_stats_atom) { return self->state.stats; },
    [self](known_types_atom) {
      std::vector<std::string> names;
      for (auto& entry : self->system().config().value_factories_by_name)
        names.push_back(entry.first);
      return names;
    },
  };
}

} // namespace mesh
