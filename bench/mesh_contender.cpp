// libmesh: host_mesh::local + spawn of N procs (bring-up), an actor mesh of
// bench::worker on them, messaged through the actor mesh API (call, cast),
// its non-blocking face (mesh::async::call from an event-based actor) and
// directly through the members' handles (round trips, direct requests), and
// the two-phase host_mesh::shutdown.
#include "contender.hpp"
#include "stats.hpp"

#include <mesh/actor_mesh.hpp>
#include <mesh/async.hpp>
#include <mesh/host_mesh.hpp>
#include <mesh/introspect.hpp>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <unistd.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bench {

namespace {

caf::error check_echo(int32_t x, int32_t y) {
  if (x == y)
    return caf::none;
  return mesh::make_error(mesh::ec::call_failed, "libmesh contender",
                          "a worker echoed " + std::to_string(y) +
                            " instead of " + std::to_string(x));
}

/// A block of non-blocking calls for the driver actor: `count` calls of
/// mesh::async::call<int32_t>(self, mesh, x), each started from the
/// previous one's continuation, timed from the call to its continuation.
struct async_block {
  mesh::actor_mesh<caf::actor> mesh;
  size_t first = 0; ///< x of the first call (then first + 1, ...).
  size_t count = 0;
  size_t done = 0;
  std::vector<double>* samples = nullptr; ///< µs, one per call.
  clock_type::time_point t0;
  caf::error failed;
  std::promise<void> finished; ///< Set after the last call (or the error).
};

using async_block_ptr = std::shared_ptr<async_block>;

} // namespace

} // namespace bench

// Only ever sent within the client.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bench::async_block_ptr)

namespace bench {

namespace {

/// The next call of `b`, or the end of the block.
void next_async_call(caf::event_based_actor* self, const async_block_ptr& b) {
  if (b->done == b->count) {
    b->finished.set_value();
    return;
  }
  auto x = static_cast<int32_t>(b->first + b->done);
  b->t0 = clock_type::now();
  mesh::async::call<int32_t>(self, b->mesh, x)
    .then(
      [self, b, x](mesh::value_mesh<int32_t>& replies) {
        for (auto y : replies.values())
          if (auto err = check_echo(x, y)) {
            b->failed = std::move(err);
            b->finished.set_value();
            return;
          }
        b->samples->push_back(us_since(b->t0));
        ++b->done;
        next_async_call(self, b);
      },
      [b](caf::error& err) {
        b->failed = std::move(err);
        b->finished.set_value();
      });
}

/// The client's event-based actor that makes the non-blocking calls: one
/// for the runner's lifetime, so that (like the blocking calls' pooled
/// scoped_actor) it is no stranger to the procs after the first call.
caf::behavior async_driver(caf::event_based_actor* self) {
  return {[self](async_block_ptr& b) { next_async_call(self, b); }};
}

class mesh_contender : public contender {
public:
  explicit mesh_contender(caf::actor_system& sys)
    : sys_(sys), driver_(sys.spawn(async_driver)) {}

  ~mesh_contender() override {
    static_cast<void>(down());
    caf::anon_send_exit(driver_, caf::exit_reason::user_shutdown);
  }

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
    std::vector<double> samples_us;
    if (auto err = gather_block(k, samples_us))
      return err;
    return percentile(samples_us, 50) / 1e3;
  }

  caf::expected<paired_latency> paired_round_trips(size_t k) override {
    auto first = workers_->range("procs", 0, 1);
    if (!first)
      return std::move(first.error());
    return paired(*first, k);
  }

