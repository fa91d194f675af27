#include "bootstrap/zygote.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>
#include <string>
#include <string_view>

namespace mesh::bootstrap::zygote {

namespace {

constexpr size_t header_size = 1 + 8 + 4 + 4;

/// Descriptors per message: stdin, stdout, stderr.
constexpr size_t max_fds = 3;

bool known(char c) {
  switch (static_cast<op>(c)) {
  case op::ready:
  case op::spawn:
  case op::spawned:
  case op::spawn_failed:
  case op::exited:
  case op::reap:
  case op::reaped:
    return true;
  }
  return false;
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds)
    ::close(fd);
  fds.clear();
}

void say(const char* what) {
  std::fprintf(stderr, "libmesh zygote: %s\n", what);
  std::fflush(stderr);
}

/// A read-only view of a whole file; empty if it cannot be mapped.
class mapped_file {
public:
  explicit mapped_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      auto* addr = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                          MAP_PRIVATE, fd, 0);
      if (addr != MAP_FAILED) {
        data_ = static_cast<const char*>(addr);
        size_ = static_cast<size_t>(st.st_size);
      }
    }
    ::close(fd);
  }
  ~mapped_file() {
    if (data_ != nullptr)
      ::munmap(const_cast<char*>(data_), size_);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  /// `count` objects of type T at `offset`, or nullptr if out of bounds.
  template <class T>
  const T* at(uint64_t offset, uint64_t count = 1) const {
    if (offset > size_ || count > (size_ - offset) / sizeof(T))
      return nullptr;
    return reinterpret_cast<const T*>(data_ + offset);
  }
  size_t size() const { return size_; }

private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

/// A proc this zygote forked and has not reaped yet.
struct kid {
  /// Readable once it exited; -1 once the exit was reported.
  int pidfd = -1;
};

/// Ends every proc and reaps it: the launcher is gone.
void end_all(std::map<pid_t, kid>& kids) {
  for (auto& [pid, k] : kids)
    ::kill(-pid, SIGKILL);
  for (auto& [pid, k] : kids) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
      ;
    if (k.pidfd >= 0)
      ::close(k.pidfd);
  }
  kids.clear();
}

/// In the forked proc: its own group, its parent's death signal, the
/// launcher's pipes as stdio and nothing else open. False if it must exit.
bool become_proc(const std::vector<int>& fds, pid_t zygote,
                 const char* name) {
  ::prctl(PR_SET_NAME, name);
  for (int i = 0; i < 3; ++i)
    if (::dup2(fds[i], i) < 0)
      return false;
  if (::setpgid(0, 0) != 0 && errno != EACCES) // EACCES: the zygote did it
    return false;
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != zygote)
    return false;
#ifdef SYS_close_range
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
#else
  for (int fd = 3; fd < 1024; ++fd)
    ::close(fd);
#endif
  return true;
}

} // namespace

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

bool links_libmesh(const std::string& path) {
  mapped_file file{path};
  auto* eh = file.at<Elf64_Ehdr>(0);
  if (eh == nullptr || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_phentsize != sizeof(Elf64_Phdr))
    return false;
  auto* ph = file.at<Elf64_Phdr>(eh->e_phoff, eh->e_phnum);
  if (ph == nullptr)
    return false;
  // Where a virtual address of a loaded segment lies in the file.
  auto file_offset = [&](uint64_t vaddr) -> std::optional<uint64_t> {
    for (size_t i = 0; i < eh->e_phnum; ++i)
      if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr &&
          vaddr - ph[i].p_vaddr < ph[i].p_filesz)
        return vaddr - ph[i].p_vaddr + ph[i].p_offset;
    return std::nullopt;
  };
  for (size_t i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type != PT_DYNAMIC)
      continue;
    auto count = ph[i].p_filesz / sizeof(Elf64_Dyn);
    auto* dyn = file.at<Elf64_Dyn>(ph[i].p_offset, count);
    if (dyn == nullptr)
      return false;
    std::optional<uint64_t> strtab;
    uint64_t strsz = 0;
    for (size_t j = 0; j < count && dyn[j].d_tag != DT_NULL; ++j) {
      if (dyn[j].d_tag == DT_STRTAB)
        strtab = file_offset(dyn[j].d_un.d_ptr);
      else if (dyn[j].d_tag == DT_STRSZ)
        strsz = dyn[j].d_un.d_val;
    }
    if (!strtab || file.at<char>(*strtab, strsz) == nullptr)
      return false;
    auto* strings = file.at<char>(*strtab, strsz);
    constexpr std::string_view wanted = "libmesh.so";
    for (size_t j = 0; j < count && dyn[j].d_tag != DT_NULL; ++j) {
      if (dyn[j].d_tag != DT_NEEDED || dyn[j].d_un.d_val >= strsz)
        continue;
      std::string_view name{strings + dyn[j].d_un.d_val,
                            strsz - dyn[j].d_un.d_val};
      name = name.substr(0, name.find('\0'));
      if (name.substr(0, wanted.size()) == wanted)
        return true;
    }
  }
  return false;
}

