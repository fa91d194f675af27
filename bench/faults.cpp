// Fault detection benchmark (issue 13, supervision): how long after a fault
// the owner hears of it, and how long a call that was pending on the faulty
// rank takes to fail. Each fault is injected N times on a mesh of 2 hosts x 4
// procs running an actor mesh of "sleeper" actors (bench/supervision.hpp);
// before each injection a call to the target rank is started that the actor
// answers only after two minutes, so it is pending when the fault hits. From
// the injection on it measures
//   event  the first proc_mesh::on_event event for the target rank whose
//          status is no longer initializing/running (failed, stopped,
//          unknown, ...);
//   call   the failure of the pending call.
// Faults:
//   proc-kill     SIGKILL a proc (a fresh proc mesh per injection, another
//                 rank each time)
//   proc-stop     SIGSTOP a proc (a hang); SIGCONT and stop after measuring
//   gather-kill   in-flight call on a killed rank: a call to all 8 members
//                 (all pending), one proc SIGKILLed; then a new call to the
//                 dead rank ("call-dead-rank": must fail at once)
//   host-kill     SIGKILL the host child process of a process() mesh (found
//                 as the ancestor of a proc that is our child); fresh host
//                 mesh per injection
//   meshd-kill    two meshd daemons (built tools/meshd, mutual TLS with
//                 credentials made by `meshctl cert init`) attached with
//                 host_mesh::attach, one SIGKILLed; fresh daemons each time
//   link-down     root only: a meshd in a network namespace behind a veth
//                 pair (plus one on loopback), `ip link set <veth> down`
// Bounds printed next to the figures: proc death <= 50 ms; host loss (host
// process, meshd) <= 1 s; a hang or a silent link <= proc_unresponsive_timeout
// + one heartbeat (min(1 s, timeout / 4)); a pending call fails within 50 ms
// of its event ("ev+50ms"). An event that never came is "none", a call that
// did not fail within --wait seconds is "hung"; either misses its bound.
//
//   build/bench/faults [--n N] [--timeout DUR] [--wait SECONDS]
//                      [--only FAULT[,FAULT...]] [--verbose]
//     --n        injections per fault (default 5)
//     --timeout  proc_unresponsive_timeout for this run (default 2s)
//     --wait     longest wait for an event or a call failure (default 35)
//     --only     run only these faults (names above)
//     --verbose  one line per injection
//   e.g. build/bench/faults --n 2
// Exit code 1 if any pending call was still pending at the wait limit. Needs
// tools/meshd and tools/meshctl built for meshd-kill and link-down (else they
// are skipped with the reason); link-down needs root. With --n 2 a run takes
// about 8 minutes today, most of it waiting out calls that never fail.
#include "stats.hpp"
#include "supervision.hpp"

#include <mesh/actor_mesh.hpp>
#include <mesh/config.hpp>
#include <mesh/config_keys.hpp>
#include <mesh/error.hpp>
#include <mesh/host_mesh.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

constexpr double inf = std::numeric_limits<double>::infinity();
/// How long the sleeper holds a pending call: longer than any wait.
constexpr int32_t hold_ms = 120000;

struct options {
  int n = 5;
  std::string timeout = "2s";
  int wait_s = 35;
  std::set<std::string> only;
  bool verbose = false;
};

options opts;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// --- samples and the table -------------------------------------------------

struct sample {
  double event = inf; ///< ms from injection to the event; inf: none.
  double call = inf;  ///< ms from injection to the call's failure; inf: hung.
  bool call_ok = false; ///< The call returned values (it should not).
};

struct row {
  std::string fault;
  std::string skipped; ///< Why the fault was not run ("" if it ran).
  std::vector<sample> samples;
  double event_bound = 0; ///< ms
  bool has_event = true;  ///< False: only the call is measured.
  std::string bound_note; ///< How the event bound was derived.
};

std::vector<row> rows;

std::string fmt_ms(double v) {
  if (std::isinf(v))
    return "-";
  char buf[32];
  if (v >= 1000)
    std::snprintf(buf, sizeof(buf), "%.2f s", v / 1000);
  else
    std::snprintf(buf, sizeof(buf), "%.1f ms", v);
  return buf;
}

