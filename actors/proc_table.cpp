#include "actors/proc_table.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <iterator>

namespace mesh {

namespace {

std::string describe_exit(std::optional<int> exit_code,
                          std::optional<int> signal,
                          const std::string& failure) {
  if (!failure.empty())
    return failure;
  if (signal)
    return "killed by signal " + std::to_string(*signal) + " (" +
           strsignal(*signal) + ")";
  if (exit_code)
    return "exited with code " + std::to_string(*exit_code);
  return "exited";
}

} // namespace

std::string_view to_string(stop_stage s) {
  switch (s) {
  case stop_stage::none:
    return "none";
  case stop_stage::asked:
    return "asked";
  case stop_stage::terminated:
    return "terminated";
  case stop_stage::killed:
    break;
  }
  return "killed";
}

bool proc_effects::empty() const {
  return events.empty() && polite_stops.empty() && signals.empty() &&
         ready_timers.empty() && escalations.empty() && answers.empty() &&
         spawns_done.empty() && stops_done.empty() && spawns_failed.empty() &&
         waiters_dropped.empty() && forgotten.empty();
}

namespace {

template <class T>
void append_all(std::vector<T>& to, std::vector<T>&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()),
            std::make_move_iterator(from.end()));
}

} // namespace

void proc_effects::append(proc_effects&& other) {
  append_all(events, std::move(other.events));
  append_all(polite_stops, std::move(other.polite_stops));
  append_all(signals, std::move(other.signals));
  append_all(ready_timers, std::move(other.ready_timers));
  append_all(escalations, std::move(other.escalations));
  append_all(answers, std::move(other.answers));
  append_all(spawns_done, std::move(other.spawns_done));
  append_all(stops_done, std::move(other.stops_done));
  append_all(spawns_failed, std::move(other.spawns_failed));
  append_all(waiters_dropped, std::move(other.waiters_dropped));
  append_all(forgotten, std::move(other.forgotten));
}

// -- queries ------------------------------------------------------------------

const proc_record* proc_table::find(const std::string& name) const {
  auto i = procs_.find(name);
  return i == procs_.end() ? nullptr : &i->second;
}

proc_record* proc_table::find_mut(const std::string& name) {
  auto i = procs_.find(name);
  return i == procs_.end() ? nullptr : &i->second;
}

std::vector<std::string> proc_table::names() const {
  std::vector<std::string> result;
  for (auto& [name, rec] : procs_)
    result.push_back(name);
  return result;
}

std::vector<std::string>
proc_table::names_of(const std::string& proc_mesh_id,
                     const std::vector<std::string>& names) const {
  if (!names.empty())
    return names;
  std::vector<std::string> result;
  for (auto& [name, rec] : procs_)
    if (proc_mesh_id.empty() || rec.proc_mesh_id == proc_mesh_id)
      result.push_back(name);
  return result;
}

proc_state proc_table::state_of(const proc_record& rec) const {
  proc_state result;
  result.rank = rec.rank;
  result.proc_name = rec.name;
  result.host = address_;
  result.pid = rec.pid;
  result.status =
    shutting_down_ ? clamp_min(rec.status, proc_status::stopping) : rec.status;
  result.exit_code = rec.exit_code;
  result.signal = rec.signal;
  result.stderr_tail.assign(rec.stderr_tail.begin(), rec.stderr_tail.end());
  result.reason = rec.reason;
  return result;
}

std::vector<proc_state>
proc_table::states(const std::string& proc_mesh_id,
                   const std::vector<std::string>& names) const {
  std::vector<proc_state> result;
  for (auto& name : names_of(proc_mesh_id, names)) {
    if (auto* rec = find(name)) {
      result.push_back(state_of(*rec));
    } else {
      proc_state missing;
      missing.proc_name = name;
      missing.host = address_;
      result.push_back(std::move(missing));
    }
  }
  std::stable_sort(result.begin(), result.end(),
                   [](auto& x, auto& y) { return x.rank < y.rank; });
  return result;
}

// -- status changes -----------------------------------------------------------

std::vector<subscriber_id>
proc_table::subscribers_of(const std::string& mesh) const {
  std::vector<subscriber_id> result;
  for (auto& [id, filter] : subscribers_)
    if (filter.empty() || filter == mesh)
      result.push_back(id);
  return result;
}

void proc_table::push_event(const proc_event& ev, const std::string& mesh,
                            proc_effects& out) const {
  for (auto id : subscribers_of(mesh))
    out.events.emplace_back(id, ev);
}

