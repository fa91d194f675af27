#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "mesh/bootstrap.hpp"
#include "mesh/error.hpp"
#include "support/process.hpp"

using mesh::bootstrap_command;
using mesh::proc_bind;
using mesh::wrap_for_binding;

namespace {

bootstrap_command worker() {
  bootstrap_command cmd;
  cmd.program = "/opt/bin/worker";
  cmd.arg0 = "worker";
  cmd.args = {"--role", "proc"};
  cmd.env = {{"MESH_TEST", "1"}, {"OMP_NUM_THREADS", "4"}};
  return cmd;
}

// The arguments the kernel recorded for this process, NUL-separated.
std::vector<std::string> own_cmdline() {
  std::ifstream in{"/proc/self/cmdline", std::ios::binary};
  std::string raw{std::istreambuf_iterator<char>{in},
                  std::istreambuf_iterator<char>{}};
  std::vector<std::string> result;
  std::string current;
  for (char c : raw) {
    if (c == '\0') {
      result.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  return result;
}

bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr)
    return false;
  std::string dirs{path};
  size_t begin = 0;
  while (begin <= dirs.size()) {
    auto end = dirs.find(':', begin);
    if (end == std::string::npos)
      end = dirs.size();
    auto candidate = dirs.substr(begin, end - begin) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return true;
    begin = end + 1;
  }
  return false;
}

} // namespace