int send(int sock, const message& msg) {
  if (msg.text.size() > max_text || msg.fds.size() > max_fds)
    return EMSGSIZE;
  char header[header_size];
  header[0] = static_cast<char>(msg.kind);
  std::memcpy(header + 1, &msg.pid, 8);
  std::memcpy(header + 9, &msg.a, 4);
  std::memcpy(header + 13, &msg.b, 4);
  iovec iov[2] = {{header, header_size},
                  {const_cast<char*>(msg.text.data()), msg.text.size()}};
  msghdr hdr{};
  hdr.msg_iov = iov;
  hdr.msg_iovlen = msg.text.empty() ? 1 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];
  if (!msg.fds.empty()) {
    auto len = sizeof(int) * msg.fds.size();
    hdr.msg_control = control;
    hdr.msg_controllen = CMSG_SPACE(len);
    auto* cmsg = CMSG_FIRSTHDR(&hdr);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(len);
    std::memcpy(CMSG_DATA(cmsg), msg.fds.data(), len);
  }
  for (;;) {
    if (::sendmsg(sock, &hdr, MSG_NOSIGNAL) >= 0)
      return 0;
    if (errno != EINTR)
      return errno;
  }
}

std::optional<message> receive(int sock, bool nonblocking, int& err) {
  std::string buf(header_size + max_text + 1, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];
  msghdr hdr{};
  hdr.msg_iov = &iov;
  hdr.msg_iovlen = 1;
  hdr.msg_control = control;
  hdr.msg_controllen = sizeof(control);
  int flags = MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0);
  ssize_t n;
  while ((n = ::recvmsg(sock, &hdr, flags)) < 0 && errno == EINTR)
    ;
  if (n < 0) {
    err = errno;
    return std::nullopt;
  }
  message msg;
  for (auto* cmsg = CMSG_FIRSTHDR(&hdr); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&hdr, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
      continue;
    auto count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      msg.fds.push_back(fd);
    }
  }
  if (n == 0 && msg.fds.empty()) {
    err = 0; // end of stream
    return std::nullopt;
  }
  auto size = static_cast<size_t>(n);
  if (size < header_size || size > header_size + max_text || !known(buf[0]) ||
      (hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    close_all(msg.fds);
    err = EPROTO;
    return std::nullopt;
  }
  msg.kind = static_cast<op>(buf[0]);
  std::memcpy(&msg.pid, buf.data() + 1, 8);
  std::memcpy(&msg.a, buf.data() + 9, 4);
  std::memcpy(&msg.b, buf.data() + 13, 4);
  msg.text.assign(buf.data() + header_size, size - header_size);
  err = 0;
  return msg;
}

