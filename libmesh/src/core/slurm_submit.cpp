#include "libmesh/src/core/slurm_submit.hpp"

#include "libmesh/src/core/shell_quote.hpp"
#include "mesh/error.hpp"

#include <array>
#include <cstdio>

namespace mesh::slurm {

namespace {

bool has_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

bool is_shell_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
    return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

caf::error bad(std::string what) {
  return make_error(ec::invalid_argument, "slurm job options",
                    std::move(what));
}

// Slurm expands %j, %u... in --output: a literal '%' is written "%%".
std::string slurm_filename(std::string_view path) {
  std::string result;
  for (char c : path) {
    result += c;
    if (c == '%')
      result += '%';
  }
  return result;
}

} // namespace

caf::expected<host_launch> make_host_launch(const job_options& opts,
                                            std::string spool,
                                            std::string meshd, bool insecure) {
  if (opts.nodes == 0 || opts.hosts_per_node == 0)
    return bad("nodes and hosts_per_node must be at least 1 (got " +
               std::to_string(opts.nodes) + " and " +
               std::to_string(opts.hosts_per_node) + ")");
  if (opts.owner_timeout.count() <= 0)
    return bad("owner_timeout must be positive");
  if (spool.empty() || spool[0] != '/' || has_nul(spool))
    return bad("the spool directory must be an absolute path: '" + spool +
               "'");
  if (meshd.empty() || has_nul(meshd))
    return bad("no meshd program");
  for (auto* text : {&opts.partition, &opts.account, &opts.time_limit,
                     &opts.job_name})
    if (has_nul(*text))
      return bad("a NUL byte in the partition, account, time limit or job "
                 "name");
  for (auto& arg : opts.sbatch_args)
    if (has_nul(arg))
      return bad("a NUL byte in an sbatch argument");
  host_launch result;
  auto add_env = [&](const std::map<std::string, std::string>& env)
    -> caf::error {
    for (auto& [name, value] : env) {
      if (!is_shell_name(name))
        return bad("'" + name + "' is not an environment variable name");
      if (has_nul(value))
        return bad("a NUL byte in the value of " + name);
      result.env[name] = value;
    }
    return caf::none;
  };
  if (opts.proc_command) {
    auto& cmd = *opts.proc_command;
    if (cmd.program.empty() || has_nul(cmd.program))
      return bad("the proc command has no program");
    if (!cmd.args.empty() || cmd.arg0)
      return bad("meshd --proc-command takes a program without arguments: "
                 "'" + cmd.program + "' has " +
                 std::to_string(cmd.args.size()) + " and " +
                 (cmd.arg0 ? "an" : "no") + " arg0");
    if (auto err = add_env(cmd.env))
      return err;
    result.proc_program = cmd.program;
  }
  // The job's own variables win over the proc command's.
  if (auto err = add_env(opts.env))
    return err;
  result.spool = std::move(spool);
  result.meshd = std::move(meshd);
  result.insecure = insecure;
  // Whole seconds, rounded up: the daemons wait at least as long as asked.
  result.owner_timeout_s = (opts.owner_timeout.count() + 999) / 1000;
  result.nodes = opts.nodes;
  result.hosts_per_node = opts.hosts_per_node;
  return result;
}

std::string task_command(const host_launch& launch) {
  // A client's bootstrap payload must not reach the daemons: they are hosts,
  // not procs of the submitting process.
  std::string text = "unset MESH_BOOTSTRAP\n";
  for (auto& [name, value] : launch.env)
    text += "export " + name + "=" + shell_quote(value) + "\n";
  text += "exec " + shell_quote(launch.meshd) + " --listen \"$(hostname):0\"";
  text += " --address-file " + shell_quote(launch.spool + "/hosts/") +
          "\"$SLURM_PROCID\"";
  if (launch.insecure)
    text += " --insecure";
  else
    text += " --mesh-key-file " + shell_quote(launch.spool + "/key");
  text += " --owner-timeout " + std::to_string(launch.owner_timeout_s);
  if (launch.proc_program)
    text += " --proc-command " + shell_quote(*launch.proc_program);
  text += "\n";
  return text;
}

std::vector<std::string> srun_task_options(const host_launch& launch) {
  return {"--nodes=" + std::to_string(launch.nodes),
          "--ntasks-per-node=" + std::to_string(launch.hosts_per_node),
          "--ntasks=" + std::to_string(launch.nodes * launch.hosts_per_node),
          "--kill-on-bad-exit=0"};
}

std::string batch_script(const host_launch& launch) {
  std::string text = "#!/bin/bash\n"
                     "# libmesh hosts (mesh/slurm.hpp): " +
                     std::to_string(launch.nodes) + " node(s) x " +
                     std::to_string(launch.hosts_per_node) +
                     " meshd per node. Each Slurm task runs one meshd, which\n"
                     "# writes its address to hosts/<task> beside this "
                     "script and exits once no client\n"
                     "# owns it; the job ends with the last one.\n"
                     "set -u\n"
                     "exec srun";
  for (auto& option : srun_task_options(launch))
    text += " " + shell_quote(option);
  text += " bash -c " + shell_quote(task_command(launch)) + "\n";
  return text;
}

std::vector<std::string> sbatch_argv(const job_options& opts,
                                     const host_launch& launch,
                                     const std::string& script) {
  std::vector<std::string> argv{
    "sbatch",
    "--parsable",
    "--job-name=" + (opts.job_name.empty() ? std::string{"libmesh"}
                                           : opts.job_name),
    "--nodes=" + std::to_string(launch.nodes),
    "--ntasks-per-node=" + std::to_string(launch.hosts_per_node),
  };
  if (!opts.partition.empty())
    argv.push_back("--partition=" + opts.partition);
  if (!opts.account.empty())
    argv.push_back("--account=" + opts.account);
  if (!opts.time_limit.empty())
    argv.push_back("--time=" + opts.time_limit);
  argv.push_back("--output=" + slurm_filename(launch.spool + "/job.out"));
  argv.insert(argv.end(), opts.sbatch_args.begin(), opts.sbatch_args.end());
  argv.push_back(script);
  return argv;
}

std::vector<std::string> overlap_srun_argv(const std::string& job_id,
                                           const host_launch& launch) {
  std::vector<std::string> argv{"srun", "--overlap", "--jobid=" + job_id};
  auto options = srun_task_options(launch);
  argv.insert(argv.end(), options.begin(), options.end());
  // The allocation's shape is the user's: the daemons are light, so more
  // of them than it has CPUs is no reason to refuse.
  argv.push_back("--overcommit");
  auto out = slurm_filename(launch.spool + "/job.out");
  argv.push_back("--output=" + out);
  argv.push_back("--error=" + out);
  argv.push_back("--open-mode=append");
  argv.insert(argv.end(), {"bash", "-c", task_command(launch)});
  return argv;
}

caf::expected<std::string> parse_sbatch_id(std::string_view out) {
  // The last line that is not blank: "ID" or "ID;cluster".
  auto text = out;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' ||
                           text.back() == ' '))
    text.remove_suffix(1);
  auto line_start = text.rfind('\n');
  auto line = line_start == std::string_view::npos
                ? text
                : text.substr(line_start + 1);
  auto id = line.substr(0, line.find(';'));
  bool digits = !id.empty() && id.size() <= 20;
  for (char c : id)
    digits = digits && c >= '0' && c <= '9';
  if (!digits) {
    std::string shown;
    for (char c : out.substr(0, 120))
      shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    return make_error(ec::parse_error, "sbatch --parsable",
                      "expected a job id, got '" + shown + "'");
  }
  return std::string{id};
}

std::string spool_name(std::string_view job_name, uint64_t nonce) {
  std::string name;
  for (char c : job_name.substr(0, 64)) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                (c == '.' && !name.empty());
    name += keep ? c : '_';
  }
  if (name.empty())
    name = "libmesh";
  std::array<char, 17> hex{};
  std::snprintf(hex.data(), hex.size(), "%016llx",
                static_cast<unsigned long long>(nonce));
  return name + "-" + hex.data();
}

} // namespace mesh::slurm
