// Environment merging, program resolution and the zygote's environment
// (bootstrap/launch_plan.hpp).
#include "bootstrap/launch_plan.hpp"

#include "bootstrap/fd.hpp"
#include "bootstrap/payload.hpp"
#include "bootstrap/zygote_protocol.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

extern char** environ;

namespace mesh::bootstrap {

namespace {

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

/// True if `entry` ("NAME=value") sets one of `names`.
bool is_named(const std::string& entry, const std::set<std::string>& names) {
  if (names.empty())
    return false;
  return names.count(entry.substr(0, entry.find('='))) > 0;
}

} // namespace

std::string proc_context(const std::string& name) {
  return "proc '" + name + "'";
}

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
  // The parent's environment, then the command's, then the extra variables,
  // then the proc's own: later wins.
  auto env = base_env;
  for (auto* layer : {&cmd.env, &spec.extra_env, &spec.proc_env}) {
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
  for (auto& [key, value] : spec.proc_env)
    result.proc_env_names.insert(key);
  auto own = spec.extra_env.find(payload_env);
  if (spec.zygote_payload && spec.pdeathsig && own != spec.extra_env.end() &&
      own->second.size() <= zygote::max_text) {
    std::string key = result.path;
    for (auto& arg : result.argv)
      key += '\0' + arg;
    key += '\0';
    for (auto& entry : result.envv)
      if (!is_payload_entry(entry) && !is_named(entry, result.proc_env_names))
        key += '\0' + entry;
    result.zygote_key = std::move(key);
    result.zygote_payload = spec.zygote_payload;
    result.child_payload = own->second;
  }
  return result;
}

std::optional<prepared_launch> zygote_plan(const prepared_launch& launch) {
  auto payload = launch.zygote_payload();
  if (payload.empty() || has_nul(payload))
    return std::nullopt;
  prepared_launch result;
  result.name = "zygote of " + launch.name;
  result.path = launch.path;
  result.argv = launch.argv;
  bool bind_now = false;
  for (auto& entry : launch.envv) {
    if (is_payload_entry(entry) || is_named(entry, launch.proc_env_names))
      continue;
    bind_now = bind_now || entry.rfind("LD_BIND_NOW=", 0) == 0;
    result.envv.push_back(entry);
  }
  result.envv.push_back(std::string{payload_env} + "=" + payload);
  if (!bind_now) {
    result.envv.push_back("LD_BIND_NOW=1");
    result.envv.push_back(std::string{zygote::unset_env} + "=LD_BIND_NOW");
  }
  result.argv_ptrs = c_array(result.argv);
  result.env_ptrs = c_array(result.envv);
  result.pdeathsig = true;
  return result;
}

} // namespace mesh::bootstrap
