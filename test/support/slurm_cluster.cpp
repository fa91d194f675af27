#include "support/slurm_cluster.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace mesh::test {

namespace {

// In the daemons' environment only: what marks a process as started by
// this cluster's daemons (slurmstepd inherits slurmd's environment), so
// that the sweep of orphans touches nothing else.
constexpr const char* marker_var = "LIBMESH_SLURM_CLUSTER";

// The daemons live in sbin, which a root PATH may lack.
std::optional<std::string> find_program(const std::string& name) {
  std::string path = "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:"
                     "/usr/local/bin";
  if (const char* p = std::getenv("PATH"); p && *p)
    path = std::string{p} + ":" + path;
  std::istringstream dirs{path};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty())
      continue;
    auto candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

std::string short_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0)
    return "localhost";
  std::string name{buf};
  return name.substr(0, name.find('.'));
}

// Two distinct ports that were free a moment ago (a daemon that finds one
// taken meanwhile fails to start, and the cluster starts again).
std::pair<int, int> free_ports() {
  int fds[2] = {-1, -1};
  int ports[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    fds[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof(sa);
    if (fds[i] < 0 ||
        ::bind(fds[i], reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        ::getsockname(fds[i], reinterpret_cast<sockaddr*>(&sa), &len) != 0)
      throw std::runtime_error(std::string{"cannot pick a free port: "} +
                               std::strerror(errno));
    ports[i] = ntohs(sa.sin_port);
  }
  ::close(fds[0]);
  ::close(fds[1]);
  return {ports[0], ports[1]};
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(const std::string& text, size_t lines) {
  auto all = lines_of(text);
  std::string result;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size();
       ++i)
    result += "  " + all[i] + "\n";
  return result;
}

std::string trim(std::string s) {
  auto is_space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && is_space(s.back()))
    s.pop_back();
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), is_space));
  return s;
}

// The value of KEY= in `scontrol show ... -o` output (up to the next space).
std::string field(const std::string& record, const std::string& key) {
  auto needle = key + "=";
  for (size_t at = record.find(needle); at != std::string::npos;
       at = record.find(needle, at + 1)) {
    if (at != 0 && record[at - 1] != ' ')
      continue;
    auto start = at + needle.size();
    auto end = record.find_first_of(" \n", start);
    return record.substr(start, end == std::string::npos ? end : end - start);
  }
  return "";
}

// The process's environment at its exec, "" if unreadable.
std::string environ_of(pid_t pid) {
  return read_file("/proc/" + std::to_string(pid) + "/environ");
}

bool has_env(const std::string& environ_text, const std::string& entry) {
  // Entries are NUL-separated.
  auto at = environ_text.find(entry);
  while (at != std::string::npos) {
    auto end = at + entry.size();
    if ((at == 0 || environ_text[at - 1] == '\0') &&
        (end == environ_text.size() || environ_text[end] == '\0'))
      return true;
    at = environ_text.find(entry, at + 1);
  }
  return false;
}

struct process_stat {
  bool zombie = false;
  pid_t pgid = -1;
  pid_t sid = -1;
};

// State, process group and session from /proc/PID/stat (a zombie's too).
std::optional<process_stat> stat_of(pid_t pid) {
  auto line = read_file("/proc/" + std::to_string(pid) + "/stat");
  // pid (comm) state ppid pgrp session ...; comm may hold spaces and ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest{line.substr(close + 1)};
  char state = 0;
  long ppid = 0, pgid = 0, sid = 0;
  if (!(rest >> state >> ppid >> pgid >> sid))
    return std::nullopt;
  return process_stat{state == 'Z', static_cast<pid_t>(pgid),
                      static_cast<pid_t>(sid)};
}

// Waits at most `limit` for `pid` (our child) to exit and reaps it.
bool reap(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD))
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
}

// SIGTERM, then SIGKILL past `grace`; reaped either way.
void stop_process(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0)
    return;
  ::kill(pid, SIGTERM);
  if (!reap(pid, grace)) {
    ::kill(pid, SIGKILL);
    reap(pid, 10s);
  }
}

} // namespace

std::optional<std::string> slurm_cluster::unavailable() {
  if (::geteuid() != 0)
    return "not root: slurmctld and slurmd run as root (SlurmUser=root), "
           "and slurmd runs jobs as their users";
  std::string missing;
  for (auto name : {"munged", "slurmctld", "slurmd", "srun", "sbatch",
                    "scontrol", "scancel", "squeue", "sinfo"})
    if (!find_program(name))
      missing += std::string{missing.empty() ? "" : ", "} + name;
  if (!missing.empty())
    return "missing " + missing +
           " (packages slurm-wlm and munge: scripts/install-deps.sh)";
  return std::nullopt;
}

