// The only translation unit that includes Boost.Process (architecture §10:
// with CAF in the same file it costs ~27 s and 1.1 GB to compile).
#include "bootstrap/launcher.hpp"

#include "bootstrap/payload.hpp"
#include "bootstrap/zygote.hpp"

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <tuple>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3 // Linux 5.4; older glibc headers lack the name
#endif

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
  /// Set for a launch that a zygote may serve: what tells its zygote apart
  /// (program, arguments and environment without MESH_BOOTSTRAP), the
  /// zygote's MESH_BOOTSTRAP (asked for only when it is started) and the
  /// child's own.
  std::optional<std::string> zygote_key;
  std::function<std::string()> zygote_payload;
  std::string child_payload;
};

std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& str : strings)
    result.push_back(str.data());
  result.push_back(nullptr);
  return result;
}

bool is_payload_entry(const std::string& entry) {
  return entry.size() > std::strlen(payload_env) &&
         entry.compare(0, std::strlen(payload_env), payload_env) == 0 &&
         entry[std::strlen(payload_env)] == '=';
}

/// The environment a watcher starts its children with: this process's, read
/// once when the watcher starts (reading `environ` per launch would race
/// with any setenv of the embedding application).
std::map<std::string, std::string> environment_now() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv{*entry};
    auto eq = kv.find('=');
    if (eq != std::string_view::npos && eq > 0)
      env.emplace(std::string{kv.substr(0, eq)},
                  std::string{kv.substr(eq + 1)});
  }
  return env;
}

caf::expected<prepared_launch>
prepare(const launch_spec& spec,
        const std::map<std::string, std::string>& base_env) {
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
  auto env = base_env;
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
  auto own = spec.extra_env.find(payload_env);
  if (spec.zygote_payload && spec.pdeathsig && own != spec.extra_env.end() &&
      own->second.size() <= zygote::max_text) {
    std::string key = result.path;
    for (auto& arg : result.argv)
      key += '\0' + arg;
    key += '\0';
    for (auto& entry : result.envv)
      if (!is_payload_entry(entry))
        key += '\0' + entry;
    result.zygote_key = std::move(key);
    result.zygote_payload = spec.zygote_payload;
    result.child_payload = own->second;
  }
  return result;
}

/// The environment of the zygote for `launch`: the child's, with the
/// zygote's own MESH_BOOTSTRAP. The zygote also resolves every symbol once,
/// at load, rather than each proc on its first calls (lazy binding costs a
/// fresh proc ~1 ms of CPU); it removes LD_BIND_NOW again, so that procs see
/// the user's environment. Empty if the zygote payload is unusable.
std::vector<std::string> zygote_environment(const prepared_launch& launch) {
  auto payload = launch.zygote_payload();
  if (payload.empty() || has_nul(payload))
    return {};
  std::vector<std::string> result;
  bool bind_now = false;
  for (auto& entry : launch.envv) {
    if (is_payload_entry(entry))
      continue;
    bind_now = bind_now || entry.rfind("LD_BIND_NOW=", 0) == 0;
    result.push_back(entry);
  }
  result.push_back(std::string{payload_env} + "=" + payload);
  if (!bind_now) {
    result.push_back("LD_BIND_NOW=1");
    result.push_back(std::string{zygote::unset_env} + "=LD_BIND_NOW");
  }
  return result;
}

