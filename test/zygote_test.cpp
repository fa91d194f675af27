// The per-host zygote: its control protocol driven by hand (malformed
// messages included), and procs of real host meshes forked by it.
#include "bootstrap/payload.hpp"
#include "bootstrap/tls.hpp"
#include "bootstrap/elf.hpp"
#include "bootstrap/zygote.hpp"
#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/system.hpp"
#include "support/event_log.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::proc_status;
using mesh::test::parent_of;
namespace zygote = mesh::bootstrap::zygote;

namespace {

mesh::bootstrap_command child_command() {
  mesh::bootstrap_command cmd;
  cmd.program = mesh::test::build_path("test/mesh_child");
  return cmd;
}

/// A port on 127.0.0.1 where nothing listens.
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

mesh::bootstrap::payload proc_payload(uint16_t parent_port) {
  mesh::bootstrap::payload p;
  p.child_role = mesh::bootstrap::role::proc;
  p.name = "z-0";
  p.parent_host = "127.0.0.1";
  p.parent_port = parent_port;
  p.token = "token";
  p.mesh_key = mesh::tls::process_transport().key;
  return p;
}

/// Waits for `pid` (our child) to exit, up to `limit`; its status or nullopt.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    auto r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    std::this_thread::sleep_for(5ms);
  }
  return std::nullopt;
}

/// A zygote started by hand from mesh_child, its control socket ours.
struct manual_zygote {
  pid_t pid = -1;
  int sock = -1;
  int err_read = -1; ///< Its stderr.

  manual_zygote() {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
    sock = pair[0];
    // Not on 3 itself: dup2 onto the same number would keep close-on-exec.
    int theirs = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
    ::close(pair[1]);
    int errp[2];
    REQUIRE(::pipe2(errp, O_CLOEXEC) == 0);
    err_read = errp[0];
    auto zp = proc_payload(closed_port());
    zp.child_role = mesh::bootstrap::role::zygote;
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e)
      env_strings.emplace_back(*e);
    env_strings.push_back(std::string{mesh::bootstrap::payload_env} + "="
                          + mesh::bootstrap::encode(zp));
    std::vector<char*> envp;
    for (auto& s : env_strings)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    auto path = mesh::test::build_path("test/mesh_child");
    std::vector<char*> argv{path.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, theirs, zygote::control_fd);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    REQUIRE(::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(),
                          envp.data())
            == 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(theirs);
    ::close(errp[1]);
  }

  ~manual_zygote() {
    if (sock >= 0)
      ::close(sock);
    if (pid > 0 && !wait_exit(pid, 10s)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    ::close(err_read);
  }

  /// Closes our end of the control socket and waits (10 s at most) for the
  /// zygote to exit; its wait status.
  std::optional<int> close_and_wait() {
    ::close(sock);
    sock = -1;
    auto status = wait_exit(pid, 10s);
    if (status)
      pid = -1;
    return status;
  }

  /// The next message within 10 s.
  std::optional<zygote::message> next() {
    pollfd pfd{sock, POLLIN, 0};
    if (::poll(&pfd, 1, 10000) != 1)
      return std::nullopt;
    int err = 0;
    return zygote::receive(sock, false, err);
  }
};

/// Reads everything from `fd` until EOF (bounded by 10 s).
std::string read_all(int fd) {
  std::string text;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0)
      continue;
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

struct mesh_fixture : mesh::test::reaped_fixture {
  mesh::config cfg;
  caf::actor_system sys{cfg};
};

} // namespace

