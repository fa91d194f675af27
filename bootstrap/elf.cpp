// ELF inspection (bootstrap/elf.hpp): the DT_NEEDED entries of a program,
// read from a private read-only mapping with every offset bounds-checked.
#include "bootstrap/elf.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace mesh::bootstrap::zygote {

namespace {

/// A read-only view of a whole file; empty if it cannot be mapped.
class mapped_file {
public:
  explicit mapped_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      auto* addr = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                          MAP_PRIVATE, fd, 0);
      if (addr != MAP_FAILED) {
        data_ = static_cast<const char*>(addr);
        size_ = static_cast<size_t>(st.st_size);
      }
    }
    ::close(fd);
  }
  ~mapped_file() {
    if (data_ != nullptr)
      ::munmap(const_cast<char*>(data_), size_);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  /// `count` objects of type T at `offset`, or nullptr if out of bounds.
  template <class T>
  const T* at(uint64_t offset, uint64_t count = 1) const {
    if (offset > size_ || count > (size_ - offset) / sizeof(T))
      return nullptr;
    return reinterpret_cast<const T*>(data_ + offset);
  }
  size_t size() const { return size_; }

private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

} // namespace

bool links_libmesh(const std::string& path) {
  mapped_file file{path};
  auto* eh = file.at<Elf64_Ehdr>(0);
  if (eh == nullptr || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_phentsize != sizeof(Elf64_Phdr))
    return false;
  auto* ph = file.at<Elf64_Phdr>(eh->e_phoff, eh->e_phnum);
  if (ph == nullptr)
    return false;
  // Where a virtual address of a loaded segment lies in the file.
  auto file_offset = [&](uint64_t vaddr) -> std::optional<uint64_t> {
    for (size_t i = 0; i < eh->e_phnum; ++i)
      if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr &&
          vaddr - ph[i].p_vaddr < ph[i].p_filesz)
        return vaddr - ph[i].p_vaddr + ph[i].p_offset;
    return std::nullopt;
  };
  for (size_t i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type != PT_DYNAMIC)
      continue;
    auto count = ph[i].p_filesz / sizeof(Elf64_Dyn);
    auto* dyn = file.at<Elf64_Dyn>(ph[i].p_offset, count);
    if (dyn == nullptr)
      return false;
    std::optional<uint64_t> strtab;
    uint64_t strsz = 0;
    for (size_t j = 0; j < count && dyn[j].d_tag != DT_NULL; ++j) {
      if (dyn[j].d_tag == DT_STRTAB)
        strtab = file_offset(dyn[j].d_un.d_ptr);
      else if (dyn[j].d_tag == DT_STRSZ)
        strsz = dyn[j].d_un.d_val;
    }
    if (!strtab || file.at<char>(*strtab, strsz) == nullptr)
      return false;
    auto* strings = file.at<char>(*strtab, strsz);
    constexpr std::string_view wanted = "libmesh.so";
    for (size_t j = 0; j < count && dyn[j].d_tag != DT_NULL; ++j) {
      if (dyn[j].d_tag != DT_NEEDED || dyn[j].d_un.d_val >= strsz)
        continue;
      std::string_view name{strings + dyn[j].d_un.d_val,
                            strsz - dyn[j].d_un.d_val};
      name = name.substr(0, name.find('\0'));
      if (name.substr(0, wanted.size()) == wanted)
        return true;
    }
  }
  return false;
}

} // namespace mesh::bootstrap::zygote
