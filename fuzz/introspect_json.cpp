// Fuzzes the JSON form of the introspection tree (mesh/introspect.hpp,
// docs/admin-api.md): the input is parsed as a mesh snapshot and as a proc
// snapshot. Properties:
//   * failures are ec::parse_error, never exceptions or crashes (deep
//     nesting included);
//   * what parses renders canonically: to_json(parse(x)) parses again and
//     renders to the same text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/check.hpp"
#include "mesh/error.hpp"
#include "mesh/introspect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  if (auto m = mesh::mesh_snapshot_from_json(text)) {
    auto once = mesh::to_json(*m);
    auto again = mesh::mesh_snapshot_from_json(once);
    FUZZ_CHECK(again);
    FUZZ_CHECK(mesh::to_json(*again) == once);
  } else {
    FUZZ_CHECK(mesh::is(m.error(), mesh::ec::parse_error));
  }
  if (auto p = mesh::proc_snapshot_from_json(text)) {
    auto once = mesh::to_json(*p);
    auto again = mesh::proc_snapshot_from_json(once);
    FUZZ_CHECK(again);
    FUZZ_CHECK(mesh::to_json(*again) == once);
  } else {
    FUZZ_CHECK(mesh::is(p.error(), mesh::ec::parse_error));
  }
  return 0;
}