TEST_SUITE("zygote protocol") {
  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "a zygote without its control socket exits 2 with one "
                    "line") {
    auto zp = proc_payload(closed_port());
    zp.child_role = mesh::bootstrap::role::zygote;
    auto res = mesh::test::run({mesh::test::build_path("test/mesh_child")}, 10s,
                               {{mesh::bootstrap::payload_env,
                                 mesh::bootstrap::encode(zp)}});
    REQUIRE(res.exit_code);
    CHECK(*res.exit_code == 2);
    CHECK(res.err == "libmesh zygote: fd 3 is not the control socket of a "
                     "libmesh launcher\n");
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "malformed messages are answered with an error and the "
                    "zygote keeps serving") {
    manual_zygote z;
    auto ready = z.next();
    REQUIRE(ready);
    CHECK(ready->kind == zygote::op::ready);
    CHECK(mesh::test::process_name(z.pid) == zygote::process_name);
    auto expect_error = [&](const std::string& what) {
      auto reply = z.next();
      REQUIRE_MESSAGE(reply, what);
      CHECK_MESSAGE(reply->kind == zygote::op::spawn_failed, what);
      CHECK_MESSAGE(reply->text.find("malformed") != std::string::npos, what);
    };
    // Too short for a header.
    REQUIRE(::send(z.sock, "S", 1, 0) == 1);
    expect_error("one byte");
    // A header with an unknown operation.
    std::string unknown(17, '\0');
    unknown[0] = 'Z';
    REQUIRE(::send(z.sock, unknown.data(), unknown.size(), 0) == 17);
    expect_error("unknown op");
    // A spawn without descriptors, and one with too few.
    REQUIRE(zygote::send(z.sock, zygote::make_message(zygote::op::spawn, 0,
                                                      "payload"))
            == 0);
    expect_error("no fds");
    auto one_fd = zygote::make_message(zygote::op::spawn, 0, "payload");
    one_fd.fds = {0};
    REQUIRE(zygote::send(z.sock, one_fd) == 0);
    expect_error("one fd");
    // Reaping a pid it never forked is refused.
    REQUIRE(zygote::send(z.sock, zygote::make_message(zygote::op::reap, 1))
            == 0);
    auto refused = z.next();
    REQUIRE(refused);
    CHECK(refused->kind == zygote::op::spawn_failed);
    CHECK(refused->text == "pid 1 is not an exited proc of this zygote");
    // Still serving: a proper spawn forks a proc that fails to reach its
    // (absent) parent, says so on the stderr we gave it and exits 1.
    int out[2], err[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    auto spawn = zygote::make_message(
      zygote::op::spawn, 0,
      mesh::bootstrap::encode(proc_payload(closed_port())));
    spawn.fds = {null_fd, out[1], err[1]};
    REQUIRE(zygote::send(z.sock, spawn) == 0);
    ::close(null_fd);
    ::close(out[1]);
    ::close(err[1]);
    auto forked = z.next();
    REQUIRE(forked);
    REQUIRE(forked->kind == zygote::op::spawned);
    auto proc = static_cast<pid_t>(forked->pid);
    CHECK(parent_of(proc) == z.pid);
    auto exited = z.next();
    REQUIRE(exited);
    CHECK(exited->kind == zygote::op::exited);
    CHECK(exited->pid == proc);
    CHECK(exited->a == 1);
    CHECK(exited->b == 0);
    // Reported but not reaped until we say so: its pid is still taken.
    CHECK(::kill(proc, 0) == 0);
    REQUIRE(zygote::send(z.sock, zygote::make_message(zygote::op::reap, proc))
            == 0);
    auto reaped = z.next();
    REQUIRE(reaped);
    CHECK(reaped->kind == zygote::op::reaped);
    CHECK(reaped->pid == proc);
    CHECK(::kill(proc, 0) != 0);
    auto text = read_all(err[0]);
    CHECK_MESSAGE(text.find("cannot reach the parent host agent")
                    != std::string::npos,
                  text);
    ::close(err[0]);
    ::close(out[0]);
    // End of the socket: the zygote exits 0.
    auto status = z.close_and_wait();
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(::kill(proc, 0) != 0);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "closing the control socket ends the zygote and every "
                    "proc it forked") {
    // A parent that accepts TCP connections but never answers the BASP
    // handshake: the proc waits in its registration.
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0);
    REQUIRE(::listen(listener, 16) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    manual_zygote z;
    auto ready = z.next();
    REQUIRE(ready);
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    auto spawn = zygote::make_message(
      zygote::op::spawn, 0,
      mesh::bootstrap::encode(proc_payload(ntohs(addr.sin_port))));
    spawn.fds = {null_fd, null_fd, null_fd};
    REQUIRE(zygote::send(z.sock, spawn) == 0);
    ::close(null_fd);
    auto forked = z.next();
    REQUIRE(forked);
    REQUIRE(forked->kind == zygote::op::spawned);
    auto proc = static_cast<pid_t>(forked->pid);
    std::this_thread::sleep_for(50ms);
    CHECK(::kill(proc, 0) == 0);
    auto status = z.close_and_wait();
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(::kill(proc, 0) != 0); // killed and reaped by the zygote
    ::close(listener);
  }

  TEST_CASE("receive refuses a message with more descriptors than stdin, "
            "stdout and stderr, and closes them all") {
    // Found by fuzz/zygote_protocol: the control buffer, sized for three
    // descriptors, is padded to alignment and took a fourth without
    // MSG_CTRUNC, so such a message was accepted with four.
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(null_fd >= 0);
    auto lowest_free = [&] {
      int fd = ::dup(null_fd);
      ::close(fd);
      return fd;
    };
    // What zygote::send refuses to write (EMSGSIZE), written by hand.
    auto send_with_fds = [&](size_t count) {
      std::string header(17, '\0');
      header[0] = static_cast<char>(zygote::op::spawn);
      iovec iov{header.data(), header.size()};
      std::vector<int> fds(count, null_fd);
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
      msghdr hdr{};
      hdr.msg_iov = &iov;
      hdr.msg_iovlen = 1;
      hdr.msg_control = control;
      hdr.msg_controllen = CMSG_SPACE(sizeof(int) * count);
      auto* cmsg = CMSG_FIRSTHDR(&hdr);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
      std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * count);
      return ::sendmsg(sv[0], &hdr, 0) == static_cast<ssize_t>(header.size());
    };
    for (size_t count : {size_t{4}, size_t{5}, size_t{8}}) {
      CAPTURE(count);
      auto before = lowest_free();
      REQUIRE(send_with_fds(count));
      int err = 0;
      auto msg = zygote::receive(sv[1], false, err);
      CHECK_FALSE(msg);
      CHECK(err == EPROTO);
      CHECK(lowest_free() == before); // none of them kept open
    }
    // Three are a well-formed spawn.
    REQUIRE(send_with_fds(3));
    int err = 0;
    auto msg = zygote::receive(sv[1], false, err);
    REQUIRE(msg);
    CHECK(msg->kind == zygote::op::spawn);
    CHECK(msg->fds.size() == 3);
    for (int fd : msg->fds)
      ::close(fd);
    ::close(null_fd);
    ::close(sv[0]);
    ::close(sv[1]);
  }

  TEST_CASE("only programs that link libmesh are zygote material") {
    CHECK(zygote::links_libmesh(mesh::test::build_path("test/mesh_child")));
    CHECK(zygote::links_libmesh(mesh::test::build_path("tools/meshctl")));
    CHECK_FALSE(zygote::links_libmesh("/bin/sh"));
    CHECK_FALSE(zygote::links_libmesh("/does/not/exist"));
    CHECK_FALSE(zygote::links_libmesh(
      mesh::test::source_path("test/zygote_test.cpp")));
    CHECK_FALSE(zygote::links_libmesh("/dev/null"));
    // Truncated copies of a libmesh program: never a crash, never a yes.
    std::ifstream in{mesh::test::build_path("test/mesh_child"),
                     std::ios::binary};
    std::string elf{std::istreambuf_iterator<char>{in}, {}};
    REQUIRE(elf.size() > 4096);
    char path[] = "/tmp/mesh-elf-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    for (size_t size : {size_t{4}, size_t{64}, size_t{200}, size_t{4096}}) {
      REQUIRE(::ftruncate(fd, 0) == 0);
      REQUIRE(::pwrite(fd, elf.data(), size, 0) == static_cast<ssize_t>(size));
      CHECK_FALSE_MESSAGE(zygote::links_libmesh(path), size);
    }
    ::close(fd);
    ::unlink(path);
  }
}

