// Mesh files: the examples in config/ parse to what they say, every rule of
// the schema is enforced with a positioned diagnostic, and no input makes the
// parser throw or crash.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mesh/mesh_file.hpp"
#include "support/process.hpp"

namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mesh::mesh_file load_valid(const std::string& relative) {
  auto result = mesh::load_mesh_file(mesh::test::source_path(relative));
  for (const auto& diagnostic : result.diagnostics)
    FAIL_CHECK(diagnostic.to_string());
  REQUIRE(result.file);
  return *result.file;
}

// Every diagnostic on its own line, for failure messages.
std::string messages(const mesh::mesh_file_result& result) {
  std::string out;
  for (const auto& diagnostic : result.diagnostics)
    out += "\n  " + diagnostic.to_string();
  return out;
}

// The single diagnostic of parsing `text`, which must be invalid.
mesh::mesh_file_diagnostic only_diagnostic(const std::string& text) {
  auto result = mesh::parse_mesh_file(text, "t.yaml");
  CHECK_FALSE(result.file);
  INFO(messages(result));
  REQUIRE(result.diagnostics.size() == 1);
  return result.diagnostics.front();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A valid mesh file with one proc mesh; `hosts` and `extra` are spliced in.
std::string mesh_text(const std::string& hosts, const std::string& extra = "") {
  return "hosts:\n" + hosts + "proc_meshes:\n  - name: workers\n" +
         "    per_host: {gpus: 2}\n" + extra;
}

// One `# expect: LINE:COL: text` line of a malformed file.
struct expectation {
  size_t line = 0;
  size_t column = 0;
  std::string text;
};

std::vector<expectation> expectations_of(const std::string& content) {
  std::vector<expectation> result;
  std::istringstream in{content};
  std::string line;
  const std::string prefix = "# expect: ";
  while (std::getline(in, line) && line.rfind(prefix, 0) == 0) {
    expectation x;
    std::istringstream fields{line.substr(prefix.size())};
    char colon1 = 0;
    char colon2 = 0;
    fields >> x.line >> colon1 >> x.column >> colon2;
    std::getline(fields, x.text);
    if (!x.text.empty() && x.text.front() == ' ')
      x.text.erase(0, 1);
    REQUIRE_MESSAGE(colon1 == ':', line);
    REQUIRE_MESSAGE(colon2 == ':', line);
    result.push_back(x);
  }
  return result;
}

} // namespace

