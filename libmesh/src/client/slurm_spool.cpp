#include "libmesh/src/client/slurm_spool.hpp"

#include "bootstrap/fd.hpp"
#include "bootstrap/registry.hpp"
#include "libmesh/src/core/slurm_submit.hpp"
#include "mesh/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;

namespace mesh::slurm {

namespace {

using bootstrap::errno_text;

caf::error file_error(const std::string& path, const std::string& what,
                      int err) {
  return make_error(ec::system_error, "slurm spool file " + path,
                    what + ": " + errno_text(err));
}

uint64_t random_nonce() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

bool valid_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size() ||
      text.size() - colon - 1 > 5)
    return false;
  unsigned port = 0;
  for (auto i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      return false;
    port = port * 10 + static_cast<unsigned>(text[i] - '0');
  }
  for (size_t i = 0; i < colon; ++i)
    if (static_cast<unsigned char>(text[i]) <= ' ')
      return false;
  return port > 0 && port <= 65535;
}

} // namespace

std::string resolve_spool_root(const std::string& configured) {
  std::string root = configured;
  if (root.empty())
    if (auto* env = std::getenv("MESH_SLURM_SPOOL"); env != nullptr)
      root = env;
  if (root.empty()) {
    auto* home = std::getenv("HOME");
    root = std::string{home != nullptr && *home != '\0' ? home : "/tmp"} +
           "/.libmesh/slurm";
  }
  std::error_code ec;
  auto absolute = fs::absolute(root, ec);
  return ec ? root : absolute.lexically_normal().string();
}

caf::error make_spool_root(const std::string& given) {
  auto root = given;
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  // mkdir -p with 0700 for what is missing; the last one is checked.
  fs::path partial;
  for (auto& part : fs::path{root}) {
    partial /= part;
    if (part == "/" || part.empty())
      continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
      return make_error(ec::system_error, "slurm spool root " + root,
                        "cannot create " + partial.string() + ": " +
                          errno_text(errno));
  }
  return bootstrap::check_private_dir(root, "slurm spool root");
}

caf::expected<std::string> make_spool(const std::string& root,
                                      const std::string& job_name) {
  if (auto err = make_spool_root(root))
    return err;
  for (int attempt = 0;; ++attempt) {
    auto dir = root + "/" + spool_name(job_name, random_nonce());
    if (::mkdir(dir.c_str(), 0700) == 0) {
      if (::mkdir((dir + "/hosts").c_str(), 0700) != 0) {
        auto err = errno;
        remove_spool(dir);
        return file_error(dir + "/hosts", "cannot create it", err);
      }
      return dir;
    }
    if (errno != EEXIST || attempt == 8)
      return file_error(dir, "cannot create it", errno);
  }
}

caf::error write_new_file(const std::string& path, const std::string& content,
                          unsigned mode) {
  bootstrap::unique_fd fd{::open(
    path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
    static_cast<mode_t>(mode))};
  if (!fd)
    return file_error(path, "cannot create it", errno);
  // The umask may have taken bits of `mode` (the script's x bits).
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0)
    return file_error(path, "cannot set its mode", errno);
  if (auto err = bootstrap::write_all(fd.get(), content))
    return file_error(path, "cannot write it", err);
  if (::close(fd.release()) != 0)
    return file_error(path, "cannot write it", errno);
  return caf::none;
}

caf::expected<std::string> read_small_file(const std::string& path) {
  bootstrap::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd)
    return file_error(path, "cannot open it", errno);
  std::string text;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return file_error(path, "cannot read it", errno);
    if (n == 0)
      return text;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20))
      return make_error(ec::system_error, "slurm spool file " + path,
                        "larger than 1 MiB");
  }
}

std::string read_tail(const std::string& path) {
  constexpr off_t tail = 64 * 1024;
  bootstrap::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd)
    return {};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return {};
  auto start = st.st_size > tail ? st.st_size - tail : 0;
  std::string text(static_cast<size_t>(st.st_size - start), '\0');
  auto n = ::pread(fd.get(), text.data(), text.size(), start);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return text;
}

size_t hosts_ready(const std::string& spool, size_t n) {
  size_t ready = 0;
  for (size_t rank = 0; rank < n; ++rank) {
    auto path = spool + "/hosts/" + std::to_string(rank);
    ready += ::access(path.c_str(), F_OK) == 0 ? 1 : 0;
  }
  return ready;
}

caf::expected<std::vector<std::string>> read_addresses(const std::string& spool,
                                                       size_t n) {
  std::vector<std::string> result;
  for (size_t rank = 0; rank < n; ++rank) {
    auto path = spool + "/hosts/" + std::to_string(rank);
    auto text = read_small_file(path);
    if (!text)
      return std::move(text.error());
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r'))
      text->pop_back();
    if (!valid_address(*text))
      return make_error(ec::system_error, "slurm spool file " + path,
                        "not a host:port address");
    result.push_back(std::move(*text));
  }
  return result;
}

void remove_spool(const std::string& spool) {
  std::error_code ec;
  fs::remove_all(spool, ec);
}

} // namespace mesh::slurm
