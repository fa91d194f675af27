// meshctl as users run it: the real binary, its output streams and its exit
// codes (0 success, 1 the command failed, 2 a usage error).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace {

namespace fs = std::filesystem;

mesh::test::run_result meshctl(std::vector<std::string> args) {
  args.insert(args.begin(), mesh::test::build_path("tools/meshctl"));
  return mesh::test::run(args);
}

using mesh::test::lines_of;

using mesh::test::contains;

} // namespace

TEST_SUITE("meshctl") {

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "validate accepts every example in config/") {
    std::vector<std::string> files;
    for (const auto& item :
         fs::directory_iterator{mesh::test::source_path("config")})
      if (item.path().extension() == ".yaml")
        files.push_back(item.path().string());
    std::sort(files.begin(), files.end());
    CHECK(files.size() == 5);
    for (const auto& file : files) {
      CAPTURE(file);
      auto res = meshctl({"validate", file});
      CAPTURE(res.err);
      CHECK(res.exit_code == 0);
      CHECK(res.err.empty());
      CHECK(contains(res.out, file + ": valid mesh file"));
      CHECK(contains(res.out, "proc mesh "));
      CHECK(contains(res.out, "total: "));
    }
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "validate summarises the demo's proc meshes and actors") {
    auto res = meshctl({"validate", "config/local.yaml"});
    CHECK(res.exit_code == 0);
    CHECK(contains(res.out, "hosts: local, 1 host"));
    CHECK(contains(res.out, "proc mesh workers: {gpus: 4} per host, 4 procs"));
    CHECK(
      contains(res.out, "proc mesh servers: {replicas: 2} per host, 2 procs"));
    CHECK(contains(res.out, "actor mesh echoes: type echo"));
    CHECK(contains(res.out, "total: 1 host, 6 procs, 2 actor meshes"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "validate summarises what a slurm file asks Slurm for") {
    auto res = meshctl({"validate", "config/slurm.yaml"});
    CHECK(res.exit_code == 0);
    CHECK(res.err.empty());
    CHECK(contains(res.out, "hosts: slurm, 2 hosts\n"));
    CHECK(contains(res.out, "slurm: a new batch job (sbatch) named "
                            "libmesh-demo, 2 nodes, 1 host per node\n"));
    CHECK(contains(res.out, "  request: partition debug, --time=10, "
                            "--exclusive\n"));
    CHECK(contains(res.out, "  env: 1 variable\n"));
    CHECK(contains(res.out, "  owner timeout 1m, start timeout none, poll "
                            "every 500ms\n"));
    CHECK(contains(res.out, "proc mesh workers: {procs: 2} per host, 4 procs"));
    CHECK(contains(res.out, "total: 2 hosts, 4 procs, 1 actor mesh"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "validate names a misspelt slurm key with line and column") {
    auto file = "test/data/mesh_files/invalid/slurm_key_typo.yaml";
    auto res = meshctl({"validate", file});
    CHECK(res.exit_code == 1);
    CHECK(res.out.empty());
    CHECK(contains(res.err, std::string{file}
                              + ":4:3: unknown key 'partiton' (did you mean "
                                "'partition'?)"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "validate reports all three errors with line and column") {
    const std::string file = "test/data/mesh_files/three_errors.yaml";
    auto res = meshctl({"validate", file});
    CHECK(res.exit_code == 1);
    CHECK(res.out.empty());
    auto lines = lines_of(res.err);
    CAPTURE(res.err);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].rfind(file + ":5:3: unknown key 'adresses'", 0) == 0);
    CHECK(lines[1].rfind(file + ":8:22: size of 'gpus'", 0) == 0);
    CHECK(lines[2].rfind(file + ":13:22: ", 0) == 0);
    CHECK(contains(lines[2], "terminate_timeout"));
  }

  TEST_CASE_FIXTURE(
    mesh::test::reaped_fixture,
    "validate of a missing file fails with one line saying why") {
    auto res = meshctl({"validate", "no/such/mesh.yaml"});
    CHECK(res.exit_code == 1);
    auto lines = lines_of(res.err);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind("no/such/mesh.yaml: cannot open the file", 0) == 0);
    CHECK(contains(lines[0], "No such file or directory"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "validate of malformed YAML fails without crashing") {
    auto res =
      meshctl({"validate", "test/data/mesh_files/invalid/binary_garbage.yaml"});
    CHECK(res.exit_code == 1);
    CHECK_FALSE(res.signal);
    CHECK(contains(res.err, "binary_garbage.yaml:2:10: YAML syntax error"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "--help describes the subcommands and global options") {
    auto res = meshctl({"--help"});
    CHECK(res.exit_code == 0);
    CHECK(contains(res.out, "validate"));
    CHECK(contains(res.out, "--log-level"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "validate --help describes the FILE argument") {
    auto res = meshctl({"validate", "--help"});
    CHECK(res.exit_code == 0);
    CHECK(contains(res.out, "FILE"));
    CHECK(contains(res.out, "file:line:col"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "an unknown option is a usage error with exit code 2") {
    auto res = meshctl({"--frobnicate", "validate", "config/local.yaml"});
    CHECK(res.exit_code == 2);
    auto lines = lines_of(res.err);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "--frobnicate"));
  }

  TEST_CASE_FIXTURE(mesh::test::reaped_fixture,
                    "a missing subcommand or FILE is a usage error") {
    auto none = meshctl({});
    CHECK(none.exit_code == 2);
    CHECK(lines_of(none.err).size() == 1);
    auto no_file = meshctl({"validate"});
    CHECK(no_file.exit_code == 2);
    CHECK(contains(no_file.err, "FILE"));
  }

  TEST_CASE_FIXTURE(
    mesh::test::reaped_fixture,
    "--log-level accepts the spdlog levels and rejects others") {
    auto debug =
      meshctl({"--log-level", "debug", "validate", "config/local.yaml"});
    CHECK(debug.exit_code == 0);
    CHECK(contains(debug.err, "validating mesh file config/local.yaml"));
    CHECK(contains(debug.out, "valid mesh file"));
    auto after =
      meshctl({"validate", "config/local.yaml", "--log-level", "debug"});
    CHECK(after.exit_code == 0);
    CHECK(contains(after.err, "validating mesh file"));
    auto quiet =
      meshctl({"--log-level", "off", "validate", "config/local.yaml"});
    CHECK(quiet.exit_code == 0);
    CHECK(quiet.err.empty());
    auto bad =
      meshctl({"--log-level", "chatty", "validate", "config/local.yaml"});
    CHECK(bad.exit_code == 2);
    CHECK(contains(bad.err, "chatty"));
  }

} // TEST_SUITE
