#include "meshd_daemon.hpp"

#include "support/process.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace mesh::test {

const test_pki& certs() {
  auto& p = test_pki::get();
  REQUIRE_MESSAGE(p.failure().empty(), p.failure());
  return p;
}

std::vector<std::string> meshd_tls_flags() {
  auto& p = certs();
  return {"--tls-cert", p.path("server.pem"), "--tls-key", p.path("server.key"),
          "--tls-ca", p.path("ca_a.pem")};
}

std::map<std::string, std::string> client_tls_settings(const std::string& who,
                                                       const std::string& ca) {
  auto& p = certs();
  return {{"tls.certificate", p.path(who + ".pem")},
          {"tls.key", p.path(who + ".key")},
          {"tls.cafile", p.path(ca + ".pem")}};
}

std::map<std::string, std::string> client_tls_env(const std::string& who,
                                                  const std::string& ca) {
  auto& p = certs();
  return {{"MESH_TLS_CERTIFICATE", p.path(who + ".pem")},
          {"MESH_TLS_KEY", p.path(who + ".key")},
          {"MESH_TLS_CAFILE", p.path(ca + ".pem")}};
}

std::string meshd_path() {
  return build_path("tools/meshd");
}

std::string mesh_child_path() {
  return build_path("test/mesh_child");
}

int raw_connect(const std::string& address) {
  auto colon = address.rfind(':');
  REQUIRE_MESSAGE(colon != std::string::npos, address);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(
    std::strtoul(address.c_str() + colon + 1, nullptr, 10)));
  REQUIRE_MESSAGE(
    ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) == 1,
    address);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  auto rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  auto code = errno;
  if (rc != 0)
    ::close(fd);
  REQUIRE_MESSAGE(rc == 0, "cannot connect to " << address << ": "
                                                << std::strerror(code));
  return fd;
}

namespace {

bool inherited(const std::string& entry) {
  for (auto prefix : {"MESH_TLS_", "MESH_BOOTSTRAP="})
    if (entry.rfind(prefix, 0) == 0)
      return false;
  return true;
}

int exit_status_code(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

} // namespace

std::unique_ptr<meshd_daemon>
meshd_daemon::start(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env,
                    std::string* failure) {
  auto fail = [&](std::string why) -> std::unique_ptr<meshd_daemon> {
    if (failure != nullptr)
      *failure = std::move(why);
    return nullptr;
  };
  std::unique_ptr<meshd_daemon> d{new meshd_daemon};
  char tmpl[] = "/tmp/meshd-test-stderr-XXXXXX";
  int err_fd = ::mkstemp(tmpl);
  if (err_fd < 0)
    return fail(std::string{"mkstemp: "} + std::strerror(errno));
  d->err_path_ = tmpl;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return fail(std::string{"pipe2: "} + std::strerror(errno));
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry{*e};
    auto eq = entry.find('=');
    if (inherited(entry) && env.count(entry.substr(0, eq)) == 0)
      env_strings.push_back(entry);
  }
  for (auto& [k, v] : env)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  auto argv_copy = argv;
  for (auto& s : argv_copy)
    args.push_back(s.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  int rc =
    ::posix_spawnp(&d->pid_, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err_fd);
  d->out_ = out[0];
  if (rc != 0) {
    d->pid_ = -1;
    return fail(std::string{"posix_spawnp: "} + std::strerror(rc));
  }
  d->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, d->pid_, 0));
  // The first line, read byte by byte so that nothing after it is consumed.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (line.empty() || line.back() != '\n') {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail("no 'listening on' line within 30 s; stderr: " +
                  d->stderr_text());
    pollfd pfd{d->out_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char c;
    auto n = ::read(d->out_, &c, 1);
    if (n <= 0) {
      d->wait_exit(std::chrono::seconds{5});
      return fail("meshd exited before listening (status " +
                  std::to_string(d->status_.value_or(-1)) +
                  "); stderr: " + d->stderr_text());
    }
    line += c;
  }
  const std::string prefix = "listening on ";
  if (line.rfind(prefix, 0) != 0)
    return fail("unexpected first line: " + line);
  d->address_ = line.substr(prefix.size(), line.size() - prefix.size() - 1);
  return d;
}

meshd_daemon::~meshd_daemon() {
  // Politely first: meshd then stops its procs and reaps its zygote, which a
  // SIGKILL would leave to die of its parent-death signal as an orphan.
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGTERM);
    wait_exit(std::chrono::seconds{10});
  }
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (pidfd_ >= 0)
    ::close(pidfd_);
  if (out_ >= 0)
    ::close(out_);
  if (!err_path_.empty())
    ::unlink(err_path_.c_str());
}

void meshd_daemon::signal(int sig) const {
  if (pid_ > 0 && !status_)
    ::kill(pid_, sig);
}

std::optional<int> meshd_daemon::wait_exit(std::chrono::milliseconds timeout) {
  if (status_ || pid_ <= 0)
    return status_;
  pollfd pfd{pidfd_, POLLIN, 0};
  if (pidfd_ >= 0 && ::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0)
    return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, pidfd_ >= 0 ? 0 : WNOHANG) == pid_)
    status_ = exit_status_code(status);
  return status_;
}

bool meshd_daemon::running() {
  return !wait_exit(std::chrono::milliseconds{0});
}

std::string meshd_daemon::stderr_text() const {
  std::ifstream in{err_path_};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace mesh::test