slurm_cluster::slurm_cluster(options opts)
  : opts_(std::move(opts)), node_(short_hostname()) {
  for (auto var : {"SLURM_CONF", "SBATCH_OUTPUT"}) {
    const char* old = std::getenv(var);
    saved_env_[var] = old ? std::optional<std::string>{old} : std::nullopt;
  }
  // A port taken between picking and binding fails a daemon: pick again.
  constexpr int attempts = 3;
  for (int attempt = 1;; ++attempt) {
    try {
      start_once();
      return;
    } catch (const std::exception& e) {
      std::string why = e.what();
      auto log = logs();
      stop();
      bool port_taken = contains(log, "Address already in use");
      if (!port_taken || attempt == attempts) {
        for (auto& [var, old] : saved_env_)
          old ? ::setenv(var.c_str(), old->c_str(), 1)
              : ::unsetenv(var.c_str());
        throw std::runtime_error("cannot start a Slurm cluster: " + why + "\n" +
                                 log);
      }
    }
  }
}

void slurm_cluster::start_once() {
  char tmpl[] = "/tmp/libmesh-slurm-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error(std::string{"mkdtemp: "} + std::strerror(errno));
  dir_ = tmpl;
  // munged insists on a socket directory everyone may enter, and on a key
  // only its owner may read.
  ::chmod(dir_.c_str(), 0755);
  for (auto [sub, mode] : {std::pair{"munge", 0700},
                           {"run", 0755},
                           {"state", 0700},
                           {"spool", 0755},
                           {"log", 0755},
                           {"jobs", 0755}}) {
    auto path = dir_ + "/" + sub;
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0)
      throw std::runtime_error("mkdir " + path + ": " + std::strerror(errno));
    ::chmod(path.c_str(), static_cast<mode_t>(mode));
  }
  {
    char key[1024];
    size_t got = 0;
    while (got < sizeof(key)) {
      auto n = ::getrandom(key + got, sizeof(key) - got, 0);
      if (n < 0 && errno != EINTR)
        throw std::runtime_error(std::string{"getrandom: "} +
                                 std::strerror(errno));
      got += n > 0 ? static_cast<size_t>(n) : 0;
    }
    auto path = dir_ + "/munge/munge.key";
    int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    bool written = fd >= 0 && ::write(fd, key, sizeof(key)) == sizeof(key);
    auto err = errno;
    if (fd >= 0)
      ::close(fd);
    if (!written)
      throw std::runtime_error("cannot write " + path + ": " +
                               std::strerror(err));
  }
  std::ofstream{dir_ + "/plugstack.conf"}; // no site SPANK plugins
  std::tie(ctld_port_, slurmd_port_) = free_ports();
  conf_ = dir_ + "/slurm.conf";
  {
    std::ofstream conf{conf_};
    conf << "# A private one-node cluster of a libmesh test "
            "(test/support/slurm_cluster.hpp).\n"
         << "ClusterName=libmesh\n"
         // Loopback addresses: one machine, and no dependence on DNS.
         << "SlurmctldHost=" << node_ << "(127.0.0.1)\n"
         << "SlurmctldPort=" << ctld_port_ << "\n"
         << "SlurmdPort=" << slurmd_port_ << "\n"
         << "AuthType=auth/munge\n"
         << "CredType=cred/munge\n"
         << "AuthInfo=socket=" << dir_ << "/run/munge.socket\n"
         << "StateSaveLocation=" << dir_ << "/state\n"
         << "SlurmdSpoolDir=" << dir_ << "/spool\n"
         << "SlurmctldPidFile=" << dir_ << "/run/slurmctld.pid\n"
         << "SlurmdPidFile=" << dir_ << "/run/slurmd.pid\n"
         << "SlurmctldLogFile=" << dir_ << "/log/slurmctld.log\n"
         << "SlurmdLogFile=" << dir_ << "/log/slurmd.log\n"
         << "PlugStackConfig=" << dir_ << "/plugstack.conf\n"
         << "SlurmUser=root\n"
         << "SlurmdUser=root\n"
         << "ProctrackType=proctrack/linuxproc\n"
         << "TaskPlugin=task/none\n"
         << "SwitchType=switch/none\n"
         << "MpiDefault=none\n"
         << "SelectType=select/cons_tres\n"
         << "SelectTypeParameters=CR_CPU\n"
         << "SchedulerType=sched/backfill\n"
         << "JobCompType=jobcomp/none\n"
         << "JobAcctGatherType=jobacct_gather/none\n"
         << "AccountingStorageType=accounting_storage/none\n"
         // Ended jobs stay visible to scontrol for 5 minutes.
         << "MinJobAge=300\n"
         // scancel and time limits: SIGTERM, then SIGKILL 3 s later.
         << "KillWait=3\n"
         << "ReturnToService=2\n"
         << "SlurmdParameters=config_overrides\n"
         << "NodeName=" << node_ << " NodeAddr=127.0.0.1 CPUs=" << opts_.cpus
         << " RealMemory=1024 State=UNKNOWN\n"
         << "PartitionName=" << opts_.partition
         << " Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
    if (!conf)
      throw std::runtime_error("cannot write " + conf_);
  }
  for (auto& [var, value] : env())
    ::setenv(var.c_str(), value.c_str(), 1);

  auto program = [](const char* name) {
    auto path = find_program(name);
    if (!path)
      throw std::runtime_error(std::string{"no "} + name + " in PATH");
    return *path;
  };
  auto socket = dir_ + "/run/munge.socket";
  munged_ = spawn_daemon(
    "munged", {program("munged"), "--foreground", "--socket=" + socket,
               "--key-file=" + dir_ + "/munge/munge.key",
               "--seed-file=" + dir_ + "/munge/munged.seed",
               "--pid-file=" + dir_ + "/run/munged.pid",
               "--log-file=" + dir_ + "/log/munged.log"});
  auto exited = [](pid_t& pid, const char* name) {
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      throw std::runtime_error(
        std::string{name} + " exited with " +
        (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                           : "signal " + std::to_string(WTERMSIG(status))));
    }
  };
  auto deadline = std::chrono::steady_clock::now() + opts_.start_timeout;
  while (::access(socket.c_str(), F_OK) != 0) {
    exited(munged_, "munged");
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("munged made no socket in time");
    std::this_thread::sleep_for(10ms);
  }
  // -i: ignore state files it cannot read (there are none yet).
  slurmctld_ =
    spawn_daemon("slurmctld", {program("slurmctld"), "-D", "-i", "-f", conf_});
  slurmd_ =
    spawn_daemon("slurmd", {program("slurmd"), "-D", "-f", conf_, "-N", node_});
  std::string state;
  for (;;) {
    exited(munged_, "munged");
    exited(slurmctld_, "slurmctld");
    exited(slurmd_, "slurmd");
    auto res = command({"sinfo", "-h", "-p", opts_.partition, "-o", "%T"}, 10s);
    state = trim(res.out);
    if (res.exit_code == 0 && state == "idle")
      return;
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("the node is not idle after " +
                               std::to_string(opts_.start_timeout.count()) +
                               " ms (sinfo: '" + state + "' " + res.err + ")");
    std::this_thread::sleep_for(100ms);
  }
}

