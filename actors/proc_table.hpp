// The proc table: what a host agent knows about its procs, in plain C++.
//
// The host agent (actors/host_agent.cpp) is a thin CAF shell around this
// table: each message it accepts becomes one call here, and each call returns
// the effects the actor must carry out (events to push, replies to deliver,
// stops to ask for, signals to send, timers to set). Nothing here sends,
// sleeps, reads a clock or includes CAF, so every transition is tested
// deterministically (test/proc_table_test.cpp, test cases named after the
// clauses below).
//
// Invariants (the contract):
//
// PT-1  A proc's status only goes up (not_exist < initializing < running <
//       stopping < stopped < failed < timeout); once terminal (stopped,
//       failed, timeout) it never changes again.
// PT-2  While the host shuts down, no state it reports is healthier than
//       `stopping` (the status is clamped on the way out, not stored).
// PT-3  A proc registers at most once: only with its exact one-time token,
//       only while initializing and not exited, and only with an agent. A
//       refused registration changes nothing; an accepted one uses the token
//       up.
// PT-4  Stopping escalates in this order and no other: none -> asked (polite,
//       only for a registered proc) -> terminated (SIGTERM) -> killed
//       (SIGKILL) -> reported as a failure. A step is taken only by the
//       escalation timer of the stage the proc is in, and only while it has
//       not exited; any other timer (stale, forged, stage `none`) changes
//       nothing.
// PT-5  A stop completes exactly once, when every proc it covers has exited
//       or could not be stopped; its summary counts each proc once, by the
//       last step it needed (already gone, politely, SIGTERM, SIGKILL,
//       failure).
// PT-6  A spawn completes exactly once, when none of its procs is
//       initializing, and lists them in request order; a spawn still pending
//       when the host's shutdown completes fails.
// PT-7  A waiter is answered exactly once, as soon as its proc's status
//       reaches at least the one it waits for (at once if it already has);
//       waiters still pending when the host's shutdown completes are dropped.
// PT-8  Every status change is pushed once to each subscriber of the proc's
//       mesh (or of every mesh); an actor failure is pushed likewise as an
//       event naming the actor, without changing the proc's status.
// PT-9  Drain and shutdown forget the procs they stop once those have
//       exited (a failure to stop keeps the record); a stop_procs does not.
//       A forgotten name can be spawned again; spawning a known name again
//       does not launch it twice.
// PT-10 A handshake deadline acts only on a proc still initializing: it
//       times out and is killed.
// PT-11 A proc's stderr tail keeps its last `tail_limit` lines; its output
//       reaches subscribers only when log forwarding is on for it.
// PT-12 At most `terminate_concurrency` procs are being stopped at once (0:
//       no limit): the others of a stop wait, already `stopping`, in the
//       order they were asked for, and start as soon as one in flight has
//       exited or was given up on.
// PT-13 A running proc whose connection to its host was lost (its host heard
//       nothing from it, not even a heartbeat, for proc_unresponsive_timeout,
//       or the connection closed while its process lived on) fails with that
//       reason and is SIGKILLed, so that a hung process that resumes cannot
//       come back: its later exit records the exit code or signal but changes
//       neither status nor reason (PT-1). A proc that exited, is being
//       stopped (its stop escalates on its own, PT-4) or is terminal is left
//       as it is.
#pragma once

#include "mesh/status.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mesh {

/// How far stopping a proc has gone (PT-4).
enum class stop_stage : uint8_t {
  none,       ///< Not being stopped.
  asked,      ///< Its proc agent was asked to stop.
  terminated, ///< SIGTERM went to its process group.
  killed,     ///< SIGKILL went to its process group.
};

std::string_view to_string(stop_stage s);

/// One proc as its host tracks it: the only shape of a proc record.
struct proc_record {
  std::string name;
  std::string proc_mesh_id;
  std::string host_mesh_id;
  uint64_t rank = 0;
  proc_status status = proc_status::initializing;
  int64_t pid = 0;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;
  std::deque<std::string> stderr_tail;
  size_t tail_limit = 100;
  std::chrono::milliseconds ready_timeout{0}; ///< Handshake deadline (0: none).
  bool forward_logs = true;
  std::string token;       ///< One-time; cleared once used (PT-3).
  std::string command;     ///< Human form, for error messages.
  bool registered = false; ///< Its agent is known (the actor holds it).
  std::string address;     ///< "host:port" where it published its agent.
  bool exited = false;     ///< Its proc manager reported its exit.
  stop_stage stage = stop_stage::none;
};

using waiter_id = uint64_t;
using spawn_id = uint64_t;
using stop_id = uint64_t;
using subscriber_id = uint64_t;

