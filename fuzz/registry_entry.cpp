// Fuzzes the registry entry of a running mesh (bootstrap/registry.hpp,
// docs/admin-api.md): every file in the runtime directory is read with
// parse_entry, and another process of the user may have written it.
// Properties:
//   * failures are ec::parse_error, never exceptions or crashes;
//   * what parses renders canonically: render_entry(parse(x)) parses again
//     to an entry that renders to the same text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bootstrap/registry.hpp"
#include "fuzz/check.hpp"
#include "mesh/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto e = mesh::bootstrap::parse_entry(text);
  if (!e) {
    FUZZ_CHECK(mesh::is(e.error(), mesh::ec::parse_error));
    return 0;
  }
  auto once = mesh::bootstrap::render_entry(*e);
  auto again = mesh::bootstrap::parse_entry(once);
  FUZZ_CHECK(again);
  FUZZ_CHECK(mesh::bootstrap::render_entry(*again) == once);
  return 0;
}
