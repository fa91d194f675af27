#include "naive_launcher.hpp"

#include <boost/process.hpp>

namespace bench {

std::vector<pid_t> launch_n(const std::string& exe,
                            const std::vector<std::string>& args, size_t n) {
  namespace bp = boost::process;
  std::vector<pid_t> result;
  for (size_t i = 0; i < n; ++i) {
    bp::child c{bp::exe = exe, bp::args = args};
    result.push_back(c.id());
    c.detach();
  }
  return result;
}

} // namespace bench
