// Fuzzes Slurm host list expansion (libmesh/src/core/slurm_hostlist.hpp).
// Properties:
//   * a list expands to 1..max_hostlist_names names, each 1..255 printable
//     ASCII characters without the list's punctuation (',' '[' ']');
//   * the names, joined by ',', are a list that expands to the same names,
//     and each name alone expands to itself (a name holds no ranges);
//   * text without '[' expands to its comma-separated parts;
//   * failures are ec::parse_error naming the input, never exceptions.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.hpp"
#include "libmesh/src/core/slurm_hostlist.hpp"
#include "mesh/error.hpp"

using mesh::slurm::expand_hostlist;

namespace {

bool is_name_char(char c) {
  return c > 0x20 && c < 0x7f && c != ',' && c != '[' && c != ']';
}

void check_names(std::string_view text, const std::vector<std::string>& names) {
  FUZZ_CHECK(!names.empty());
  FUZZ_CHECK(names.size() <= mesh::slurm::max_hostlist_names);
  size_t total = 0;
  for (auto& name : names) {
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(name.size() <= mesh::slurm::max_hostname_length);
    for (char c : name)
      FUZZ_CHECK(is_name_char(c));
    total += name.size() + 1;
  }
  if (text.find('[') == std::string_view::npos) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t comma; (comma = text.find(',', start)) != text.npos;
         start = comma + 1)
      parts.emplace_back(text.substr(start, comma - start));
    parts.emplace_back(text.substr(start));
    FUZZ_CHECK(parts == names);
  }
  // Re-expanding is linear in the output: only for small ones.
  constexpr size_t small = 1 << 16;
  if (total > small)
    return;
  std::string joined;
  for (auto& name : names) {
    joined += joined.empty() ? "" : ",";
    joined += name;
    auto alone = expand_hostlist(name);
    FUZZ_CHECK(alone && alone->size() == 1 && alone->front() == name);
  }
  auto again = expand_hostlist(joined);
  FUZZ_CHECK(again && *again == names);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto names = expand_hostlist(text);
  if (names) {
    check_names(text, *names);
  } else {
    FUZZ_CHECK(mesh::is(names.error(), mesh::ec::parse_error));
    auto message = mesh::to_string(names.error());
    FUZZ_CHECK(message.find("hostlist '") != std::string::npos);
  }
  return 0;
}