TEST_SUITE("bootstrap_command") {

  TEST_CASE("current() names this executable by its real path") {
    auto cmd = bootstrap_command::current();
    REQUIRE(cmd);
    char expected[PATH_MAX];
    REQUIRE(::realpath("/proc/self/exe", expected) != nullptr);
    CHECK(cmd->program == expected);
    CHECK(cmd->program.front() == '/');
    CHECK(cmd->program.find("mesh_tests") != std::string::npos);
  }

  TEST_CASE("current() carries this process's argv as arg0 and args") {
    auto cmd = bootstrap_command::current();
    REQUIRE(cmd);
    auto argv = own_cmdline();
    REQUIRE_FALSE(argv.empty());
    REQUIRE(cmd->arg0);
    CHECK(*cmd->arg0 == argv.front());
    CHECK(cmd->args == std::vector<std::string>(argv.begin() + 1, argv.end()));
    CHECK(cmd->argv() == argv);
  }

  TEST_CASE("current() snapshots the whole environment") {
    auto cmd = bootstrap_command::current();
    REQUIRE(cmd);
    const char* path = std::getenv("PATH");
    REQUIRE(path != nullptr);
    REQUIRE(cmd->env.count("PATH") == 1);
    CHECK(cmd->env.at("PATH") == path);
    REQUIRE(::setenv("MESH_BOOTSTRAP_COMMAND_TEST", "a=b c", 1) == 0);
    auto later = bootstrap_command::current();
    ::unsetenv("MESH_BOOTSTRAP_COMMAND_TEST");
    REQUIRE(later);
    REQUIRE(later->env.count("MESH_BOOTSTRAP_COMMAND_TEST") == 1);
    CHECK(later->env.at("MESH_BOOTSTRAP_COMMAND_TEST") == "a=b c");
  }

  TEST_CASE("argv() starts with the program when there is no arg0") {
    bootstrap_command cmd;
    cmd.program = "/bin/echo";
    cmd.args = {"hello", "world"};
    CHECK(cmd.argv() ==
          std::vector<std::string>{"/bin/echo", "hello", "world"});
    cmd.args.clear();
    CHECK(cmd.argv() == std::vector<std::string>{"/bin/echo"});
  }

  TEST_CASE("argv() starts with arg0 when it is set") {
    CHECK(worker().argv() ==
          std::vector<std::string>{"worker", "--role", "proc"});
  }

  TEST_CASE("to_string() shows program and args, quoting only where needed") {
    bootstrap_command cmd;
    cmd.program = "/usr/bin/python3";
    cmd.args = {"-m",        "pkg.main", "--name=a,b:c@d%e+f",
                "two words", "it's",     "",
                "$HOME",     "a\nb"};
    cmd.env = {{"SECRET", "hidden"}};
    cmd.arg0 = "python";
    CHECK(cmd.to_string() ==
          "/usr/bin/python3 -m pkg.main --name=a,b:c@d%e+f 'two words' "
          "'it'\\''s' '' '$HOME' 'a\nb'");
    cmd.program = "my prog";
    cmd.args.clear();
    CHECK(cmd.to_string() == "'my prog'");
  }

  TEST_CASE("bootstrap_command equality compares program, arg0, args and env") {
    auto a = worker();
    CHECK(a == worker());
    auto b = worker();
    b.program = "/other";
    CHECK(a != b);
    b = worker();
    b.arg0.reset();
    CHECK(a != b);
    b = worker();
    b.args.push_back("x");
    CHECK(a != b);
    b = worker();
    b.env["X"] = "1";
    CHECK(a != b);
  }

  TEST_CASE("proc_bind is empty only without keys and compares every key") {
    CHECK(proc_bind{}.empty());
    for (int key = 0; key < 4; ++key) {
      proc_bind bind;
      std::optional<std::string>* members[] = {&bind.cpunodebind, &bind.membind,
                                               &bind.physcpubind, &bind.cpus};
      *members[key] = "0";
      CHECK_FALSE(bind.empty());
      CHECK(bind != proc_bind{});
      CHECK(bind == bind);
    }
  }

  TEST_CASE("wrapping without binding keys leaves the command unchanged") {
    CHECK(wrap_for_binding(worker(), proc_bind{}, true) == worker());
    CHECK(wrap_for_binding(worker(), proc_bind{}, false) == worker());
  }

  TEST_CASE("with NUMA, numactl gets the present options in fixed order") {
    proc_bind bind;
    bind.physcpubind = "0-3";
    bind.membind = "1";
    bind.cpunodebind = "0";
    auto cmd = wrap_for_binding(worker(), bind, true);
    CHECK(cmd.program == "numactl");
    CHECK_FALSE(cmd.arg0);
    CHECK(cmd.args == std::vector<std::string>{
                        "--cpunodebind=0", "--membind=1", "--physcpubind=0-3",
                        "/opt/bin/worker", "--role", "proc"});
  }

  TEST_CASE("with NUMA, each numactl key alone gives one option") {
    const char* options[] = {"--cpunodebind=", "--membind=", "--physcpubind="};
    for (int key = 0; key < 3; ++key) {
      proc_bind bind;
      std::optional<std::string>* members[] = {&bind.cpunodebind, &bind.membind,
                                               &bind.physcpubind};
      *members[key] = "2";
      auto cmd = wrap_for_binding(worker(), bind, true);
      CAPTURE(key);
      CHECK(cmd.program == "numactl");
      CHECK(cmd.args ==
            std::vector<std::string>{std::string{options[key]} + "2",
                                     "/opt/bin/worker", "--role", "proc"});
    }
  }

  TEST_CASE("with NUMA, numactl keys win over cpus") {
    proc_bind bind;
    bind.membind = "0";
    bind.cpus = "0-7";
    auto cmd = wrap_for_binding(worker(), bind, true);
    CHECK(cmd.program == "numactl");
    CHECK(cmd.args == std::vector<std::string>{"--membind=0", "/opt/bin/worker",
                                               "--role", "proc"});
  }

  TEST_CASE("without NUMA, numactl keys alone leave the command unbound") {
    proc_bind bind;
    bind.cpunodebind = "0";
    bind.membind = "0";
    bind.physcpubind = "0";
    CHECK(wrap_for_binding(worker(), bind, false) == worker());
  }

  TEST_CASE("without NUMA, cpus still binds with taskset") {
    proc_bind bind;
    bind.cpunodebind = "0";
    bind.cpus = "1,3";
    auto cmd = wrap_for_binding(worker(), bind, false);
    CHECK(cmd.program == "taskset");
    CHECK_FALSE(cmd.arg0);
    CHECK(cmd.args == std::vector<std::string>{"-c", "1,3", "/opt/bin/worker",
                                               "--role", "proc"});
  }

  TEST_CASE("with NUMA, cpus alone binds with taskset") {
    proc_bind bind;
    bind.cpus = "0";
    auto cmd = wrap_for_binding(worker(), bind, true);
    CHECK(cmd.program == "taskset");
    CHECK(cmd.args == std::vector<std::string>{"-c", "0", "/opt/bin/worker",
                                               "--role", "proc"});
  }

  TEST_CASE("every key combination picks the wrapper the rule names") {
    for (int mask = 0; mask < 16; ++mask) {
      for (bool numa : {false, true}) {
        proc_bind bind;
        if (mask & 1)
          bind.cpunodebind = "0";
        if (mask & 2)
          bind.membind = "0";
        if (mask & 4)
          bind.physcpubind = "0";
        if (mask & 8)
          bind.cpus = "0";
        bool numactl_key = (mask & 7) != 0;
        auto cmd = wrap_for_binding(worker(), bind, numa);
        CAPTURE(mask);
        CAPTURE(numa);
        if (numa && numactl_key)
          CHECK(cmd.program == "numactl");
        else if (mask & 8)
          CHECK(cmd.program == "taskset");
        else
          CHECK(cmd == worker());
        // The wrapped program and args always end the argument list.
        REQUIRE(cmd.args.size() >= 2);
        CHECK(std::vector<std::string>(cmd.args.end() - 2, cmd.args.end()) ==
              worker().args);
        CHECK(cmd.env == worker().env);
      }
    }
  }

  TEST_CASE("wrapping keeps env and drops arg0") {
    proc_bind bind;
    bind.cpus = "0";
    auto original = worker();
    REQUIRE(original.arg0);
    auto cmd = wrap_for_binding(original, bind, false);
    CHECK(cmd.env == original.env);
    CHECK_FALSE(cmd.arg0);
    // The original arg0 appears nowhere: the wrapper runs the program by path.
    for (auto& arg : cmd.args)
      CHECK(arg != *original.arg0);
    CHECK(cmd.argv().front() == "taskset");
  }

  TEST_CASE("numa_available() reports whether node0 exists") {
    struct stat info;
    bool expected = ::stat("/sys/devices/system/node/node0", &info) == 0 &&
                    S_ISDIR(info.st_mode);
    CHECK(mesh::numa_available() == expected);
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "a command wrapped by taskset runs on the given CPU") {
    if (!on_path("taskset")) {
      MESSAGE("taskset is not installed: skipped");
      return;
    }
    bootstrap_command cmd;
    cmd.program = "/bin/sh";
    cmd.args = {"-c", "cat /proc/self/status"};
    cmd.env = {{"MESH_WRAPPED", "yes"}};
    proc_bind bind;
    bind.cpus = "0";
    auto wrapped = wrap_for_binding(cmd, bind, mesh::numa_available());
    REQUIRE(wrapped.program == "taskset");
    auto res =
      mesh::test::run(wrapped.argv(), std::chrono::seconds{30}, wrapped.env);
    REQUIRE(res.exit_code);
    CHECK(*res.exit_code == 0);
    CHECK(res.out.find("Cpus_allowed_list:\t0\n") != std::string::npos);
  }

} // TEST_SUITE
