#include "mesh/bootstrap.hpp"

#include <sys/stat.h>

namespace mesh {

bool proc_bind::empty() const {
  return !cpunodebind && !membind && !physcpubind && !cpus;
}

bool operator==(const proc_bind& x, const proc_bind& y) {
  return x.cpunodebind == y.cpunodebind && x.membind == y.membind &&
         x.physcpubind == y.physcpubind && x.cpus == y.cpus;
}

namespace {

// The wrapper execs the original program by path with the original args:
// `<wrapper> <options...> <program> <args...>`.
bootstrap_command wrap(const bootstrap_command& cmd, std::string wrapper,
                       std::vector<std::string> options) {
  bootstrap_command result;
  result.program = std::move(wrapper);
  result.args = std::move(options);
  result.args.push_back(cmd.program);
  result.args.insert(result.args.end(), cmd.args.begin(), cmd.args.end());
  result.env = cmd.env;
  return result;
}

} // namespace

bootstrap_command wrap_for_binding(const bootstrap_command& cmd,
                                   const proc_bind& bind, bool numa) {
  if (numa && (bind.cpunodebind || bind.membind || bind.physcpubind)) {
    std::vector<std::string> options;
    // The order is part of the contract (it matches the reference).
    if (bind.cpunodebind)
      options.push_back("--cpunodebind=" + *bind.cpunodebind);
    if (bind.membind)
      options.push_back("--membind=" + *bind.membind);
    if (bind.physcpubind)
      options.push_back("--physcpubind=" + *bind.physcpubind);
    return wrap(cmd, "numactl", std::move(options));
  }
  if (bind.cpus)
    return wrap(cmd, "taskset", {"-c", *bind.cpus});
  return cmd;
}

bool numa_available() {
  struct stat info;
  return ::stat("/sys/devices/system/node/node0", &info) == 0 &&
         S_ISDIR(info.st_mode);
}

} // namespace mesh
