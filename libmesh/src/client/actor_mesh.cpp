#include "mesh/actor_mesh.hpp"

#include "actors/any_reply.hpp"
#include "actors/comm_actor.hpp"
#include "libmesh/src/client/actor_mesh_core.hpp"
#include "libmesh/src/client/ops.hpp"
#include "mesh/config_keys.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <utility>

namespace mesh::keys {

// Read by actor mesh calls and spawns (declared in mesh/config_keys.hpp,
// architecture §6), and by proc_mesh.cpp and meshctl up for theirs.
const config_key<duration> call_timeout{
  "call_timeout", std::chrono::seconds{30}, true,
  "deadline of one actor mesh call or spawn, per member"};

} // namespace mesh::keys

namespace mesh::detail {

namespace {

/// Failures listed in full in one error.
constexpr size_t max_listed = 10;

std::shared_ptr<const actor_mesh_plan> make_plan(const actor_mesh_core& core,
                                                 mesh::region view) {
  auto plan = std::make_shared<actor_mesh_plan>();
  plan->base_ranks = view.base_ranks();
  std::map<size_t, std::vector<size_t>> by_host;
  for (size_t v = 0; v < plan->base_ranks.size(); ++v)
    by_host[core.layout->host_of(plan->base_ranks[v])].push_back(v);
  for (auto& [host, ranks] : by_host) {
    host_group g;
    g.host = host;
    g.view_ranks = ranks;
    for (auto v : ranks)
      g.members.push_back(comm_member{v, core.members[plan->base_ranks[v]]});
    plan->groups.push_back(std::move(g));
  }
  plan->view = std::move(view);
  return plan;
}

/// The layout's where() for a rank of a view, named by its view rank.
std::string where(const actor_mesh_core& core, const actor_mesh_plan& plan,
                  size_t view_rank) {
  return core.layout->where(plan.base_ranks[view_rank], view_rank);
}

/// The portable names of the custom types among `msg`'s elements (builtin
/// types are known everywhere).
std::vector<std::string> custom_type_names(caf::actor_system& sys,
                                           const caf::message& msg) {
  std::vector<std::string> result;
  for (size_t i = 0; i < msg.size(); ++i) {
    auto rtti = msg.type(i);
    if (rtti.first == 0)
      result.push_back(sys.types().portable_name(rtti));
  }
  return result;
}

/// Whether the comm actor of `host` can relay `msg`: the host process
/// (a meshd, for instance) may not know the application's types, and CAF
/// 0.17 delivers what it cannot decode as an empty message. Decided here,
/// from the types the host named when the actor mesh was spawned: no
/// message waits for a question. `names` is custom_type_names(msg),
/// computed on first use and kept for the caller's other hosts.
bool relays(const actor_mesh_core& core, size_t host, const caf::message& msg,
            std::optional<std::vector<std::string>>& names) {
  auto& known = core.host_types[host];
  if (msg.empty() || !known)
    return true;
  if (!names)
    names = custom_type_names(*core.sys, msg);
  return std::all_of(names->begin(), names->end(),
                     [&](const std::string& n) { return known->count(n) > 0; });
}

caf::timespan relay_margin(caf::timespan timeout) {
  // The comm actor answers right after its own deadline; the margin only
  // covers the hop back, so a hung host is still found out.
  return timeout / 10 + std::chrono::seconds{1};
}

} // namespace

caf::message_id request_as(caf::scheduled_actor* self, const caf::actor& dest,
                           caf::message msg, const caf::duration& timeout,
                           caf::behavior handlers) {
  auto id = self->new_request_id(caf::message_priority::normal);
  if (dest) {
    dest->enqueue(caf::make_mailbox_element(caf::strong_actor_ptr{self->ctrl()},
                                            id, {}, std::move(msg)),
                  self->context());
    self->request_response_timeout(timeout, id);
  } else {
    self->enqueue(caf::make_mailbox_element(
                    nullptr, id.response_id(), {},
                    caf::make_error(caf::sec::invalid_argument)),
                  self->context());
  }
  self->add_multiplexed_response_handler(id.response_id(),
                                         std::move(handlers));
  return id.response_id();
}

std::string reason_of(caf::actor_system& sys, const caf::error& err) {
  if (err.category() == error_category) {
    auto& ctx = err.context();
    if (!ctx.empty() && ctx.match_element<std::string>(ctx.size() - 1))
      return ctx.get_as<std::string>(ctx.size() - 1);
  }
  return sys.render(err);
}

std::string join_failures(const std::vector<std::string>& failures) {
  std::string result;
  for (size_t i = 0; i < failures.size() && i < max_listed; ++i)
    result += (i == 0 ? "" : "; ") + failures[i];
  if (failures.size() > max_listed)
    result += "; and " + std::to_string(failures.size() - max_listed) + " more";
  return result;
}

actor_mesh_base::actor_mesh_base()
  : core_(std::make_shared<actor_mesh_core>()),
    plan_(std::make_shared<actor_mesh_plan>()) {
  core_->supervision = std::make_shared<actor_mesh_supervision>();
  core_->controller = std::make_shared<mesh_controller_shared>();
}

actor_mesh_base::actor_mesh_base(std::shared_ptr<actor_mesh_core> core,
                                 mesh::region view)
  : core_(std::move(core)), plan_(make_plan(*core_, std::move(view))) {}

size_t actor_mesh_base::size() const {
  return plan_->base_ranks.size();
}

mesh::extent actor_mesh_base::extent() const {
  return plan_->view.extent();
}

const mesh::region& actor_mesh_base::region() const {
  return plan_->view;
}

const std::string& actor_mesh_base::name() const {
  return core_->name;
}

const actor_mesh_id& actor_mesh_base::id() const {
  return core_->id;
}

caf::actor_system& actor_mesh_base::system() const {
  return *core_->sys;
}

void actor_mesh_base::on_event(
  std::function<void(const proc_event&)> handler) const {
  std::lock_guard<std::mutex> guard{core_->controller->mtx};
  core_->supervision->handlers.push_back(std::move(handler));
}

caf::actor actor_mesh_base::member(size_t rank) const {
  if (rank >= plan_->base_ranks.size())
    return caf::actor{};
  return current_member(*core_, plan_->base_ranks[rank]);
}

caf::expected<actor_mesh_base> actor_mesh_base::sliced(std::string_view label,
                                                       size_t begin, size_t end,
                                                       size_t step) const {
  auto view = plan_->view.range(label, begin, end, step);
  if (!view)
    return make_error(ec::invalid_argument,
                      "range of actor mesh '" + core_->name + "'",
                      mesh::to_string(view.error()));
  return actor_mesh_base{core_, std::move(*view)};
}

duration actor_mesh_base::default_timeout() const {
  return core_->config->get(keys::call_timeout);
}

void actor_mesh_base::cast_message(caf::message msg) const {
  auto& core = *core_;
  caf::timespan timeout{default_timeout()};
  // A group is sent to its members one by one if it has one member or its
  // host cannot relay the message.
  std::optional<std::vector<std::string>> names;
  auto one_by_one = [&](const host_group& g) {
    return g.members.size() == 1 || !relays(core, g.host, msg, names);
  };
  // A member known to be gone is not sent to: its cast counts as dropped
  // for its rank (proc_mesh::health), and nothing is logged per cast.
  std::vector<host_group> pruned;
  // Restarted members (a supervisor's) replace the planned ones.
  std::vector<host_group> current;
  const std::vector<host_group>* groups =
    &current_groups(core, *plan_, current);
  if (core.supervision->any_gone.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> guard{core.controller->mtx};
    auto& sup = *core.supervision;
    auto& dropped = core.controller->dropped;
    for (auto& g : *groups) {
      host_group kept;
      kept.host = g.host;
      for (size_t i = 0; i < g.members.size(); ++i) {
        auto base = plan_->base_ranks[g.view_ranks[i]];
        if (sup.skips(base)) { // gone, or restarting
          if (base < dropped.size())
            ++dropped[base];
          continue;
        }
        kept.view_ranks.push_back(g.view_ranks[i]);
        kept.members.push_back(g.members[i]);
      }
      if (!kept.members.empty())
        pruned.push_back(std::move(kept));
    }
    groups = &pruned;
  }
  std::vector<const host_group*> credit_points;
  auto& sup = *core.supervision;
  for (auto& g : *groups) {
    // Counted as sent (actor_snapshot::mesh_messages), credit point or not.
    for (auto v : g.view_ranks)
      sup.count_sent(plan_->base_ranks[v]);
    auto sent = core.casts_per_host[g.host].fetch_add(1) + 1;
    if (sent % cast_credit == 0) {
      credit_points.push_back(&g);
      continue;
    }
    // Anonymous: replies to a cast have nowhere to go.
    if (one_by_one(g))
      for (auto& m : g.members)
        caf::anon_send(m.actor, msg);
    else
      caf::anon_send(core.comms[g.host], cast_atom::value, g.members, msg);
  }
  if (credit_points.empty())
    return;
  // An actor never waits: from an actor's thread the credit points are
  // ordinary casts (CAF's own unpaced sends; an actor that floods paces
  // itself with calls).
  if (on_actor_thread()) {
    for (auto g : credit_points) {
      if (one_by_one(*g))
        for (auto& m : g->members)
          caf::anon_send(m.actor, msg);
      else
        caf::anon_send(core.comms[g->host], cast_atom::value, g->members, msg);
    }
    return;
  }
  auto caller = core.callers->borrow();
  auto& self = *caller;
  using probe_handle =
    decltype(self->request(caf::actor{}, timeout, caf::sys_atom::value,
                           caf::get_atom::value, std::string{}));
  using sync_handle =
    decltype(self->request(comm_actor_actor{}, timeout, cast_sync_atom::value,
                           std::vector<comm_member>{}, msg,
                           relay_timeout{timeout}));
  std::vector<probe_handle> probes;
  std::vector<sync_handle> syncs;
  for (auto g : credit_points) {
    if (one_by_one(*g)) {
      for (auto& m : g->members) {
        caf::anon_send(m.actor, msg);
        // CAF answers this system query after every earlier message.
        probes.push_back(self->request(m.actor, timeout, caf::sys_atom::value,
                                       caf::get_atom::value,
                                       std::string{"info"}));
      }
    } else {
      syncs.push_back(
        self->request(core.comms[g->host], timeout + relay_margin(timeout),
                      cast_sync_atom::value, g->members, msg,
                      relay_timeout{timeout}));
    }
  }
  // A member that is gone or slow only ends the wait: casts report nothing.
  bool late = false;
  for (auto& h : probes)
    // blocking: the blocking face, on an application thread (actors use call_async; casts skip credit waits on actors' threads)
    h.receive([](caf::ok_atom, const std::string&, const caf::strong_actor_ptr&,
                 const std::string&) {},
              [&](caf::error&) { late = true; });
  for (auto& h : syncs)
    // blocking: the blocking face, on an application thread (actors use call_async; casts skip credit waits on actors' threads)
    h.receive([](caf::ok_atom) {}, [&](caf::error&) { late = true; });
  if (late)
    caller.discard();
}

namespace {

/// What a member's error means, in the words of a call: supervision's
/// errors (its proc or host is gone) say why; others as the comm actor
/// says them.
std::string explain_call_error(caf::actor_system& sys, const caf::error& err,
                               caf::timespan timeout) {
  if (err.category() == error_category
      && (err.code() == static_cast<uint8_t>(ec::proc_failed)
          || err.code() == static_cast<uint8_t>(ec::host_unreachable)))
    return "is gone: " + reason_of(sys, err);
  return explain_member_error(sys, err, timeout);
}

} // namespace

namespace {

/// What a member of an all-or-error call that was abandoned (another rank
/// died) gets in place of a reply; never shown.
const std::string abandoned = "abandoned";

bool is_abandoned(const caf::error& err) {
  if (err.category() != error_category
      || err.code() != static_cast<uint8_t>(ec::call_failed))
    return false;
  auto& ctx = err.context();
  return !ctx.empty() && ctx.match_element<std::string>(ctx.size() - 1)
         && ctx.get_as<std::string>(ctx.size() - 1) == abandoned;
}

} // namespace

namespace {

/// One request of a call: to a member directly, or to a host's comm actor
/// for several members.
struct call_request {
  caf::actor dest;
  caf::message msg;
  caf::timespan timeout{0};
  std::optional<size_t> view_rank; ///< A direct request: its member.
  host_group group;                ///< A relay: its members.
};

} // namespace

/// One call in flight, whichever face drives it: the blocking caller
/// (call_outcomes) or an actor's continuations (call_async). It plans the
/// requests, registers them with supervision, takes each reply or error,
/// and names the failures at the end.
class call_machine {
public:
  call_machine(const actor_mesh_core& core, const actor_mesh_plan& plan,
               const caf::message& msg, duration timeout, bool fail_fast)
    : core_(core), plan_(plan), ts_(timeout), fail_fast_(fail_fast) {
    auto n = plan.base_ranks.size();
    replies.assign(n, caf::message{});
    errors.resize(n);
    plan_requests(msg);
  }