void proc_table::set_status(proc_record& rec, proc_status status,
                            std::string reason, proc_effects& out) {
  // PT-1: only up, and never out of a terminal status.
  if (is_terminated(rec.status) || status <= rec.status)
    return;
  rec.status = status;
  if (!reason.empty())
    rec.reason = std::move(reason);
  proc_event ev;
  ev.rank = rec.rank;
  ev.proc_name = rec.name;
  ev.status = rec.status;
  ev.exit_code = rec.exit_code;
  ev.signal = rec.signal;
  ev.reason = rec.reason;
  ev.host = address_;
  if (is_terminating(rec.status))
    ev.stderr_tail.assign(rec.stderr_tail.begin(), rec.stderr_tail.end());
  push_event(ev, rec.proc_mesh_id, out);
  flush_waiters(rec, out);
  check_spawns(out);
}

void proc_table::flush_waiters(const proc_record& rec, proc_effects& out) {
  auto i = waiters_.find(rec.name);
  if (i == waiters_.end())
    return;
  auto& list = i->second;
  for (auto w = list.begin(); w != list.end();) {
    if (rec.status >= w->min_status) {
      out.answers.push_back({w->id, w->rank, state_of(rec)});
      w = list.erase(w);
    } else {
      ++w;
    }
  }
  if (list.empty())
    waiters_.erase(i);
}

void proc_table::check_spawns(proc_effects& out) {
  for (auto i = spawns_.begin(); i != spawns_.end();) {
    auto done = std::all_of(i->names.begin(), i->names.end(), [&](auto& n) {
      auto* rec = find(n);
      return rec == nullptr || rec->status != proc_status::initializing;
    });
    if (!done) {
      ++i;
      continue;
    }
    spawn_reply reply;
    reply.id = i->id;
    for (auto& n : i->names)
      if (auto* rec = find(n))
        reply.procs.push_back({state_of(*rec), rec->address});
    out.spawns_done.push_back(std::move(reply));
    i = spawns_.erase(i);
  }
}

// -- spawning -----------------------------------------------------------------

proc_table::spawn_start proc_table::spawn(std::vector<proc_launch> procs) {
  spawn_start result;
  result.id = next_id_++;
  pending_spawn pending{result.id, {}};
  std::vector<std::pair<std::string, std::string>> failures;
  for (auto& p : procs) {
    auto name = p.record.name;
    pending.names.push_back(name);
    auto [pos, added] = procs_.emplace(name, std::move(p.record));
    if (!added)
      continue; // PT-9: spawning is idempotent per name.
    if (p.error.empty())
      result.to_launch.push_back(name);
    else
      failures.emplace_back(name, std::move(p.error));
  }
  // Every record exists before the first failure is applied: a spawn must
  // not look complete because a later proc of it is not in the table yet.
  spawns_.push_back(std::move(pending));
  for (auto& [name, why] : failures)
    result.effects.append(launch_failed(name, why));
  check_spawns(result.effects);
  return result;
}

proc_effects proc_table::launched(const std::string& name, int64_t pid) {
  proc_effects out;
  auto* rec = find_mut(name);
  if (rec == nullptr)
    return out;
  rec->pid = pid;
  if (rec->ready_timeout.count() > 0 &&
      rec->status == proc_status::initializing)
    out.ready_timers.emplace_back(name, rec->ready_timeout);
  return out;
}

proc_effects proc_table::launch_failed(const std::string& name,
                                       const std::string& reason) {
  proc_effects out;
  auto* rec = find_mut(name);
  if (rec == nullptr)
    return out;
  rec->exited = true;
  set_status(*rec, proc_status::failed, reason, out);
  settle_stops(name, std::nullopt, out);
  return out;
}

std::optional<proc_effects>
proc_table::register_proc(const proc_registration& reg) {
  auto* rec = find_mut(reg.name);
  bool ok = rec != nullptr && !rec->token.empty() && rec->token == reg.token &&
            rec->status == proc_status::initializing && !rec->exited &&
            reg.has_agent;
  if (!ok)
    return std::nullopt;
  proc_effects out;
  rec->token.clear();
  rec->registered = true;
  if (reg.pid != 0)
    rec->pid = reg.pid;
  if (!reg.address.empty())
    rec->address = reg.address;
  set_status(*rec, proc_status::running, {}, out);
  return out;
}

proc_effects proc_table::exited(const std::string& name,
                                std::optional<int> exit_code,
                                std::optional<int> signal,
                                const std::string& failure) {
  proc_effects out;
  auto* rec = find_mut(name);
  if (rec == nullptr)
    return out;
  rec->exited = true;
  rec->exit_code = exit_code;
  rec->signal = signal;
  auto what = describe_exit(exit_code, signal, failure);
  if (rec->stage != stop_stage::none) {
    set_status(*rec, proc_status::stopped, rec->reason, out);
  } else if (rec->status == proc_status::initializing) {
    auto reason = what + " before the bootstrap handshake";
    if (!rec->stderr_tail.empty())
      reason += "; last stderr: " + rec->stderr_tail.back();
    set_status(*rec, proc_status::failed, std::move(reason), out);
  } else if (signal || (exit_code && *exit_code != 0)) {
    set_status(*rec, proc_status::failed, what, out);
  } else {
    set_status(*rec, proc_status::stopped, "exited cleanly", out);
  }
  stop_slot_freed(name, out);
  settle_stops(name, std::nullopt, out);
  return out;
}

