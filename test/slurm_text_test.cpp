// The pure text of the Slurm allocator (core/slurm_record, core/slurm_submit,
// core/shell_quote, core/last_lines): scontrol's job record, job states, shell quoting, the
// task command and batch script (run by a real bash with a stand-in meshd
// that prints its arguments), sbatch's and srun's arguments, sbatch's
// answer, spool names. No Slurm is needed.
#include "libmesh/src/core/last_lines.hpp"
#include "libmesh/src/core/shell_quote.hpp"
#include "libmesh/src/core/slurm_record.hpp"
#include "libmesh/src/core/slurm_submit.hpp"
#include "mesh/error.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace mesh;
using namespace mesh::slurm;
using mesh::test::contains;
namespace fs = std::filesystem;

namespace {

// What scontrol 22.05 prints for a running batch job whose paths hold
// spaces (a Command with an argument, a WorkDir and StdOut with a blank).
constexpr const char* running_record =
  "JobId=42 JobName=libmesh UserId=root(0) GroupId=root(0) MCS_label=N/A "
  "Priority=4294901757 Nice=0 Account=(null) QOS=(null) JobState=RUNNING "
  "Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 "
  "ExitCode=0:0 RunTime=00:00:02 TimeLimit=00:01:00 TimeMin=N/A "
  "SubmitTime=2026-12-07T17:40:01 EligibleTime=2026-12-07T17:40:01 "
  "Partition=debug AllocNode:Sid=vm:1234 ReqNodeList=(null) "
  "ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=2 "
  "NumTasks=2 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=2,node=1,billing=2 "
  "Socks/Node=* NtasksPerN:B:S:C=2:0:*:* CoreSpec=* MinCPUsNode=2 "
  "Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 "
  "Licenses=(null) Network=(null) Command=/tmp/my spool/job.sh --flag "
  "WorkDir=/home/a user StdErr=/tmp/my spool/job.out StdIn=/dev/null "
  "StdOut=/tmp/my spool/job.out Power= \n";

constexpr const char* pending_record =
  "JobId=7 JobName=big JobState=PENDING Reason=Resources Dependency=(null) "
  "NodeList=(null) NumTasks=64 StdOut=/s/job.out Power=";

// A temporary directory whose name holds a blank, a quote and a '$'.
struct awkward_dir {
  std::string path;
  awkward_dir() {
    char tmpl[] = "/tmp/mesh-slurm-text-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = std::string{tmpl} + "/it's a $dir";
    fs::create_directories(path + "/hosts");
  }
  ~awkward_dir() {
    std::error_code ec;
    fs::remove_all(fs::path{path}.parent_path(), ec);
  }
};

// A stand-in for meshd: prints each argument in brackets, then the
// variables the task command exports.
std::string write_args_printer(const std::string& dir) {
  auto path = dir + "/print args";
  std::ofstream{path} << "#!/bin/sh\n"
                         "for a; do printf '[%s]\\n' \"$a\"; done\n"
                         "printf 'GREETING=[%s]\\n' \"${GREETING-unset}\"\n"
                         "printf 'MESH_BOOTSTRAP=[%s]\\n' "
                         "\"${MESH_BOOTSTRAP-unset}\"\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

std::string this_hostname() {
  char name[256] = {};
  REQUIRE(::gethostname(name, sizeof(name) - 1) == 0);
  return name;
}

} // namespace

TEST_CASE("a running job's record gives every field, values with blanks "
          "whole") {
  auto rec = parse_job_record(running_record);
  REQUIRE(rec);
  CHECK(rec->job_id() == "42");
  CHECK(rec->state() == "RUNNING");
  CHECK(rec->reason() == "None");
  CHECK(rec->get("NodeList") == "vm");
  CHECK(rec->get("NumTasks") == "2");
  CHECK(rec->get("AllocNode:Sid") == "vm:1234");
  CHECK(rec->get("CPUs/Task") == "1");
  CHECK(rec->get("ReqB:S:C:T") == "0:0:*:*");
  CHECK(rec->get("TRES") == "cpu=2,node=1,billing=2");
  CHECK(rec->get("Command") == "/tmp/my spool/job.sh --flag");
  CHECK(rec->get("WorkDir") == "/home/a user");
  CHECK(rec->get("StdOut") == "/tmp/my spool/job.out");
  CHECK(rec->get("Power") == "");
  CHECK(rec->find("Power") != nullptr);
  CHECK(rec->find("NoSuchKey") == nullptr);
  CHECK(rec->get("NoSuchKey") == "");
  CHECK(rec->fields.front().first == "JobId");
  CHECK(rec->fields.back().first == "Power");
}

TEST_CASE("a pending job's record gives its reason") {
  auto rec = parse_job_record(pending_record);
  REQUIRE(rec);
  CHECK(rec->state() == "PENDING");
  CHECK(rec->reason() == "Resources");
  CHECK(rec->get("NodeList") == "(null)");
}

TEST_CASE("only the first line is read, and blanks around fields go") {
  auto rec = parse_job_record("  JobId=1\tJobState=FAILED   Reason=NonZeroExitCode "
                              " \r\nJobId=2 JobState=RUNNING\n");
  REQUIRE(rec);
  CHECK(rec->job_id() == "1");
  CHECK(rec->state() == "FAILED");
  CHECK(rec->reason() == "NonZeroExitCode");
  CHECK(rec->fields.size() == 3);
}

TEST_CASE("a value holding '=' or starting like a key stays whole") {
  auto rec = parse_job_record("JobId=3 JobState=RUNNING Comment=a=b c=d "
                              "Name==x");
  REQUIRE(rec);
  // " c=d" looks like a field: Slurm's format cannot tell, so it is one.
  CHECK(rec->get("Comment") == "a=b");
  CHECK(rec->get("c") == "d");
  CHECK(rec->get("Name") == "=x");
}

TEST_CASE("render_job_record parses back to the same fields") {
  for (auto text : {running_record, pending_record}) {
    auto rec = parse_job_record(text);
    REQUIRE(rec);
    auto again = parse_job_record(render_job_record(*rec));
    REQUIRE(again);
    CHECK(again->fields == rec->fields);
  }
}

TEST_CASE("JobState's word ends before anything Slurm appends") {
  auto rec = parse_job_record("JobId=1 JobState=CANCELLED+ Reason=None");
  REQUIRE(rec);
  CHECK(rec->state() == "CANCELLED");
}

TEST_CASE("text that is not a job record is a parse error quoting it") {
  for (auto text :
       {"", "   \n", "slurm_load_jobs error: Invalid job id specified",
        "=x JobId=1", "JobId=1 Reason=None", "JobState=RUNNING",
        "\x01\xff JobId=1"}) {
    CAPTURE(text);
    auto rec = parse_job_record(text);
    REQUIRE_FALSE(rec);
    CHECK(is(rec.error(), ec::parse_error));
    CHECK(contains(mesh::to_string(rec.error()), "scontrol show job record"));
  }
  auto rec = parse_job_record("slurm_load_jobs error: Invalid job id");
  REQUIRE_FALSE(rec);
  CHECK(contains(mesh::to_string(rec.error()), "'slurm_load_jobs error"));
  auto binary = parse_job_record("JobState=\x01");
  REQUIRE_FALSE(binary);
  CHECK(contains(mesh::to_string(binary.error()), "\\x01"));
  // A long line is quoted in part.
  auto long_line = parse_job_record(std::string(500, 'x'));
  REQUIRE_FALSE(long_line);
  CHECK(mesh::to_string(long_line.error()).size() < 250);
}

TEST_CASE("job states map to what an allocator does with them") {
  for (auto s : {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD",
                 "SUSPENDED", "RESV_DEL_HOLD", "SOME_NEW_STATE", ""})
    CHECK(job_phase_of(s) == job_phase::waiting);
  CHECK(job_phase_of("RUNNING") == job_phase::running);
  for (auto s : {"COMPLETING", "SIGNALING", "STAGE_OUT"})
    CHECK(job_phase_of(s) == job_phase::ending);
  for (auto s : {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                 "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "PREEMPTED",
                 "REVOKED", "SPECIAL_EXIT"})
    CHECK(job_phase_of(s) == job_phase::ended);
  CHECK(is_unknown_job("slurm_load_jobs error: Invalid job id specified\n"));
  CHECK_FALSE(is_unknown_job("slurm_load_jobs error: Unable to contact "
                             "slurm controller (connect failure)\n"));
}

TEST_CASE("shell_quote leaves safe words and quotes the rest so that a "
          "shell reads them back") {
  CHECK(shell_quote("abc-1.2/x_y:z,w=v@h%p+q") == "abc-1.2/x_y:z,w=v@h%p+q");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  std::vector<std::string> words{"", "a b", "it's", "$HOME", "`id`",
                                 "$(id)", "a\nb", "\\", "*", "~", "!x",
                                 "'", "''", "\"", "-n", "a;b|c&d", "#x"};
  std::string script = "printf '<%s>' ";
  std::string expected;
  for (auto& w : words) {
    script += shell_quote(w) + " ";
    expected += "<" + w + ">";
  }
  auto res = mesh::test::run({"bash", "-c", script});
  REQUIRE(res.exit_code == 0);
  CHECK(res.out == expected);
  auto sh = mesh::test::run({"sh", "-c", script});
  REQUIRE(sh.exit_code == 0);
  CHECK(sh.out == expected);
}

TEST_CASE("make_host_launch refuses what the daemons could not run") {
  job_options opts;
  auto refused = [&](const job_options& o, const std::string& spool,
                     const std::string& needle) {
    auto launch = make_host_launch(o, spool, "/bin/meshd", false);
    REQUIRE_FALSE(launch);
    CHECK(is(launch.error(), ec::invalid_argument));
    CHECK(contains(mesh::to_string(launch.error()), needle));
  };
  CHECK(make_host_launch(opts, "/s", "meshd", false));
  refused(opts, "relative/spool", "absolute");
  refused(opts, "", "absolute");
  auto o = opts;
  o.nodes = 0;
  refused(o, "/s", "at least 1");
  o = opts;
  o.hosts_per_node = 0;
  refused(o, "/s", "at least 1");
  o = opts;
  o.owner_timeout = duration{0};
  refused(o, "/s", "owner_timeout");
  for (auto name : {"A-B", "1A", "", "A B", "X=Y"}) {
    o = opts;
    o.env[name] = "v";
    refused(o, "/s", "not an environment variable name");
  }
  o = opts;
  o.env["A"] = std::string{"a\0b", 3};
  refused(o, "/s", "NUL");
  o = opts;
  o.partition = std::string{"p\0", 2};
  refused(o, "/s", "NUL");
  o = opts;
  o.sbatch_args = {std::string{"--x\0", 4}};
  refused(o, "/s", "NUL");
  o = opts;
  o.proc_command = bootstrap_command{"/bin/child", std::nullopt, {"--x"}, {}};
  refused(o, "/s", "without arguments");
  o = opts;
  o.proc_command = bootstrap_command{"", std::nullopt, {}, {}};
  refused(o, "/s", "no program");
  auto no_meshd = make_host_launch(opts, "/s", "", false);
  REQUIRE_FALSE(no_meshd);
  CHECK(is(no_meshd.error(), ec::invalid_argument));
}

TEST_CASE("make_host_launch rounds the owner timeout up to seconds and "
          "layers the environments") {
  job_options opts;
  opts.owner_timeout = std::chrono::milliseconds{1500};
  opts.proc_command = bootstrap_command{"/bin/child", std::nullopt, {},
                                        {{"A", "cmd"}, {"B", "cmd"}}};
  opts.env = {{"B", "job"}};
  auto launch = make_host_launch(opts, "/s", "meshd", true);
  REQUIRE(launch);
  CHECK(launch->owner_timeout_s == 2);
  CHECK(launch->insecure);
  CHECK(launch->proc_program == "/bin/child");
  CHECK(launch->env == std::map<std::string, std::string>{{"A", "cmd"},
                                                          {"B", "job"}});
  opts.owner_timeout = std::chrono::milliseconds{1};
  launch = make_host_launch(opts, "/s", "meshd", true);
  REQUIRE(launch);
  CHECK(launch->owner_timeout_s == 1);
}

TEST_CASE("each task runs meshd with its spool's address file and key, "
          "through a real bash") {
  awkward_dir dir;
  auto meshd = write_args_printer(dir.path);
  job_options opts;
  opts.owner_timeout = std::chrono::seconds{90};
  opts.env = {{"GREETING", "hello 'world' $HOME"}};
  opts.proc_command = bootstrap_command{dir.path + "/my proc", std::nullopt,
                                        {}, {}};
  auto launch = make_host_launch(opts, dir.path, meshd, false);
  REQUIRE(launch);
  auto res = mesh::test::run({"bash", "-c", task_command(*launch)},
                             std::chrono::seconds{30},
                             {{"SLURM_PROCID", "3"},
                              {"MESH_BOOTSTRAP", "secret"}});
  REQUIRE(res.exit_code == 0);
  auto expected = std::vector<std::string>{
    "[--listen]",
    "[" + this_hostname() + ":0]",
    "[--address-file]",
    "[" + dir.path + "/hosts/3]",
    "[--mesh-key-file]",
    "[" + dir.path + "/key]",
    "[--owner-timeout]",
    "[90]",
    "[--proc-command]",
    "[" + dir.path + "/my proc]",
    "GREETING=[hello 'world' $HOME]",
    "MESH_BOOTSTRAP=[unset]",
  };
  CHECK(mesh::test::lines_of(res.out) == expected);
  // Insecure: --insecure instead of the key file, no proc command.
  opts.proc_command.reset();
  launch = make_host_launch(opts, dir.path, meshd, true);
  REQUIRE(launch);
  res = mesh::test::run({"bash", "-c", task_command(*launch)},
                        std::chrono::seconds{30}, {{"SLURM_PROCID", "0"}});
  REQUIRE(res.exit_code == 0);
  auto lines = mesh::test::lines_of(res.out);
  REQUIRE(lines.size() == 9);
  CHECK(lines[3] == "[" + dir.path + "/hosts/0]");
  CHECK(lines[4] == "[--insecure]");
  CHECK(lines[5] == "[--owner-timeout]");
}

TEST_CASE("the batch script execs srun with one task per host, each "
          "running the task command") {
  awkward_dir dir;
  job_options opts;
  opts.nodes = 3;
  opts.hosts_per_node = 2;
  auto launch = make_host_launch(opts, dir.path, "/opt/mesh d/meshd", false);
  REQUIRE(launch);
  auto script = batch_script(*launch);
  CHECK(script.rfind("#!/bin/bash\n", 0) == 0);
  CHECK(contains(script, "\nset -u\n"));
  CHECK(contains(script, "\nexec srun --nodes=3 --ntasks-per-node=2 "
                         "--ntasks=6 --kill-on-bad-exit=0 bash -c " +
                           shell_quote(task_command(*launch)) + "\n"));
  // bash reads it; run with a `srun` of our own on PATH that prints its
  // arguments, the script hands the task command over unchanged.
  auto path = dir.path + "/job.sh";
  std::ofstream{path} << script;
  auto bin = dir.path + "/bin";
  fs::create_directories(bin);
  std::ofstream{bin + "/srun"} << "#!/bin/sh\nfor a; do printf '%s\\0' "
                                  "\"$a\"; done\n";
  ::chmod((bin + "/srun").c_str(), 0755);
  auto res = mesh::test::run({"bash", path}, std::chrono::seconds{30},
                             {{"PATH", bin + ":/usr/bin:/bin"}});
  REQUIRE(res.exit_code == 0);
  std::vector<std::string> args;
  for (size_t pos = 0; pos < res.out.size();) {
    auto end = res.out.find('\0', pos);
    args.push_back(res.out.substr(pos, end - pos));
    pos = end + 1;
  }
  auto expected = srun_task_options(*launch);
  expected.insert(expected.end(), {"bash", "-c", task_command(*launch)});
  CHECK(args == expected);
}

TEST_CASE("sbatch's arguments: the shape, the options that are set, the "
          "output in the spool, the extra ones, then the script") {
  job_options opts;
  opts.nodes = 2;
  opts.hosts_per_node = 4;
  auto launch = make_host_launch(opts, "/spool/a-1", "meshd", false);
  REQUIRE(launch);
  CHECK(sbatch_argv(opts, *launch, "/spool/a-1/job.sh") ==
        std::vector<std::string>{"sbatch", "--parsable", "--job-name=libmesh",
                                 "--nodes=2", "--ntasks-per-node=4",
                                 "--output=/spool/a-1/job.out",
                                 "/spool/a-1/job.sh"});
  opts.partition = "gpu";
  opts.account = "proj 1";
  opts.time_limit = "1-00:00:00";
  opts.job_name = "train run";
  opts.sbatch_args = {"--constraint=a100", "--exclusive"};
  launch = make_host_launch(opts, "/spool/50%/x", "meshd", false);
  REQUIRE(launch);
  CHECK(sbatch_argv(opts, *launch, "/spool/50%/x/job.sh") ==
        std::vector<std::string>{
          "sbatch", "--parsable", "--job-name=train run", "--nodes=2",
          "--ntasks-per-node=4", "--partition=gpu", "--account=proj 1",
          "--time=1-00:00:00", "--output=/spool/50%%/x/job.out",
          "--constraint=a100", "--exclusive", "/spool/50%/x/job.sh"});
  opts.job_name = "";
  CHECK(sbatch_argv(opts, *launch, "s")[2] == "--job-name=libmesh");
}

TEST_CASE("the srun of an existing allocation overlaps it and appends the "
          "tasks' output to the spool") {
  job_options opts;
  opts.nodes = 2;
  opts.hosts_per_node = 2;
  auto launch = make_host_launch(opts, "/spool/x", "meshd", false);
  REQUIRE(launch);
  CHECK(overlap_srun_argv("77", *launch) ==
        std::vector<std::string>{
          "srun", "--overlap", "--jobid=77", "--nodes=2",
          "--ntasks-per-node=2", "--ntasks=4", "--kill-on-bad-exit=0",
          "--overcommit", "--output=/spool/x/job.out",
          "--error=/spool/x/job.out", "--open-mode=append", "bash", "-c",
          task_command(*launch)});
}

TEST_CASE("sbatch --parsable's answer gives the job id") {
  CHECK(parse_sbatch_id("123\n") == std::string{"123"});
  CHECK(parse_sbatch_id("123;cluster\n") == std::string{"123"});
  CHECK(parse_sbatch_id("456") == std::string{"456"});
  CHECK(parse_sbatch_id("note\n789\n\n") == std::string{"789"});
  for (auto text : {"", "\n", "abc\n", "12a\n", ";c\n", "-1\n",
                    "123456789012345678901\n"}) {
    CAPTURE(text);
    auto id = parse_sbatch_id(text);
    REQUIRE_FALSE(id);
    CHECK(is(id.error(), ec::parse_error));
    CHECK(contains(mesh::to_string(id.error()), "sbatch"));
  }
}

TEST_CASE("spool names: the job name made safe for a path, then 16 hex "
          "digits") {
  CHECK(spool_name("libmesh", 0xff) == "libmesh-00000000000000ff");
  CHECK(spool_name("", 1) == "libmesh-0000000000000001");
  CHECK(spool_name("../x y", 2) == "_._x_y-0000000000000002");
  CHECK(spool_name("..", 3) == "_.-0000000000000003");
  CHECK(spool_name("a.b_c-D9", 0xfedcba9876543210ULL) ==
        "a.b_c-D9-fedcba9876543210");
  CHECK(spool_name(std::string(100, 'n'), 0) ==
        std::string(64, 'n') + "-0000000000000000");
}

TEST_CASE("last_lines keeps the end of an output, each line cut") {
  using lines = std::vector<std::string>;
  CHECK(last_lines("a\nb\nc\n", 2) == lines{"b", "c"});
  CHECK(last_lines("a\nb\nc", 2) == lines{"b", "c"});
  CHECK(last_lines("a\nb\nc\n", 10) == lines{"a", "b", "c"});
  CHECK(last_lines("a\n\n \nb\n\n", 10) == lines{"a", "b"});
  CHECK(last_lines("", 3).empty());
  CHECK(last_lines("a\n", 0).empty());
  CHECK(last_lines(std::string(300, 'x'), 1) == lines{std::string(200, 'x')});
  CHECK(last_lines("abcdef", 1, 3) == lines{"abc"});
}