  std::vector<caf::message> replies;
  std::vector<std::optional<std::string>> errors;
  std::vector<call_request> requests;
  /// A request failed (its reply may still come): a blocking caller is not
  /// reused.
  bool late = false;

  /// Registers the requests, sent by `caller` with these response ids,
  /// with supervision, which answers any whose member or host dies.
  void watch(const caf::strong_actor_ptr& caller,
             const std::vector<caf::message_id>& ids) {
    auto& shared = *core_.controller;
    std::lock_guard<std::mutex> guard{shared.mtx};
    // One id for the requests of an all-or-error call, taken under the lock
    // that registers them (no second lock per call).
    auto call_id = fail_fast_ ? shared.new_call() : 0;
    waiter_ids_.reserve(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      auto& req = requests[i];
      rank_waiter w;
      w.caller = caller;
      w.response_id = ids[i];
      w.host = req.view_rank ? core_.layout->host_of(
                                 plan_.base_ranks[*req.view_rank])
                             : req.group.host;
      if (req.view_rank)
        w.rank = plan_.base_ranks[*req.view_rank];
      else
        for (auto v : req.group.view_ranks)
          w.relayed_ranks.push_back(plan_.base_ranks[v]);
      w.actor_mesh = core_.supervision->id;
      w.fail_fast = fail_fast_;
      w.call = call_id;
      waiter_ids_.push_back(shared.add_waiter(std::move(w)));
    }
  }