/// Median and worst of `xs` (inf = missing), "none"/"hung" for missing.
std::pair<std::string, std::string> med_worst(std::vector<double> xs,
                                              const char* missing) {
  if (xs.empty())
    return {"-", "-"};
  std::sort(xs.begin(), xs.end());
  auto lost = std::count_if(xs.begin(), xs.end(),
                            [](double x) { return std::isinf(x); });
  auto med = xs[xs.size() / 2];
  auto worst = xs.back();
  std::string w = std::isinf(worst)
                    ? std::string{missing} + " " + std::to_string(lost) + "/" +
                        std::to_string(xs.size())
                    : fmt_ms(worst);
  return {std::isinf(med) ? std::string{missing} : fmt_ms(med), w};
}

void print_table(const std::string& timeout, double heartbeat_ms) {
  std::printf("\nproc_unresponsive_timeout = %s, heartbeat = %.0f ms, "
              "wait limit = %d s\n\n",
              timeout.c_str(), heartbeat_ms, opts.wait_s);
  std::printf("%-16s %3s  %10s %12s %10s   %10s %12s %9s   %s\n", "fault", "N",
              "event med", "event worst", "bound", "call med", "call worst",
              "bound", "result");
  for (auto& r : rows) {
    if (!r.skipped.empty()) {
      std::printf("%-16s %3s  skipped: %s\n", r.fault.c_str(), "-",
                  r.skipped.c_str());
      continue;
    }
    std::vector<double> ev, call;
    bool event_met = true, call_met = true;
    for (auto& s : r.samples) {
      ev.push_back(s.event);
      call.push_back(s.call);
      if (r.has_event) {
        if (!(s.event <= r.event_bound))
          event_met = false;
        // Within 50 ms of its event (of the event's bound if no event).
        auto ref = std::isinf(s.event) ? r.event_bound : s.event;
        if (!(s.call <= ref + 50) || s.call_ok)
          call_met = false;
      } else if (!(s.call <= 50) || s.call_ok) {
        call_met = false;
      }
    }
    auto [em, ew] = med_worst(ev, "none");
    auto [cm, cw] = med_worst(call, "hung");
    auto oks = std::count_if(r.samples.begin(), r.samples.end(),
                             [](const sample& s) { return s.call_ok; });
    std::string result = event_met && call_met ? "met" : "missed";
    if (!event_met && call_met)
      result += " (event)";
    else if (event_met && !call_met)
      result += " (call)";
    if (oks > 0)
      result += ", " + std::to_string(oks) + " calls succeeded";
    std::printf("%-16s %3zu  %10s %12s %10s   %10s %12s %9s   %s\n",
                r.fault.c_str(), r.samples.size(),
                r.has_event ? em.c_str() : "n/a",
                r.has_event ? ew.c_str() : "n/a",
                r.has_event ? ("<= " + fmt_ms(r.event_bound)).c_str() : "n/a",
                cm.c_str(), cw.c_str(), r.has_event ? "ev+50ms" : "<= 50 ms",
                result.c_str());
  }
  std::printf("\nevent: first proc_mesh::on_event for the rank that is no "
              "longer initializing/running, from the injection;\ncall: failure "
              "of a call pending on that rank since before the injection "
              "(call-dead-rank: a new call\nto the rank after its death, from "
              "the call's start). Bounds: proc death 50 ms, host loss 1 s, "
              "hang or\nsilent link timeout + heartbeat; a call within 50 ms "
              "of its event.\n");
  for (auto& r : rows)
    if (!r.bound_note.empty() && r.skipped.empty())
      std::printf("  %s: %s\n", r.fault.c_str(), r.bound_note.c_str());
}

// --- one injection -----------------------------------------------------------

/// Records the first unhealthy event of the watched ranks.
struct event_watch {
  std::mutex mtx;
  std::condition_variable cv;
  std::set<size_t> ranks;
  std::optional<clock_type::time_point> at;
  std::string what;
  std::vector<std::string> log; ///< Every event (verbose).

  void arm(std::set<size_t> watched) {
    std::lock_guard<std::mutex> guard{mtx};
    ranks = std::move(watched);
    at.reset();
    what.clear();
  }

  void on(const mesh::proc_event& ev) {
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{mtx};
    if (opts.verbose)
      log.push_back("rank " + std::to_string(ev.rank) + " " +
                    std::string{mesh::to_string(ev.status)} +
                    (ev.actor.empty() ? "" : " (actor " + ev.actor + ")") +
                    ": " + ev.reason);
    if (at || ranks.count(ev.rank) == 0 || mesh::is_healthy(ev.status))
      return;
    at = now;
    what = std::string{mesh::to_string(ev.status)} +
           (ev.actor.empty() ? "" : " (actor event)") + ": " + ev.reason;
    cv.notify_all();
  }