int serve(std::string& payload) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(control_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_SEQPACKET) {
    say("fd 3 is not the control socket of a libmesh launcher");
    return 2;
  }
  ::fcntl(control_fd, F_SETFD, FD_CLOEXEC);
  if (const char* added = std::getenv(unset_env)) {
    std::string names = added;
    for (size_t begin = 0; begin <= names.size();) {
      auto end = std::min(names.find(',', begin), names.size());
      if (end > begin)
        ::unsetenv(names.substr(begin, end - begin).c_str());
      begin = end + 1;
    }
    ::unsetenv(unset_env);
  }
  auto self = ::getpid();
  // Without pidfds the zygote could not tell which proc exited without
  // reaping it: refuse, and the launcher execs procs instead.
  if (int probe = open_pidfd(self); probe >= 0) {
    ::close(probe);
  } else {
    say("pidfd_open is not available; procs will be exec'd");
    return 2;
  }
  // Named apart from its procs in ps and /proc; each proc gets the name back.
  char own_name[17] = {};
  ::prctl(PR_GET_NAME, own_name);
  ::prctl(PR_SET_NAME, process_name);
  if (send(control_fd, make_message(op::ready)) != 0)
    return 0; // The launcher is already gone.
  std::map<pid_t, kid> kids;
  std::vector<pollfd> fds;
  std::vector<pid_t> polled;
  for (;;) {
    fds.clear();
    polled.clear();
    fds.push_back({control_fd, POLLIN, 0});
    for (auto& [pid, k] : kids)
      if (k.pidfd >= 0) {
        fds.push_back({k.pidfd, POLLIN, 0});
        polled.push_back(pid);
      }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      end_all(kids);
      return 1;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0)
        continue;
      auto pid = polled[i - 1];
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info,
                   WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid != pid)
        continue;
      auto& k = kids[pid];
      ::close(k.pidfd);
      k.pidfd = -1;
      auto x = make_message(op::exited, pid);
      x.a = info.si_code == CLD_EXITED ? info.si_status : -1;
      x.b = info.si_code == CLD_EXITED ? 0 : info.si_status;
      send(control_fd, x);
    }
    if (fds[0].revents == 0)
      continue;
    int err = 0;
    auto msg = receive(control_fd, true, err);
    if (!msg) {
      if (err == EAGAIN)
        continue;
      if (err == EPROTO) {
        send(control_fd, make_message(op::spawn_failed, 0,
                                      "malformed message to the zygote"));
        continue;
      }
      // End of stream or a broken launcher: nobody is left to serve.
      end_all(kids);
      return 0;
    }
    if (msg->kind == op::reap) {
      auto i = kids.find(static_cast<pid_t>(msg->pid));
      // Only reported exits are reaped: a running proc's pid stays ours.
      close_all(msg->fds);
      if (i == kids.end() || i->second.pidfd >= 0) {
        send(control_fd, make_message(op::spawn_failed, msg->pid,
                                      "pid " + std::to_string(msg->pid)
                                        + " is not an exited proc of this "
                                          "zygote"));
        continue;
      }
      while (::waitpid(i->first, nullptr, 0) < 0 && errno == EINTR)
        ;
      kids.erase(i);
      send(control_fd, make_message(op::reaped, msg->pid));
      continue;
    }
    if (msg->kind != op::spawn || msg->fds.size() != 3) {
      close_all(msg->fds);
      send(control_fd, make_message(op::spawn_failed, 0,
                                       "malformed request to the zygote"));
      continue;
    }
    std::fflush(nullptr);
    auto pid = ::fork();
    if (pid == 0) {
      if (!become_proc(msg->fds, self, own_name))
        ::_exit(126);
      payload = std::move(msg->text);
      return -1;
    }
    int fork_errno = errno;
    close_all(msg->fds);
    if (pid < 0) {
      send(control_fd, make_message(op::spawn_failed, 0,
                                       std::string{"fork failed: "}
                                         + std::strerror(fork_errno)));
      continue;
    }
    // Both sides set the group, so that it exists once the launcher hears
    // of the pid and may signal it.
    ::setpgid(pid, pid);
    kid k;
    k.pidfd = open_pidfd(pid);
    if (k.pidfd < 0) {
      auto why = std::string{"pidfd_open failed: "} + std::strerror(errno);
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
        ;
      send(control_fd, make_message(op::spawn_failed, 0, why));
      continue;
    }
    kids.emplace(pid, k);
    send(control_fd, make_message(op::spawned, pid));
  }
}

} // namespace mesh::bootstrap::zygote