  /// The reply to request i.
  void on_reply(size_t i, caf::message& reply) {
    auto& req = requests[i];
    if (req.view_rank) {
      replies[*req.view_rank] = std::move(reply);
      return;
    }
    auto& group = req.group;
    if (!reply.match_elements<std::vector<gather_result>>()) {
      for (auto v : group.view_ranks)
        errors[v] = "got no result from its host's comm actor";
      return;
    }
    auto& results = reply.get_mutable_as<std::vector<gather_result>>(0);
    for (size_t k = 0; k < group.view_ranks.size(); ++k) {
      auto v = group.view_ranks[k];
      if (k >= results.size())
        errors[v] = "got no result from its host's comm actor";
      else if (results[k].ok)
        replies[v] = std::move(results[k].value);
      else
        errors[v] = std::move(results[k].error);
    }
  }

  /// The error that came instead of request i's reply.
  void on_error(size_t i, const caf::error& err) {
    late = true;
    auto& req = requests[i];
    auto& sys = *core_.sys;
    if (req.view_rank) {
      errors[*req.view_rank] = is_abandoned(err)
                                 ? abandoned
                                 : explain_call_error(sys, err, ts_);
      return;
    }
    auto& group = req.group;
    if (fail_fast_
        && (is_abandoned(err)
            || (err.category() == error_category
                && err.code() == static_cast<uint8_t>(ec::proc_failed)))) {
      // Over because some rank died: which one is told in finish().
      for (auto v : group.view_ranks)
        errors[v] = abandoned;
      return;
    }
    auto why = explain_call_error(sys, err, ts_);
    for (auto v : group.view_ranks)
      errors[v] = why.rfind("is gone", 0) == 0
                    ? why
                    : "was not reached: the comm actor of host "
                        + core_.layout->host_addrs[group.host] + " " + why;
  }

