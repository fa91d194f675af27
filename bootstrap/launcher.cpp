// The only translation unit that includes Boost.Process (architecture §10:
// with CAF in the same file it costs ~27 s and 1.1 GB to compile).
#include "bootstrap/launcher.hpp"

// Boost 1.74 enables its vfork executor only for old POSIX feature levels
// (not with glibc's _GNU_SOURCE, which g++ defines): without this the vfork
// path is declared but never defined and libmesh.so has an undefined symbol.
#define BOOST_POSIX_HAS_VFORK 1

#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace bp = boost::process;

namespace mesh::bootstrap {

namespace {

/// Exit code of a child whose setup between fork and exec failed (dup2,
/// setpgid, prctl); the watcher reports it like any other exit.
constexpr int setup_failed_exit = 127;

/// Exit code of a child whose parent died while it was being set up: the
/// parent-death signal was armed too late to fire.
constexpr int parent_gone_exit = 126;

/// Reads (of 64 KiB) per stream and poll round before other children get
/// their turn.
constexpr int reads_per_round = 16;

/// Reads per stream when draining after an exit: 4 MiB, more than any pipe
/// holds, so a writer outside the child's group cannot keep us reading.
constexpr int reads_at_exit = 64;

/// The fallback exit check period when pidfd_open is unavailable.
constexpr int fallback_poll_ms = 5;

std::string errno_text(int err) {
  return std::error_code{err, std::system_category()}.message();
}

std::string proc_context(const std::string& name) {
  return "proc '" + name + "'";
}

class unique_fd {
public:
  explicit unique_fd(int fd = -1) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_;
};

/// Moves `fd` off 0..2: in the child, dup2(fd, 1) with fd == 1 would be a
/// no-op that leaves FD_CLOEXEC set (possible if the parent closed stdio).
int above_stdio(int fd) {
  if (fd < 0 || fd > 2)
    return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int err = errno;
  ::close(fd);
  errno = err;
  return moved;
}

caf::error os_error(const std::string& name, const char* call, int err) {
  return make_error(ec::system_error, proc_context(name),
                    std::string{call} + " failed: " + errno_text(err));
}

/// A pipe for one output stream: the parent's read end is non-blocking, both
/// ends are close-on-exec (the child gets the write end only through dup2).
caf::error open_output_pipe(const std::string& name, unique_fd& read_end,
                            unique_fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return os_error(name, "pipe2", errno);
  read_end.reset(above_stdio(fds[0]));
  write_end.reset(above_stdio(fds[1]));
  if (!read_end || !write_end)
    return os_error(name, "fcntl(F_DUPFD_CLOEXEC)", errno);
  if (::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0)
    return os_error(name, "fcntl(O_NONBLOCK)", errno);
  return caf::none;
}

bool has_nul(const std::string& str) {
  return str.find('\0') != std::string::npos;
}

/// Why `path` cannot be exec'd, or the empty string if it can.
std::string exec_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return "program '" + path + "' does not exist";
    return "program '" + path + "' cannot be accessed: " + errno_text(errno);
  }
  if (S_ISDIR(st.st_mode))
    return "program '" + path + "' is a directory";
  if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0)
    return "program '" + path + "' is not executable";
  return {};
}

/// The path to exec: `program` itself if it names a path, else the first
/// executable file of that name in the child's PATH (as execvp would).
caf::expected<std::string>
resolve_program(const std::string& name, const std::string& program,
                const std::map<std::string, std::string>& env) {
  if (program.empty())
    return make_error(ec::spawn_failed, proc_context(name),
                      "the program is empty");
  if (program.find('/') != std::string::npos) {
    if (auto problem = exec_problem(program); !problem.empty())
      return make_error(ec::spawn_failed, proc_context(name), problem);
    return program;
  }
  auto i = env.find("PATH");
  // glibc's execvp uses this when PATH is unset.
  std::string path = i != env.end() ? i->second : "/bin:/usr/bin";
  size_t begin = 0;
  while (begin <= path.size()) {
    auto end = path.find(':', begin);
    if (end == std::string::npos)
      end = path.size();
    auto dir = path.substr(begin, end - begin);
    auto candidate = (dir.empty() ? std::string{"."} : dir) + "/" + program;
    if (exec_problem(candidate).empty())
      return candidate;
    begin = end + 1;
  }
  return make_error(ec::spawn_failed, proc_context(name),
                    "program '" + program +
                      "' is not an executable file in any directory of "
                      "PATH (" +
                      path + ")");
}