/// Runs in the child between vfork and exec, in the parent's memory: only
/// system calls, no allocation, no locks.
void setup_child(int stdin_fd, int stdout_fd, int stderr_fd, bool pdeathsig,
                 pid_t parent, int control_fd) noexcept {
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
  // A zygote's control socket goes to fd 3, without close-on-exec.
  unsigned first_closed = 3;
  if (control_fd >= 0) {
    if (control_fd == zygote::control_fd
          ? ::fcntl(control_fd, F_SETFD, 0) != 0
          : ::dup2(control_fd, zygote::control_fd) < 0)
      ::_exit(setup_failed_exit);
    first_closed = zygote::control_fd + 1;
  }
#ifdef SYS_close_range
  // Descriptors the embedding process opened without O_CLOEXEC (sockets of
  // its own) must not leak into procs. Best effort: old kernels lack it.
  ::syscall(SYS_close_range, first_closed, ~0U, 0U);
#else
  (void)first_closed;
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
  struct zygote_state;

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
    /// `has_exited` is polled every fallback_poll_ms) and for forked ones.
    unique_fd pidfd;
    stream out;
    stream err;
    bool done = false;
    /// A zygote process itself: no callbacks, not in the table.
    bool internal = false;
    /// The zygote that runs as this child (internal) or that forked it. A
    /// forked child is the zygote's child, not ours: it learns of the exit
    /// (`forked_exit`) from the zygote and never waits for the pid itself.
    zygote_state* zygote = nullptr;
    std::optional<std::pair<std::optional<int>, std::optional<int>>>
      forked_exit;

    bool forked() const { return zygote != nullptr && !internal; }
  };

  /// A zygote and what the watcher knows of it.
  struct zygote_state {
    std::string key;
    pid_t pid = -1;
    unique_fd control;
    /// The socket closed or broke: its forked children are gone.
    bool lost = false;
    /// Its process was reaped.
    bool reaped = false;
  };

  /// A launch waiting for the watcher thread; `done` gets its outcome.
  struct launch_job {
    prepared_launch launch;
    launched done;
  };

  explicit impl(child_events ev) : events(std::move(ev)) {}

  // --- shared, guarded by mtx ---

  mutable std::mutex mtx;
  /// Launched and not yet reaped children: the only pids signal() may touch
  /// (a pid leaves this table before it is reaped, so it is never reused
  /// while listed).
  std::map<std::string, pid_t> table;
  std::deque<launch_job> jobs;
  /// Zygotes to start before anyone launches from them.
  std::deque<prepared_launch> warm_jobs;
  bool stopping = false;

  /// Set first thing by the destructor: no callback starts after it.
  std::atomic<bool> closed{false};

  // --- fixed after construction ---

  child_events events;
  /// This process's environment when the watcher started.
  std::map<std::string, std::string> base_env = environment_now();
  /// Wakes the watcher thread for launches and shutdown.
  unique_fd wake;
  /// Set if the watcher could not start; every launch fails with it.
  caf::error broken;
  std::thread thread;
  std::thread::id thread_id;

  // --- watcher thread only ---

  std::vector<std::unique_ptr<child>> children;
  std::vector<std::unique_ptr<zygote_state>> zygotes;
  /// Commands whose zygote did not come up: exec'd from now on.
  std::set<std::string> without_zygote;
  /// Exit reports that arrived while a launch waited for its own answer.
  std::deque<std::pair<zygote_state*, zygote::message>> deferred;

  void notify() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake.get(), &one, sizeof(one));
  }

  caf::expected<int64_t> spawn(prepared_launch& launch);
  caf::expected<std::unique_ptr<child>> start(prepared_launch& launch,
                                               int control_fd);
  zygote_state* zygote_for(prepared_launch& launch);
  std::optional<caf::expected<int64_t>> fork_from(zygote_state& z,
                                                  prepared_launch& launch);
  std::optional<zygote::message> await(zygote_state& z, zygote::op wanted,
                                       int timeout_ms);
  void on_zygote_message(zygote_state& z, const zygote::message& msg);
  void lose(zygote_state& z);
  void run();
  void read_stream(child& c, stream& s, int max_reads);
  void emit(child& c, stream& s, std::string line);
  void drain(child& c);
  void reap_orphan(child& c);
  void finish(child& c);
  void shutdown();
};

namespace {

/// How long the first launch of a command waits for its zygote to come up.
/// A libmesh program is ready within milliseconds; anything else (a script,
/// a program that never calls run_bootstrap_child) is given up on and its
/// command exec'd from then on.
constexpr int zygote_ready_ms = 2000;

/// How long a launch waits for a serving zygote to fork; a zygote that does
/// not answer is dropped and the launch exec'd.
constexpr int zygote_fork_ms = 5000;

/// How long the watcher waits for the procs of a dead zygote to die of
/// their parent-death signal.
constexpr int orphan_exit_ms = 1000;

/// How long a launcher that shuts down waits for a zygote to reap its procs
/// and exit before it kills the zygote.
constexpr int zygote_exit_ms = 5000;


} // namespace