  bool wait_until(clock_type::time_point deadline) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_until(guard, deadline, [this] { return at.has_value(); });
  }
};

/// A proc mesh with its actor mesh and its event watch.
struct target {
  std::shared_ptr<mesh::proc_mesh> procs;
  std::optional<mesh::actor_mesh<caf::actor>> actors;
  std::shared_ptr<event_watch> watch = std::make_shared<event_watch>();
  std::vector<int64_t> pids; ///< By rank.
};

/// Spawns 4 procs per host and a sleeper on each; error text on failure.
std::string bring_up(const mesh::host_mesh_ref& hosts, target& t) {
  auto pm = hosts.spawn("faults", mesh::extent{{"procs", 4}});
  if (!pm)
    return "spawn procs: " + mesh::to_string(pm.error());
  t.procs = std::make_shared<mesh::proc_mesh>(std::move(*pm));
  auto watch = t.watch;
  t.procs->on_event([watch](const mesh::proc_event& ev) { watch->on(ev); });
  auto am = t.procs->spawn<caf::actor>("sleepers", "sleeper");
  if (!am)
    return "spawn actors: " + mesh::to_string(am.error());
  t.actors = std::move(*am);
  auto states = t.procs->states();
  if (!states)
    return "states: " + mesh::to_string(states.error());
  t.pids.assign(t.procs->size(), 0);
  for (auto& st : *states)
    if (st.rank < t.pids.size())
      t.pids[st.rank] = st.pid;
  return {};
}

/// Stops the procs (bounded); the target is unusable afterwards.
void tear_down(target& t) {
  t.actors.reset();
  if (!t.procs)
    return;
  auto procs = std::move(t.procs);
  std::string err;
  if (!bench::bounded(
        [procs] {
          auto res = procs->stop("faults bench");
          return res ? std::string{} : mesh::to_string(res.error());
        },
        60s, &err))
    std::fprintf(stderr, "  (proc mesh stop: %s)\n", err.c_str());
}

/// The view of one rank of a hosts x procs actor mesh.
mesh::actor_mesh<caf::actor> one_rank(const mesh::actor_mesh<caf::actor>& am,
                                      size_t rank) {
  auto per_host = am.extent().sizes().back();
  auto by_host = am.range("hosts", rank / per_host, rank / per_host + 1);
  auto view = by_host->range("procs", rank % per_host, rank % per_host + 1);
  return *view;
}

/// Starts a pending call on `view`, injects, and measures.
sample inject(target& t, const mesh::actor_mesh<caf::actor>& view,
              std::set<size_t> watched, const std::function<void()>& fault,
              const std::string& label) {
  sample s;
  t.watch->arm(std::move(watched));
  auto wait = std::chrono::seconds{opts.wait_s};
  auto call = bench::async_call::start([view, wait] {
    auto res = view.call<int32_t>(wait + 5s, bench::sleep_atom::value,
                                  hold_ms);
    return res ? std::string{} : mesh::to_string(res.error());
  });
  // Let the request reach the actor.
  std::this_thread::sleep_for(300ms);
  if (call->wait_for(0ms)) {
    std::fprintf(stderr, "  %s: the call ended before the injection: %s\n",
                 label.c_str(), call->error.c_str());
  }
  auto t0 = clock_type::now();
  fault();
  auto deadline = t0 + wait;
  if (t.watch->wait_until(deadline))
    s.event = ms_between(t0, *t.watch->at);
  if (call->wait_until(deadline)) {
    s.call = ms_between(t0, call->finished);
    s.call_ok = call->ok;
  } else {
    ++bench::abandoned_calls(); // its own timeout ends it later
  }
  if (opts.verbose) {
    std::printf("  %-14s event %-10s call %-10s %s | %s\n", label.c_str(),
                std::isinf(s.event) ? "none" : fmt_ms(s.event).c_str(),
                std::isinf(s.call) ? "hung" : fmt_ms(s.call).c_str(),
                t.watch->what.c_str(),
                call->done ? (call->ok ? "call returned values"
                                       : call->error.substr(0, 160).c_str())
                           : "call pending");
    std::lock_guard<std::mutex> guard{t.watch->mtx};
    for (auto& line : t.watch->log)
      std::printf("      event %s\n", line.substr(0, 200).c_str());
    t.watch->log.clear();
  }
  return s;
}

