// Collects the proc events a mesh pushes, for tests to wait on.
#pragma once

#include "mesh/status.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mesh::test {

struct event_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<mesh::proc_event> events;

  std::function<void(const mesh::proc_event&)> handler() {
    return [this](const mesh::proc_event& ev) {
      std::lock_guard<std::mutex> guard{mtx};
      events.push_back(ev);
      cv.notify_all();
    };
  }

  template <class Pred>
  std::optional<mesh::proc_event> wait_for(Pred pred) {
    std::unique_lock<std::mutex> guard{mtx};
    std::optional<mesh::proc_event> found;
    cv.wait_for(guard, std::chrono::seconds{20}, [&] {
      for (auto& ev : events)
        if (pred(ev)) {
          found = ev;
          return true;
        }
      return false;
    });
    return found;
  }

  size_t count(const std::string& actor) {
    std::lock_guard<std::mutex> guard{mtx};
    return static_cast<size_t>(
      std::count_if(events.begin(), events.end(),
                    [&](auto& ev) { return ev.actor == actor; }));
  }
};

} // namespace mesh::test
