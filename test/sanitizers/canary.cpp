// Proves that scripts/sanitize.sh would see a report from a grandchild, the
// way a bug in a zygote-forked proc would look: this program forks, the
// child forks again, and the grandchild commits the error named by argv[1]
// (or nothing, for "clean") and exits 0 if it survives. Every parent exits 0
// whatever its child did, so only test/sanitizers/run-test.sh's log_path
// files can tell. sanitize.sh runs it through that wrapper before the suites
// and stops if a bug goes unseen or a clean run fails.
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile int big = INT_MAX;
char* volatile sink;

void commit(const std::string& what) {
  if (what == "heap-overflow") {
    sink = static_cast<char*>(std::malloc(8));
    std::memset(sink, 0, 9 + (big & 0)); // one byte past the block
  } else if (what == "use-after-free") {
    sink = static_cast<char*>(std::malloc(8));
    std::free(sink);
    sink[0] = 1;
  } else if (what == "signed-overflow") {
    big = big + 1; // UBSan: signed integer overflow
  }
}

void run_in_child(void (*body)(const std::string&), const std::string& what) {
  pid_t pid = ::fork();
  if (pid == 0) {
    body(what);
    std::exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
}

void grandchild(const std::string& what) {
  run_in_child(commit, what);
}

} // namespace

int main(int argc, char** argv) {
  run_in_child(grandchild, argc > 1 ? argv[1] : "clean");
  return 0;
}