caf::expected<std::unique_ptr<child_watcher::impl::child>>
child_watcher::impl::start(prepared_launch& launch, int control_fd) {
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
      [=](auto&) {
        setup_child(in_fd, out_fd, err_fd, pdeathsig, parent, control_fd);
      },
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
  c->pidfd.reset(zygote::open_pidfd(c->pid));
  c->out.fd = std::move(out_read);
  c->err.fd = std::move(err_read);
  c->err.is_stderr = true;
  return c;
}

caf::expected<int64_t> child_watcher::impl::spawn(prepared_launch& launch) {
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (table.count(launch.name) != 0)
      return make_error(ec::invalid_argument, proc_context(launch.name),
                        "a child of that name is still running");
  }
  if (launch.zygote_key)
    if (auto* z = zygote_for(launch))
      if (auto forked = fork_from(*z, launch))
        return std::move(*forked);
  auto c = start(launch, -1);
  if (!c)
    return std::move(c.error());
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.emplace((*c)->name, (*c)->pid);
  }
  auto pid = static_cast<int64_t>((*c)->pid);
  children.push_back(std::move(*c));
  return pid;
}

child_watcher::impl::zygote_state*
child_watcher::impl::zygote_for(prepared_launch& launch) {
  auto& key = *launch.zygote_key;
  if (without_zygote.count(key) != 0)
    return nullptr;
  size_t serving = 0;
  for (auto& z : zygotes) {
    if (z->lost)
      continue;
    if (z->key == key)
      return z.get();
    ++serving;
  }
  if (serving >= max_zygotes)
    return nullptr;
  if (!zygote::links_libmesh(launch.path)) {
    without_zygote.insert(key);
    return nullptr;
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return nullptr;
  unique_fd mine{pair[0]};
  unique_fd theirs{above_stdio(pair[1])};
  if (!theirs)
    return nullptr;
  prepared_launch zl;
  zl.name = "zygote of " + launch.name;
  zl.path = launch.path;
  zl.argv = launch.argv;
  zl.envv = zygote_environment(launch);
  if (zl.envv.empty()) {
    without_zygote.insert(key);
    return nullptr;
  }
  zl.argv_ptrs = c_array(zl.argv);
  zl.env_ptrs = c_array(zl.envv);
  zl.pdeathsig = true;
  auto c = start(zl, theirs.get());
  theirs.reset();
  if (!c) {
    // Exec'ing the command fails: so will the child's own launch, which
    // reports why.
    without_zygote.insert(key);
    return nullptr;
  }
  auto z = std::make_unique<zygote_state>();
  z->key = key;
  z->pid = (*c)->pid;
  z->control = std::move(mine);
  (*c)->internal = true;
  (*c)->zygote = z.get();
  children.push_back(std::move(*c));
  auto* result = z.get();
  zygotes.push_back(std::move(z));
  if (!await(*result, zygote::op::ready, zygote_ready_ms)) {
    without_zygote.insert(key);
    if (!result->lost) {
      // Alive but silent: not a libmesh program, or one far too slow.
      ::kill(-result->pid, SIGKILL);
      lose(*result);
    }
    return nullptr;
  }
  return result;
}

std::optional<caf::expected<int64_t>>
child_watcher::impl::fork_from(zygote_state& z, prepared_launch& launch) {
  unique_fd out_read, out_write, err_read, err_write;
  if (auto err = open_output_pipe(launch.name, out_read, out_write))
    return caf::expected<int64_t>{std::move(err)};
  if (auto err = open_output_pipe(launch.name, err_read, err_write))
    return caf::expected<int64_t>{std::move(err)};
  unique_fd null_fd{above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC))};
  if (!null_fd)
    return caf::expected<int64_t>{
      os_error(launch.name, "open(/dev/null)", errno)};
  zygote::message request;
  request.kind = zygote::op::spawn;
  request.text = launch.child_payload;
  request.fds = {null_fd.get(), out_write.get(), err_write.get()};
  if (zygote::send(z.control.get(), request) != 0) {
    lose(z);
    return std::nullopt;
  }
  auto reply = await(z, zygote::op::spawned, zygote_fork_ms);
  if (!reply) {
    if (!z.lost) {
      ::kill(-z.pid, SIGKILL);
      lose(z);
    }
    return std::nullopt;
  }
  if (reply->kind == zygote::op::spawn_failed)
    return caf::expected<int64_t>{make_error(
      ec::spawn_failed, proc_context(launch.name), "the zygote " + reply->text)};
  auto c = std::make_unique<child>();
  c->name = launch.name;
  c->pid = static_cast<pid_t>(reply->pid);
  c->zygote = &z;
  // Not polled (its zygote reports its exit); used only if the zygote dies
  // first, to see it gone and reap it if it was re-parented to us.
  c->pidfd.reset(zygote::open_pidfd(c->pid));
  c->out.fd = std::move(out_read);
  c->err.fd = std::move(err_read);
  c->err.is_stderr = true;
  {
    std::lock_guard<std::mutex> guard{mtx};
    table.emplace(c->name, c->pid);
  }
  children.push_back(std::move(c));
  return caf::expected<int64_t>{static_cast<int64_t>(reply->pid)};
}

