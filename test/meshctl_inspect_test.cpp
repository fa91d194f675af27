// meshctl ls / status / logs / top against real meshes: `meshctl up` is the
// owner (in its own MESH_RUNTIME_DIR per test, so tests do not see each
// other's meshes), the real meshctl binary the client, and for `top` a real
// terminal: tmux on a socket of its own, read with capture-pane.
#include "bootstrap/registry.hpp"
#include "mesh/error.hpp"
#include "mesh/introspect.hpp"
#include "support/process.hpp"
#include "support/runtime_dir.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;

std::string meshctl_path() {
  return mesh::test::build_path("tools/meshctl");
}

using mesh::test::contains;

using mesh::test::lines_of;

/// Polls `ready` every 100 ms until it is true or `limit` passed.
bool eventually(const std::function<bool()>& ready,
                std::chrono::milliseconds limit) {
  auto until = clock_type::now() + limit;
  for (;;) {
    if (ready())
      return true;
    if (clock_type::now() >= until)
      return false;
    std::this_thread::sleep_for(100ms);
  }
}

/// A private runtime directory for the test's meshes (MESH_RUNTIME_DIR of
/// every process the test starts), removed at the end.
struct runtime_dir : mesh::test::scoped_runtime_dir {
  runtime_dir() : scoped_runtime_dir(false) {}
};

/// `meshctl ARGS` with the test's runtime directory.
mesh::test::run_result meshctl(const runtime_dir& rt,
                               std::vector<std::string> args,
                               std::chrono::milliseconds limit = 60s) {
  args.insert(args.begin(), meshctl_path());
  return mesh::test::run(args, limit, rt.env());
}