  /// Once every request was answered: forgets the waiters and names the
  /// ranks that ended an abandoned call.
  void finish() {
    core_.supervision->calls.observe(std::chrono::steady_clock::now()
                                     - started_);
    auto& shared = *core_.controller;
    std::lock_guard<std::mutex> guard{shared.mtx};
    // A waiter that supervision answered (now, or at registration) left
    // its error in the mailbox if the real reply won: not reused.
    for (auto id : waiter_ids_)
      if (id == 0 || shared.waiters.erase(id) == 0)
        late = true;
    // An abandoned call names the ranks that ended it, as supervision
    // knows them; the others were only not waited for.
    for (size_t v = 0; v < errors.size(); ++v) {
      if (errors[v] != abandoned)
        continue;
      rank_waiter probe;
      probe.host = core_.layout->host_of(plan_.base_ranks[v]);
      probe.rank = plan_.base_ranks[v];
      probe.actor_mesh = core_.supervision->id;
      if (auto err = shared.dead_end(probe))
        errors[v] = "is gone: " + reason_of(*core_.sys, *err);
    }
  }

private:
  void plan_requests(const caf::message& msg) {
    auto& core = core_;
    auto& plan = plan_;
    auto n = plan.base_ranks.size();
    // Members that supervision already knows are gone are not asked.
    std::vector<bool> skip(n, false);
    bool any_gone = false;
    {
      std::lock_guard<std::mutex> guard{core.controller->mtx};
      auto& sup = *core.supervision;
      if (sup.any_gone.load(std::memory_order_acquire))
        for (size_t v = 0; v < n; ++v)
          if (auto why = sup.unavailable(plan.base_ranks[v])) { // or restarting
            errors[v] = std::move(*why);
            skip[v] = any_gone = true;
          }
    }
    std::optional<std::vector<std::string>> names;
    // Restarted members (a supervisor's) replace the planned ones.
    std::vector<host_group> current;
    for (auto& whole : current_groups(core, plan, current)) {
      // Without its gone members (rare: a copy only then).
      host_group pruned;
      if (any_gone) {
        pruned.host = whole.host;
        for (size_t i = 0; i < whole.members.size(); ++i)
          if (!skip[whole.view_ranks[i]]) {
            pruned.view_ranks.push_back(whole.view_ranks[i]);
            pruned.members.push_back(whole.members[i]);
          }
        if (pruned.members.empty())
          continue;
      }
      auto& g = any_gone ? pruned : whole;
      if (g.members.size() == 1 || !relays(core, g.host, msg, names)) {
        for (size_t i = 0; i < g.members.size(); ++i) {
          call_request req;
          req.dest = g.members[i].actor;
          req.msg = msg;
          req.timeout = ts_;
          req.view_rank = g.view_ranks[i];
          requests.push_back(std::move(req));
        }
      } else {
        call_request req;
        req.dest = caf::actor_cast<caf::actor>(core.comms[g.host]);
        req.msg = caf::make_message(gather_atom::value, g.members, msg,
                                    relay_timeout{ts_});
        req.timeout = ts_ + relay_margin(ts_);
        req.group = g;
        requests.push_back(std::move(req));
      }
      // Counted as sent (actor_snapshot::mesh_messages).
      for (auto v : g.view_ranks)
        core.supervision->count_sent(plan.base_ranks[v]);
    }
  }

