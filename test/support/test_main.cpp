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
//
// Every suite is this one program (test/meson.build) run on its own files
// (--source-file); a suite (MESH_TEST_SUITE set) whose filter matched no
// test case fails, so that a renamed file cannot turn a suite into an empty
// pass.
#define DOCTEST_CONFIG_IMPLEMENT
// Compiled here so that the umbrella header stays self-contained.
#include "mesh/mesh.hpp"

#include <doctest/doctest.h>

#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

/// Records how many test cases passed the command line's filters.
struct filter_count : doctest::IReporter {
  static inline unsigned selected = 0;
  static inline bool ran = false;
  explicit filter_count(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    ran = true;
    selected = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

} // namespace

REGISTER_LISTENER("filter_count", 1, filter_count);

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
  const char* suite = std::getenv("MESH_TEST_SUITE");
  if (rc == 0 && suite != nullptr && *suite && filter_count::ran &&
      filter_count::selected == 0) {
    std::fprintf(stderr, "suite %s: no test case matches its files\n", suite);
    rc = 1;
  }
  if (!own_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(own_dir, ec);
  }
  return rc;
}
