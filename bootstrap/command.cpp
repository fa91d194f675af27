#include "bootstrap/command.hpp"

#include "bootstrap/exec_launcher.hpp"
#include "bootstrap/launch_plan.hpp"
#include "libmesh/src/core/last_lines.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mesh::bootstrap {

namespace {

constexpr size_t max_output = 1 << 20;

using clock = std::chrono::steady_clock;

// Appends what `fd` holds now; closes it at end of file.
void drain(unique_fd& fd, std::string& into) {
  char buf[4096];
  while (fd) {
    auto n = ::read(fd.get(), buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      if (into.size() > max_output)
        into.erase(0, into.size() - max_output / 2);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0 || errno != EAGAIN)
      fd.reset();
    return;
  }
}

} // namespace

caf::expected<command_process>
command_process::start(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& env,
                       bool pdeathsig) {
  if (argv.empty())
    return make_error(ec::invalid_argument, "a command without a program");
  launch_spec spec;
  spec.name = argv.front();
  spec.command.program = argv.front();
  spec.command.args.assign(argv.begin() + 1, argv.end());
  spec.command.env = env;
  spec.pdeathsig = pdeathsig;
  auto plan = prepare(spec, environment_now());
  if (!plan)
    return std::move(plan.error());
  auto child = exec_child(*plan);
  if (!child)
    return std::move(child.error());
  command_process result;
  result.name_ = argv.front();
  result.pid_ = child->pid;
  result.pidfd_ = unique_fd{open_pidfd(child->pid)};
  result.out_fd_ = std::move(child->out);
  result.err_fd_ = std::move(child->err);
  return result;
}

command_process::command_process(command_process&& other) noexcept
  : name_(std::move(other.name_)),
    pid_(std::exchange(other.pid_, -1)),
    pidfd_(std::move(other.pidfd_)),
    out_fd_(std::move(other.out_fd_)),
    err_fd_(std::move(other.err_fd_)),
    out_(std::move(other.out_)),
    err_(std::move(other.err_)),
    exited_(other.exited_),
    exit_code_(other.exit_code_),
    signal_(other.signal_) {
}

command_process& command_process::operator=(command_process&& other) noexcept {
  if (this != &other) {
    kill();
    name_ = std::move(other.name_);
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    out_fd_ = std::move(other.out_fd_);
    err_fd_ = std::move(other.err_fd_);
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
    exited_ = other.exited_;
    exit_code_ = other.exit_code_;
    signal_ = other.signal_;
  }
  return *this;
}

command_process::~command_process() {
  kill();
}

void command_process::reap(int status) {
  exited_ = true;
  if (WIFEXITED(status))
    exit_code_ = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    signal_ = WTERMSIG(status);
  pidfd_.reset();
}

void command_process::read_pipes() {
  drain(out_fd_, out_);
  drain(err_fd_, err_);
}

bool command_process::wait(std::chrono::milliseconds limit, int cancel_fd) {
  if (pid_ < 0)
    return exited_;
  auto deadline = clock::now() + limit;
  for (;;) {
    read_pipes();
    int status = 0;
    auto reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_ || (reaped < 0 && errno == ECHILD)) {
      // Gone: someone else reaped it if ECHILD (then no status).
      if (reaped == pid_)
        reap(status);
      else
        exited_ = true, pidfd_.reset();
      read_pipes();
      return true;
    }
    auto now = clock::now();
    if (now >= deadline)
      return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - now);
    pollfd fds[4];
    nfds_t n = 0;
    int cancel_index = -1;
    if (pidfd_)
      fds[n++] = {pidfd_.get(), POLLIN, 0};
    if (out_fd_)
      fds[n++] = {out_fd_.get(), POLLIN, 0};
    if (err_fd_)
      fds[n++] = {err_fd_.get(), POLLIN, 0};
    if (cancel_fd >= 0) {
      cancel_index = static_cast<int>(n);
      fds[n++] = {cancel_fd, POLLIN, 0};
    }
    // Without a pidfd (old kernels), look again every 50 ms.
    auto timeout = left.count();
    if (!pidfd_ && timeout > 50)
      timeout = 50;
    auto ready = ::poll(fds, n, static_cast<int>(timeout));
    if (ready < 0 && errno != EINTR)
      return false;
    if (ready > 0 && cancel_index >= 0 &&
        (fds[cancel_index].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      read_pipes();
      return false;
    }
  }
}

void command_process::signal(int sig) {
  if (pid_ > 0 && !exited_)
    ::kill(-pid_, sig);
}

void command_process::kill() {
  if (pid_ < 0)
    return;
  if (!exited_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t reaped;
    do
      reaped = ::waitpid(pid_, &status, 0);
    while (reaped < 0 && errno == EINTR);
    if (reaped == pid_)
      reap(status);
    else
      exited_ = true;
    read_pipes();
  }
  pidfd_.reset();
  out_fd_.reset();
  err_fd_.reset();
}

void command_process::detach() {
  pid_ = -1;
  pidfd_.reset();
  out_fd_.reset();
  err_fd_.reset();
}

std::string command_process::describe() const {
  std::string text = name_;
  if (exit_code_)
    text += " exited with code " + std::to_string(*exit_code_);
  else if (signal_)
    text += std::string{" was killed by signal "} + ::strsignal(*signal_);
  else if (exited_)
    text += " exited";
  else
    text += " still runs";
  // The end of its stderr, one sentence: lines joined by "; ".
  auto lines = last_lines(err_, 5);
  for (size_t i = 0; i < lines.size(); ++i)
    text += (i == 0 ? ": " : "; ") + lines[i];
  return text;
}

caf::expected<command_result>
run_command(const std::vector<std::string>& argv,
            std::chrono::milliseconds timeout, int cancel_fd,
            const std::map<std::string, std::string>& env) {
  auto proc = command_process::start(argv, env);
  if (!proc)
    return std::move(proc.error());
  command_result result;
  if (!proc->wait(timeout, cancel_fd)) {
    bool cancelled = false;
    if (cancel_fd >= 0) {
      pollfd fd{cancel_fd, POLLIN, 0};
      cancelled = ::poll(&fd, 1, 0) > 0;
    }
    result.cancelled = cancelled;
    result.timed_out = !cancelled;
    proc->kill();
  }
  result.exit_code = proc->exit_code();
  result.signal = proc->term_signal();
  result.out = proc->out();
  result.err = proc->err();
  result.description = proc->describe();
  if (result.timed_out)
    result.description += " (killed after " + std::to_string(timeout.count()) +
                          " ms)";
  return result;
}

} // namespace mesh::bootstrap