/// A wait_status request answered.
struct waiter_answer {
  waiter_id id = 0;
  uint64_t rank = 0; ///< As in the request (replies are positioned by it).
  proc_state state;
};

/// One proc of a completed spawn, as the reply reports it.
struct spawned_proc {
  proc_state state;
  std::string address;
};

/// A spawn_procs request completed (PT-6).
struct spawn_reply {
  spawn_id id = 0;
  std::vector<spawned_proc> procs; ///< In request order.
};

/// A stop, drain or shutdown completed (PT-5).
struct stop_reply {
  stop_id id = 0;
  shutdown_summary summary;
  bool quit_after = false; ///< The host's shutdown: the agent ends after it.
};

/// What the host agent must do after a call on its table, in this order.
struct proc_effects {
  /// Events for subscribers (PT-8).
  std::vector<std::pair<subscriber_id, proc_event>> events;
  /// Polite stops to ask of proc agents: (proc, reason).
  std::vector<std::pair<std::string, std::string>> polite_stops;
  /// Signals for the proc manager: (proc, signal number).
  std::vector<std::pair<std::string, int>> signals;
  /// Handshake deadlines to set: (proc, delay).
  std::vector<std::pair<std::string, std::chrono::milliseconds>> ready_timers;
  /// Escalation timers to set one terminate_timeout from now: (proc, the
  /// stage the timer is for).
  std::vector<std::pair<std::string, stop_stage>> escalations;
  std::vector<waiter_answer> answers;
  std::vector<spawn_reply> spawns_done;
  std::vector<stop_reply> stops_done;
  /// Spawns that fail because the host shut down.
  std::vector<spawn_id> spawns_failed;
  /// Waiters dropped unanswered because the host shut down.
  std::vector<waiter_id> waiters_dropped;
  /// Procs removed from the table (PT-9): their agents can be dropped.
  std::vector<std::string> forgotten;

  /// Nothing to do.
  bool empty() const;
  /// Adds `other`'s effects after these.
  void append(proc_effects&& other);
};

/// A proc to add to the table with a spawn.
struct proc_launch {
  proc_record record;
  /// Why it cannot be launched (e.g. no bootstrap command); empty if it can.
  std::string error;
};

/// A child's handshake, as the table checks it (PT-3).
struct proc_registration {
  std::string name;
  std::string token;
  int64_t pid = 0;        ///< 0: keep the pid the launcher reported.
  bool has_agent = false; ///< The registration carries a live agent handle.
  std::string address;    ///< "host:port", or empty if it did not publish.
};

/// The procs of one host, their waiters, pending spawns and stops, and the
/// subscribers to their events.
class proc_table {
public:
  // -- the host ---------------------------------------------------------------

  /// "host:port" of the host agent, reported in every proc_state.
  void set_address(std::string address) { address_ = std::move(address); }
  const std::string& address() const { return address_; }
  /// The host's shutdown has begun (PT-2): no more spawns.
  bool shutting_down() const { return shutting_down_; }
  /// PT-12: procs stopped at once (0: all); applies to stops begun later.
  void set_terminate_concurrency(size_t n) { terminate_concurrency_ = n; }

  // -- queries ----------------------------------------------------------------

  /// The record of `name`, or nullptr.
  const proc_record* find(const std::string& name) const;
  size_t size() const { return procs_.size(); }
  /// Every proc name, sorted.
  std::vector<std::string> names() const;
  /// Names of the procs of a proc mesh (all if `proc_mesh_id` is empty), or
  /// `names` itself if it is not empty.
  std::vector<std::string>
  names_of(const std::string& proc_mesh_id,
           const std::vector<std::string>& names) const;
  /// The state of a proc as the host reports it (PT-2).
  proc_state state_of(const proc_record& rec) const;
  /// States of the named procs of a mesh (names_of), sorted by rank; an
  /// unknown name reports not_exist.
  std::vector<proc_state> states(const std::string& proc_mesh_id,
                                 const std::vector<std::string>& names) const;

  // -- spawning and the child's life ------------------------------------------

  struct spawn_start {
    spawn_id id = 0;
    std::vector<std::string> to_launch; ///< New procs the manager must start.
    proc_effects effects;
  };
  /// Adds the procs of one spawn_procs request; a name already known is
  /// neither added nor launched again, but still counts for this spawn.
  spawn_start spawn(std::vector<proc_launch> procs);
  /// The proc manager started `name` with this pid.
  proc_effects launched(const std::string& name, int64_t pid);
  /// The proc manager could not start `name`.
  proc_effects launch_failed(const std::string& name,
                             const std::string& reason);
  /// PT-3: nullopt if refused (nothing changed).
  std::optional<proc_effects> register_proc(const proc_registration& reg);
  /// The proc manager reaped `name`: exit code or signal; `failure` is set if
  /// it failed to launch.
  proc_effects exited(const std::string& name, std::optional<int> exit_code,
                      std::optional<int> signal, const std::string& failure);

