// Where a loaded library's code lies: how libmesh's interposed libc and
// OpenSSL functions (tls_interpose.cpp, plain_interpose.cpp) tell CAF's
// calls from everyone else's, by the caller's return address.
#pragma once

#include <cstdint>

namespace mesh::bootstrap {

/// The executable segments of one loaded library, as one address range.
struct code_range {
  uintptr_t begin = 0;
  uintptr_t end = 0;

  bool contains(const void* address) const {
    auto x = reinterpret_cast<uintptr_t>(address);
    return x >= begin && x < end;
  }
};

/// The code of the first loaded library whose path contains `name_part`
/// (e.g. "libcaf_io"); empty if none is loaded.
code_range find_code(const char* name_part);

} // namespace mesh::bootstrap