pid_t slurm_cluster::spawn_daemon(const std::string& name,
                                  const std::vector<std::string>& argv) {
  // Everything the child needs, made before fork(): between fork and exec
  // a multithreaded process may only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e)
    env_strings.emplace_back(*e);
  env_strings.push_back(std::string{marker_var} + "=" + dir_);
  std::vector<char*> envp, args;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  auto argv_copy = argv;
  for (auto& s : argv_copy)
    args.push_back(s.data());
  args.push_back(nullptr);
  auto out_path = dir_ + "/log/" + name + ".out";
  int out =
    ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0)
    throw std::runtime_error("open " + out_path + ": " + std::strerror(errno));
  auto parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    // Dies with the test process even when that is SIGKILLed (a timeout).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out, 1) < 0 ||
        ::dup2(out, 2) < 0 || ::chdir(dir_.c_str()) != 0)
      ::_exit(127);
    // Nothing else of the test process (sockets, pipes) leaks into it.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  auto err = errno;
  ::close(out);
  if (pid < 0)
    throw std::runtime_error("fork: " + std::string{std::strerror(err)});
  return pid;
}

slurm_cluster::~slurm_cluster() {
  stop();
  for (auto& [var, old] : saved_env_)
    old ? ::setenv(var.c_str(), old->c_str(), 1) : ::unsetenv(var.c_str());
}

void slurm_cluster::stop() {
  // Jobs first, while slurmctld can still cancel them and slurmd clean up.
  if (slurmctld_ > 0 && slurmd_ > 0)
    cancel_all(20s);
  stop_process(slurmd_, 10s);
  stop_process(slurmctld_, 10s);
  stop_process(munged_, 10s);
  slurmd_ = slurmctld_ = munged_ = -1;
  // What the daemons started and orphaned to this subreaper (slurmstepd,
  // the jobs' processes if a slurmstepd was killed, slurmctld's script
  // helper): given a moment to end, then killed.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<pid_t> killed;
  for (;;) {
    auto left = orphans(true);
    if (left.empty())
      break;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!killed.empty())
        break;
      for (auto pid : left)
        ::kill(pid, SIGKILL);
      killed = left;
      deadline = std::chrono::steady_clock::now() + 10s;
    }
    std::this_thread::sleep_for(20ms);
  }
  // A killed child of our own is no orphan: reaped here, not by the sweep.
  for (auto pid : killed)
    reap(pid, 1s);
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    dir_.clear();
  }
}