std::optional<zygote::message>
child_watcher::impl::await(zygote_state& z, zygote::op wanted,
                           int timeout_ms) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds{timeout_ms};
  while (!z.lost) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - clock::now())
                  .count();
    if (left <= 0)
      return std::nullopt;
    pollfd pfd{z.control.get(), POLLIN, 0};
    auto n = ::poll(&pfd, 1, static_cast<int>(left));
    if (n <= 0)
      continue; // EINTR, or the deadline (checked above)
    int err = 0;
    auto msg = zygote::receive(z.control.get(), true, err);
    if (!msg) {
      if (err != EAGAIN)
        lose(z);
      continue;
    }
    bool answer = msg->kind == wanted ||
                  (wanted != zygote::op::ready &&
                   msg->kind == zygote::op::spawn_failed);
    if (answer)
      return msg;
    if (msg->kind == zygote::op::exited)
      deferred.emplace_back(&z, std::move(*msg));
    // Anything else is out of protocol; ignore it.
  }
  return std::nullopt;
}

void child_watcher::impl::on_zygote_message(zygote_state& z,
                                            const zygote::message& msg) {
  if (msg.kind != zygote::op::exited)
    return;
  for (size_t i = 0; i < children.size(); ++i) {
    auto& c = *children[i];
    if (c.zygote == &z && !c.internal && !c.done && c.pid == msg.pid) {
      std::optional<int> code;
      std::optional<int> sig;
      if (msg.a >= 0)
        code = msg.a;
      else
        sig = msg.b;
      c.forked_exit.emplace(code, sig);
      finish(c);
      return;
    }
  }
}

void child_watcher::impl::lose(zygote_state& z) {
  if (z.lost)
    return;
  z.lost = true;
  z.control.reset();
  // Its children were SIGKILLed with it (parent-death signal) and reaped by
  // whoever inherited them: report them without a status. A callback may
  // launch more children, so walk by index.
  for (size_t i = 0; i < children.size(); ++i) {
    auto& c = *children[i];
    if (c.zygote == &z && !c.internal && !c.done)
      finish(c);
  }
}

void child_watcher::impl::emit(child& c, stream& s, std::string line) {
  // A zygote writes nothing of interest once it serves; what a failing one
  // says is lost with it, and its command is exec'd instead.
  if (c.internal)
    return;
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

void child_watcher::impl::drain(child& c) {
  for (auto* s : {&c.out, &c.err}) {
    // Whatever is still in the pipe was written before the exit. A process
    // outside the group may hold the pipe open: stop at "empty", not EOF.
    read_stream(c, *s, reads_at_exit);
    if (!s->pending.empty())
      emit(c, *s, std::exchange(s->pending, {}));
    s->fd.reset();
  }
}

void child_watcher::impl::reap_orphan(child& c) {
  if (!c.pidfd)
    return;
  // Its parent-death signal is on its way: wait (briefly) until it is gone.
  pollfd pfd{c.pidfd.get(), POLLIN, 0};
  while (::poll(&pfd, 1, orphan_exit_ms) < 0 && errno == EINTR)
    ;
  // If this process is a subreaper, the orphan is now our child: reap it
  // (by its pidfd, so never a recycled pid). Otherwise init does.
  siginfo_t info{};
  ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd.get()),
           &info, WEXITED | WNOHANG);
  c.pidfd.reset();
}

