#include "support/process.hpp"

#include "bootstrap/proc_stats.hpp"

#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace mesh::test {

std::string source_path(const std::string& relative) {
  return std::string{MESH_SOURCE_ROOT} + "/" + relative;
}

std::string build_path(const std::string& relative) {
  return std::string{MESH_BUILD_ROOT} + "/" + relative;
}

namespace {

void drain(int& fd, std::string& into) {
  char buf[4096];
  auto n = ::read(fd, buf, sizeof(buf));
  if (n > 0) {
    into.append(buf, static_cast<size_t>(n));
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    ::close(fd);
    fd = -1;
  }
}

void record_status(int status, run_result& res) {
  if (WIFEXITED(status))
    res.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    res.signal = WTERMSIG(status);
}

} // namespace

run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout,
               const std::map<std::string, std::string>& env,
               const std::string& stdin_text) {
  run_result res;
  int out[2], err[2], in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0
      || ::pipe2(in, O_CLOEXEC) != 0)
    FAIL("pipe2 failed: " << std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::map<std::string, std::string> full_env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv{*e};
    auto eq = kv.find('=');
    if (eq != std::string::npos)
      full_env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : env)
    full_env[k] = v;
  std::vector<std::string> env_strings;
  for (auto& [k, v] : full_env)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy)
    args.push_back(s.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err[1]);
  ::close(in[0]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    ::close(in[1]);
    res.exit_code = 127;
    res.err = std::string{"posix_spawnp: "} + std::strerror(rc);
    return res;
  }
  if (!stdin_text.empty())
    [[maybe_unused]] auto n = ::write(in[1], stdin_text.data(),
                                      stdin_text.size());
  ::close(in[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int fds[2] = {out[0], err[0]};
  while (fds[0] >= 0 || fds[1] >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    pollfd pfd[2];
    nfds_t n = 0;
    for (int fd : fds)
      if (fd >= 0)
        pfd[n++] = pollfd{fd, POLLIN, 0};
    ::poll(pfd, n, static_cast<int>(std::min<long>(left.count(), 100)));
    for (nfds_t i = 0; i < n; ++i) {
      if (pfd[i].revents == 0)
        continue;
      if (pfd[i].fd == fds[0])
        drain(fds[0], res.out);
      else
        drain(fds[1], res.err);
    }
  }
  for (int fd : fds)
    if (fd >= 0)
      ::close(fd);
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      record_status(status, res);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline + std::chrono::seconds{5}) {
      ::kill(-pid, SIGKILL);
    } else if (std::chrono::steady_clock::now() > deadline) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  return res;
}

pid_t host_process_of(pid_t proc) {
  pid_t p = proc;
  for (int depth = 0; depth < 8 && p > 1; ++depth) {
    auto parent = static_cast<pid_t>(parent_of(p));
    if (parent == ::getpid())
      return p;
    p = parent;
  }
  return -1;
}

int64_t parent_of(int64_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return -1;
  // Format: pid (comm) state ppid ...; comm may contain spaces or ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return -1;
  std::istringstream rest{line.substr(close + 2)};
  char state;
  int64_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> result;
  auto dir = ::opendir("/proc");
  if (dir == nullptr)
    return result;
  while (auto ent = ::readdir(dir)) {
    char* end = nullptr;
    auto candidate = std::strtol(ent->d_name, &end, 10);
    if (end != ent->d_name && *end == '\0' && parent_of(candidate) == pid)
      result.push_back(static_cast<pid_t>(candidate));
  }
  ::closedir(dir);
  return result;
}

std::vector<pid_t> child_pids() {
  return children_of(::getpid());
}

std::string process_name(pid_t pid) {
  std::ifstream comm{"/proc/" + std::to_string(pid) + "/comm"};
  std::string name;
  std::getline(comm, name);
  return name;
}

std::vector<pid_t> proc_pids() {
  auto pids = child_pids();
  pids.erase(std::remove_if(pids.begin(), pids.end(),
                            [](pid_t pid) {
                              return process_name(pid) == "mesh-zygote";
                            }),
             pids.end());
  return pids;
}

zygote_gate::zygote_gate() {
  char tmpl[] = "/tmp/mesh-gate-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  dir_ = tmpl;
}

zygote_gate::~zygote_gate() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool zygote_gate::started() const {
  return ::access((dir_ + "/started").c_str(), F_OK) == 0;
}