bool wanted(const std::string& fault) {
  return opts.only.empty() || opts.only.count(fault) > 0;
}

// --- meshd daemons -----------------------------------------------------------

/// A meshd started by the bench: its first stdout line gives its address.
struct daemon_proc {
  pid_t pid = -1;
  std::string address;
  std::string err_path;

  ~daemon_proc() { stop(); }

  void kill(int sig) {
    if (pid > 0)
      ::kill(pid, sig);
  }

  /// SIGTERM, then SIGKILL after 10 s; reaps.
  void stop() {
    if (pid <= 0)
      return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
    if (!err_path.empty())
      ::unlink(err_path.c_str());
    err_path.clear();
  }

  std::string stderr_text() const {
    std::ifstream in{err_path};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

/// Starts `argv` and waits (at most 30 s) for "listening on HOST:PORT".
std::unique_ptr<daemon_proc> start_daemon(const std::vector<std::string>& argv,
                                          std::string* why) {
  auto d = std::make_unique<daemon_proc>();
  char tmpl[] = "/tmp/faults-meshd-XXXXXX";
  int err_fd = ::mkstemp(tmpl);
  if (err_fd < 0) {
    *why = "mkstemp failed";
    return nullptr;
  }
  d->err_path = tmpl;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(err_fd);
    *why = "pipe failed";
    return nullptr;
  }
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;
  for (auto& a : args)
    cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  int rc = ::posix_spawnp(&d->pid, cargs[0], &fa, &attr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err_fd);
  if (rc != 0) {
    ::close(out[0]);
    d->pid = -1;
    *why = std::string{"posix_spawnp: "} + std::strerror(rc);
    return nullptr;
  }
  std::string line;
  auto deadline = clock_type::now() + 30s;
  while (line.empty() || line.back() != '\n') {
    auto left =
      std::chrono::duration_cast<ms>(deadline - clock_type::now()).count();
    if (left <= 0)
      break;
    pollfd pfd{out[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0)
      continue;
    char c;
    if (::read(out[0], &c, 1) != 1)
      break;
    line += c;
  }
  ::close(out[0]);
  const std::string prefix = "listening on ";
  if (line.rfind(prefix, 0) != 0 || line.back() != '\n') {
    *why = "meshd did not print 'listening on' (got '" + line +
           "'); stderr: " + d->stderr_text();
    return nullptr;
  }
  d->address = line.substr(prefix.size(), line.size() - prefix.size() - 1);
  return d;
}

/// Runs a command; true if it exited 0 (its stderr in *err otherwise).
bool run_cmd(const std::vector<std::string>& argv, std::string* err = nullptr) {
  std::string line;
  for (auto& a : argv)
    line += "'" + a + "' ";
  line += "2>&1";
  FILE* p = ::popen(line.c_str(), "r");
  if (p == nullptr)
    return false;
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), p) != nullptr)
    out += buf;
  int rc = ::pclose(p);
  if (rc != 0 && err != nullptr)
    *err = out;
  return rc == 0;
}

/// The certificates of a run (meshctl cert init) in a temporary directory.
struct pki {
  std::string dir;
  std::string failure;

  pki(const std::string& meshctl, const std::string& extra_ip) {
    char tmpl[] = "/tmp/faults-pki-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      failure = "mkdtemp failed";
      return;
    }
    dir = std::string{tmpl} + "/ca";
    std::string err;
    if (!run_cmd({meshctl, "cert", "init", dir, "--ip", extra_ip, "--days",
                  "2"},
                 &err))
      failure = "meshctl cert init failed: " + err;
  }

  ~pki() {
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::path{dir}.parent_path(), ec);
    }
  }

  std::string path(const std::string& name) const { return dir + "/" + name; }

  std::vector<std::string> meshd_flags() const {
    return {"--tls-cert", path("node.pem"), "--tls-key", path("node.key"),
            "--tls-ca", path("ca.pem")};
  }
};

/// A network namespace joined to ours by a veth pair.
struct netns {
  std::string ns, root_link, ns_link, root_addr, addr;
  bool created = false;
  std::string failure;