  caf::expected<paired_latency> paired_gathers(size_t k) override {
    return paired(*workers_, k);
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

  caf::expected<paired_latency> paired_introspection(size_t k) override {
    std::vector<double> gathers;
    std::vector<double> rounds;
    auto blocks = std::max<size_t>(1, std::min<size_t>(k, 10));
    // Untimed warm-up of both.
    if (auto err = gather_block(1, gathers))
      return err;
    if (auto err = introspect_block(1, rounds))
      return err;
    gathers.clear();
    rounds.clear();
    for (size_t j = 0; j < blocks; ++j) {
      auto n = k * (j + 1) / blocks - k * j / blocks;
      if (auto err = gather_block(n, gathers))
        return err;
      if (auto err = introspect_block(n, rounds))
        return err;
    }
    return paired_latency{summarize(gathers), summarize(rounds)};
  }

  caf::expected<double> idle_cpu_ms(size_t seconds, size_t poll_ms) override {
    auto states = procs_->states();
    if (!states)
      return std::move(states.error());
    auto before = cpu_ms_of(*states);
    auto t_end = clock_type::now() + std::chrono::seconds{seconds};
    if (poll_ms == 0) {
      std::this_thread::sleep_until(t_end);
    } else {
      while (clock_type::now() < t_end) {
        auto next = clock_type::now() + std::chrono::milliseconds{poll_ms};
        auto snap = mesh::introspect(*hosts_);
        if (!snap)
          return std::move(snap.error());
        std::this_thread::sleep_until(std::min(next, t_end));
      }
    }
    auto after = cpu_ms_of(*states);
    if (!before || !after)
      return mesh::make_error(mesh::ec::invalid_argument, "idle_cpu",
                              "a worker's /proc/<pid>/stat is gone");
    return *after - *before;
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
  /// Untimed calls of each face before a paired measurement.
  static constexpr size_t paired_warm_up = 2;
  /// Blocks per face: the faces alternate A B B A A B B A ..., so that a
  /// drift of the machine's load over the command weighs on both alike.
  static constexpr size_t paired_blocks = 8;

  /// `count` calls of `m` through actor_mesh::call from this thread, each
  /// timed from the call until its replies are checked.
  static caf::error blocking_calls(const mesh::actor_mesh<caf::actor>& m,
                                   size_t first, size_t count,
                                   std::vector<double>& samples) {
    for (size_t i = first; i < first + count; ++i) {
      auto x = static_cast<int32_t>(i);
      auto t0 = clock_type::now();
      auto replies = m.call<int32_t>(x);
      if (!replies)
        return std::move(replies.error());
      for (auto y : replies->values())
        if (auto err = check_echo(x, y))
          return err;
      samples.push_back(us_since(t0));
    }
    return caf::none;
  }

  /// The same through mesh::async::call in the driver actor, each timed
  /// from the call until its continuation has checked the replies; this
  /// thread waits for the block's end (untimed).
  caf::error non_blocking_calls(const mesh::actor_mesh<caf::actor>& m,
                                size_t first, size_t count,
                                std::vector<double>& samples) {
    auto b = std::make_shared<async_block>();
    b->mesh = m;
    b->first = first;
    b->count = count;
    b->samples = &samples;
    auto finished = b->finished.get_future();
    caf::anon_send(driver_, b);
    finished.wait();
    return std::move(b->failed);
  }

  /// `k` calls of `m` through each face, in alternating blocks.
  /// `n` timed call+gathers over every worker, appended in µs.
  caf::error gather_block(size_t n, std::vector<double>& out) {
    for (size_t i = 0; i < n; ++i) {
      auto x = static_cast<int32_t>(i);
      auto t0 = clock_type::now();
      auto replies = workers_->call<int32_t>(x);
      if (!replies)
        return std::move(replies.error());
      for (auto y : replies->values())
        if (auto err = check_echo(x, y))
          return err;
      out.push_back(us_since(t0));
    }
    return caf::none;
  }

  /// `n` timed introspections of the whole mesh, appended in µs; each must
  /// show every worker responsive with its actor.
  caf::error introspect_block(size_t n, std::vector<double>& out) {
    for (size_t i = 0; i < n; ++i) {
      auto t0 = clock_type::now();
      auto snap = mesh::introspect(*hosts_);
      if (!snap)
        return std::move(snap.error());
      out.push_back(us_since(t0));
      size_t live = 0;
      for (auto& host : snap->hosts)
        for (auto& proc : host.procs)
          if (proc.responsive && proc.actors.size() == 1)
            ++live;
      if (live != workers_->size())
        return mesh::make_error(mesh::ec::call_failed, "libmesh contender",
                                "an introspection saw " + std::to_string(live)
                                  + " of " + std::to_string(workers_->size())
                                  + " workers answer with their actor");
    }
    return caf::none;
  }

  /// CPU time the procs' threads ran, in ms: the sum of each thread's
  /// schedstat run time (nanoseconds, where utime + stime count 10 ms
  /// ticks). A thread that ended meanwhile is not counted.
  static std::optional<double>
  cpu_ms_of(const std::vector<mesh::proc_state>& states) {
    double total_ns = 0;
    for (auto& st : states) {
      auto tasks = "/proc/" + std::to_string(st.pid) + "/task";
      std::error_code ec;
      std::filesystem::directory_iterator dir{tasks, ec};
      if (ec)
        return std::nullopt;
      for (auto& task : dir) {
        std::ifstream in{task.path() / "schedstat"};
        double run_ns = 0;
        if (in >> run_ns)
          total_ns += run_ns;
      }
    }
    return total_ns / 1e6;
  }

  caf::expected<paired_latency> paired(const mesh::actor_mesh<caf::actor>& m,
                                       size_t k) {
    std::vector<double> blocking;
    std::vector<double> non_blocking;
    std::vector<double> scratch;
    if (auto err = blocking_calls(m, 0, paired_warm_up, scratch))
      return err;
    if (auto err = non_blocking_calls(m, 0, paired_warm_up, scratch))
      return err;
    blocking.reserve(k);
    non_blocking.reserve(k);
    auto blocks = std::max<size_t>(1, std::min(k, paired_blocks));
    for (size_t j = 0; j < blocks; ++j) {
      auto begin = k * j / blocks;
      auto count = k * (j + 1) / blocks - begin;
      for (size_t face = 0; face < 2; ++face) {
        // Even blocks: blocking first; odd blocks: non-blocking first.
        auto err = (face == j % 2)
                     ? blocking_calls(m, begin, count, blocking)
                     : non_blocking_calls(m, begin, count, non_blocking);
        if (err)
          return err;
      }
    }
    return paired_latency{summarize(blocking), summarize(non_blocking)};
  }

  caf::actor_system& sys_;
  caf::actor driver_;
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
