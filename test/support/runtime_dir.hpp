// A private runtime directory (mesh/introspect.hpp's registry of running
// meshes) for one test.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>

namespace mesh::test {

/// A fresh temporary `base` (mode 0755: another user may traverse it, not
/// the directory inside) holding `dir`, the runtime directory libmesh
/// creates on first use. With `set_env`, MESH_RUNTIME_DIR of the test
/// process points at `dir` for the scope and gets its previous value back
/// (the suite's own directory, test/support/test_main.cpp) at the end;
/// without, only the processes given env() use it. Removed at the end.
struct scoped_runtime_dir {
  std::string base;
  std::string dir;

  explicit scoped_runtime_dir(bool set_env = true) : set_env_(set_env) {
    std::string templ =
      std::filesystem::temp_directory_path() / "libmesh-rt-XXXXXX";
    base = ::mkdtemp(templ.data());
    ::chmod(base.c_str(), 0755);
    dir = base + "/run";
    if (set_env_) {
      if (const char* old = std::getenv("MESH_RUNTIME_DIR"))
        previous_ = old;
      ::setenv("MESH_RUNTIME_DIR", dir.c_str(), 1);
    }
  }

  ~scoped_runtime_dir() {
    if (set_env_) {
      if (previous_)
        ::setenv("MESH_RUNTIME_DIR", previous_->c_str(), 1);
      else
        ::unsetenv("MESH_RUNTIME_DIR");
    }
    std::error_code ec;
    // A test may have taken the owner's permissions away.
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(base, ec);
  }

  scoped_runtime_dir(const scoped_runtime_dir&) = delete;
  scoped_runtime_dir& operator=(const scoped_runtime_dir&) = delete;

  /// The environment that points a started process at `dir`.
  std::map<std::string, std::string> env() const {
    return {{"MESH_RUNTIME_DIR", dir}};
  }

private:
  bool set_env_;
  std::optional<std::string> previous_;
};

} // namespace mesh::test