  netns(int subnet, int serial) {
    auto pid = std::to_string(::getpid());
    ns = "faults-" + pid + "-" + std::to_string(serial);
    root_link = "fb" + pid + "x" + std::to_string(serial % 100);
    ns_link = "fb" + pid + "y" + std::to_string(serial % 100);
    root_addr = "10.78." + std::to_string(subnet) + ".1";
    addr = "10.78." + std::to_string(subnet) + ".2";
    if (!ip({"netns", "add", ns}))
      return;
    created = true;
    static_cast<void>(ip({"link", "add", root_link, "type", "veth", "peer",
                          "name", ns_link}) &&
                      ip({"link", "set", ns_link, "netns", ns}) &&
                      ip({"addr", "add", root_addr + "/24", "dev", root_link}) &&
                      ip({"link", "set", root_link, "up"}) &&
                      ip({"-n", ns, "addr", "add", addr + "/24", "dev",
                          ns_link}) &&
                      ip({"-n", ns, "link", "set", ns_link, "up"}) &&
                      ip({"-n", ns, "link", "set", "lo", "up"}));
  }

  ~netns() {
    if (created) {
      run_cmd({"ip", "netns", "del", ns});
      run_cmd({"ip", "link", "del", root_link});
    }
  }

  bool ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    std::string err;
    if (run_cmd(args, &err))
      return true;
    std::string line;
    for (auto& a : args)
      line += a + " ";
    failure = "'" + line + "' failed: " + err;
    return false;
  }
};

// --- the faults ----------------------------------------------------------------

/// Faults on one shared process() host mesh: proc-kill, proc-stop and
/// gather-kill (with call-dead-rank).
void proc_faults(mesh::host_mesh& hosts, double hang_bound,
                 const std::string& hang_note) {
  row kill_row{"proc-kill", "", {}, 50, true, ""};
  row stop_row{"proc-stop", "", {}, hang_bound, true, hang_note};
  row gather_row{"gather-kill", "", {}, 50, true,
                 "a call to all 8 members, one proc SIGKILLed"};
  row dead_row{"call-dead-rank", "", {}, 0, false,
               "a new call to a rank whose proc was SIGKILLed, after its "
               "event (or the wait)"};
  auto one = [&](row& r, int i, auto&& body) {
    target t;
    auto err = bring_up(hosts.as_ref(), t);
    if (!err.empty()) {
      std::fprintf(stderr, "  %s #%d: %s\n", r.fault.c_str(), i, err.c_str());
      tear_down(t);
      return;
    }
    body(t);
    tear_down(t);
  };
  for (int i = 0; i < opts.n && wanted("proc-kill"); ++i)
    one(kill_row, i, [&](target& t) {
      auto rank = static_cast<size_t>(i % 8);
      auto pid = t.pids[rank];
      kill_row.samples.push_back(inject(t, one_rank(*t.actors, rank), {rank},
                                        [pid] { ::kill(pid, SIGKILL); },
                                        "proc-kill"));
    });
  for (int i = 0; i < opts.n && wanted("proc-stop"); ++i)
    one(stop_row, i, [&](target& t) {
      auto rank = static_cast<size_t>((i + 3) % 8);
      auto pid = t.pids[rank];
      stop_row.samples.push_back(inject(t, one_rank(*t.actors, rank), {rank},
                                        [pid] { ::kill(pid, SIGSTOP); },
                                        "proc-stop"));
      ::kill(pid, SIGCONT);
    });
  for (int i = 0; i < opts.n && wanted("gather-kill"); ++i)
    one(gather_row, i, [&](target& t) {
      auto rank = static_cast<size_t>((i + 5) % 8);
      auto pid = t.pids[rank];
      gather_row.samples.push_back(inject(t, *t.actors, {rank},
                                          [pid] { ::kill(pid, SIGKILL); },
                                          "gather-kill"));
      // A new call to the dead rank.
      auto view = one_rank(*t.actors, rank);
      auto wait = std::chrono::seconds{opts.wait_s};
      auto t0 = clock_type::now();
      auto call = bench::async_call::start([view, wait] {
        auto res = view.call<int32_t>(wait + 5s, int32_t{7});
        return res ? std::string{} : mesh::to_string(res.error());
      });
      sample s;
      if (call->wait_until(t0 + wait)) {
        s.call = ms_between(t0, call->finished);
        s.call_ok = call->ok;
      } else {
        ++bench::abandoned_calls();
      }
      if (opts.verbose)
        std::printf("  %-14s call %-10s %s\n", "call-dead-rank",
                    std::isinf(s.call) ? "hung" : fmt_ms(s.call).c_str(),
                    call->done ? (call->ok ? "call returned values"
                                           : call->error.substr(0, 160).c_str())
                               : "call pending");
      dead_row.samples.push_back(s);
    });
  for (auto* r : {&kill_row, &stop_row, &gather_row, &dead_row})
    if (!r->samples.empty())
      rows.push_back(*r);
}