/// Everything a launch needs, computed on the caller's thread so that the
/// watcher thread only forks.
struct prepared_launch {
  std::string name;
  std::string path;
  std::vector<std::string> argv;
  std::vector<std::string> envv;
  std::vector<char*> argv_ptrs;
  std::vector<char*> env_ptrs;
  bool pdeathsig = true;
};

std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& str : strings)
    result.push_back(str.data());
  result.push_back(nullptr);
  return result;
}

caf::expected<prepared_launch> prepare(const launch_spec& spec) {
  auto& cmd = spec.command;
  auto bad = [&](const std::string& what) {
    return make_error(ec::invalid_argument, proc_context(spec.name), what);
  };
  if (has_nul(cmd.program) || (cmd.arg0 && has_nul(*cmd.arg0)))
    return bad("the program name contains a NUL byte");
  for (auto& arg : cmd.args)
    if (has_nul(arg))
      return bad("an argument contains a NUL byte");
  // The parent's environment, then the command's, then the extra variables:
  // later wins.
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv{*entry};
    auto eq = kv.find('=');
    if (eq != std::string_view::npos && eq > 0)
      env.emplace(std::string{kv.substr(0, eq)},
                  std::string{kv.substr(eq + 1)});
  }
  for (auto* layer : {&cmd.env, &spec.extra_env}) {
    for (auto& [key, value] : *layer) {
      if (key.empty() || key.find('=') != std::string::npos || has_nul(key))
        return bad("invalid environment variable name '" + key + "'");
      if (has_nul(value))
        return bad("the value of environment variable " + key +
                   " contains a NUL byte");
      env[key] = value;
    }
  }
  auto path = resolve_program(spec.name, cmd.program, env);
  if (!path)
    return std::move(path.error());
  prepared_launch result;
  result.name = spec.name;
  result.path = std::move(*path);
  result.pdeathsig = spec.pdeathsig;
  result.argv.push_back(cmd.arg0 ? *cmd.arg0 : cmd.program);
  result.argv.insert(result.argv.end(), cmd.args.begin(), cmd.args.end());
  result.envv.reserve(env.size());
  for (auto& [key, value] : env)
    result.envv.push_back(key + "=" + value);
  result.argv_ptrs = c_array(result.argv);
  result.env_ptrs = c_array(result.envv);
  return result;
}

/// Runs in the child between vfork and exec, in the parent's memory: only
/// system calls, no allocation, no locks.
void setup_child(int stdin_fd, int stdout_fd, int stderr_fd, bool pdeathsig,
                 pid_t parent) noexcept {
  if (::dup2(stdin_fd, STDIN_FILENO) < 0 ||
      ::dup2(stdout_fd, STDOUT_FILENO) < 0 ||
      ::dup2(stderr_fd, STDERR_FILENO) < 0)
    ::_exit(setup_failed_exit);
  if (::setpgid(0, 0) != 0)
    ::_exit(setup_failed_exit);
  if (pdeathsig) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
      ::_exit(setup_failed_exit);
    // The parent may have died before the signal was armed.
    if (::getppid() != parent)
      ::_exit(parent_gone_exit);
  }
  // A clean slate: the embedding application may ignore signals (SIGPIPE,
  // SIGHUP) that a proc must not inherit ignored, and the watcher thread
  // blocks all of them.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    ::sigaction(sig, &dfl, nullptr); // fails harmlessly for KILL, STOP
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
#ifdef SYS_close_range
  // Descriptors the embedding process opened without O_CLOEXEC (sockets of
  // its own) must not leak into procs. Best effort: old kernels lack it.
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/// True if `pid` has exited (without reaping it), or if it is no longer our
/// child at all (someone else reaped it).
bool has_exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info,
               WEXITED | WNOHANG | WNOWAIT) != 0)
    return errno == ECHILD;
  return info.si_pid == pid;
}

} // namespace

