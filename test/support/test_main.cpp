// The doctest main shared by every suite.
//
// The test process becomes a child subreaper: a process a test leaves behind
// is re-parented to us even when its own parent died first, so
// `mesh::test::reaped_fixture` sees every leak, grandchildren included.
//
// Every mesh a test brings up registers itself (mesh/introspect.hpp): the
// suite gets a runtime directory of its own (MESH_RUNTIME_DIR, inherited by
// every program a test starts), removed at the end, so that tests neither
// see the user's running meshes nor leave entries of owners they killed in
// the user's directory. A suite started with MESH_RUNTIME_DIR set keeps it.
#define DOCTEST_CONFIG_IMPLEMENT
// Compiled here so that the umbrella header stays self-contained.
#include "mesh/mesh.hpp"

#include <doctest/doctest.h>

#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    std::perror("prctl(PR_SET_CHILD_SUBREAPER)");
  std::string own_dir;
  if (const char* set = std::getenv("MESH_RUNTIME_DIR"); !set || !*set) {
    char templ[] = "/tmp/libmesh-test-XXXXXX"; // mkdtemp: mode 0700
    if (::mkdtemp(templ) != nullptr) {
      own_dir = templ;
      ::setenv("MESH_RUNTIME_DIR", templ, 1);
    } else {
      std::perror("mkdtemp(/tmp/libmesh-test-XXXXXX)");
    }
  }
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  auto rc = ctx.run();
  if (!own_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(own_dir, ec);
  }
  return rc;
}