std::optional<proc_table::output_route>
proc_table::output(const std::string& name, bool is_stderr,
                   const std::string& line) {
  auto* rec = find_mut(name);
  if (rec == nullptr)
    return std::nullopt;
  if (is_stderr && rec->tail_limit > 0) {
    rec->stderr_tail.push_back(line);
    while (rec->stderr_tail.size() > rec->tail_limit)
      rec->stderr_tail.pop_front();
  }
  output_route route;
  route.rank = rec->rank;
  if (rec->forward_logs)
    route.to = subscribers_of(rec->proc_mesh_id);
  return route;
}

proc_effects proc_table::ready_timeout(const std::string& name,
                                       const std::string& reason) {
  proc_effects out;
  auto* rec = find_mut(name);
  if (rec == nullptr || rec->status != proc_status::initializing)
    return out;
  set_status(*rec, proc_status::timeout, reason, out);
  // A child that hangs must not outlive its failed spawn.
  out.signals.emplace_back(name, SIGKILL);
  rec->stage = stop_stage::killed;
  return out;
}

proc_effects proc_table::lost(const std::string& name,
                              const std::string& reason) {
  proc_effects out;
  auto* rec = find_mut(name);
  // PT-13: only a proc in its working life; a stop already under way
  // escalates to SIGKILL by itself, and an exited one is reported as such.
  if (rec == nullptr || rec->exited || rec->status != proc_status::running ||
      rec->stage != stop_stage::none)
    return out;
  set_status(*rec, proc_status::failed, reason, out);
  // Its process may be alive (SIGSTOPped, spinning): it must not come back
  // when it resumes, nor outlive its failure.
  out.signals.emplace_back(name, SIGKILL);
  rec->stage = stop_stage::killed;
  // PT-4's last step: a stop that covers it later is not held forever by a
  // process that survives SIGKILL.
  out.escalations.emplace_back(name, rec->stage);
  return out;
}

proc_effects proc_table::escalate(const std::string& name, stop_stage stage) {
  proc_effects out;
  auto* rec = find_mut(name);
  // PT-4: only the timer of the current stage acts; none is ever set for
  // stage none.
  if (rec == nullptr || rec->exited || stage == stop_stage::none ||
      rec->stage != stage)
    return out;
  switch (stage) {
  case stop_stage::asked:
    rec->stage = stop_stage::terminated;
    out.signals.emplace_back(name, SIGTERM);
    out.escalations.emplace_back(name, rec->stage);
    break;
  case stop_stage::terminated:
    rec->stage = stop_stage::killed;
    out.signals.emplace_back(name, SIGKILL);
    out.escalations.emplace_back(name, rec->stage);
    break;
  default:
    stop_slot_freed(name, out);
    settle_stops(name,
                 "'" + name + "' (pid " + std::to_string(rec->pid) +
                   ") on host " + address_ + " did not exit after SIGKILL",
                 out);
    break;
  }
  return out;
}

proc_effects proc_table::actor_failed(const std::string& proc_name,
                                      const std::string& actor,
                                      const std::string& actor_mesh,
                                      const std::string& reason) {
  proc_effects out;
  auto* rec = find(proc_name);
  if (rec == nullptr)
    return out;
  proc_event ev;
  ev.rank = rec->rank;
  ev.proc_name = rec->name;
  ev.status = proc_status::failed;
  ev.reason = "actor '" + actor + "' failed: " + reason;
  ev.actor = actor;
  ev.actor_mesh = actor_mesh;
  ev.host = address_;
  push_event(ev, rec->proc_mesh_id, out);
  return out;
}

// -- waiting ------------------------------------------------------------------

proc_table::wait_start proc_table::wait(const std::string& name,
                                        proc_status min_status, uint64_t rank) {
  wait_start result;
  if (auto* rec = find(name); rec != nullptr && rec->status >= min_status) {
    result.now = waiter_answer{0, rank, state_of(*rec)};
    return result;
  }
  result.id = next_id_++;
  waiters_[name].push_back({result.id, min_status, rank});
  return result;
}

// -- stopping -----------------------------------------------------------------

void proc_table::begin_stop(proc_record& rec, const std::string& reason,
                            proc_effects& out) {
  if (rec.exited || rec.stage != stop_stage::none || queued_.count(rec.name))
    return;
  if (terminate_concurrency_ > 0
      && stopping_now_.size() >= terminate_concurrency_) {
    // PT-12: waits for a slot, already stopping as far as anyone can see.
    queued_.insert(rec.name);
    stop_queue_.emplace_back(rec.name, reason);
    set_status(rec, proc_status::stopping, reason, out);
    return;
  }
  start_stopping(rec, reason, out);
}