/// A process of the test with its stdout on a pipe, read as it comes;
/// stopped by `sig` at the end of the scope (then a bounded wait, then
/// SIGKILL).
class background {
public:
  background(const std::vector<std::string>& argv, const runtime_dir& rt) {
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::setenv("MESH_RUNTIME_DIR", rt.dir.c_str(), 1);
      std::vector<char*> args;
      for (auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
  }

  ~background() { stop(SIGKILL); }

  /// Reads its stdout until `marker` appears; false at EOF or after `limit`.
  bool read_until(const std::string& marker, std::chrono::milliseconds limit) {
    auto until = clock_type::now() + limit;
    while (!contains(text_, marker)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - clock_type::now());
      if (left.count() <= 0 || out_ < 0)
        return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[4096];
      auto n = ::read(out_, buf, sizeof(buf));
      if (n <= 0)
        return false;
      text_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  /// Sends `sig`, reads to EOF and reaps it (bounded; SIGKILL after
  /// `limit`); its wait status, or -1 if it was stopped already.
  int stop(int sig, std::chrono::milliseconds limit = 60s) {
    if (pid_ <= 0)
      return -1;
    ::kill(pid_, sig);
    read_until("\x01never", limit);
    auto until = clock_type::now() + 10s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (clock_type::now() > until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(50ms);
    }
    ::close(out_);
    out_ = -1;
    pid_ = -1;
    return status;
  }

  const std::string& output() const { return text_; }
  pid_t pid() const { return pid_; }

private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string text_;
};

/// `meshctl up FILE`, up until the end of the scope (SIGTERM: a clean
/// shutdown).
struct mesh_owner {
  background proc;
  bool up;
  mesh_owner(const runtime_dir& rt, const std::string& file)
    : proc({meshctl_path(), "up", file}, rt),
      up(proc.read_until("mesh is up", 120s)) {}
  ~mesh_owner() { proc.stop(SIGTERM); }
};

/// The tree as `meshctl status --json` prints it, parsed.
mesh::mesh_snapshot status_json(const runtime_dir& rt,
                                const std::string& id = {}) {
  auto res = meshctl(rt, id.empty() ? std::vector<std::string>{"status",
                                                               "--json"}
                                    : std::vector<std::string>{"status", id,
                                                               "--json"});
  REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  auto snap = mesh::mesh_snapshot_from_json(res.out);
  REQUIRE_MESSAGE(snap, mesh::to_string(snap.error()) << "\n" << res.out);
  return *snap;
}

std::vector<mesh::proc_snapshot> procs_of(const mesh::mesh_snapshot& s) {
  std::vector<mesh::proc_snapshot> out;
  for (auto& h : s.hosts)
    for (auto& p : h.procs)
      out.push_back(p);
  return out;
}

/// A port nobody listens on (bound, then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// A process that only waits: an owner for hand-written registry entries.
struct sleeper {
  pid_t pid;
  sleeper() {
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~sleeper() { kill(); }
  void kill() {
    if (pid <= 0)
      return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
};

/// Registers mesh `id` of owner `pid` with `admin` in the test's directory.
std::string register_mesh(const runtime_dir& rt, const std::string& id,
                          pid_t pid, const std::string& admin) {
  mesh::bootstrap::registry_entry e;
  e.mesh.id = id;
  e.mesh.owner_pid = pid;
  e.mesh.started_at_ms = 1;
  e.mesh.command_line = "test owner";
  e.mesh.admin_address = admin;
  e.mesh.token = "t0ken";
  e.mesh.hosts = 1;
  auto start = mesh::bootstrap::process_start_time(pid);
  REQUIRE(start);
  e.owner_start_time = *start;
  REQUIRE(mesh::bootstrap::check_private_dir(rt.dir) == caf::error{});
  auto path = mesh::bootstrap::write_entry(rt.dir, e);
  REQUIRE(path);
  return *path;
}

/// Checks that `res` failed with exactly one line on stderr containing
/// `what`.
void check_one_line_error(const mesh::test::run_result& res,
                          const std::string& what) {
  CAPTURE(res.err);
  CAPTURE(res.out);
  REQUIRE(res.exit_code);
  CHECK(*res.exit_code == 1);
  CHECK(res.out.empty());
  CHECK(lines_of(res.err).size() == 1);
  CHECK(res.err.rfind("meshctl: ", 0) == 0);
  CHECK(contains(res.err, what));
}

/// A tmux server on a socket of its own with one 120x40 pane running sh;
/// killed (and reaped) at the end of the scope, whatever happened.
class tmux_session {
public:
  explicit tmux_session(const runtime_dir& rt) : rt_(rt) {
    static int serial = 0;
    socket_ = "meshctl-top-" + std::to_string(::getpid()) + "-"
              + std::to_string(++serial);
    auto res = tmux({"new-session", "-d", "-x", "120", "-y", "40", "sh"});
    REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  }

  ~tmux_session() {
    tmux({"kill-server"});
    // The server made itself a daemon: an orphan this subreaper reaps.
    mesh::test::reap_exiting_children(10s);
  }

  mesh::test::run_result tmux(std::vector<std::string> args) {
    args.insert(args.begin(), {"tmux", "-L", socket_, "-f", "/dev/null"});
    return mesh::test::run(args, 20s, rt_.env());
  }

  /// The pane's visible screen.
  std::string screen() { return tmux({"capture-pane", "-p"}).out; }

  /// A pane variable, e.g. alternate_on, cursor_flag.
  std::string format(const std::string& var) {
    auto out = tmux({"display-message", "-p", "#{" + var + "}"}).out;
    while (!out.empty() && out.back() == '\n')
      out.pop_back();
    return out;
  }

  void keys(const std::vector<std::string>& keys) {
    std::vector<std::string> args{"send-keys"};
    args.insert(args.end(), keys.begin(), keys.end());
    auto res = tmux(args);
    CHECK_MESSAGE(res.exit_code == 0, res.err);
  }

  /// Polls the screen until `ready` holds (bounded); the last screen.
  bool wait_for(const std::function<bool(const std::string&)>& ready,
                std::chrono::milliseconds limit, std::string& last) {
    return eventually(
      [&] {
        last = screen();
        return ready(last);
      },
      limit);
  }

private:
  const runtime_dir& rt_;
  std::string socket_;
};

/// The line of `screen` that shows `pid` as a proc row, or "".
std::string row_of(const std::string& screen, int64_t pid) {
  auto needle = " " + std::to_string(pid) + " ";
  for (auto& l : lines_of(screen))
    if (contains(l, needle) && !contains(l, "host "))
      return l;
  return {};
}

/// `text` as a YAML double-quoted scalar.
std::string yaml_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

/// Whether a line of `screen` is exactly `line`.
bool has_line(const std::string& screen, const std::string& line) {
  for (auto& l : lines_of(screen))
    if (l == line)
      return true;
  return false;
}

/// Writes `text` to `path`.
void write_file(const std::string& path, const std::string& text) {
  std::ofstream f{path};
  f << text;
  REQUIRE(f.good());
}

} // namespace

TEST_SUITE("meshctl_inspect") {

  // --- errors, with hand-written registry entries --------------------------

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "no mesh running: status, top and logs say so, ls lists "
                    "nothing") {
    runtime_dir rt;
    check_one_line_error(meshctl(rt, {"status"}),
                         "no mesh of this user is running");
    check_one_line_error(meshctl(rt, {"top"}),
                         "no mesh of this user is running");
    check_one_line_error(meshctl(rt, {"logs", "local", "0"}),
                         "no mesh of this user is running");
    auto ls = meshctl(rt, {"ls"});
    CHECK(ls.exit_code == 0);
    CHECK(ls.out.empty());
    CHECK(ls.err == "meshctl: no mesh is running\n");
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "an unknown mesh, a dead owner, admin off and an "
                    "unreachable endpoint are one-line errors") {
    runtime_dir rt;
    sleeper alive;
    sleeper doomed;
    int port = closed_port();
    auto address = "127.0.0.1:" + std::to_string(port);
    register_mesh(rt, "local-unreach1", alive.pid, address);
    register_mesh(rt, "local-adminoff", alive.pid, "");
    auto dead_entry = register_mesh(rt, "local-deadownr", doomed.pid, address);
    doomed.kill();

    check_one_line_error(meshctl(rt, {"status", "nosuchmesh"}),
                         "no running mesh 'nosuchmesh'");
    // The dead owner's entry is gone, and so is its mesh.
    check_one_line_error(meshctl(rt, {"status", "local-deadownr"}),
                         "no running mesh 'local-deadownr'");
    CHECK_FALSE(fs::exists(dead_entry));
    for (auto cmd : {"status", "top"}) {
      CAPTURE(cmd);
      check_one_line_error(
        meshctl(rt, {cmd, "local-unreach1"}),
        "mesh local-unreach1 (owner pid " + std::to_string(alive.pid)
          + ") does not answer at " + address + ": connection refused");
      check_one_line_error(meshctl(rt, {cmd, "local-adminoff"}),
                           "mesh local-adminoff (owner pid "
                             + std::to_string(alive.pid)
                             + ") has no admin endpoint (its admin_address "
                               "is empty)");
    }
    check_one_line_error(meshctl(rt, {"logs", "local-unreach1", "0"}),
                         "does not answer at " + address
                           + ": connection refused");
    check_one_line_error(meshctl(rt, {"logs", "local-adminoff", "0", "-f"}),
                         "has no admin endpoint");
    // Two meshes: MESH cannot be omitted.
    check_one_line_error(meshctl(rt, {"status"}), "2 meshes are running");
    check_one_line_error(meshctl(rt, {"status", "local-"}),
                         "'local-' names 2 running meshes");
    // ls lists both, with "?" procs: neither endpoint answers.
    auto ls = meshctl(rt, {"ls"});
    CAPTURE(ls.err);
    CHECK(ls.exit_code == 0);
    auto lines = lines_of(ls.out);
    REQUIRE(lines.size() == 3);
    CHECK(contains(lines[0], "ID"));
    for (size_t i = 1; i < 3; ++i) {
      std::istringstream row{lines[i]};
      std::string id, pid, hosts, procs;
      row >> id >> pid >> hosts >> procs;
      CHECK((id == "local-unreach1" || id == "local-adminoff"));
      CHECK(pid == std::to_string(alive.pid));
      CHECK(hosts == "1");
      CHECK(procs == "?");
    }
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "usage errors: logs needs MESH and RANK, top a sane "
                    "interval") {
    runtime_dir rt;
    for (auto args : std::vector<std::vector<std::string>>{
           {"logs"}, {"logs", "m"}, {"logs", "m", "x"},
           {"top", "--interval", "0"}, {"status", "--jsn"}}) {
      auto res = meshctl(rt, args);
      CAPTURE(res.err);
      CHECK(res.exit_code == 2);
      CHECK(lines_of(res.err).size() == 1);
    }
  }

  // --- against a running mesh (meshctl up config/local.yaml) ---------------

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "ls, status --json and status show a running mesh; a "
                    "SIGKILLed proc turns failed") {
    runtime_dir rt;
    mesh_owner owner{rt, mesh::test::source_path("config/local.yaml")};
    REQUIRE_MESSAGE(owner.up, owner.proc.output());

    auto snap = status_json(rt);
    CHECK(snap.owner_pid == owner.proc.pid());
    REQUIRE(snap.hosts.size() == 1);
    auto procs = procs_of(snap);
    REQUIRE(procs.size() == 6);
    for (auto& p : procs) {
      CAPTURE(p.name);
      CHECK(p.status == mesh::proc_status::running);
      // Real, live processes: children of the owner's host.
      REQUIRE(p.pid > 0);
      CHECK(::kill(static_cast<pid_t>(p.pid), 0) == 0);
    }

    // ls: id, owner pid, hosts, procs.
    auto ls = meshctl(rt, {"ls"});
    REQUIRE_MESSAGE(ls.exit_code == 0, ls.err);
    auto ls_lines = lines_of(ls.out);
    REQUIRE(ls_lines.size() == 2);
    std::istringstream row{ls_lines[1]};
    std::string id, pid, hosts, nprocs;
    row >> id >> pid >> hosts >> nprocs;
    CHECK(id == snap.id);
    CHECK(pid == std::to_string(owner.proc.pid()));
    CHECK(hosts == "1");
    CHECK(nprocs == "6");
    CHECK(contains(ls_lines[1], "meshctl up"));

    // The table: a row per proc with its pid and status, by id prefix.
    auto table = meshctl(rt, {"status", snap.id.substr(0, 8)});
    REQUIRE_MESSAGE(table.exit_code == 0, table.err);
    CAPTURE(table.out);
    CHECK(contains(table.out, "mesh " + snap.id + " (owner pid "));
    CHECK(contains(table.out, "6 procs: 6 running"));
    for (auto& p : procs)
      CHECK(contains(row_of(table.out, p.pid), "running"));
    CHECK(contains(table.out, "echoes"));
    CHECK(contains(table.out, "frontends"));

    auto victim = procs[1];
    REQUIRE(::kill(static_cast<pid_t>(victim.pid), SIGKILL) == 0);
    mesh::proc_snapshot seen;
    CHECK(eventually(
      [&] {
        for (auto& p : procs_of(status_json(rt, snap.id)))
          if (p.pid == victim.pid)
            seen = p;
        return mesh::is_failure(seen.status);
      },
      60s));
    CHECK(seen.status == mesh::proc_status::failed);
    CHECK(seen.signal == SIGKILL);
    auto after = meshctl(rt, {"status"});
    CAPTURE(after.out);
    CHECK(contains(row_of(after.out, victim.pid), "failed"));
    CHECK(contains(after.out, "FAILURES"));
    CHECK(contains(after.out, victim.proc_mesh + " rank "
                                + std::to_string(victim.rank) + " (pid "
                                + std::to_string(victim.pid) + "): failed: "));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "a process() mesh: status shows both host processes and "
                    "their procs; a SIGKILLed proc turns failed") {
    runtime_dir rt;
    mesh_owner owner{rt, mesh::test::source_path("config/process.yaml")};
    REQUIRE_MESSAGE(owner.up, owner.proc.output());

    auto snap = status_json(rt);
    CHECK(snap.owner_pid == owner.proc.pid());
    REQUIRE(snap.hosts.size() == 2);
    for (auto& h : snap.hosts) {
      CAPTURE(h.address);
      CHECK(h.error.empty());
      // Each host is a process of its own, a child of the owner.
      CHECK(h.pid != owner.proc.pid());
      CHECK(mesh::test::parent_of(h.pid) == owner.proc.pid());
      REQUIRE(h.procs.size() == 2);
      for (auto& p : h.procs) {
        CAPTURE(p.name);
        CHECK(p.status == mesh::proc_status::running);
        CHECK(p.host == h.address);
        CHECK(mesh::test::alive(p.pid));
        // The host process reported is an ancestor of the proc (its
        // parent, or its zygote's).
        bool under_host = false;
        for (int64_t a = p.pid, depth = 0; a > 1 && depth < 4; ++depth)
          under_host |= (a = mesh::test::parent_of(a)) == h.pid;
        CHECK(under_host);
        REQUIRE(p.actors.size() == 1);
        CHECK(p.actors[0].type == "echo");
      }
    }
    auto table = meshctl(rt, {"status"});
    REQUIRE_MESSAGE(table.exit_code == 0, table.err);
    CHECK(contains(table.out, "2 hosts, 4 procs: 4 running"));

    auto victim = snap.hosts[1].procs[0];
    REQUIRE(::kill(static_cast<pid_t>(victim.pid), SIGKILL) == 0);
    mesh::proc_snapshot seen;
    CHECK(eventually(
      [&] {
        for (auto& p : procs_of(status_json(rt)))
          if (p.pid == victim.pid)
            seen = p;
        return mesh::is_failure(seen.status);
      },
      60s));
    CHECK(seen.signal == SIGKILL);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "logs shows a line the proc wrote; logs -f a line it "
                    "wrote after logs started") {
    runtime_dir rt;
    fs::create_directories(rt.base);
    // The proc writes one line as it starts, then runs as meshctl does; the
    // later line is written into its stderr pipe by the test (through
    // /proc/PID/fd/2), as if the proc wrote it, so that no helper process
    // of the proc's outlives it.
    auto script = "echo \"chatty-before-$$\" >&2; exec '" + meshctl_path()
                  + "'";
    auto file = rt.base + "/chatty.yaml";
    write_file(file, "hosts:\n  mode: local\n"
                     "proc_meshes:\n  - name: chatty\n"
                     "    per_host: {procs: 1}\n"
                     "    bootstrap:\n      program: /bin/sh\n"
                     "      args: [\"-c\", " + yaml_quote(script) + "]\n"
                     "    actors:\n      - name: echoes\n        type: echo\n"
                     "config:\n  log_forwarding: true\n");
    mesh_owner owner{rt, file};
    REQUIRE_MESSAGE(owner.up, owner.proc.output());
    auto snap = status_json(rt);
    auto procs = procs_of(snap);
    REQUIRE(procs.size() == 1);
    auto before = "chatty-before-" + std::to_string(procs[0].pid);

    std::string tail;
    CHECK(eventually(
      [&] {
        auto res = meshctl(rt, {"logs", snap.id, "0"});
        REQUIRE_MESSAGE(res.exit_code == 0, res.err);
        tail = res.out;
        return contains(tail, before);
      },
      30s));
    CAPTURE(tail);

    background follow{{meshctl_path(), "logs", snap.id, "0", "-f",
                       "--proc-mesh", "chatty"},
                      rt};
    CHECK(follow.read_until(before, 30s));
    CHECK_FALSE(contains(follow.output(), "chatty-after"));
    write_file("/proc/" + std::to_string(procs[0].pid) + "/fd/2",
               "chatty-after\n");
    CHECK_MESSAGE(follow.read_until("chatty-after", 30s), follow.output());
    int status = follow.stop(SIGTERM);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    auto missing = meshctl(rt, {"logs", snap.id, "7"});
    check_one_line_error(missing, "HTTP 404");
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "top in a real terminal: rows of the procs, a killed proc "
                    "turns failed, q and Ctrl-C restore the terminal") {
    runtime_dir rt;
    fs::create_directories(rt.base);
    tmux_session term{rt}; // outlives the owner: destroyed after it
    mesh_owner owner{rt, mesh::test::source_path("config/local.yaml")};
    REQUIRE_MESSAGE(owner.up, owner.proc.output());
    auto procs = procs_of(status_json(rt));
    REQUIRE(procs.size() == 6);

    // The script prints a marker, runs top, then says how top ended and
    // whether the keyboard is back in canonical mode. `trap : INT` keeps
    // the script alive through Ctrl-C, which only top should handle.
    auto script = rt.base + "/top.sh";
    write_file(script, "trap : INT\nprintf '\\033[H\\033[2J'\necho BEFORE-TOP-MARK\n'"
                         + meshctl_path()
                         + "' top --interval 0.5\necho TOP-EXIT=$?\n"
                           "stty -a | grep -q -- -icanon && echo MODE=raw "
                           "|| echo MODE=cooked\n");
    std::string screen;
    auto top_shows_all = [&](const std::string& s) {
      if (!contains(s, "meshctl top - mesh "))
        return false;
      for (auto& p : procs)
        if (!contains(row_of(s, p.pid), "running"))
          return false;
      return true;
    };

    term.keys({"sh " + script, "Enter"});
    CHECK_MESSAGE(term.wait_for(top_shows_all, 60s, screen), screen);
    CHECK(term.format("alternate_on") == "1");
    CHECK(term.format("cursor_flag") == "0");
    CHECK(contains(screen, "PROC MESH"));
    CHECK(contains(screen, "ACTOR MESH"));
    CHECK(contains(screen, "q quit"));
    // The keys line is the last line of the screen.
    auto rows = lines_of(screen);
    CHECK(contains(rows.back(), "q quit"));

    auto victim = procs[2];
    REQUIRE(::kill(static_cast<pid_t>(victim.pid), SIGKILL) == 0);
    CHECK_MESSAGE(term.wait_for(
                    [&](const std::string& s) {
                      return contains(row_of(s, victim.pid), "failed");
                    },
                    60s, screen),
                  screen);
    // Sorting by status puts the failed proc first.
    term.keys({"s"});
    CHECK_MESSAGE(term.wait_for(
                    [&](const std::string& s) {
                      auto ls = lines_of(s);
                      for (size_t i = 0; i + 1 < ls.size(); ++i)
                        if (contains(ls[i], "PROC MESH"))
                          return contains(ls[i + 1],
                                          std::to_string(victim.pid))
                                 && contains(s, "sort: status");
                      return false;
                    },
                    30s, screen),
                  screen);

    term.keys({"q"});
    CHECK_MESSAGE(term.wait_for(
                    [](const std::string& s) {
                      return contains(s, "MODE=");
                    },
                    30s, screen),
                  screen);
    CHECK(contains(screen, "TOP-EXIT=0"));
    CHECK(contains(screen, "MODE=cooked"));
    CHECK(has_line(screen, "BEFORE-TOP-MARK"));
    CHECK_FALSE(contains(screen, "PROC MESH"));
    CHECK(term.format("alternate_on") == "0");
    CHECK(term.format("cursor_flag") == "1");

    // Again, ended by Ctrl-C.
    term.keys({"sh " + script, "Enter"});
    CHECK_MESSAGE(term.wait_for(
                    [](const std::string& s) {
                      return contains(s, "meshctl top - mesh ");
                    },
                    60s, screen),
                  screen);
    term.keys({"C-c"});
    CHECK_MESSAGE(term.wait_for(
                    [](const std::string& s) {
                      return contains(s, "MODE=");
                    },
                    30s, screen),
                  screen);
    CHECK(contains(screen, "TOP-EXIT=130"));
    CHECK(contains(screen, "MODE=cooked"));
    CHECK(has_line(screen, "BEFORE-TOP-MARK"));
    CHECK_FALSE(contains(screen, "PROC MESH"));
    CHECK(term.format("alternate_on") == "0");
    CHECK(term.format("cursor_flag") == "1");

    // Off a terminal: one snapshot in plain text.
    auto plain = meshctl(rt, {"top"});
    CHECK(plain.exit_code == 0);
    CHECK(contains(plain.out, "meshctl top - mesh "));
    CHECK(contains(row_of(plain.out, victim.pid), "failed"));
    CHECK_FALSE(contains(plain.out, "\x1b"));
    CHECK_FALSE(contains(plain.out, "q quit"));
  }
}
