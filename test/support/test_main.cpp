// The doctest main shared by every suite.
//
// The test process becomes a child subreaper: a process a test leaves behind
// is re-parented to us even when its own parent died first, so
// `mesh::test::reaped_fixture` sees every leak, grandchildren included.
#define DOCTEST_CONFIG_IMPLEMENT
// Compiled here so that the umbrella header stays self-contained.
#include "mesh/mesh.hpp"

#include <doctest/doctest.h>

#include <sys/prctl.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    std::perror("prctl(PR_SET_CHILD_SUBREAPER)");
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