  struct output_route {
    uint64_t rank = 0;
    std::vector<subscriber_id> to; ///< Empty if forwarding is off (PT-11).
  };
  /// A line `name` wrote; nullopt if the proc is unknown.
  std::optional<output_route> output(const std::string& name, bool is_stderr,
                                     const std::string& line);
  /// PT-10: the handshake deadline of `name` passed; `reason` says which
  /// (the actor renders durations as the configuration does).
  proc_effects ready_timeout(const std::string& name,
                             const std::string& reason);
  /// PT-4: the escalation timer set for `stage` fired.
  proc_effects escalate(const std::string& name, stop_stage stage);
  /// PT-13: the connection of `name` to its host was lost; `reason` says
  /// how (the actor knows the timeout and renders it).
  proc_effects lost(const std::string& name, const std::string& reason);
  /// PT-8: an actor of `proc_name` failed.
  proc_effects actor_failed(const std::string& proc_name,
                            const std::string& actor,
                            const std::string& actor_mesh,
                            const std::string& reason);

  // -- waiting ----------------------------------------------------------------

  struct wait_start {
    std::optional<waiter_answer> now; ///< Already satisfied.
    waiter_id id = 0;                 ///< Otherwise the waiter to answer.
  };
  /// PT-7: waits until `name` reaches at least `min_status`.
  wait_start wait(const std::string& name, proc_status min_status,
                  uint64_t rank);

  // -- stopping ---------------------------------------------------------------

  struct stop_start {
    stop_id id = 0;
    proc_effects effects; ///< May already hold this stop's reply.
  };
  /// stop_procs: stops `names` (known ones), keeping their records.
  stop_start stop(const std::vector<std::string>& names,
                  const std::string& reason);
  /// drain: stops the procs of a host mesh (all if empty) and forgets them.
  stop_start drain(const std::string& host_mesh_id);
  /// shutdown_host: from now on the host is shutting down (PT-2); stops and
  /// forgets every proc; the reply says quit_after.
  stop_start shutdown();

  // -- subscribers ------------------------------------------------------------

  /// Events (and output) of a proc mesh, or of all if `proc_mesh_id` is empty.
  subscriber_id subscribe(std::string proc_mesh_id);
  void unsubscribe(subscriber_id id);

private:
  struct waiter {
    waiter_id id;
    proc_status min_status;
    uint64_t rank;
  };
  struct pending_spawn {
    spawn_id id;
    std::vector<std::string> names;
  };
  struct pending_stop {
    stop_id id;
    std::set<std::string> names;
    shutdown_summary summary;
    bool forget = false;
    bool quit_after = false;
  };

  proc_record* find_mut(const std::string& name);
  std::vector<subscriber_id> subscribers_of(const std::string& mesh) const;
  void set_status(proc_record& rec, proc_status status, std::string reason,
                  proc_effects& out);
  void push_event(const proc_event& ev, const std::string& mesh,
                  proc_effects& out) const;
  void flush_waiters(const proc_record& rec, proc_effects& out);
  void check_spawns(proc_effects& out);
  void check_stops(proc_effects& out);
  void begin_stop(proc_record& rec, const std::string& reason,
                  proc_effects& out);
  void start_stopping(proc_record& rec, const std::string& reason,
                      proc_effects& out);
  /// PT-12: `name` no longer occupies a stop slot; starts waiting ones.
  void stop_slot_freed(const std::string& name, proc_effects& out);
  stop_start stop_set(const std::vector<std::string>& names,
                      const std::string& reason, bool forget, bool quit_after);
  void settle_stops(const std::string& name, std::optional<std::string> failure,
                    proc_effects& out);

  std::string address_;
  bool shutting_down_ = false;
  std::map<std::string, proc_record> procs_;
  std::map<std::string, std::vector<waiter>> waiters_;
  std::vector<pending_spawn> spawns_;
  std::vector<pending_stop> stops_;
  std::map<subscriber_id, std::string> subscribers_;
  uint64_t next_id_ = 1;
  size_t terminate_concurrency_ = 0;
  /// PT-12: procs in a stop's escalation now, and those waiting to start
  /// (proc, reason), in order.
  std::set<std::string> stopping_now_;
  std::deque<std::pair<std::string, std::string>> stop_queue_;
  std::set<std::string> queued_;
};

} // namespace mesh