void child_watcher::impl::finish(child& c) {
  // The leader is a zombie: its pid still pins the group id, so this reaches
  // only what is left of its own group (e.g. a background grandchild). A
  // forked child is pinned by its zygote, which reaps it only when told to;
  // one whose zygote is lost is pinned by nothing.
  bool pinned = !c.forked() || !c.zygote->lost;
  if (pinned)
    ::kill(-c.pid, SIGKILL);
  else if (!c.forked_exit)
    reap_orphan(c);
  drain(c);
  if (!c.internal) {
    std::lock_guard<std::mutex> guard{mtx};
    table.erase(c.name);
  }
  std::optional<int> code;
  std::optional<int> sig;
  if (c.forked()) {
    if (c.forked_exit) {
      std::tie(code, sig) = *c.forked_exit;
      // Reported only once reaped: whoever hears of the exit finds the
      // process gone.
      auto& z = *c.zygote;
      if (!z.lost) {
        std::optional<zygote::message> reply;
        if (zygote::send(z.control.get(),
                         zygote::make_message(zygote::op::reap, c.pid)) == 0)
          reply = await(z, zygote::op::reaped, zygote_fork_ms);
        if (!z.lost && (!reply || reply->kind != zygote::op::reaped)) {
          ::kill(-z.pid, SIGKILL);
          lose(z);
        }
      }
    } else {
      // Its zygote died first, which kills it (parent-death signal): say so
      // where its own last words go.
      sig = SIGKILL;
      emit(c, c.err,
           "libmesh: the zygote (pid " + std::to_string(c.zygote->pid) +
             ") that forked this proc died, and the proc was killed with it");
    }
  } else {
    int status = 0;
    pid_t reaped;
    while ((reaped = ::waitpid(c.pid, &status, 0)) < 0 && errno == EINTR)
      ;
    c.pidfd.reset();
    if (reaped == c.pid) {
      if (WIFEXITED(status))
        code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status))
        sig = WTERMSIG(status);
    }
  }
  c.done = true;
  if (c.internal) {
    c.zygote->reaped = true;
    lose(*c.zygote);
    return;
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
  std::vector<std::pair<zygote_state*, int>> controls;
  for (;;) {
    fds.clear();
    where.clear();
    controls.clear();
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
      if (!c->forked())
        add(c->pidfd, s.pidfd);
      timed = timed || (!c->pidfd && !c->forked());
      where.push_back(s);
    }
    for (auto& z : zygotes)
      if (z->control) {
        controls.emplace_back(z.get(), static_cast<int>(fds.size()));
        fds.push_back({z->control.get(), POLLIN, 0});
      }
    int timeout = !deferred.empty() ? 0 : timed ? fallback_poll_ms : -1;
    auto rc = ::poll(fds.data(), fds.size(), timeout);
    if (rc < 0 && errno != EINTR && errno != EAGAIN) {
      // Only EFAULT/EINVAL/ENOMEM are left; retrying is all we can do, but
      // not at full speed.
      ::poll(nullptr, 0, fallback_poll_ms);
      continue;
    }
    if (rc < 0)
      for (auto& pfd : fds)
        pfd.revents = 0;
    auto ready = [&](int slot) { return slot >= 0 && fds[slot].revents != 0; };
    // Children launched by a callback during this pass are appended to
    // `children` and wait for the next round (`where` does not cover them).
    for (size_t i = 0; i < where.size() && !closed; ++i) {
      auto& c = *children[i];
      if (c.done)
        continue;
      if (ready(where[i].out))
        read_stream(c, c.out, reads_per_round);
      if (ready(where[i].err))
        read_stream(c, c.err, reads_per_round);
      if (c.forked())
        continue; // its zygote reports its exit
      bool check = c.pidfd ? ready(where[i].pidfd) : true;
      if (check && has_exited(c.pid))
        finish(c);
    }
    for (auto& [z, slot] : controls) {
      if (closed || z->lost || !ready(slot))
        continue;
      for (;;) {
        int err = 0;
        auto msg = zygote::receive(z->control.get(), true, err);
        if (!msg) {
          if (err != EAGAIN)
            lose(*z);
          break;
        }
        deferred.emplace_back(z, std::move(*msg));
      }
    }
    while (!deferred.empty() && !closed) {
      auto [z, msg] = std::move(deferred.front());
      deferred.pop_front();
      on_zygote_message(*z, msg);
    }
    children.erase(std::remove_if(children.begin(), children.end(),
                                  [](auto& c) { return c->done; }),
                   children.end());
    zygotes.erase(std::remove_if(zygotes.begin(), zygotes.end(),
                                 [](auto& z) { return z->lost && z->reaped; }),
                  zygotes.end());
    if (fds[0].revents != 0) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake.get(), &count, sizeof(count));
    }
    std::deque<launch_job> todo;
    std::deque<prepared_launch> warm;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (stopping)
        break;
      todo.swap(jobs);
      warm.swap(warm_jobs);
    }
    for (auto& launch : warm)
      zygote_for(launch);
    // Each outcome is told before the next poll, so before any line or exit
    // of that child.
    for (auto& job : todo)
      job.done(closed ? make_error(ec::spawn_failed,
                                   proc_context(job.launch.name),
                                   "the launcher is shutting down")
                      : spawn(job.launch));
  }
  shutdown();
}

