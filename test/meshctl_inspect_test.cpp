// meshctl ls / status / logs / top against real meshes: `meshctl up` is the
// owner (in its own MESH_RUNTIME_DIR per test, so tests do not see each
// other's meshes), the real meshctl binary the client, and for `top` a real
// terminal: tmux on a socket of its own, read with capture-pane.
#include "bootstrap/registry.hpp"
#include "mesh/error.hpp"
#include "mesh/introspect.hpp"
#include "support/process.hpp"

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

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

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
struct runtime_dir {
  std::string base;
  std::string dir;
  runtime_dir() {
    std::string templ = fs::temp_directory_path() / "meshctl-inspect-XXXXXX";
    base = ::mkdtemp(templ.data());
    dir = base + "/run";
  }
  ~runtime_dir() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  std::map<std::string, std::string> env() const {
    return {{"MESH_RUNTIME_DIR", dir}};
  }
};

/// `meshctl ARGS` with the test's runtime directory.
mesh::test::run_result meshctl(const runtime_dir& rt,
                               std::vector<std::string> args,
                               std::chrono::milliseconds limit = 60s) {
  args.insert(args.begin(), meshctl_path());
  return mesh::test::run(args, limit, rt.env());
}

/// `meshctl up FILE` running in the background until the end of the scope
/// (then SIGTERM, and a bounded wait for its clean shutdown).
class mesh_owner {
public:
  mesh_owner(const runtime_dir& rt, const std::string& file) {
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::setenv("MESH_RUNTIME_DIR", rt.dir.c_str(), 1);
      auto exe = meshctl_path();
      ::execl(exe.c_str(), exe.c_str(), "up", file.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
    up_ = read_until("mesh is up", 120s);
  }

  ~mesh_owner() { stop(); }

  /// SIGTERM, then waits (bounded) for it to shut its mesh down and exit.
  void stop() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGTERM);
    read_until("\x01never", 60s); // to EOF: everything it printed
    auto until = clock_type::now() + 30s;
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
    pid_ = -1;
  }

  bool up() const { return up_; }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return text_; }

private:
  bool read_until(const std::string& marker, std::chrono::milliseconds limit) {
    auto until = clock_type::now() + limit;
    while (!contains(text_, marker)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - clock_type::now());
      if (left.count() <= 0)
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

  pid_t pid_ = -1;
  int out_ = -1;
  bool up_ = false;
  std::string text_;
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
}