void zygote_gate::open() {
  if (auto* f = std::fopen((dir_ + "/open").c_str(), "w"))
    std::fclose(f);
}

bool reap_exiting_children(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    // Done only when a fresh scan finds no child at all: reaping an exiting
    // zygote hands its own children (procs) to this subreaper, and a scan
    // taken before that would miss them.
    auto pids = child_pids();
    if (pids.empty())
      return true;
    for (auto pid : pids)
      ::waitpid(pid, nullptr, WNOHANG);
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

size_t settled_proc_count(size_t n, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto count = proc_pids().size();
  while (count != n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
    count = proc_pids().size();
  }
  return count;
}

size_t kill_children() {
  auto pids = child_pids();
  for (auto pid : pids)
    ::kill(pid, SIGKILL);
  for (auto pid : pids)
    ::waitpid(pid, nullptr, 0);
  return pids.size();
}

reaped_fixture::reaped_fixture() {
  // A leak from an earlier test must not be blamed on this one.
  kill_children();
}

reaped_fixture::~reaped_fixture() {
  // Give processes that are exiting right now a moment to be reaped by their
  // owner before calling them leaked.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
  auto left = child_pids();
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
    left = child_pids();
  }
  std::string list;
  for (size_t i = 0; i < left.size() && i < 20; ++i) {
    auto pid = left[i];
    std::ifstream cmd{"/proc/" + std::to_string(pid) + "/cmdline"};
    std::string args;
    std::getline(cmd, args);
    for (auto& c : args)
      if (c == '\0')
        c = ' ';
    if (args.empty()) // a zombie: its name is all that is left
      args = "[" + process_name(pid) + "]";
    list += " " + std::to_string(pid) + " (" + args + ")";
  }
  if (left.size() > 20)
    list += " and " + std::to_string(left.size() - 20) + " more";
  CHECK_MESSAGE(left.empty(), "processes left behind by this test:" << list);
  kill_children();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

mesh::bootstrap_command child_command() {
  mesh::bootstrap_command cmd;
  cmd.program = build_path("test/mesh_child");
  return cmd;
}

bool alive(int64_t pid) {
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0;
}

mesh_client_process start_mesh_child(const std::vector<std::string>& args) {
  mesh_client_process result;
  int out[2];
  REQUIRE(::pipe(out) == 0);
  auto path = build_path("test/mesh_child");
  std::vector<std::string> argv{path};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& arg : argv)
    cargv.push_back(arg.data());
  cargv.push_back(nullptr);
  result.pid = ::fork();
  REQUIRE(result.pid >= 0);
  if (result.pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execv(path.c_str(), cargv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  char buf[256];
  while (result.output.find("ready\n") == std::string::npos) {
    auto n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0)
      break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  result.out = out[0];
  result.ready = result.output.find("ready\n") != std::string::npos;
  return result;
}

mesh_client_process start_mesh_client(int procs) {
  auto result = start_mesh_child({"client", std::to_string(procs)});
  ::close(result.out);
  result.out = -1;
  return result;
}

bool read_until(mesh_client_process& p, const std::string& needle,
                std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[256];
  while (p.output.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || p.out < 0)
      return false;
    pollfd pfd{p.out, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      continue;
    auto n = ::read(p.out, buf, sizeof(buf));
    if (n <= 0)
      return false;
    p.output.append(buf, static_cast<size_t>(n));
  }
  return true;
}

long slowdown() {
  const char* env = std::getenv("MESH_TEST_SLOWDOWN");
  return env == nullptr ? 1 : std::max(1L, std::strtol(env, nullptr, 10));
}

std::string polite_window() {
  return std::to_string(500 * slowdown()) + "ms";
}

resume_on_exit::~resume_on_exit() { ::kill(pid, SIGCONT); }

bool stop_process(pid_t pid) {
  if (::kill(pid, SIGSTOP) != 0)
    return false;
  auto task_dir = "/proc/" + std::to_string(pid) + "/task";
  auto all_stopped = [&] {
    std::error_code ec;
    size_t threads = 0;
    for (auto& entry : std::filesystem::directory_iterator{task_dir, ec}) {
      std::ifstream in{entry.path() / "stat"};
      std::string line;
      if (!std::getline(in, line))
        continue; // a thread that just ended
      auto stat = bootstrap::parse_proc_stat(line);
      if (!stat || stat->state != 'T')
        return false;
      ++threads;
    }
    return !ec && threads > 0;
  };
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!all_stopped()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

} // namespace mesh::test