  const actor_mesh_core& core_;
  const actor_mesh_plan& plan_;
  caf::timespan ts_;
  /// When the call was planned: its latency ends at finish() (/metrics).
  std::chrono::steady_clock::time_point started_ =
    std::chrono::steady_clock::now();
  bool fail_fast_;
  std::vector<uint64_t> waiter_ids_;
};

std::vector<std::optional<std::string>>
actor_mesh_base::call_outcomes(const caf::message& msg, duration timeout,
                               std::vector<caf::message>& replies,
                               bool fail_fast) const {
  call_machine m{*core_, *plan_, msg, timeout, fail_fast};
  auto caller = core_->callers->borrow();
  auto& self = *caller;
  using handle = decltype(self->request(caf::actor{}, caf::timespan{}, msg));
  // All requests go out before any reply is awaited: members answer
  // concurrently.
  std::vector<handle> handles;
  std::vector<caf::message_id> ids;
  handles.reserve(m.requests.size());
  ids.reserve(m.requests.size());
  for (auto& req : m.requests) {
    handles.push_back(self->request(req.dest, req.timeout, req.msg));
    ids.push_back(handles.back().id());
  }
  m.watch(caf::actor_cast<caf::strong_actor_ptr>(self), ids);
  for (size_t i = 0; i < handles.size(); ++i)
    // blocking: the blocking face, on an application thread (actors use call_async; casts skip credit waits on actors' threads)
    handles[i].receive(
      [&, i](caf::error& err) { m.on_error(i, err); },
      caf::others >> [&, i](caf::message_view& xs) -> caf::result<caf::message> {
        auto reply = xs.move_content_to_message();
        m.on_reply(i, reply);
        return caf::message{};
      });
  m.finish();
  if (m.late)
    caller.discard();
  replies = std::move(m.replies);
  return std::move(m.errors);
}

void actor_mesh_base::call_async(caf::scheduled_actor* self, caf::message msg,
                                 duration timeout, bool fail_fast,
                                 call_done done) const {
  struct run {
    call_machine m;
    size_t pending;
    call_done done;
    // Keep the mesh alive while the call runs (the machine refers to them).
    std::shared_ptr<actor_mesh_core> core;
    std::shared_ptr<const actor_mesh_plan> plan;

    /// One request (or the sending) is over; the last runs `done`.
    void step() {
      if (--pending > 0)
        return;
      m.finish();
      done(m.errors, m.replies);
    }
  };
  auto st = std::make_shared<run>(
    run{call_machine{*core_, *plan_, msg, timeout, fail_fast}, 0,
        std::move(done), core_, plan_});
  auto& reqs = st->m.requests;
  // One more than the requests: a call with nothing to send (every member
  // known gone) ends at the last line, within the caller's handler.
  st->pending = reqs.size() + 1;
  std::vector<caf::message_id> ids;
  ids.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i)
    ids.push_back(request_as(self, reqs[i].dest, std::move(reqs[i].msg),
                             caf::duration{reqs[i].timeout},
                             any_reply(
                               [st, i](caf::message& reply) {
                                 st->m.on_reply(i, reply);
                                 st->step();
                               },
                               [st, i](caf::error& err) {
                                 st->m.on_error(i, err);
                                 st->step();
                               })));
  st->m.watch(caf::strong_actor_ptr{self->ctrl()}, ids);
  st->step();
}