struct child_watcher::impl {
  /// One output stream of a child.
  struct stream {
    unique_fd fd;
    std::string pending; ///< Bytes after the last '\n'.
    bool is_stderr = false;
  };

  /// A running child as the watcher thread sees it.
  struct child {
    std::string name;
    pid_t pid = -1;
    /// Readable once the child exited; -1 without pidfd support (then
    /// `has_exited` is polled every fallback_poll_ms).
    unique_fd pidfd;
    stream out;
    stream err;
    bool done = false;
  };

  /// A launch() waiting for the watcher thread.
  struct launch_job {
    prepared_launch* launch;
    std::optional<caf::expected<int64_t>> result;
  };

  explicit impl(child_events ev) : events(std::move(ev)) {}

  // --- shared, guarded by mtx ---

  mutable std::mutex mtx;
  /// Wakes launch() callers when their job is done.
  std::condition_variable job_done;
  /// Launched and not yet reaped children: the only pids signal() may touch
  /// (a pid leaves this table before it is reaped, so it is never reused
  /// while listed).
  std::map<std::string, pid_t> table;
  std::deque<launch_job*> jobs;
  bool stopping = false;

  /// Set first thing by the destructor: no callback starts after it.
  std::atomic<bool> closed{false};

  // --- fixed after construction ---

  child_events events;
  /// Wakes the watcher thread for launches and shutdown.
  unique_fd wake;
  /// Set if the watcher could not start; every launch fails with it.
  caf::error broken;
  std::thread thread;
  std::thread::id thread_id;

  // --- watcher thread only ---

  std::vector<std::unique_ptr<child>> children;

  void notify() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake.get(), &one, sizeof(one));
  }

  caf::expected<int64_t> spawn(prepared_launch& launch);
  void run();
  void read_stream(child& c, stream& s, int max_reads);
  void emit(child& c, stream& s, std::string line);
  void finish(child& c);
  void shutdown();
};

caf::expected<int64_t> child_watcher::impl::spawn(prepared_launch& launch) {
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (table.count(launch.name) != 0)
      return make_error(ec::invalid_argument, proc_context(launch.name),
                        "a child of that name is still running");
  }
  unique_fd out_read, out_write, err_read, err_write;
  if (auto err = open_output_pipe(launch.name, out_read, out_write))
    return err;
  if (auto err = open_output_pipe(launch.name, err_read, err_write))
    return err;
  unique_fd null_fd{above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC))};
  if (!null_fd)
    return os_error(launch.name, "open(/dev/null)", errno);
  auto parent = ::getpid();
  int in_fd = null_fd.get();
  int out_fd = out_write.get();
  int err_fd = err_write.get();
  bool pdeathsig = launch.pdeathsig;
  std::error_code boost_error;
  // vfork: the cost of a fork must not grow with the parent's memory.
  bp::child proc{
    bp::exe = launch.path,
    bp::posix::use_vfork,
    bp::extend::on_setup =
      [&launch](auto& exec) {
        exec.cmd_line = launch.argv_ptrs.data();
        exec.env = launch.env_ptrs.data();
      },
    bp::extend::on_exec_setup =
      [=](auto&) { setup_child(in_fd, out_fd, err_fd, pdeathsig, parent); },
    bp::extend::on_error =
      [](auto& exec, const std::error_code&) {
        // exec failed after vfork: the child has called _exit. Reap it here,
        // while it surely is still unreaped, rather than leave it to
        // ~bp::child (which only tries WNOHANG and may leave a zombie).
        if (exec.pid > 0)
          while (::waitpid(exec.pid, nullptr, 0) < 0 && errno == EINTR)
            ;
      },
    boost_error};
  if (boost_error || !proc.valid())
    return make_error(ec::spawn_failed, proc_context(launch.name),
                      "could not execute program '" + launch.path +
                        "': " + boost_error.message());
  // Our pid now: ~bp::child would SIGKILL it, terminate() is SIGKILL.
  proc.detach();
  auto c = std::make_unique<child>();
  c->name = launch.name;
  c->pid = proc.id();
  // Without pidfd_open (Linux < 5.3, or no descriptor left) this child's exit
  // is noticed by a 5 ms timed poll with waitid(WNOHANG) instead.
  c->pidfd.reset(open_pidfd(c->pid));
  c->out.fd = std::move(out_read);
  c->err.fd = std::move(err_read);
  c->err.is_stderr = true;
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.emplace(c->name, c->pid);
  }
  auto pid = static_cast<int64_t>(c->pid);
  children.push_back(std::move(c));
  return pid;
}

