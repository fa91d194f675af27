#include "actors/proc_agent.hpp"

#include "mesh/error.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <set>

namespace mesh {

namespace {

using agent_ptr = proc_agent_actor::stateful_pointer<proc_agent_state>;

/// Stopping an actor (user_shutdown, kill) is not a failure of it.
bool is_failure(const caf::error& reason) {
  return reason && reason != caf::exit_reason::user_shutdown &&
         reason != caf::exit_reason::kill;
}

std::string explain_spawn_error(caf::actor_system& sys, const caf::error& err,
                                const std::string& type) {
  if (err == caf::sec::unknown_type)
    return "no actor type '" + type +
           "' is registered in the proc's actor_system_config";
  if (err == caf::sec::unexpected_actor_messaging_interface)
    return "actor type '" + type +
           "' does not have the messaging interface of the requested "
           "handle";
  if (err == caf::sec::cannot_spawn_actor_from_arguments)
    return "actor type '" + type +
           "' cannot be constructed from the given init arguments";
  return sys.render(err);
}

/// An actor's exit reason as the end of a sentence.
std::string explain_exit(caf::actor_system& sys, const caf::error& reason) {
  // CAF's default exception handler prints the exception to the proc's
  // stdout and ends the actor with runtime_error.
  if (reason == caf::sec::runtime_error)
    return "an exception escaped it (" + sys.render(reason) +
           "; its message is in the proc's output)";
  if (!reason)
    return "it quit normally";
  return sys.render(reason);
}

std::vector<spawned_actor>::iterator find_actor(agent_ptr self,
                                                const caf::actor_addr& addr) {
  auto& actors = self->state.actors;
  return std::find_if(actors.begin(), actors.end(),
                      [&](auto& a) { return a.handle.address() == addr; });
}

/// The actor answered the probe sent after its spawn: it is initialised.
void confirm(agent_ptr self, const caf::actor& handle) {
  auto i = find_actor(self, handle.address());
  if (i == self->state.actors.end() || i->confirmed)
    return;
  i->confirmed = true;
  i->pending.deliver(handle);
}

/// Keeps an ended actor for introspection (the last ended_kept of them).
void remember_ended(agent_ptr self, const spawned_actor& rec,
                    const caf::error& reason) {
  auto& ended = self->state.ended;
  actor_snapshot snap;
  snap.name = rec.name;
  snap.actor_mesh = rec.actor_mesh;
  snap.type = rec.type;
  // One that died in its initialisation failed too, even if it quit
  // "normally": it never became a member.
  bool failed = is_failure(reason) || !rec.confirmed;
  snap.status = failed ? "failed" : "stopped";
  if (failed)
    snap.last_failure = explain_exit(self->system(), reason);
  ended.push_back(std::move(snap));
  while (ended.size() > proc_agent_state::ended_kept)
    ended.pop_front();
}

void on_down(agent_ptr self, const caf::down_msg& msg) {
  auto i = find_actor(self, msg.source);
  if (i == self->state.actors.end())
    return;
  auto rec = std::move(*i);
  self->state.actors.erase(i);
  remember_ended(self, rec, msg.reason);
  auto& sys = self->system();
  if (!rec.confirmed) {
    rec.pending.deliver(
      make_error(ec::actor_spawn_failed, "proc '" + self->state.proc_name + "'",
                 "the actor ended during its initialisation: " +
                   explain_exit(sys, msg.reason)));
    return;
  }
  if (!is_failure(msg.reason))
    return;
  self->state.actor_failed = true;
  actor_failure failure{self->state.proc_name, rec.name, rec.actor_mesh,
                        explain_exit(sys, msg.reason)};
  if (self->state.registrar)
    self->send(self->state.registrar, actor_failed_atom::value, failure);
  // Any actor that takes an actor_failure will do; registrar_actor is only
  // the typed view that lets a typed actor send it one.
  if (rec.supervisor)
    self->send(caf::actor_cast<registrar_actor>(rec.supervisor),
               actor_failed_atom::value, std::move(failure));
}

caf::expected<caf::actor> spawn_by_type(agent_ptr self,
                                        spawn_actor_request& req) {
  auto& sys = self->system();
  auto fail = [&](std::string why) {
    return make_error(ec::actor_spawn_failed,
                      "proc '" + self->state.proc_name + "'", std::move(why));
  };
  std::set<std::string> ifs(req.interface.begin(), req.interface.end());
  // A class-based actor runs its constructor right here: an exception from
  // it must become a spawn error, not end the proc agent.
  try {
    auto res =
      sys.spawn<caf::actor>(req.type, std::move(req.args), nullptr, true, &ifs);
    if (!res)
      return fail(explain_spawn_error(sys, res.error(), req.type));
    return res;
  } catch (const std::exception& e) {
    return fail("constructing an actor of type '" + req.type +
                "' threw: " + e.what());
  } catch (...) {
    return fail("constructing an actor of type '" + req.type +
                "' threw an exception");
  }
}

} // namespace

// Why this is safe (CAF 0.17.6, caf/intrusive/fifo_inbox.hpp and
// lifo_inbox.hpp). A scheduled actor's mailbox is a lock-free LIFO stack
// that any thread pushes to, plus a queue that only the thread running the
// actor may touch. fifo_inbox::size() calls fetch_more(), which moves the
// stack into that queue (lifo_inbox::take_head), so:
// - nobody else may run the target meanwhile: with one scheduler worker,
//   the worker is running us, and a detached actor (its own thread) is
//   excluded. (The middleman's thread only pushes to mailboxes.) Moving the
//   stack early is exactly what the actor's next resume does first, so it
//   changes nothing it will see;
// - the stack must not be BLOCKED: take_head() swaps BLOCKED for EMPTY, so
//   the next push_front would report `success` instead of
//   `unblocked_reader`, its sender would not schedule the actor, and the
//   actor would never run again. Only the actor's own thread blocks its
//   mailbox (try_block at the end of a resume), which cannot happen while
//   we run; other threads only push, which turns BLOCKED into non-empty,
//   never the reverse. So a mailbox not blocked when we check is not
//   blocked when take_head runs. A BLOCKED mailbox is left untouched: its
//   actor blocked it only with an empty queue (fifo_inbox::try_block) and
//   nothing arrived since, so its depth is 0;
// - nor CLOSED (take_head asserts against it; closing is the actor's own
//   cleanup, again on its thread, so the check holds for the same reason).
// Our handle keeps the target alive while we look. Messages the actor
// skipped (kept for a later behavior) are not counted, as size() does not.
int64_t sample_mailbox_depth(caf::actor_system& sys, const caf::actor& target) {
  if (!target || sys.scheduler().num_workers() != 1)
    return -1;
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(target);
  auto* sched = dynamic_cast<caf::scheduled_actor*>(ptr);
  if (sched == nullptr || sched->getf(caf::abstract_actor::is_detached_flag))
    return -1;
  auto& box = sched->mailbox();
  if (box.blocked())
    return 0;
  if (box.closed())
    return -1;
  return static_cast<int64_t>(box.size());
}

proc_agent_actor::behavior_type
proc_agent(proc_agent_actor::stateful_pointer<proc_agent_state> self,
           std::string proc_name, registrar_actor registrar) {
  self->state.proc_name = std::move(proc_name);
  self->state.registrar = std::move(registrar);
  self->set_down_handler(
    [self](const caf::down_msg& msg) { on_down(self, msg); });
  return {
    [self](stop_proc_atom, const std::string&) {
      for (auto& a : self->state.actors) {
        self->send_exit(a.handle, caf::exit_reason::user_shutdown);
        if (!a.confirmed)
          a.pending.deliver(
            make_error(ec::not_running,
                       "proc '" + self->state.proc_name + "' is stopping"));
      }
      self->state.actors.clear();
      if (self->state.actor_failed)
        self->quit(make_error(ec::proc_failed,
                              "proc '" + self->state.proc_name + "'",
                              "an actor failed"));
      else
        self->quit();
    },
    [self](spawn_actor_atom,
           spawn_actor_request& req) -> caf::result<caf::actor> {
      auto res = spawn_by_type(self, req);
      if (!res)
        return std::move(res.error());
      auto handle = *res;
      self->monitor(handle);
      spawned_actor rec;
      rec.handle = handle;
      rec.name = req.name;
      rec.actor_mesh = req.actor_mesh;
      rec.type = req.type;
      rec.supervisor = req.supervisor;
      rec.pending = self->make_response_promise<caf::actor>();
      auto promise = rec.pending;
      self->state.actors.push_back(std::move(rec));
      // Initialisation runs when the actor is first scheduled. CAF answers
      // this system query only after it, and an actor that dies in it never
      // answers: its down_msg carries the reason instead (on_down).
      self
        ->request(handle, caf::infinite, caf::sys_atom::value,
                  caf::get_atom::value, std::string{"info"})
        .then([self, handle](caf::ok_atom, const std::string&,
                             const caf::strong_actor_ptr&,
                             const std::string&) { confirm(self, handle); },
              [](caf::error&) {});
      return promise;
    },
    [self](get_config_atom,
           const std::string& key) -> caf::result<std::string> {
      if (config_registry::instance().find(key) == nullptr)
        return make_error(ec::invalid_config,
                          "unknown config key '" + key + "'");
      return render_config_value(config_of(self->system()).get_value(key));
    },
    [self](introspect_atom) {
      auto& st = self->state;
      std::vector<actor_snapshot> result;
      result.reserve(st.actors.size() + st.ended.size());
      for (auto& a : st.actors) {
        actor_snapshot snap;
        snap.name = a.name;
        snap.actor_mesh = a.actor_mesh;
        snap.type = a.type;
        snap.status = "running";
        snap.mailbox_depth = sample_mailbox_depth(self->system(), a.handle);
        result.push_back(std::move(snap));
      }
      result.insert(result.end(), st.ended.begin(), st.ended.end());
      return result;
    },
  };
}

} // namespace mesh