void child_watcher::impl::shutdown() {
  // Not the zygotes themselves: killed, they would leave their procs to die
  // as orphans, unreaped by them.
  for (auto& c : children)
    if (!c->done && !c->internal && (!c->forked() || !c->zygote->lost))
      ::kill(-c->pid, SIGKILL);
  // A zygote whose socket closes kills and reaps what it forked, then exits.
  for (auto& z : zygotes)
    z->control.reset();
  for (auto& c : children) {
    if (c->done)
      continue;
    if (!c->internal) {
      std::lock_guard<std::mutex> guard{mtx};
      table.erase(c->name);
    }
    if (c->forked())
      continue; // reaped by its zygote, whose exit we wait for
    if (c->internal && c->pidfd) {
      // Only a stopped or wedged zygote takes longer: then it is killed.
      pollfd pfd{c->pidfd.get(), POLLIN, 0};
      while (::poll(&pfd, 1, zygote_exit_ms) < 0 && errno == EINTR)
        ;
      if (pfd.revents == 0)
        ::kill(-c->pid, SIGKILL);
    } else if (c->internal) {
      ::kill(-c->pid, SIGKILL);
    }
    // SIGKILLed or exiting: this returns as soon as the kernel is done.
    while (::waitpid(c->pid, nullptr, 0) < 0 && errno == EINTR)
      ;
  }
  children.clear();
  zygotes.clear();
  std::deque<launch_job> refused;
  {
    std::lock_guard<std::mutex> guard{mtx};
    refused.swap(jobs);
  }
  for (auto& job : refused)
    job.done(make_error(ec::spawn_failed, proc_context(job.launch.name),
                        "the launcher is shutting down"));
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

void child_watcher::launch_async(const launch_spec& spec, launched done) {
  if (impl_->broken)
    return done(impl_->broken);
  auto launch = prepare(spec, impl_->base_env);
  if (!launch)
    return done(std::move(launch.error()));
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (!impl_->stopping) {
      impl_->jobs.push_back({std::move(*launch), std::move(done)});
      impl_->notify();
      return;
    }
  }
  done(make_error(ec::spawn_failed, proc_context(spec.name),
                  "the launcher is shutting down"));
}

caf::expected<int64_t> child_watcher::launch(const launch_spec& spec) {
  // From a callback: we already are the thread that must fork.
  if (std::this_thread::get_id() == impl_->thread_id) {
    if (impl_->closed)
      return make_error(ec::spawn_failed, proc_context(spec.name),
                        "the launcher is shutting down");
    auto launch = prepare(spec, impl_->base_env);
    if (!launch)
      return std::move(launch.error());
    return impl_->spawn(*launch);
  }
  struct outcome {
    std::mutex mtx;
    std::condition_variable ready;
    std::optional<caf::expected<int64_t>> result;
  };
  auto out = std::make_shared<outcome>();
  launch_async(spec, [out](caf::expected<int64_t> result) {
    std::lock_guard<std::mutex> guard{out->mtx};
    out->result = std::move(result);
    out->ready.notify_all();
  });
  std::unique_lock<std::mutex> guard{out->mtx};
  out->ready.wait(guard, [&] { return out->result.has_value(); });
  return std::move(*out->result);
}

void child_watcher::warm(const launch_spec& spec) {
  if (impl_->broken)
    return;
  auto launch = prepare(spec, impl_->base_env);
  if (!launch || !launch->zygote_key)
    return;
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (impl_->stopping)
    return;
  impl_->warm_jobs.push_back(std::move(*launch));
  impl_->notify();
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
