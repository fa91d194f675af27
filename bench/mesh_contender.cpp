// libmesh: host_mesh::local + spawn of N procs (bring-up), an actor mesh of
// bench::worker on them, messaged through the actor mesh API (call, cast)
// and directly through the members' handles (round trips, direct requests),
// and the two-phase host_mesh::shutdown.
#include "contender.hpp"
#include "stats.hpp"

#include <mesh/actor_mesh.hpp>
#include <mesh/host_mesh.hpp>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <optional>
#include <string>
#include <vector>

namespace bench {

namespace {

class mesh_contender : public contender {
public:
  explicit mesh_contender(caf::actor_system& sys) : sys_(sys) {}

  ~mesh_contender() override { static_cast<void>(down()); }

  caf::expected<up_result> up(size_t n) override {
    up_result result;
    auto t0 = clock_type::now();
    auto hosts = mesh::host_mesh::local(sys_);
    if (!hosts)
      return std::move(hosts.error());
    hosts_.emplace(std::move(*hosts));
    auto procs = hosts_->spawn("bench", mesh::extent{{"procs", n}});
    if (!procs)
      return std::move(procs.error());
    result.ms = ms_since(t0);
    procs_.emplace(std::move(*procs));
    auto t1 = clock_type::now();
    auto workers = procs_->spawn<caf::actor>("workers", "bench_worker");
    if (!workers)
      return std::move(workers.error());
    result.actors_ms = ms_since(t1);
    workers_.emplace(std::move(*workers));
    auto states = procs_->states();
    if (!states)
      return std::move(states.error());
    for (auto& st : *states)
      result.pids.push_back(st.pid);
    received_ = 0;
    return result;
  }

  caf::expected<latency> round_trips(size_t k) override {
    caf::scoped_actor self{sys_};
    auto worker = workers_->get(0);
    std::vector<double> samples;
    caf::error failed;
    for (size_t i = 0; i < k && !failed; ++i) {
      auto x = static_cast<int32_t>(i);
      auto t0 = clock_type::now();
      self->request(worker, caf::infinite, x)
        .receive([&](int32_t y) { failed = check_echo(x, y); },
                 [&](caf::error& err) { failed = std::move(err); });
      samples.push_back(us_since(t0));
    }
    if (failed)
      return failed;
    return summarize(samples);
  }

  caf::expected<latency> api_round_trips(size_t k) override {
    auto first = workers_->range("procs", 0, 1);
    if (!first)
      return std::move(first.error());
    std::vector<double> samples;
    for (size_t i = 0; i < k; ++i) {
      auto x = static_cast<int32_t>(i);
      auto t0 = clock_type::now();
      auto replies = first->call<int32_t>(x);
      if (!replies)
        return std::move(replies.error());
      if (auto err = check_echo(x, (*replies)[0]))
        return err;
      samples.push_back(us_since(t0));
    }
    return summarize(samples);
  }

  caf::expected<double> gather_ms(size_t k) override {
    std::vector<double> samples;
    for (size_t i = 0; i < k; ++i) {
      auto x = static_cast<int32_t>(i);
      auto t0 = clock_type::now();
      auto replies = workers_->call<int32_t>(x);
      if (!replies)
        return std::move(replies.error());
      for (auto y : replies->values())
        if (auto err = check_echo(x, y))
          return err;
      samples.push_back(ms_since(t0));
    }
    return percentile(samples, 50);
  }

  caf::expected<double> direct_ms(size_t k) override {
    caf::scoped_actor self{sys_};
    std::vector<caf::actor> members;
    for (size_t r = 0; r < workers_->size(); ++r)
      members.push_back(workers_->get(r));
    std::vector<double> samples;
    caf::error failed;
    for (size_t i = 0; i < k && !failed; ++i) {
      auto x = static_cast<int32_t>(i);
      auto t0 = clock_type::now();
      using handle = decltype(self->request(members[0], caf::infinite, x));
      std::vector<handle> pending;
      pending.reserve(members.size());
      for (auto& member : members)
        pending.push_back(self->request(member, caf::infinite, x));
      for (auto& reply : pending)
        reply.receive([&](int32_t y) { failed = check_echo(x, y); },
                      [&](caf::error& err) { failed = std::move(err); });
      samples.push_back(ms_since(t0));
    }
    if (failed)
      return failed;
    return percentile(samples, 50);
  }

  caf::expected<cast_result> cast(size_t size, size_t count) override {
    std::string payload(size, 'x');
    auto t0 = clock_type::now();
    for (size_t i = 0; i < count; ++i)
      workers_->cast(payload);
    // Casts and calls reach each member through the same comm actor, in
    // order: the counts answer after every cast before them.
    auto counts = workers_->call<uint64_t>(caf::get_atom::value);
    if (!counts)
      return std::move(counts.error());
    uint64_t total = 0;
    for (auto bytes : counts->values())
      total += bytes;
    cast_result result{ms_since(t0), total - received_};
    received_ = total;
    return result;
  }

  caf::expected<double> down() override {
    if (!hosts_)
      return 0.0;
    workers_.reset();
    auto t0 = clock_type::now();
    auto summary = hosts_->shutdown();
    auto ms = ms_since(t0);
    procs_.reset();
    hosts_.reset();
    if (!summary)
      return std::move(summary.error());
    return ms;
  }

private:
  static caf::error check_echo(int32_t x, int32_t y) {
    if (x == y)
      return caf::none;
    return mesh::make_error(mesh::ec::call_failed, "libmesh contender",
                            "a worker echoed " + std::to_string(y) +
                              " instead of " + std::to_string(x));
  }

  caf::actor_system& sys_;
  std::optional<mesh::host_mesh> hosts_;
  std::optional<mesh::proc_mesh> procs_;
  std::optional<mesh::actor_mesh<caf::actor>> workers_;
  uint64_t received_ = 0;
};

} // namespace

std::unique_ptr<contender> make_mesh_contender(caf::actor_system& sys) {
  return std::make_unique<mesh_contender>(sys);
}

} // namespace bench