/// host-kill: a fresh process() mesh of 2 hosts per injection.
void host_faults(caf::actor_system& sys, const mesh::bootstrap_command& cmd) {
  if (!wanted("host-kill"))
    return;
  row r{"host-kill", "", {}, 1000, true,
        "SIGKILL of the host process of host 1 (its procs die of "
        "PDEATHSIG)"};
  for (int i = 0; i < opts.n; ++i) {
    auto hosts = mesh::host_mesh::process(sys, mesh::extent{{"hosts", 2}}, cmd);
    if (!hosts) {
      std::fprintf(stderr, "  host-kill #%d: process(): %s\n", i,
                   mesh::to_string(hosts.error()).c_str());
      continue;
    }
    auto owned = std::make_shared<mesh::host_mesh>(std::move(*hosts));
    {
      target t;
      auto err = bring_up(owned->as_ref(), t);
      size_t rank = 4 + static_cast<size_t>(i % 4);
      int64_t host_pid = err.empty() ? bench::child_ancestor(t.pids[rank]) : 0;
      if (err.empty() && host_pid <= 0)
        err = "cannot find the host process of proc " +
              std::to_string(t.pids[rank]);
      if (!err.empty()) {
        std::fprintf(stderr, "  host-kill #%d: %s\n", i, err.c_str());
      } else {
        r.samples.push_back(inject(t, one_rank(*t.actors, rank),
                                   {4, 5, 6, 7},
                                   [host_pid] { ::kill(host_pid, SIGKILL); },
                                   "host-kill"));
      }
      t.actors.reset();
      t.procs.reset();
    }
    std::string err;
    if (!bench::bounded(
          [owned] {
            auto res = owned->shutdown();
            return res ? std::string{} : mesh::to_string(res.error());
          },
          60s, &err) &&
        opts.verbose)
      std::printf("  (host mesh shutdown: %s)\n", err.substr(0, 200).c_str());
  }
  rows.push_back(r);
}

