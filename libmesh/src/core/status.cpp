#include "mesh/status.hpp"
#include "mesh/supervisor.hpp"

namespace mesh {

std::string_view to_string(proc_status s) {
  switch (s) {
    case proc_status::not_exist:
      return "not_exist";
    case proc_status::initializing:
      return "initializing";
    case proc_status::running:
      return "running";
    case proc_status::stopping:
      return "stopping";
    case proc_status::stopped:
      return "stopped";
    case proc_status::failed:
      return "failed";
    case proc_status::timeout:
      return "timeout";
    case proc_status::unknown:
      break;
  }
  return "unknown";
}

std::string_view to_string(supervision_action a) {
  switch (a) {
    case supervision_action::none:
      return "none";
    case supervision_action::restarting:
      return "restarting";
    case supervision_action::restarted:
      return "restarted";
    case supervision_action::gave_up:
      break;
  }
  return "gave_up";
}

std::string_view to_string(restart_strategy s) {
  return s == restart_strategy::all_for_one ? "all_for_one" : "one_for_one";
}

bool is_terminating(proc_status s) {
  return s >= proc_status::stopping && s <= proc_status::timeout;
}

bool is_terminated(proc_status s) {
  return s >= proc_status::stopped && s <= proc_status::timeout;
}

bool is_failure(proc_status s) {
  return s == proc_status::failed || s == proc_status::timeout;
}

bool is_healthy(proc_status s) {
  return s == proc_status::initializing || s == proc_status::running;
}

proc_status clamp_min(proc_status s, proc_status floor) {
  return is_terminating(floor) && !is_terminating(s) ? floor : s;
}

shutdown_summary& shutdown_summary::operator+=(const shutdown_summary& other) {
  stopped_politely += other.stopped_politely;
  terminated += other.terminated;
  killed += other.killed;
  already_gone += other.already_gone;
  hosts += other.hosts;
  failures.insert(failures.end(), other.failures.begin(),
                  other.failures.end());
  return *this;
}

std::string shutdown_summary::to_string() const {
  auto result = std::to_string(total()) + " procs on " + std::to_string(hosts)
                + (hosts == 1 ? " host: " : " hosts: ")
                + std::to_string(stopped_politely) + " stopped politely, "
                + std::to_string(terminated) + " SIGTERM, "
                + std::to_string(killed) + " SIGKILL, "
                + std::to_string(already_gone) + " already gone";
  for (auto& f : failures)
    result += "; could not stop " + f;
  return result;
}

} // namespace mesh
