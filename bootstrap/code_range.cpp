#include "bootstrap/code_range.hpp"

#include <link.h>

#include <algorithm>
#include <cstring>

namespace mesh::bootstrap {

code_range find_code(const char* name_part) {
  struct search {
    const char* name_part;
    code_range found;
  } s{name_part, {}};
  ::dl_iterate_phdr(
    [](dl_phdr_info* info, size_t, void* data) {
      auto& s = *static_cast<search*>(data);
      if (info->dlpi_name == nullptr
          || std::strstr(info->dlpi_name, s.name_part) == nullptr)
        return 0;
      for (int i = 0; i < info->dlpi_phnum; ++i) {
        auto& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0)
          continue;
        auto begin = info->dlpi_addr + ph.p_vaddr;
        if (s.found.begin == 0 || begin < s.found.begin)
          s.found.begin = begin;
        s.found.end = std::max<uintptr_t>(s.found.end, begin + ph.p_memsz);
      }
      return 1;
    },
    &s);
  return s.found;
}

} // namespace mesh::bootstrap