TEST_SUITE("mesh_file") {

  TEST_CASE(
    "config/local.yaml is the demo: a local host, workers and servers") {
    auto file = load_valid("config/local.yaml");
    CHECK(file.hosts.mode == mesh::host_mode::local);
    CHECK_FALSE(file.hosts.hosts);
    CHECK(file.hosts.addresses.empty());
    REQUIRE(file.proc_meshes.size() == 2);
    const auto& workers = file.proc_meshes[0];
    CHECK(workers.name == "workers");
    CHECK(workers.per_host == mesh::extent{{"gpus", 4}});
    CHECK(workers.env.at("MESH_DEMO_ROLE") == "worker");
    REQUIRE(workers.actors.size() == 1);
    CHECK(workers.actors[0].name == "echoes");
    CHECK(workers.actors[0].type == "echo");
    const auto& servers = file.proc_meshes[1];
    CHECK(servers.name == "servers");
    CHECK(servers.per_host == mesh::extent{{"replicas", 2}});
    REQUIRE(servers.actors.size() == 1);
    CHECK(servers.actors[0].type == "echo");
    CHECK(file.config.at("proc_spawn_max_idle") == "30s");
    CHECK(file.num_hosts() == 1);
    CHECK(file.num_procs() == 6);
  }

  TEST_CASE("config/in_process.yaml has one in-process host and two procs") {
    auto file = load_valid("config/in_process.yaml");
    CHECK(file.hosts.mode == mesh::host_mode::in_process);
    CHECK_FALSE(file.hosts.bootstrap);
    REQUIRE(file.proc_meshes.size() == 1);
    CHECK(file.proc_meshes[0].per_host == mesh::extent{{"procs", 2}});
    CHECK_FALSE(file.proc_meshes[0].proc_bind);
    CHECK(file.num_procs() == 2);
  }

  TEST_CASE("config/process.yaml has a host extent of two and bound procs") {
    auto file = load_valid("config/process.yaml");
    CHECK(file.hosts.mode == mesh::host_mode::process);
    REQUIRE(file.hosts.hosts);
    CHECK(*file.hosts.hosts == mesh::extent{{"hosts", 2}});
    CHECK(file.host_extent() == mesh::extent{{"hosts", 2}});
    REQUIRE(file.proc_meshes.size() == 1);
    const auto& trainers = file.proc_meshes[0];
    REQUIRE(trainers.proc_bind);
    REQUIRE(trainers.proc_bind->size() == 2);
    CHECK((*trainers.proc_bind)[0].cpus == "0");
    CHECK((*trainers.proc_bind)[1].cpus == "1");
    CHECK_FALSE((*trainers.proc_bind)[0].membind);
    CHECK(file.num_hosts() == 2);
    CHECK(file.num_procs() == 4);
  }

  TEST_CASE("config/attach.yaml attaches to two loopback hosts") {
    auto file = load_valid("config/attach.yaml");
    CHECK(file.hosts.mode == mesh::host_mode::attach);
    CHECK(file.hosts.addresses ==
          std::vector<std::string>{"127.0.0.1:26600", "127.0.0.1:26601"});
    CHECK(file.host_extent() == mesh::extent{{"hosts", 2}});
    CHECK(file.num_procs() == 4);
    CHECK(file.config.at("attach_config_timeout") == "30s");
  }

  TEST_CASE("config/slurm.yaml asks Slurm for a job of two nodes") {
    auto file = load_valid("config/slurm.yaml");
    CHECK(file.hosts.mode == mesh::host_mode::slurm);
    CHECK(file.hosts.allocation == mesh::slurm_allocation::job);
    REQUIRE(file.hosts.slurm);
    const auto& opts = *file.hosts.slurm;
    CHECK(opts.nodes == 2);
    CHECK(opts.hosts_per_node == 1);
    CHECK(opts.partition == "debug");
    CHECK(opts.account.empty());
    CHECK(opts.time_limit == "10"); // 10m in Slurm's minutes
    CHECK(opts.job_name == "libmesh-demo");
    CHECK(opts.sbatch_args == std::vector<std::string>{"--exclusive"});
    CHECK(opts.env.at("OMP_NUM_THREADS") == "1");
    CHECK(opts.owner_timeout == std::chrono::seconds{60});
    CHECK(opts.start_timeout == mesh::duration{0});
    CHECK_FALSE(opts.proc_command);
    CHECK(file.host_extent() == mesh::extent{{"hosts", 2}});
    CHECK(file.num_hosts() == 2);
    CHECK(file.num_procs() == 4);
  }

  TEST_CASE("mode slurm alone is one node, one host, Slurm's defaults") {
    auto result = mesh::parse_mesh_file(mesh_text("  mode: slurm\n"), "t.yaml");
    INFO(messages(result));
    REQUIRE(result.file);
    const auto& hosts = result.file->hosts;
    REQUIRE(hosts.slurm);
    mesh::slurm::job_options defaults;
    CHECK(hosts.allocation == mesh::slurm_allocation::job);
    CHECK(hosts.slurm->nodes == 1);
    CHECK(hosts.slurm->hosts_per_node == 1);
    CHECK(hosts.slurm->partition.empty());
    CHECK(hosts.slurm->time_limit.empty());
    CHECK(hosts.slurm->job_name == defaults.job_name);
    CHECK(hosts.slurm->spool_root.empty());
    CHECK(hosts.slurm->meshd.empty());
    CHECK(hosts.slurm->owner_timeout == defaults.owner_timeout);
    CHECK(hosts.slurm->poll_interval == defaults.poll_interval);
    CHECK(hosts.slurm->start_timeout == defaults.start_timeout);
    CHECK(result.file->num_hosts() == 1);
    CHECK(result.file->num_procs() == 2);
  }

  TEST_CASE("mode slurm reads every key") {
    auto result = mesh::parse_mesh_file(
      mesh_text("  mode: slurm\n  allocation: job\n  nodes: 3\n"
                "  hosts_per_node: 2\n  partition: gpu,debug\n"
                "  account: proj-1\n  time: 1-12:00:00\n  job_name: my job\n"
                "  sbatch_args: [--constraint=a100, --qos=high]\n"
                "  env: {A: '1', B_2: two words}\n  meshd: /opt/bin/meshd\n"
                "  spool: /shared/spool\n  owner_timeout: 2m\n"
                "  start_timeout: 30m\n  poll_interval: 250ms\n"
                "  bootstrap: {program: /opt/bin/app, args: [--worker]}\n"),
      "t.yaml");
    INFO(messages(result));
    REQUIRE(result.file);
    const auto& hosts = result.file->hosts;
    REQUIRE(hosts.slurm);
    const auto& opts = *hosts.slurm;
    CHECK(opts.nodes == 3);
    CHECK(opts.hosts_per_node == 2);
    CHECK(opts.partition == "gpu,debug");
    CHECK(opts.account == "proj-1");
    CHECK(opts.time_limit == "1-12:00:00");
    CHECK(opts.job_name == "my job");
    CHECK(opts.sbatch_args ==
          std::vector<std::string>{"--constraint=a100", "--qos=high"});
    CHECK(opts.env == std::map<std::string, std::string>{{"A", "1"},
                                                          {"B_2", "two words"}});
    CHECK(opts.meshd == "/opt/bin/meshd");
    CHECK(opts.spool_root == "/shared/spool");
    CHECK(opts.owner_timeout == std::chrono::minutes{2});
    CHECK(opts.start_timeout == std::chrono::minutes{30});
    CHECK(opts.poll_interval == std::chrono::milliseconds{250});
    REQUIRE(hosts.bootstrap);
    CHECK(hosts.bootstrap->program == "/opt/bin/app");
    CHECK(result.file->host_extent() == mesh::extent{{"hosts", 6}});
    CHECK(result.file->num_procs() == 12);
    auto summary = result.file->summary();
    CHECK(contains(summary, "hosts: slurm, 6 hosts\n"));
    CHECK(contains(summary, "slurm: a new batch job (sbatch) named my job, 3 "
                            "nodes, 2 hosts per node\n"));
    CHECK(contains(summary, "request: partition gpu,debug, account proj-1, "
                            "--time=1-12:00:00, --constraint=a100, "
                            "--qos=high\n"));
    CHECK(contains(summary, "env: 2 variables"));
    CHECK(contains(summary, "meshd: /opt/bin/meshd"));
    CHECK(contains(summary, "spool: /shared/spool"));
    CHECK(contains(summary, "owner timeout 2m, start timeout 30m, poll every "
                            "250ms"));
    CHECK(contains(summary, "total: 6 hosts, 12 procs"));
  }

  TEST_CASE("a slurm time limit is Slurm's syntax or one of our durations") {
    // The file's text, and what sbatch --time gets.
    std::pair<const char*, const char*> cases[] = {
      {"10", "10"},           {"10:00", "10:00"},
      {"1:00:00", "1:00:00"}, {"2-0", "2-0"},
      {"2-12:30", "2-12:30"}, {"0-00:10:00", "0-00:10:00"},
      {"UNLIMITED", "UNLIMITED"}, {"infinite", "infinite"},
      {"0", "0"},             {"10m", "10"},
      {"2h", "120"},          {"90s", "00:01:30"},
      {"86401s", "1-00:00:01"}, {"3600000ms", "60"},
    };
    for (auto [text, sbatch] : cases) {
      CAPTURE(text);
      auto result = mesh::parse_mesh_file(
        mesh_text("  mode: slurm\n  time: '" + std::string{text} + "'\n"),
        "t.yaml");
      INFO(messages(result));
      REQUIRE(result.file);
      CHECK(result.file->hosts.slurm->time_limit == sbatch);
    }
    for (auto text : {"soon", "1-", "-1", "1::2", "1:2:3:4", "1-2-3", "10 m",
                      "1d", "0s", "500ms", "1234567890", "1:"}) {
      CAPTURE(text);
      auto d = only_diagnostic(
        mesh_text("  mode: slurm\n  time: '" + std::string{text} + "'\n"));
      CHECK(d.line == 3);
      CHECK(d.column == 9);
      CHECK(contains(d.message, "invalid time limit"));
    }
  }

  TEST_CASE("mode slurm in the current allocation runs on all its nodes") {
    auto result = mesh::parse_mesh_file(
      mesh_text("  mode: slurm\n  allocation: current\n  hosts_per_node: 2\n"
                "  spool: /shared/spool\n"),
      "t.yaml");
    INFO(messages(result));
    REQUIRE(result.file);
    const auto& hosts = result.file->hosts;
    CHECK(hosts.allocation == mesh::slurm_allocation::current);
    REQUIRE(hosts.slurm);
    CHECK(hosts.slurm->nodes == 0); // every node of the allocation
    CHECK(result.file->num_hosts() == 0);
    CHECK(result.file->num_procs() == 0);
    CHECK(result.file->host_extent().num_ranks() == 0);
    auto summary = result.file->summary();
    CHECK(contains(summary, "hosts: slurm, 2 hosts per node\n"));
    CHECK(contains(summary, "slurm: in the current allocation (srun "
                            "--overlap), on all its nodes, 2 hosts per node"));
    CHECK(contains(summary, "proc mesh workers: {gpus: 2} per host, 4 procs "
                            "per node"));
    CHECK(contains(summary, "total: 2 hosts per node, 4 procs per node"));
    auto two = mesh::parse_mesh_file(
      mesh_text("  mode: slurm\n  allocation: current\n  nodes: 2\n"),
      "t.yaml");
    REQUIRE(two.file);
    CHECK(two.file->num_hosts() == 2);
    CHECK(contains(two.file->summary(), "on 2 nodes, 1 host per node"));
  }

  TEST_CASE("slurm keys are errors in other modes and job keys in an "
            "allocation") {
    auto d = only_diagnostic(mesh_text("  mode: attach\n  addresses: [h:1]\n"
                                       "  partition: debug\n"));
    CHECK(d.line == 4);
    CHECK(d.column == 3);
    CHECK(d.message == "'partition' is only allowed with mode slurm, not "
                       "attach");
    auto job_name = only_diagnostic(mesh_text(
      "  mode: slurm\n  allocation: current\n  job_name: x\n"));
    CHECK(job_name.line == 4);
    CHECK(job_name.message == "'job_name' is only allowed with allocation "
                              "job: inside an allocation, it is the "
                              "allocation's own");
  }

  TEST_CASE("sbatch_args may not set what a key or libmesh sets") {
    for (auto arg : {"--nodes=2", "--nodes 2", "-N", "--ntasks-per-node=2",
                     "--ntasks=4", "-n4", "--partition", "-pdebug",
                     "--account=x", "-Ax", "--time=5", "-t5", "--job-name=x",
                     "-Jx", "--output=x", "-ox", "--parsable", "--wrap=ls",
                     "--export=NONE"}) {
      CAPTURE(arg);
      auto d = only_diagnostic(mesh_text(
        "  mode: slurm\n  sbatch_args: ['" + std::string{arg} + "']\n"));
      CHECK(d.line == 3);
      CHECK(contains(d.message, "is set by"));
    }
    auto ok = mesh::parse_mesh_file(
      mesh_text("  mode: slurm\n  sbatch_args: [--nodelist=n1, --ntasks-per-"
                "core=1, --exclusive, --comment=a b, -C gpu]\n"),
      "t.yaml");
    INFO(messages(ok));
    REQUIRE(ok.file);
    CHECK(ok.file->hosts.slurm->sbatch_args.size() == 5);
  }

  TEST_CASE("every malformed file yields exactly the diagnostics it expects") {
    auto dir = mesh::test::source_path("test/data/mesh_files/invalid");
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator{dir})
      if (item.path().extension() == ".yaml")
        files.push_back(item.path());
    std::sort(files.begin(), files.end());
    CHECK(files.size() >= 30);
    for (const auto& path : files) {
      CAPTURE(path.filename().string());
      auto content = read_text(path.string());
      auto expected = expectations_of(content);
      REQUIRE_MESSAGE(!expected.empty(), "no '# expect:' line");
      auto result = mesh::parse_mesh_file(content, path.string());
      auto got = messages(result);
      CAPTURE(got);
      CHECK_FALSE(result.file);
      CHECK(result.diagnostics.size() == expected.size());
      std::vector<bool> used(result.diagnostics.size(), false);
      for (const auto& x : expected) {
        CAPTURE(x.line);
        CAPTURE(x.column);
        CAPTURE(x.text);
        auto found = false;
        for (size_t i = 0; i < result.diagnostics.size() && !found; ++i) {
          const auto& d = result.diagnostics[i];
          if (!used[i] && d.line == x.line && d.column == x.column &&
              contains(d.message, x.text) && d.file == path.string()) {
            used[i] = true;
            found = true;
          }
        }
        CHECK_MESSAGE(found, "expectation not met");
      }
    }
  }

  TEST_CASE("a file with three distinct errors reports all three positions") {
    auto result = mesh::load_mesh_file(
      mesh::test::source_path("test/data/mesh_files/three_errors.yaml"));
    CHECK_FALSE(result.file);
    INFO(messages(result));
    REQUIRE(result.diagnostics.size() == 3);
    CHECK(result.diagnostics[0].line == 5);
    CHECK(result.diagnostics[0].column == 3);
    CHECK(contains(result.diagnostics[0].message,
                   "unknown key 'adresses' (did you mean 'addresses'?)"));
    CHECK(result.diagnostics[1].line == 8);
    CHECK(result.diagnostics[1].column == 22);
    CHECK(contains(result.diagnostics[1].message, "size of 'gpus'"));
    CHECK(result.diagnostics[2].line == 13);
    CHECK(result.diagnostics[2].column == 22);
    CHECK(contains(result.diagnostics[2].message, "terminate_timeout"));
  }

  TEST_CASE("an unknown key close to a known one gets a suggestion") {
    auto d = only_diagnostic(mesh_text("  mode: local\n  bootstap: {}\n"));
    CHECK(d.line == 3);
    CHECK(d.column == 3);
    CHECK(d.message == "unknown key 'bootstap' (did you mean 'bootstrap'?)");
  }

  TEST_CASE("an unknown key far from every known one lists the allowed keys") {
    auto d = only_diagnostic(mesh_text("  mode: local\n  zzz: 1\n"));
    CHECK(d.message ==
          "unknown key 'zzz' in hosts (allowed: mode, extent, addresses, "
          "bootstrap, allocation, nodes, hosts_per_node, partition, account, "
          "time, job_name, sbatch_args, env, meshd, spool, owner_timeout, "
          "start_timeout, poll_interval)");
  }

  TEST_CASE("a duplicated key is reported at its second occurrence") {
    auto d = only_diagnostic(mesh_text("  mode: local\n  mode: process\n"));
    CHECK(d.line == 3);
    CHECK(d.column == 3);
    CHECK(d.message == "duplicate key 'mode' (first at line 2, column 3)");
  }

  TEST_CASE("a missing required key is reported at the mapping that lacks it") {
    auto d = only_diagnostic("hosts:\n  mode: local\nproc_meshes:\n"
                             "  - name: workers\n");
    CHECK(d.line == 4);
    CHECK(d.column == 5);
    CHECK(d.message == "missing required key 'per_host' in proc_meshes[0]");
  }

  TEST_CASE("mode process requires a host extent and uses its labels") {
    auto missing = only_diagnostic(mesh_text("  mode: process\n"));
    CHECK(contains(missing.message, "mode process requires 'extent'"));
    auto result = mesh::parse_mesh_file(
      mesh_text("  mode: process\n  extent: {nodes: 3}\n"), "t.yaml");
    REQUIRE(result.file);
    CHECK(result.file->num_hosts() == 3);
    CHECK(result.file->num_procs() == 6);
    CHECK(result.file->host_extent() == mesh::extent{{"nodes", 3}});
  }

  TEST_CASE("attach accepts bracketed IPv6 addresses and rejects bad ports") {
    auto ok = mesh::parse_mesh_file(
      mesh_text("  mode: attach\n  addresses: ['[::1]:26600', "
                "localhost:65535]\n"),
      "t.yaml");
    INFO(messages(ok));
    REQUIRE(ok.file);
    CHECK(ok.file->num_hosts() == 2);
    auto bad = only_diagnostic(
      mesh_text("  mode: attach\n  addresses: [localhost:65536]\n"));
    CHECK(bad.column == 15);
    CHECK(contains(bad.message, "the port must be a number from 1 to 65535"));
  }

  TEST_CASE("in_process says that bootstrap would be ignored") {
    auto d = only_diagnostic(
      mesh_text("  mode: in_process\n  bootstrap: {program: /bin/true}\n"));
    CHECK(d.line == 3);
    CHECK(contains(d.message, "would be ignored with mode in_process"));
    CHECK(contains(d.message, "remove it"));
  }

  TEST_CASE("extent sizes must be positive integers within the limit") {
    for (auto size : {"0", "-1", "1.5", "two", "\"3\"", "[2]", "~"}) {
      CAPTURE(size);
      auto d = only_diagnostic("hosts: {mode: local}\nproc_meshes:\n  - name: "
                               "w\n    per_host: {gpus: " +
                               std::string{size} + "}\n");
      CHECK(d.line == 4);
      CHECK(contains(d.message, "size of 'gpus' must be a positive integer"));
    }
    auto big = only_diagnostic("hosts: {mode: local}\nproc_meshes:\n  - name: "
                               "w\n    per_host: {gpus: 1000001}\n");
    CHECK(contains(big.message, "more than the limit of 1000000"));
    auto max = mesh::parse_mesh_file("hosts: {mode: local}\nproc_meshes:\n  - "
                                     "name: w\n    per_host: {gpus: 1000000}\n",
                                     "t.yaml");
    CHECK(max.file);
  }

  TEST_CASE("per_host labels must differ from the host labels") {
    auto d = only_diagnostic("hosts: {mode: attach, addresses: [h:1]}\n"
                             "proc_meshes:\n  - name: w\n"
                             "    per_host: {hosts: 2}\n");
    CHECK(d.line == 4);
    CHECK(contains(d.message, "'hosts' is also a host dimension"));
  }

  TEST_CASE("proc_bind needs one entry per per-host rank") {
    auto d = only_diagnostic(mesh_text(
      "  mode: local\n", "    proc_bind: [{cpus: '0'}, {}, {cpus: '1'}]\n"));
    CHECK(d.line == 6);
    CHECK(d.column == 16);
    CHECK(d.message ==
          "proc_bind has 3 entries but per_host {gpus: 2} has 2 ranks; give "
          "one entry per rank");
    auto ok = mesh::parse_mesh_file(
      mesh_text("  mode: local\n",
                "    proc_bind: [{cpunodebind: '0', membind: '0'}, {}]\n"),
      "t.yaml");
    REQUIRE(ok.file);
    const auto& bind = *ok.file->proc_meshes[0].proc_bind;
    CHECK(bind[0].cpunodebind == "0");
    CHECK(bind[0].membind == "0");
    CHECK(bind[1].empty());
  }

  TEST_CASE("environment variable names must not contain '='") {
    auto d = only_diagnostic(mesh_text(
      "  mode: local\n  bootstrap:\n    program: x\n    env: {'A=1': b}\n"));
    CHECK(d.line == 5);
    CHECK(d.column == 11);
    CHECK(contains(d.message, "invalid environment variable name 'A=1'"));
  }

  TEST_CASE("config values are checked with the registry's own message") {
    auto d = only_diagnostic(
      mesh_text("  mode: local\n", "config:\n  terminate_timeout: soon\n"));
    CHECK(d.line == 7);
    CHECK(d.column == 22);
    CHECK(contains(d.message, "terminate_timeout"));
    CHECK(contains(d.message, "soon"));
    auto typo = only_diagnostic(
      mesh_text("  mode: local\n", "config:\n  terminate_timout: 5s\n"));
    CHECK(typo.message == "unknown config key 'terminate_timout' (did you mean "
                          "'terminate_timeout'?)");
  }

  TEST_CASE("nested config mappings name dotted keys") {
    auto result = mesh::parse_mesh_file(
      mesh_text(
        "  mode: local\n",
        "config:\n  tls:\n    cafile: /etc/ca.pem\n  tail_log_lines: 5\n"),
      "t.yaml");
    INFO(messages(result));
    REQUIRE(result.file);
    CHECK(result.file->config.at("tls.cafile") == "/etc/ca.pem");
    CHECK(result.file->config.at("tail_log_lines") == "5");
    auto twice = only_diagnostic(mesh_text(
      "  mode: local\n", "config:\n  tls.key: a\n  tls:\n    key: b\n"));
    CHECK(twice.line == 9);
    CHECK(twice.message == "duplicate config key 'tls.key'");
  }

  TEST_CASE("anchors without aliases are accepted") {
    auto result = mesh::parse_mesh_file(
      mesh_text("  mode: &m local\n", "config: &c {tail_log_lines: 7}\n"),
      "t.yaml");
    INFO(messages(result));
    REQUIRE(result.file);
    CHECK(result.file->config.at("tail_log_lines") == "7");
  }

  TEST_CASE("a YAML syntax error is reported at its 1-based position") {
    auto d = only_diagnostic("hosts:\n  mode: [local\nproc_meshes: []\n");
    CHECK(d.line == 3);
    CHECK(contains(d.message, "YAML syntax error"));
    CHECK(d.to_string().rfind("t.yaml:3:", 0) == 0);
  }

  TEST_CASE("a tab in the indentation is named as the cause") {
    auto d = only_diagnostic("hosts:\n  mode: local\n\tproc_meshes: []\n");
    CHECK(d.line == 3);
    CHECK(contains(d.message, "tabs are not allowed"));
  }

  TEST_CASE("binary garbage gives a clean diagnostic with escaped bytes") {
    std::string garbage;
    for (int i = 0; i < 512; ++i)
      garbage += static_cast<char>((i * 7919 + 13) % 256);
    auto result = mesh::parse_mesh_file(garbage, "garbage.bin");
    CHECK_FALSE(result.file);
    REQUIRE_FALSE(result.diagnostics.empty());
    for (const auto& d : result.diagnostics)
      for (char ch : d.message) {
        auto byte = static_cast<unsigned char>(ch);
        CHECK((byte >= 0x20 && byte < 0x7f));
      }
  }

  TEST_CASE("deep nesting is refused without exhausting the stack") {
    auto flow = only_diagnostic("hosts: " + std::string(100000, '[') + "\n");
    CHECK(contains(flow.message, "nesting deeper than 64 levels"));
    std::string block = "hosts:\n";
    for (size_t i = 1; i < 200; ++i)
      block += std::string(i * 2, ' ') + "k:\n";
    auto nested = only_diagnostic(block);
    CHECK(contains(nested.message, "nesting deeper than 64 levels"));
  }

  TEST_CASE("an empty or comment-only file is a clean error") {
    for (auto text : {"", "\n\n", "# just a comment\n", "---\n"}) {
      CAPTURE(text);
      auto result = mesh::parse_mesh_file(text, "t.yaml");
      CHECK_FALSE(result.file);
      REQUIRE(result.diagnostics.size() == 1);
      CHECK(contains(result.diagnostics[0].message, "expected a mapping"));
    }
  }

  TEST_CASE("no prefix of a valid file makes the parser throw") {
    for (auto name : {"local", "in_process", "process", "attach", "slurm"}) {
      auto text =
        read_text(mesh::test::source_path("config/") + name + ".yaml");
      for (size_t n = 0; n <= text.size(); ++n) {
        mesh::mesh_file_result result;
        CHECK_NOTHROW(result = mesh::parse_mesh_file(text.substr(0, n), name));
        CHECK(result.file.has_value() == result.diagnostics.empty());
      }
    }
  }

  TEST_CASE("diagnostics are sorted by position") {
    auto result = mesh::parse_mesh_file(
      "config: {nope: 1}\nproc_meshes: []\nhosts: {mode: bad}\n", "t.yaml");
    REQUIRE(result.diagnostics.size() == 3);
    CHECK(result.diagnostics[0].line == 1);
    CHECK(result.diagnostics[1].line == 2);
    CHECK(result.diagnostics[2].line == 3);
  }

  TEST_CASE("a diagnostic renders as file:line:col: message") {
    mesh::mesh_file_diagnostic d{"a.yaml", 3, 7, "what is wrong"};
    CHECK(d.to_string() == "a.yaml:3:7: what is wrong");
    mesh::mesh_file_diagnostic whole{"a.yaml", 0, 0, "cannot open"};
    CHECK(whole.to_string() == "a.yaml: cannot open");
  }

  TEST_CASE("an unreadable file is one diagnostic without a position") {
    auto missing = mesh::load_mesh_file("/nonexistent/mesh.yaml");
    CHECK_FALSE(missing.file);
    REQUIRE(missing.diagnostics.size() == 1);
    CHECK(missing.diagnostics[0].line == 0);
    CHECK(missing.diagnostics[0].column == 0);
    CHECK(contains(missing.diagnostics[0].message, "No such file"));
    auto dir = mesh::load_mesh_file(mesh::test::source_path("config"));
    REQUIRE(dir.diagnostics.size() == 1);
    CHECK(contains(dir.diagnostics[0].message, "is a directory"));
  }

  TEST_CASE("to_error carries every diagnostic as an invalid_mesh_file error") {
    auto result =
      mesh::parse_mesh_file("hosts: {mode: bad}\nproc_meshes: []\n", "t.yaml");
    REQUIRE(result.diagnostics.size() == 2);
    auto err = mesh::to_error(result);
    CHECK(mesh::is(err, mesh::ec::invalid_mesh_file));
    auto text = mesh::to_string(err);
    CHECK(contains(text, "invalid mesh file"));
    CHECK(contains(text, result.diagnostics[0].to_string()));
    CHECK(contains(text, result.diagnostics[1].to_string()));
    auto valid =
      mesh::load_mesh_file(mesh::test::source_path("config/local.yaml"));
    CHECK_FALSE(mesh::to_error(valid));
  }

  TEST_CASE("the summary names the mode, every mesh and the totals") {
    auto file = load_valid("config/local.yaml");
    auto summary = file.summary();
    CHECK(contains(summary, "hosts: local, 1 host"));
    CHECK(contains(summary, "proc mesh workers: {gpus: 4} per host, 4 procs"));
    CHECK(contains(summary, "proc mesh servers: {replicas: 2} per host"));
    CHECK(contains(summary, "actor mesh echoes: type echo"));
    CHECK(contains(summary, "total: 1 host, 6 procs, 2 actor meshes"));
  }

  TEST_CASE("host modes have their file names") {
    CHECK(mesh::to_string(mesh::host_mode::local) == "local");
    CHECK(mesh::to_string(mesh::host_mode::in_process) == "in_process");
    CHECK(mesh::to_string(mesh::host_mode::process) == "process");
    CHECK(mesh::to_string(mesh::host_mode::attach) == "attach");
    CHECK(mesh::to_string(mesh::host_mode::slurm) == "slurm");
  }

} // TEST_SUITE
