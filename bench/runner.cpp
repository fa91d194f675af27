// The runner process of the C++ contenders of the benchmark suite: the floor,
// plain CAF + Boost.Process, and libmesh (whose procs are this program too,
// started by libmesh's bootstrap). bench/suite.py drives one runner per
// contender over stdin/stdout, one command and one reply per line:
//
//   up N              ok ms=<bring-up> pids=<p,...> [actors_ms=<spawn>]
//   rtt K             ok med_us=<median> p99_us=<p99>   (K round trips)
//   rtt_api K         as rtt, through the contender's mesh API (libmesh)
//   gather K          ok med_ms=<median of K call+gathers over all N>
//   direct K          ok med_ms=<median of K rounds of N direct requests>
//   rtt_both K        ok med_us=.. p99_us=.. async_med_us=.. async_p99_us=..
//                     K round trips to member 0 through actor_mesh::call and
//                     K through mesh::async::call, in alternating blocks
//                     (libmesh)
//   gather_both K     ok med_ms=.. p99_ms=.. async_med_ms=.. async_p99_ms=..
//                     as rtt_both, K call+gathers over all N each (libmesh)
//   introspect_both K ok med_ms=.. p99_ms=.. async_med_ms=.. async_p99_ms=..
//                     K call+gathers over all N (med/p99) and K rounds of
//                     mesh::introspect of the whole mesh (async_*), in
//                     alternating blocks (libmesh)
//   idle_cpu S P      ok cpu_ms=<CPU the workers used over S seconds in
//                     which the client asks nothing (P = 0) or introspects
//                     the mesh every P ms> (libmesh)
//   cast SIZE COUNT   ok ms=<until delivery is confirmed> bytes=<delivered>
//   down              ok ms=<until every process has exited>
//   quit
//
// A failed command answers "err <message>".
//
//   runner --contender floor|floor-fork|caf|libmesh [--ballast MIB]
//          [--caf KEY=VALUE]...
//
// --ballast touches MIB of memory first: the client of the spawn-cost-vs-
// client-memory benchmark. --caf sets a CAF option in libmesh's client and
// procs (tuning experiments, e.g. --caf middleman.workers=0).
#include "contender.hpp"
#include "worker.hpp"

#include <mesh/error.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/timespan.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

std::string sibling_program(const std::string& name) {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string self{buf, n > 0 ? static_cast<size_t>(n) : 0};
  return self.substr(0, self.rfind('/') + 1) + name;
}

caf::expected<latency> contender::api_round_trips(size_t) {
  return mesh::make_error(mesh::ec::invalid_argument, "rtt_api",
                          "this contender has no mesh API");
}

caf::expected<paired_latency> contender::paired_round_trips(size_t) {
  return mesh::make_error(mesh::ec::invalid_argument, "rtt_both",
                          "this contender has no non-blocking mesh API");
}

caf::expected<paired_latency> contender::paired_gathers(size_t) {
  return mesh::make_error(mesh::ec::invalid_argument, "gather_both",
                          "this contender has no non-blocking mesh API");
}

caf::expected<paired_latency> contender::paired_introspection(size_t) {
  return mesh::make_error(mesh::ec::invalid_argument, "introspect_both",
                          "this contender has no introspection");
}

caf::expected<double> contender::idle_cpu_ms(size_t, size_t) {
  return mesh::make_error(mesh::ec::invalid_argument, "idle_cpu",
                          "this contender has no introspection");
}

namespace {

/// Touches `mib` MiB in 4 KiB pages (no transparent huge pages): a client
/// whose heap is made of ordinary allocations, as a fork would have to copy
/// the page tables of.
void touch_ballast(size_t mib) {
  if (mib == 0)
    return;
  auto bytes = mib << 20;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("mmap ballast");
    std::exit(1);
  }
  ::madvise(mem, bytes, MADV_NOHUGEPAGE);
  std::memset(mem, 1, bytes);
}

/// Applies "KEY=VALUE" to `cfg`: an integer, a duration with a unit (ns, us,
/// ms, s) or else an atom (e.g. middleman.workers=0, scheduler.policy=sharing).
caf::error set_option(caf::actor_system_config& cfg, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos)
    return mesh::make_error(mesh::ec::invalid_argument, "--caf " + kv,
                            "expected KEY=VALUE");
  auto key = kv.substr(0, eq);
  auto value = kv.substr(eq + 1);
  char* end = nullptr;
  auto number = std::strtoull(value.c_str(), &end, 10);
  std::string unit = end != nullptr ? end : "";
  if (end == value.c_str()) {
    cfg.set(key, caf::atom_from_string(value));
  } else if (unit.empty()) {
    cfg.set(key, static_cast<size_t>(number));
  } else {
    int64_t scale = unit == "ns"   ? 1
                    : unit == "us" ? 1000
                    : unit == "ms" ? 1000000
                    : unit == "s"  ? 1000000000
                                   : 0;
    if (scale == 0)
      return mesh::make_error(mesh::ec::invalid_argument, "--caf " + kv,
                              "unknown unit '" + unit + "' (ns, us, ms, s)");
    cfg.set(key, caf::timespan{static_cast<int64_t>(number) * scale});
  }
  return caf::none;
}