TEST_SUITE("procs forked by a zygote") {
  TEST_CASE_FIXTURE(mesh_fixture,
                    "the procs of a libmesh command share one zygote per "
                    "host, which ends with the host") {
    auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
    REQUIRE(hosts);
    auto pm = hosts->spawn("forked", extent{{"procs", 3}});
    REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
    auto states = pm->states();
    REQUIRE(states);
    auto zygote_pid = parent_of(static_cast<pid_t>((*states)[0].pid));
    CHECK(zygote_pid != ::getpid());
    CHECK(parent_of(zygote_pid) == ::getpid());
    CHECK(mesh::test::process_name(zygote_pid) == zygote::process_name);
    for (auto& st : *states) {
      CHECK(st.status == proc_status::running);
      CHECK(parent_of(static_cast<pid_t>(st.pid)) == zygote_pid);
      CHECK(mesh::test::process_name(static_cast<pid_t>(st.pid))
            == "mesh_child");
    }
    auto more = hosts->spawn("forked-too", extent{{"procs", 1}});
    REQUIRE(more);
    auto more_states = more->states();
    REQUIRE(more_states);
    CHECK(parent_of(static_cast<pid_t>((*more_states)[0].pid)) == zygote_pid);
    auto summary = hosts->shutdown();
    REQUIRE(summary);
    CHECK(summary->stopped_politely == 4);
    // Reaped by the host's launcher.
    CHECK(::kill(zygote_pid, 0) != 0);
  }

  TEST_CASE_FIXTURE(mesh_fixture,
                    "a host starts the zygote of its default command before "
                    "the first spawn") {
    auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
    REQUIRE(hosts);
    pid_t zygote_pid = -1;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (zygote_pid < 0 && std::chrono::steady_clock::now() < deadline) {
      for (auto pid : mesh::test::child_pids())
        if (mesh::test::process_name(pid) == zygote::process_name)
          zygote_pid = pid;
      std::this_thread::sleep_for(5ms);
    }
    REQUIRE(zygote_pid > 0);
    CHECK(mesh::test::proc_pids().empty());
    auto pm = hosts->spawn("warm", extent{{"procs", 2}});
    REQUIRE(pm);
    auto states = pm->states();
    REQUIRE(states);
    for (auto& st : *states)
      CHECK(parent_of(static_cast<pid_t>(st.pid)) == zygote_pid);
    REQUIRE(hosts->shutdown());
    CHECK(::kill(zygote_pid, 0) != 0);
  }

  TEST_CASE_FIXTURE(mesh_fixture,
                    "with bootstrap_zygote off every proc is exec'd") {
    mesh::config_override off{"bootstrap_zygote", "false"};
    auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
    REQUIRE(hosts);
    auto pm = hosts->spawn("execd", extent{{"procs", 2}});
    REQUIRE(pm);
    auto states = pm->states();
    REQUIRE(states);
    for (auto& st : *states)
      CHECK(parent_of(static_cast<pid_t>(st.pid)) == ::getpid());
    REQUIRE(hosts->shutdown());
  }

  TEST_CASE_FIXTURE(mesh_fixture,
                    "a wrapper command runs once per proc, not in a zygote") {
    auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
    REQUIRE(hosts);
    mesh::bootstrap_command wrapper;
    wrapper.program = "/bin/sh";
    wrapper.args = {"-c", "exec " + mesh::test::build_path("test/mesh_child")};
    auto pm = hosts->spawn("wrapped", extent{{"procs", 2}}, std::nullopt,
                           [&](const mesh::point&)
                             -> caf::expected<mesh::bootstrap_command> {
                             return wrapper;
                           });
    REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
    auto states = pm->states();
    REQUIRE(states);
    for (auto& st : *states)
      CHECK(parent_of(static_cast<pid_t>(st.pid)) == ::getpid());
    CHECK(mesh::test::settled_proc_count(2) == 2);
    REQUIRE(hosts->shutdown());
  }

  TEST_CASE_FIXTURE(mesh_fixture,
                    "a killed zygote fails its procs at once, says why, and "
                    "the next spawn gets a new zygote") {
    mesh::config_override tail{"tail_log_lines", "5"};
    auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
    REQUIRE(hosts);
    auto pm = hosts->spawn("orphans", extent{{"procs", 2}});
    REQUIRE(pm);
    mesh::test::event_log log;
    pm->on_event(log.handler());
    auto states = pm->states();
    REQUIRE(states);
    auto zygote_pid = parent_of(static_cast<pid_t>((*states)[0].pid));
    REQUIRE(mesh::test::process_name(zygote_pid) == zygote::process_name);
    ::kill(zygote_pid, SIGKILL);
    for (size_t rank = 0; rank < 2; ++rank) {
      auto ev = log.wait_for([&](auto& e) {
        return e.rank == rank && e.status == proc_status::failed;
      });
      REQUIRE_MESSAGE(ev, "rank " << rank);
      CHECK(ev->signal == std::optional<int>{SIGKILL});
    }
    states = pm->states();
    REQUIRE(states);
    for (auto& st : *states) {
      REQUIRE_FALSE(st.stderr_tail.empty());
      CHECK(st.stderr_tail.back().find("zygote (pid "
                                       + std::to_string(zygote_pid)
                                       + ") that forked this proc died")
            != std::string::npos);
    }
    auto again = hosts->spawn("after", extent{{"procs", 1}});
    REQUIRE_MESSAGE(again, mesh::to_string(again.error()));
    auto again_states = again->states();
    REQUIRE(again_states);
    auto second = parent_of(static_cast<pid_t>((*again_states)[0].pid));
    CHECK(second != zygote_pid);
    CHECK(mesh::test::process_name(second) == zygote::process_name);
    REQUIRE(hosts->shutdown());
  }
}