/// meshd-kill and link-down: attached daemons, fresh ones per injection.
void daemon_faults(caf::actor_system& sys, const pki* certs,
                   const std::string& tls_failure, int subnet,
                   double hang_bound) {
  auto dir = bench::exe_dir();
  auto meshd = dir + "../tools/meshd";
  auto self = dir + "faults";
  auto run = [&](row& r, auto&& make_b, auto&& fault_of) {
    for (int i = 0; i < opts.n; ++i) {
      std::string why;
      auto base = std::vector<std::string>{meshd, "--listen", "127.0.0.1:0"};
      auto flags = certs->meshd_flags();
      base.insert(base.end(), flags.begin(), flags.end());
      base.insert(base.end(), {"--proc-command", self});
      auto a = start_daemon(base, &why);
      if (!a) {
        std::fprintf(stderr, "  %s #%d: %s\n", r.fault.c_str(), i, why.c_str());
        continue;
      }
      std::shared_ptr<netns> ns;
      auto b = make_b(base, i, ns, &why);
      if (!b) {
        std::fprintf(stderr, "  %s #%d: %s\n", r.fault.c_str(), i, why.c_str());
        if (r.samples.empty() && i == 0) {
          r.skipped = why;
          return;
        }
        continue;
      }
      auto hosts = mesh::host_mesh::attach(
        sys, mesh::host_mesh_id::instance("faults"), {a->address, b->address});
      if (!hosts) {
        std::fprintf(stderr, "  %s #%d: attach: %s\n", r.fault.c_str(), i,
                     mesh::to_string(hosts.error()).c_str());
        continue;
      }
      auto owned = std::make_shared<mesh::host_mesh>(std::move(*hosts));
      {
        target t;
        auto err = bring_up(owned->as_ref(), t);
        if (!err.empty()) {
          std::fprintf(stderr, "  %s #%d: %s\n", r.fault.c_str(), i,
                       err.c_str());
        } else {
          size_t rank = 4 + static_cast<size_t>(i % 4);
          r.samples.push_back(inject(t, one_rank(*t.actors, rank),
                                     {4, 5, 6, 7}, fault_of(*b, ns),
                                     r.fault));
        }
        t.actors.reset();
        t.procs.reset();
      }
      if (ns)
        ns->ip({"link", "set", ns->root_link, "up"});
      std::string err;
      if (!bench::bounded(
            [owned] {
              auto res = owned->shutdown();
              return res ? std::string{} : mesh::to_string(res.error());
            },
            60s, &err) &&
          opts.verbose)
        std::printf("  (host mesh shutdown: %s)\n", err.substr(0, 200).c_str());
      a->stop();
      b->stop();
    }
  };
  if (wanted("meshd-kill")) {
    row r{"meshd-kill", "", {}, 1000, true,
          "SIGKILL of one of two meshd daemons (on 127.0.0.1, mutual TLS)"};
    if (!tls_failure.empty()) {
      r.skipped = tls_failure;
    } else {
      run(
        r,
        [&](const std::vector<std::string>& base, int,
            std::shared_ptr<netns>&, std::string* why) {
          return start_daemon(base, why);
        },
        [](daemon_proc& b, std::shared_ptr<netns>&) {
          auto pid = b.pid;
          return [pid] { ::kill(pid, SIGKILL); };
        });
    }
    rows.push_back(r);
  }
  if (wanted("link-down")) {
    row r{"link-down", "", {}, hang_bound, true,
          "veth of a meshd in a network namespace set down: no FIN, no RST; "
          "only heartbeats can tell (bound: timeout + heartbeat)"};
    if (::geteuid() != 0) {
      r.skipped = "not root: network namespaces need CAP_SYS_ADMIN";
    } else if (!tls_failure.empty()) {
      r.skipped = tls_failure;
    } else {
      run(
        r,
        [&](const std::vector<std::string>& base, int i,
            std::shared_ptr<netns>& ns,
            std::string* why) -> std::unique_ptr<daemon_proc> {
          ns = std::make_shared<netns>(subnet, i);
          if (!ns->failure.empty()) {
            *why = "cannot set up a network namespace: " + ns->failure;
            return nullptr;
          }
          auto argv = base;
          argv[2] = ns->addr + ":0";
          argv.insert(argv.begin(), {"ip", "netns", "exec", ns->ns});
          return start_daemon(argv, why);
        },
        [](daemon_proc&, std::shared_ptr<netns>& ns) {
          auto n = ns;
          return [n] {
            if (!n->ip({"link", "set", n->root_link, "down"}))
              std::fprintf(stderr, "  link down failed: %s\n",
                           n->failure.c_str());
          };
        });
    }
    rows.push_back(r);
  }
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--n N] [--timeout DUR] [--wait SECONDS] "
               "[--only FAULT,...] [--verbose]\nfaults: proc-kill proc-stop "
               "gather-kill host-kill meshd-kill link-down\n",
               argv0);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  // Procs and hosts run this program again: the child role comes first.
  {
    mesh::config child_cfg;
    child_cfg.add_actor_type("sleeper", bench::sleeper);
    if (auto code = mesh::run_bootstrap_child(child_cfg))
      return *code;
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      return i + 1 < argc ? argv[++i] : nullptr;
    };
    const char* v = nullptr;
    if (a == "--n" && (v = next()))
      opts.n = std::max(1, std::atoi(v));
    else if (a == "--timeout" && (v = next()))
      opts.timeout = v;
    else if (a == "--wait" && (v = next()))
      opts.wait_s = std::max(1, std::atoi(v));
    else if (a == "--only" && (v = next())) {
      std::stringstream list{v};
      std::string item;
      while (std::getline(list, item, ','))
        opts.only.insert(item);
    } else if (a == "--verbose")
      opts.verbose = true;
    else
      return usage(argv[0]);
  }
  auto timeout = mesh::parse_duration(opts.timeout);
  if (!timeout) {
    std::fprintf(stderr, "--timeout: %s\n",
                 mesh::to_string(timeout.error()).c_str());
    return 2;
  }
  // The timeout for everything this run starts: this client (override),
  // its children and the meshd daemons (environment).
  ::setenv("MESH_PROC_UNRESPONSIVE_TIMEOUT", opts.timeout.c_str(), 1);
  std::vector<std::unique_ptr<mesh::config_override>> overrides;
  overrides.push_back(std::make_unique<mesh::config_override>(
    "proc_unresponsive_timeout", opts.timeout));
  overrides.push_back(
    std::make_unique<mesh::config_override>("terminate_timeout", "500ms"));
  // Credentials for the meshd daemons (mutual TLS); this client uses the
  // node certificate, which is also good for client authentication.
  int subnet = 2 + ::getpid() % 200;
  std::unique_ptr<pki> certs;
  std::string tls_failure;
  bool daemons = wanted("meshd-kill") || wanted("link-down");
  auto meshd = bench::exe_dir() + "../tools/meshd";
  auto meshctl = bench::exe_dir() + "../tools/meshctl";
  if (daemons) {
    if (::access(meshd.c_str(), X_OK) != 0 ||
        ::access(meshctl.c_str(), X_OK) != 0) {
      tls_failure = "tools/meshd or tools/meshctl not built (ninja -C build "
                    "tools/meshd tools/meshctl)";
    } else {
      certs = std::make_unique<pki>(meshctl,
                                    "10.78." + std::to_string(subnet) + ".2");
      tls_failure = certs->failure;
      if (tls_failure.empty())
        for (auto [k, f] : {std::pair{"tls.certificate", "node.pem"},
                            std::pair{"tls.key", "node.key"},
                            std::pair{"tls.cafile", "ca.pem"}})
          overrides.push_back(
            std::make_unique<mesh::config_override>(k, certs->path(f)));
    }
  }
  int rc = 0;
  {
    mesh::config cfg;
    cfg.add_actor_type("sleeper", bench::sleeper);
    caf::actor_system sys{cfg};
    auto effective = mesh::config_of(sys).get(
      mesh::keys::proc_unresponsive_timeout);
    auto heartbeat = std::min<mesh::duration>(1000ms, effective / 4);
    double hang_bound = static_cast<double>((effective + heartbeat).count());
    auto hang_note = "SIGSTOP of a proc: timeout " +
                     mesh::render_duration(effective) + " + heartbeat " +
                     mesh::render_duration(heartbeat);
    std::printf("faults: %d injections per fault, 2 hosts x 4 procs, "
                "proc_unresponsive_timeout %s (heartbeat %s)\n",
                opts.n, mesh::render_duration(effective).c_str(),
                mesh::render_duration(heartbeat).c_str());
    std::fflush(stdout);
    auto cmd = mesh::bootstrap_command::current();
    if (!cmd) {
      std::fprintf(stderr, "bootstrap command: %s\n",
                   mesh::to_string(cmd.error()).c_str());
      return 1;
    }
    if (wanted("proc-kill") || wanted("proc-stop") || wanted("gather-kill")) {
      auto hosts =
        mesh::host_mesh::process(sys, mesh::extent{{"hosts", 2}}, *cmd);
      if (!hosts) {
        std::fprintf(stderr, "process(): %s\n",
                     mesh::to_string(hosts.error()).c_str());
        return 1;
      }
      proc_faults(*hosts, hang_bound, hang_note);
      auto owned = std::make_shared<mesh::host_mesh>(std::move(*hosts));
      std::string err;
      if (!bench::bounded(
            [owned] {
              auto res = owned->shutdown();
              return res ? std::string{} : mesh::to_string(res.error());
            },
            60s, &err))
        std::fprintf(stderr, "shutdown: %s\n", err.c_str());
    }
    host_faults(sys, *cmd);
    if (daemons)
      daemon_faults(sys, certs.get(), tls_failure, subnet, hang_bound);
    print_table(mesh::render_duration(effective),
                static_cast<double>(heartbeat.count()));
    for (auto& r : rows)
      for (auto& s : r.samples)
        if (std::isinf(s.call))
          rc = 1;
    if (bench::abandoned_calls() > 0) {
      // Their threads still block in libmesh (until each call's own timeout,
      // --wait + 5 s, or forever): do not destroy the actor system under
      // them. The temporary certificates go first.
      std::printf("\n%d blocking calls had not returned at the wait limit; "
                  "exiting without destroying the actor system\n",
                  bench::abandoned_calls());
      std::fflush(stdout);
      certs.reset();
      std::_Exit(rc);
    }
  }
  return rc;
}
