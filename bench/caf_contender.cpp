// Plain CAF + Boost.Process, written the obvious way: CAF's default
// configuration in the client and in every child, one bp::child per worker,
// children that connect back with remote_actor and introduce their worker
// actor; messages are ordinary requests and sends from a scoped_actor.
#include "contender.hpp"
#include "naive_launcher.hpp"
#include "stats.hpp"

#include <mesh/error.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <sys/wait.h>

#include <cerrno>
#include <string>
#include <vector>

namespace bench {

namespace {

class caf_contender : public contender {
public:
  caf_contender() : sys_(init(cfg_)), self_(sys_) {
    auto me = caf::actor_cast<caf::actor>(self_);
    auto port = sys_.middleman().publish(me, 0, "127.0.0.1", true);
    if (port)
      port_ = *port;
  }

  ~caf_contender() override {
    static_cast<void>(down());
    if (port_ != 0)
      static_cast<void>(
        sys_.middleman().unpublish(caf::actor_cast<caf::actor>(self_), port_));
  }

  caf::expected<up_result> up(size_t n) override {
    if (port_ == 0)
      return mesh::make_error(mesh::ec::system_error, "caf contender",
                              "could not publish the launcher");
    up_result result;
    auto t0 = clock_type::now();
    auto pids = launch_n(sibling_program("caf_worker"),
                         {"127.0.0.1", std::to_string(port_)}, n);
    pids_.assign(pids.begin(), pids.end());
    caf::error failed;
    for (size_t i = 0; i < n && !failed; ++i)
      self_->receive(
        [&](caf::ok_atom, int32_t, caf::actor worker) {
          workers_.push_back(std::move(worker));
        },
        caf::after(std::chrono::seconds{60}) >>
          [&] {
            failed = mesh::make_error(mesh::ec::spawn_timeout, "caf contender",
                                      "a worker did not connect in 60 s");
          });
    if (failed)
      return failed;
    result.ms = ms_since(t0);
    result.pids = pids_;
    received_ = 0;
    return result;
  }

  caf::expected<latency> round_trips(size_t k) override {
    std::vector<double> samples;
    for (size_t i = 0; i < k; ++i) {
      auto t0 = clock_type::now();
      if (auto err = request_all(workers_.front(), static_cast<int32_t>(i)))
        return err;
      samples.push_back(us_since(t0));
    }
    return summarize(samples);
  }

  caf::expected<double> gather_ms(size_t k) override {
    std::vector<double> samples;
    for (size_t i = 0; i < k; ++i) {
      auto t0 = clock_type::now();
      if (auto err = request_all(caf::actor{}, static_cast<int32_t>(i)))
        return err;
      samples.push_back(ms_since(t0));
    }
    return percentile(samples, 50);
  }

  caf::expected<cast_result> cast(size_t size, size_t count) override {
    std::string payload(size, 'x');
    auto t0 = clock_type::now();
    for (size_t i = 0; i < count; ++i)
      for (auto& worker : workers_)
        self_->send(worker, payload);
    uint64_t total = 0;
    caf::error failed;
    for (auto& worker : workers_)
      self_->request(worker, caf::infinite, caf::get_atom::value)
        .receive([&](uint64_t bytes) { total += bytes; },
                 [&](caf::error& err) { failed = std::move(err); });
    if (failed)
      return failed;
    cast_result result{ms_since(t0), total - received_};
    received_ = total;
    return result;
  }

  caf::expected<double> down() override {
    auto t0 = clock_type::now();
    for (auto& worker : workers_)
      self_->send_exit(worker, caf::exit_reason::user_shutdown);
    workers_.clear();
    for (auto pid : pids_)
      while (::waitpid(static_cast<pid_t>(pid), nullptr, 0) < 0 &&
             errno == EINTR)
        ;
    pids_.clear();
    return ms_since(t0);
  }

private:
  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    cfg.load<caf::io::middleman>();
    return cfg;
  }

  /// Requests `x` from `one`, or from every worker at once if `one` is
  /// empty, and waits for every reply.
  caf::error request_all(const caf::actor& one, int32_t x) {
    std::vector<caf::actor> targets;
    if (one)
      targets.push_back(one);
    auto& to = one ? targets : workers_;
    using handle = decltype(self_->request(one, caf::infinite, x));
    std::vector<handle> pending;
    pending.reserve(to.size());
    for (auto& worker : to)
      pending.push_back(self_->request(worker, caf::infinite, x));
    caf::error failed;
    for (auto& reply : pending)
      reply.receive(
        [&](int32_t y) {
          if (y != x)
            failed = mesh::make_error(mesh::ec::call_failed, "caf contender",
                                      "a worker echoed the wrong value");
        },
        [&](caf::error& err) { failed = std::move(err); });
    return failed;
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  caf::scoped_actor self_;
  uint16_t port_ = 0;
  std::vector<int64_t> pids_;
  std::vector<caf::actor> workers_;
  uint64_t received_ = 0;
};

} // namespace

std::unique_ptr<contender> make_caf_contender() {
  return std::make_unique<caf_contender>();
}

} // namespace bench