void child_watcher::impl::emit(child& c, stream& s, std::string line) {
  if (events.on_line && !closed)
    events.on_line(c.name, s.is_stderr, std::move(line));
}

void child_watcher::impl::read_stream(child& c, stream& s, int max_reads) {
  char buf[65536];
  for (int round = 0; s.fd && round < max_reads; ++round) {
    auto n = ::read(s.fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      // EOF, or an error we cannot recover from: either way no more output.
      if (n == 0 || errno != EAGAIN)
        s.fd.reset();
      return;
    }
    // `pending` holds no '\n' before this read: search only the new bytes.
    auto nl = s.pending.size();
    s.pending.append(buf, static_cast<size_t>(n));
    nl = s.pending.find('\n', nl);
    size_t begin = 0;
    for (;;) {
      auto end = nl == std::string::npos ? s.pending.size() : nl;
      // Cut the same way whatever the read boundaries: a line of exactly
      // max_line is one piece, a longer one max_line pieces and a rest.
      if (end - begin > max_line) {
        emit(c, s, s.pending.substr(begin, max_line));
        begin += max_line;
        continue;
      }
      if (nl == std::string::npos)
        break;
      emit(c, s, s.pending.substr(begin, nl - begin));
      begin = nl + 1;
      nl = s.pending.find('\n', begin);
    }
    s.pending.erase(0, begin);
  }
}

void child_watcher::impl::finish(child& c) {
  // The leader is a zombie: its pid still pins the group id, so this reaches
  // only what is left of its own group (e.g. a background grandchild).
  ::kill(-c.pid, SIGKILL);
  for (auto* s : {&c.out, &c.err}) {
    // Whatever is still in the pipe was written before the exit. A process
    // outside the group may hold the pipe open: stop at "empty", not EOF.
    read_stream(c, *s, reads_at_exit);
    if (!s->pending.empty())
      emit(c, *s, std::exchange(s->pending, {}));
    s->fd.reset();
  }
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.erase(c.name);
  }
  int status = 0;
  pid_t reaped;
  while ((reaped = ::waitpid(c.pid, &status, 0)) < 0 && errno == EINTR)
    ;
  c.pidfd.reset();
  c.done = true;
  std::optional<int> code;
  std::optional<int> sig;
  if (reaped == c.pid) {
    if (WIFEXITED(status))
      code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      sig = WTERMSIG(status);
  }
  if (events.on_exit && !closed)
    events.on_exit(c.name, c.pid, code, sig);
}

void child_watcher::impl::run() {
  // No signal handler of the embedding application may run here, and a
  // vforked child starts with every signal blocked until setup_child has
  // reset the dispositions.
  sigset_t all;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::vector<pollfd> fds;
  // Positions in `fds` of each child's pidfd, stdout and stderr (or -1).
  struct slots {
    int pidfd = -1;
    int out = -1;
    int err = -1;
  };
  std::vector<slots> where;
  for (;;) {
    fds.clear();
    where.clear();
    fds.push_back({wake.get(), POLLIN, 0});
    bool timed = false;
    for (auto& c : children) {
      slots s;
      auto add = [&](const unique_fd& fd, int& slot) {
        if (fd) {
          slot = static_cast<int>(fds.size());
          fds.push_back({fd.get(), POLLIN, 0});
        }
      };
      add(c->out.fd, s.out);
      add(c->err.fd, s.err);
      add(c->pidfd, s.pidfd);
      timed = timed || !c->pidfd;
      where.push_back(s);
    }
    auto rc = ::poll(fds.data(), fds.size(), timed ? fallback_poll_ms : -1);
    if (rc < 0 && errno != EINTR && errno != EAGAIN) {
      // Only EFAULT/EINVAL/ENOMEM are left; retrying is all we can do, but
      // not at full speed.
      ::poll(nullptr, 0, fallback_poll_ms);
      continue;
    }
    auto ready = [&](int slot) { return slot >= 0 && fds[slot].revents != 0; };
    // Children launched by a callback during this pass are appended to
    // `children` and wait for the next round (`where` does not cover them).
    for (size_t i = 0; i < where.size() && !closed; ++i) {
      auto& c = *children[i];
      if (ready(where[i].out))
        read_stream(c, c.out, reads_per_round);
      if (ready(where[i].err))
        read_stream(c, c.err, reads_per_round);
      bool check = c.pidfd ? ready(where[i].pidfd) : true;
      if (check && has_exited(c.pid))
        finish(*children[i]);
    }
    children.erase(std::remove_if(children.begin(), children.end(),
                                  [](auto& c) { return c->done; }),
                   children.end());
    if (fds[0].revents != 0) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake.get(), &count, sizeof(count));
    }
    std::deque<launch_job*> todo;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (stopping)
        break;
      todo.swap(jobs);
    }
    for (auto* job : todo) {
      auto result = spawn(*job->launch);
      std::lock_guard<std::mutex> guard{mtx};
      job->result = std::move(result);
    }
    if (!todo.empty())
      job_done.notify_all();
  }
  shutdown();
}

