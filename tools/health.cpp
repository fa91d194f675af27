#include "health.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <future>
#include <memory>

namespace meshctl {

namespace {

struct probe_state {
  std::vector<probe_result> results;
  size_t pending = 0;
  std::promise<std::vector<probe_result>> done;
};

void finish_one(caf::event_based_actor* self,
                const std::shared_ptr<probe_state>& st) {
  if (--st->pending == 0) {
    st->done.set_value(std::move(st->results));
    self->quit();
  }
}

caf::behavior prober(caf::event_based_actor* self,
                     std::shared_ptr<probe_state> st,
                     std::vector<echo_actor> targets, mesh::duration timeout) {
  st->results.resize(targets.size());
  st->pending = targets.size();
  if (targets.empty()) {
    st->done.set_value({});
    self->quit();
    return {};
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!targets[i]) {
      st->results[i].error = "no actor";
      finish_one(self, st);
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    self->request(targets[i], timeout, echo_atom::value, std::string{"health"})
      .then(
        [self, st, i, start](const std::string& reply) {
          auto elapsed = std::chrono::steady_clock::now() - start;
          if (reply.size() >= 6
              && reply.compare(reply.size() - 6, 6, "health") == 0)
            st->results[i].latency_ms
              = std::chrono::duration<double, std::milli>(elapsed).count();
          else
            st->results[i].error = "wrong answer '" + reply + "'";
          finish_one(self, st);
        },
        [self, st, i](caf::error& err) {
          st->results[i].error = self->system().render(err);
          finish_one(self, st);
        });
  }
  return {};
}

} // namespace

std::vector<probe_result> probe(caf::actor_system& sys,
                                const std::vector<echo_actor>& targets,
                                mesh::duration timeout) {
  auto st = std::make_shared<probe_state>();
  auto result = st->done.get_future();
  sys.spawn(prober, st, targets, timeout);
  return result.get();
}

} // namespace meshctl