caf::expected<std::vector<caf::message>>
actor_mesh_base::all_or_error(std::vector<std::optional<std::string>>& errors,
                              std::vector<caf::message>& replies) const {
  std::vector<std::string> texts;
  bool cut_short = false;
  for (size_t v = 0; v < errors.size(); ++v) {
    if (errors[v] == abandoned)
      cut_short = true;
    else if (errors[v])
      texts.push_back(where(*core_, *plan_, v) + " " + *errors[v]);
  }
  if (texts.empty() && cut_short)
    texts.push_back("the call was abandoned when a member was lost");
  if (!texts.empty())
    return make_error(ec::call_failed, "actor mesh '" + core_->name + "'",
                      join_failures(texts));
  return std::move(replies);
}

std::vector<caf::expected<caf::message>>
actor_mesh_base::each_outcome(std::vector<std::optional<std::string>>& errors,
                              std::vector<caf::message>& replies) const {
  std::vector<caf::expected<caf::message>> result;
  result.reserve(errors.size());
  for (size_t v = 0; v < errors.size(); ++v)
    if (errors[v])
      result.emplace_back(make_error(ec::call_failed,
                                     "actor mesh '" + core_->name + "'",
                                     where(*core_, *plan_, v) + " "
                                       + *errors[v]));
    else
      result.emplace_back(std::move(replies[v]));
  return result;
}

caf::expected<std::vector<caf::message>>
actor_mesh_base::call_message(caf::message msg, duration timeout) const {
  std::vector<caf::message> replies;
  auto errors = call_outcomes(msg, timeout, replies, true);
  return all_or_error(errors, replies);
}

std::vector<caf::expected<caf::message>>
actor_mesh_base::call_each_message(caf::message msg, duration timeout) const {
  std::vector<caf::message> replies;
  auto errors = call_outcomes(msg, timeout, replies, false);
  return each_outcome(errors, replies);
}

caf::error actor_mesh_base::unexpected_reply(size_t rank,
                                             const caf::message& reply) const {
  return make_error(ec::call_failed, "actor mesh '" + core_->name + "'",
                    where(*core_, *plan_, rank) + " replied " +
                      caf::to_string(reply) +
                      ", which is not one value of the expected type");
}

} // namespace mesh::detail