std::string format(const char* fmt, double a, double b = 0) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), fmt, a, b);
  return buf;
}

std::string render(const caf::expected<up_result>& r) {
  std::string out = format("ok ms=%.3f", r->ms) + " pids=";
  for (size_t i = 0; i < r->pids.size(); ++i)
    out += (i == 0 ? "" : ",") + std::to_string(r->pids[i]);
  if (r->actors_ms >= 0)
    out += format(" actors_ms=%.3f", r->actors_ms);
  return out;
}

std::string render(const caf::expected<latency>& r) {
  return format("ok med_us=%.3f p99_us=%.3f", r->median_us, r->p99_us);
}

/// Both faces' median and p99, in µs (`ms`: in ms).
std::string render(const caf::expected<paired_latency>& r, bool ms) {
  auto scale = ms ? 1e-3 : 1.0;
  auto unit = ms ? "ms" : "us";
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "ok med_%s=%.3f p99_%s=%.3f async_med_%s=%.3f "
                "async_p99_%s=%.3f",
                unit, r->blocking.median_us * scale, unit,
                r->blocking.p99_us * scale, unit,
                r->non_blocking.median_us * scale, unit,
                r->non_blocking.p99_us * scale);
  return buf;
}

std::string render(const caf::expected<double>& r, const char* key) {
  return std::string{"ok "} + key + format("=%.3f", *r);
}

std::string render(const caf::expected<cast_result>& r) {
  return format("ok ms=%.3f", r->ms) + " bytes=" + std::to_string(r->bytes);
}

template <class T, class Render>
std::string reply(const caf::expected<T>& r, Render&& ok) {
  if (!r)
    return "err " + mesh::to_string(r.error());
  return ok(r);
}

/// Runs one protocol command; the reply line.
std::string run(contender& c, const std::string& line) {
  std::istringstream in{line};
  std::string cmd;
  size_t a = 0;
  size_t b = 0;
  in >> cmd >> a >> b;
  auto key = [](const char* k) {
    return [k](const caf::expected<double>& r) { return render(r, k); };
  };
  auto plain = [](const auto& r) { return render(r); };
  if (cmd == "up")
    return reply(c.up(a), plain);
  if (cmd == "rtt")
    return reply(c.round_trips(a), plain);
  if (cmd == "rtt_api")
    return reply(c.api_round_trips(a), plain);
  if (cmd == "rtt_both")
    return reply(c.paired_round_trips(a),
                 [](const auto& r) { return render(r, false); });
  if (cmd == "gather")
    return reply(c.gather_ms(a), key("med_ms"));
  if (cmd == "gather_both")
    return reply(c.paired_gathers(a),
                 [](const auto& r) { return render(r, true); });
  if (cmd == "introspect_both")
    return reply(c.paired_introspection(a),
                 [](const auto& r) { return render(r, true); });
  if (cmd == "idle_cpu")
    return reply(c.idle_cpu_ms(a, b), key("cpu_ms"));
  if (cmd == "direct")
    return reply(c.direct_ms(a), key("med_ms"));
  if (cmd == "cast")
    return reply(c.cast(a, b), plain);
  if (cmd == "down")
    return reply(c.down(), key("ms"));
  return "err unknown command '" + cmd + "'";
}

int serve(contender& c) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit")
      break;
    if (line.empty())
      continue;
    std::cout << run(c, line) << std::endl;
  }
  return 0;
}

} // namespace

} // namespace bench

int main(int argc, char** argv) {
  mesh::config cfg;
  cfg.add_actor_type("bench_worker", bench::worker);
  std::string name;
  size_t ballast = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--contender") == 0) {
      name = argv[i + 1];
    } else if (std::strcmp(argv[i], "--ballast") == 0) {
      ballast = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--caf") == 0) {
      if (auto err = bench::set_option(cfg, argv[i + 1])) {
        std::fprintf(stderr, "%s\n", mesh::to_string(err).c_str());
        return 2;
      }
    }
  }
  // Only now: libmesh's procs are this program, started with these
  // arguments, so --caf options reach the procs' actor systems too.
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;
  bench::touch_ballast(ballast);
  if (name == "floor" || name == "floor-fork") {
    auto c = bench::make_floor_contender(name == "floor-fork");
    return bench::serve(*c);
  }
  if (name == "caf") {
    auto c = bench::make_caf_contender();
    return bench::serve(*c);
  }
  if (name == "libmesh") {
    caf::actor_system sys{cfg};
    auto c = bench::make_mesh_contender(sys);
    return bench::serve(*c);
  }
  std::fprintf(stderr, "usage: runner --contender floor|floor-fork|caf|libmesh "
                       "[--ballast MIB] [--caf KEY=VALUE]...\n");
  return 2;
}