std::map<std::string, std::string> slurm_cluster::env() const {
  return {{"SLURM_CONF", conf_},
          {"SBATCH_OUTPUT", dir_ + "/jobs/slurm-%j.out"}};
}

std::vector<pid_t> slurm_cluster::daemon_pids() const {
  std::vector<pid_t> pids;
  for (auto pid : {munged_, slurmctld_, slurmd_})
    if (pid > 0)
      pids.push_back(pid);
  return pids;
}

run_result slurm_cluster::command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) const {
  return mesh::test::run(argv, timeout, env());
}

std::string slurm_cluster::run(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) const {
  auto res = command(argv, timeout);
  std::string line;
  for (auto& a : argv)
    line += (line.empty() ? "" : " ") + a;
  REQUIRE_MESSAGE(
    res.exit_code == 0,
    "`" << line << "` failed ("
        << (res.timed_out
              ? "timed out"
              : "exit " + std::to_string(res.exit_code.value_or(-1)))
        << "): " << res.err);
  return res.out;
}

std::string slurm_cluster::submit(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"sbatch", "--parsable",
                                   "--output=" + dir_ + "/jobs/slurm-%j.out"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = trim(run(argv));
  auto id = out.substr(0, out.find(';'));
  REQUIRE_MESSAGE(!id.empty(), "sbatch printed no job id: " << out);
  return id;
}

slurm_cluster::job_status slurm_cluster::job(const std::string& id) const {
  auto res = command({"scontrol", "show", "job", "-o", id}, 10s);
  if (res.exit_code != 0 && contains(res.err, "Invalid job id"))
    return {};
  REQUIRE_MESSAGE(res.exit_code == 0,
                  "scontrol show job " << id << " failed: " << res.err);
  return {field(res.out, "JobState"), field(res.out, "Reason")};
}

slurm_cluster::job_status
slurm_cluster::wait_state(const std::string& id,
                          const std::set<std::string>& states,
                          std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto status = job(id);
    if (states.count(status.state) != 0 ||
        std::chrono::steady_clock::now() >= deadline)
      return status;
    std::this_thread::sleep_for(100ms);
  }
}

std::vector<std::string> slurm_cluster::active_jobs() const {
  // squeue's default states are the active ones (pending, running,
  // completing, ...).
  auto res = command({"squeue", "-h", "-o", "%i"}, 10s);
  std::vector<std::string> ids;
  if (res.exit_code != 0)
    return ids;
  for (auto& line : lines_of(res.out))
    if (auto id = trim(line); !id.empty())
      ids.push_back(id);
  return ids;
}

bool slurm_cluster::cancel_all(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto ids = active_jobs();
  if (!ids.empty()) {
    std::vector<std::string> argv = {"scancel"};
    argv.insert(argv.end(), ids.begin(), ids.end());
    command(argv, 10s);
  }
  for (;;) {
    // Done once no job is active and no slurmstepd of this cluster runs.
    if (orphans(false).empty() && active_jobs().empty())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(100ms);
  }
}

std::vector<pid_t> slurm_cluster::orphans(bool final_sweep) const {
  std::vector<pid_t> alive;
  auto daemons = daemon_pids();
  for (auto pid : child_pids()) {
    if (std::find(daemons.begin(), daemons.end(), pid) != daemons.end())
      continue;
    auto stat = stat_of(pid);
    if (!stat)
      continue; // gone meanwhile
    // Whatever this process starts itself (mesh::test::run, the launchers)
    // leads its own process group or stays in ours, in our session; an
    // orphan does not: slurmstepd and what it runs are in a session of
    // their own, srun's helper process in srun's group.
    bool orphan = stat->sid != ::getsid(0) ||
                  (stat->pgid != pid && stat->pgid != ::getpgid(0));
    if (stat->zombie) {
      // Ended orphans: nobody else can reap them. (A zombie's environment
      // is gone, so whose cluster it came from cannot be told, nor matters.)
      if (orphan)
        ::waitpid(pid, nullptr, WNOHANG);
      continue;
    }
    // Live ones only if they are this cluster's: its daemons' descendants
    // carry the marker, its jobs and clients its SLURM_CONF.
    auto env = environ_of(pid);
    if (has_env(env, std::string{marker_var} + "=" + dir_) ||
        ((orphan || final_sweep) && has_env(env, "SLURM_CONF=" + conf_)))
      alive.push_back(pid);
  }
  return alive;
}

std::string slurm_cluster::logs() const {
  std::string result;
  if (dir_.empty())
    return result;
  std::error_code ec;
  std::vector<std::string> files;
  for (auto& entry : fs::directory_iterator(dir_ + "/log", ec))
    files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  for (auto& path : files) {
    auto text = read_file(path);
    if (!text.empty())
      result += path + " (end):\n" + tail(text, 15);
  }
  return result;
}

} // namespace mesh::test
