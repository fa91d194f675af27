#include "mesh/bootstrap.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "libmesh/src/core/shell_quote.hpp"
#include "mesh/error.hpp"

extern char** environ;

namespace mesh {

namespace {

caf::expected<std::string> executable_path() {
  char resolved[PATH_MAX];
  if (::realpath("/proc/self/exe", resolved) == nullptr)
    return make_error(
      ec::system_error, "cannot resolve the path of this executable",
      std::string{"realpath /proc/self/exe: "} + std::strerror(errno));
  return std::string{resolved};
}

// The kernel's copy of argv: each argument followed by a NUL byte.
caf::expected<std::vector<std::string>> command_line() {
  std::ifstream in{"/proc/self/cmdline", std::ios::binary};
  if (!in)
    return make_error(ec::system_error,
                      "cannot read the arguments of this process",
                      "/proc/self/cmdline cannot be opened");
  std::string raw{std::istreambuf_iterator<char>{in},
                  std::istreambuf_iterator<char>{}};
  std::vector<std::string> result;
  size_t begin = 0;
  while (begin < raw.size()) {
    auto end = raw.find('\0', begin);
    if (end == std::string::npos)
      end = raw.size();
    result.emplace_back(raw, begin, end - begin);
    begin = end + 1;
  }
  if (result.empty())
    return make_error(ec::system_error,
                      "cannot read the arguments of this process",
                      "/proc/self/cmdline is empty");
  return result;
}

} // namespace

caf::expected<bootstrap_command> bootstrap_command::current() {
  auto program = executable_path();
  if (!program)
    return std::move(program.error());
  auto argv = command_line();
  if (!argv)
    return std::move(argv.error());
  bootstrap_command result;
  result.program = std::move(*program);
  result.arg0 = std::move(argv->front());
  result.args.assign(std::make_move_iterator(argv->begin() + 1),
                     std::make_move_iterator(argv->end()));
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const char* eq = std::strchr(*entry, '=');
    if (eq == nullptr)
      continue;
    // emplace keeps the first of duplicated names, as getenv does.
    result.env.emplace(std::string(*entry, static_cast<size_t>(eq - *entry)),
                       eq + 1);
  }
  return result;
}

std::vector<std::string> bootstrap_command::argv() const {
  std::vector<std::string> result;
  result.reserve(args.size() + 1);
  result.push_back(arg0 ? *arg0 : program);
  result.insert(result.end(), args.begin(), args.end());
  return result;
}

std::string bootstrap_command::to_string() const {
  std::string result = shell_quote(program);
  for (auto& arg : args) {
    result += ' ';
    result += shell_quote(arg);
  }
  return result;
}

bool operator==(const bootstrap_command& x, const bootstrap_command& y) {
  return x.program == y.program && x.arg0 == y.arg0 && x.args == y.args &&
         x.env == y.env;
}

} // namespace mesh