void child_watcher::impl::shutdown() {
  for (auto& c : children)
    ::kill(-c->pid, SIGKILL);
  for (auto& c : children) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      table.erase(c->name);
    }
    // SIGKILLed: this returns as soon as the kernel has torn it down.
    while (::waitpid(c->pid, nullptr, 0) < 0 && errno == EINTR)
      ;
  }
  children.clear();
  std::lock_guard<std::mutex> guard{mtx};
  for (auto* job : jobs)
    job->result = make_error(ec::spawn_failed, proc_context(job->launch->name),
                             "the launcher is shutting down");
  jobs.clear();
  job_done.notify_all();
}

child_watcher::child_watcher(child_events events)
  : impl_(std::make_shared<impl>(std::move(events))) {
  impl_->wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl_->wake) {
    impl_->broken = make_error(ec::system_error, "cannot start the launcher",
                               "eventfd failed: " + errno_text(errno));
    return;
  }
  try {
    impl_->thread = std::thread{[self = impl_] { self->run(); }};
    impl_->thread_id = impl_->thread.get_id();
  } catch (const std::system_error& ex) {
    impl_->broken = make_error(ec::system_error, "cannot start the launcher",
                               std::string{"no thread: "} + ex.what());
  }
}

child_watcher::~child_watcher() {
  if (!impl_->thread.joinable())
    return;
  impl_->closed = true;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->stopping = true;
    if (std::this_thread::get_id() == impl_->thread_id) {
      // Called from a callback: the thread is below us on this very stack.
      // Kill now; it reaps and ends when the callback returns, and keeps
      // the impl alive until then.
      for (auto& [name, pid] : impl_->table)
        ::kill(-pid, SIGKILL);
      impl_->thread.detach();
      return;
    }
  }
  impl_->notify();
  impl_->thread.join();
}

caf::expected<int64_t> child_watcher::launch(const launch_spec& spec) {
  if (impl_->broken)
    return impl_->broken;
  auto launch = prepare(spec);
  if (!launch)
    return std::move(launch.error());
  // From a callback: we already are the thread that must fork.
  if (std::this_thread::get_id() == impl_->thread_id) {
    if (impl_->closed)
      return make_error(ec::spawn_failed, proc_context(spec.name),
                        "the launcher is shutting down");
    return impl_->spawn(*launch);
  }
  impl::launch_job job{&*launch, std::nullopt};
  std::unique_lock<std::mutex> guard{impl_->mtx};
  if (impl_->stopping)
    return make_error(ec::spawn_failed, proc_context(spec.name),
                      "the launcher is shutting down");
  impl_->jobs.push_back(&job);
  impl_->notify();
  impl_->job_done.wait(guard, [&] { return job.result.has_value(); });
  return std::move(*job.result);
}

bool child_watcher::signal(const std::string& name, int sig) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto i = impl_->table.find(name);
  if (i == impl_->table.end())
    return false;
  return ::kill(-i->second, sig) == 0;
}

size_t child_watcher::running() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->table.size();
}

} // namespace mesh::bootstrap