void proc_table::start_stopping(proc_record& rec, const std::string& reason,
                                proc_effects& out) {
  stopping_now_.insert(rec.name);
  if (rec.registered) {
    out.polite_stops.emplace_back(rec.name, reason);
    rec.stage = stop_stage::asked;
  } else {
    out.signals.emplace_back(rec.name, SIGTERM);
    rec.stage = stop_stage::terminated;
  }
  set_status(rec, proc_status::stopping, reason, out);
  out.escalations.emplace_back(rec.name, rec.stage);
}

void proc_table::stop_slot_freed(const std::string& name, proc_effects& out) {
  queued_.erase(name);
  if (stopping_now_.erase(name) == 0)
    return;
  while (!stop_queue_.empty()
         && (terminate_concurrency_ == 0
             || stopping_now_.size() < terminate_concurrency_)) {
    auto [next, reason] = std::move(stop_queue_.front());
    stop_queue_.pop_front();
    if (queued_.erase(next) == 0)
      continue; // exited (or was forgotten) while it waited
    auto* rec = find_mut(next);
    if (rec != nullptr && !rec->exited && rec->stage == stop_stage::none)
      start_stopping(*rec, reason, out);
  }
}

proc_table::stop_start
proc_table::stop_set(const std::vector<std::string>& names,
                     const std::string& reason, bool forget, bool quit_after) {
  stop_start result;
  result.id = next_id_++;
  pending_stop stop;
  stop.id = result.id;
  stop.forget = forget;
  stop.quit_after = quit_after;
  stop.summary.hosts = 1;
  std::vector<std::string> to_stop;
  for (auto& name : names) {
    auto i = procs_.find(name);
    if (i == procs_.end())
      continue;
    if (i->second.exited) {
      ++stop.summary.already_gone;
      if (forget) {
        procs_.erase(i);
        result.effects.forgotten.push_back(name);
      }
      continue;
    }
    stop.names.insert(name);
    to_stop.push_back(name);
  }
  stops_.push_back(std::move(stop));
  for (auto& name : to_stop)
    if (auto* rec = find_mut(name))
      begin_stop(*rec, reason, result.effects);
  check_stops(result.effects);
  return result;
}

proc_table::stop_start proc_table::stop(const std::vector<std::string>& names,
                                        const std::string& reason) {
  return stop_set(names, reason, false, false);
}

proc_table::stop_start proc_table::drain(const std::string& host_mesh_id) {
  std::vector<std::string> names;
  for (auto& [name, rec] : procs_)
    if (host_mesh_id.empty() || rec.host_mesh_id == host_mesh_id)
      names.push_back(name);
  return stop_set(names, "drained", true, false);
}

proc_table::stop_start proc_table::shutdown() {
  shutting_down_ = true;
  return stop_set(names(), "host shutdown", true, true);
}

void proc_table::settle_stops(const std::string& name,
                              std::optional<std::string> failure,
                              proc_effects& out) {
  auto* rec = find(name);
  if (rec == nullptr)
    return;
  bool forget = false;
  for (auto& stop : stops_) {
    if (stop.names.erase(name) == 0)
      continue;
    forget = forget || stop.forget;
    if (failure)
      stop.summary.failures.push_back(*failure);
    else if (rec->stage <= stop_stage::asked)
      ++stop.summary.stopped_politely;
    else if (rec->stage == stop_stage::terminated)
      ++stop.summary.terminated;
    else
      ++stop.summary.killed;
  }
  if (forget && !failure) {
    procs_.erase(name);
    out.forgotten.push_back(name);
  }
  check_stops(out);
}

void proc_table::check_stops(proc_effects& out) {
  bool quit = false;
  for (auto i = stops_.begin(); i != stops_.end();) {
    if (!i->names.empty()) {
      ++i;
      continue;
    }
    quit = quit || i->quit_after;
    out.stops_done.push_back({i->id, std::move(i->summary), i->quit_after});
    i = stops_.erase(i);
  }
  if (!quit)
    return;
  // PT-6, PT-7: nothing is left to wait for once the host is done.
  for (auto& sp : spawns_)
    out.spawns_failed.push_back(sp.id);
  spawns_.clear();
  for (auto& [name, list] : waiters_)
    for (auto& w : list)
      out.waiters_dropped.push_back(w.id);
  waiters_.clear();
}

// -- subscribers --------------------------------------------------------------

subscriber_id proc_table::subscribe(std::string proc_mesh_id) {
  auto id = next_id_++;
  subscribers_.emplace(id, std::move(proc_mesh_id));
  return id;
}

void proc_table::unsubscribe(subscriber_id id) {
  subscribers_.erase(id);
}

} // namespace mesh
