#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, in a
# second build directory (build-asan) so that ./build stays the normal one.
# Ends, like run-tests.sh, with one line "N passed, M failed"; any sanitizer
# report, in a test binary or in any process it started, fails its test.
#
#   scripts/sanitize.sh                 build build-asan/ and run the suites
#   scripts/sanitize.sh actors gather   ... only these tests (meson test names)
#
# test/sanitizers/README.md says what the sanitizers found and why each
# option below is set; test/sanitizers/run-test.sh is how reports of child
# processes (meshd, bootstrap children, the zygote and its procs) are caught.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=build-asan

./scripts/install-deps.sh
if [[ ! -f $dir/build.ninja ]]; then
  echo "configuring $dir/ ..." >&2
  # No examples or benches: no test runs them. meshd, meshctl and
  # mesh_child are what the tests start; they are built with the tests.
  # b_lundef=false: the sanitizer runtimes define symbols libmesh.so only
  # gets when loaded into an instrumented program (Meson's advice).
  # -Og, not -O2: UBSan's checks make GCC's -O2 over CAF's templates about
  # 4x slower than a normal build (40 CPU-minutes for this tree); -Og costs
  # 1.5x. Full -g keeps inlined frames in reports, which the suppressions
  # match on. Warnings are the normal build's business (-Werror there);
  # GCC warns about its own headers under the sanitizers.
  if ! setup_log=$(meson setup "$dir" -Doptimization=g -Ddebug=true \
      -Db_sanitize=address,undefined -Db_lundef=false \
      -Dexamples=false -Dbenches=false 2>&1); then
    printf '%s\n' "$setup_log" >&2
    exit 1
  fi
fi
# At most two compilers at a time: CI has two cores, and instrumented CAF
# translation units take more memory than plain ones.
meson compile -C "$dir" -j "${SANITIZE_JOBS:-2}"

# Every test but two that check the shipped library, not its behaviour:
# `install` builds an uninstrumented consumer against the installed
# libmesh.so, which then loads the ASan runtime too late to start ("ASan
# runtime does not come first"); `exports` lists libmesh.so's symbols, and
# at -Og standard-library helpers that -O2 inlines stay out of line: those
# whose demangled name begins with a mesh:: return type match the
# `mesh::*` pattern of libmesh/libmesh.map and get exported. run-tests.sh
# runs both on the normal build.
if [[ $# -gt 0 ]]; then
  tests=("$@")
else
  mapfile -t tests < <(meson test -C "$dir" --no-rebuild --list 2>/dev/null |
                       sed 's/^.* \/ //' | grep -vxE 'install|exports')
fi

# Any report fails: ASan and UBSan stop the process at the first one, LSan
# checks every process that exits normally. exitcode=23 tells a sanitizer's
# exit apart from a test's own failure (1) in the logs. Reports go to files,
# not stderr (log_path, set per test by test/sanitizers/run-test.sh).
#
# UBSan needs a detour. With GCC, libubsan is a runtime of its own beside
# libasan, and its log_path does not work: the call that would set its
# report file binds to libasan's __sanitizer_set_report_path, so UBSan's
# text always goes to stderr, which in a child is a pipe nobody may read.
# So UBSan aborts (abort_on_error=1) and ASan catches that SIGABRT
# (handle_abort=1) and writes a deadly-signal report, whose stack names the
# __ubsan_handle_* check and the line that failed, into the log file. The
# same handle_abort turns any other abort (an uncaught exception, an
# assertion) into a report too, which a test must not see either.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=23:handle_abort=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=$root/test/sanitizers/ubsan.supp"
export LSAN_OPTIONS="suppressions=$root/test/sanitizers/lsan.supp:print_suppressions=0"
# Leaks are checked in the test binaries, which run libmesh's client, host
# agents, proc managers and actors in-process, but not in the programs the
# tests start (mesh_child procs, the zygote, meshd, meshctl). LSan's check at
# exit stops the world from a helper task it clones, and takes 0.2-1 s per
# process on two cores. Procs are routinely SIGKILLed while they exit (stop
# escalation, the parent-death signal, a zygote ending its procs): the
# helper is then orphaned to the test binary, a child subreaper, whose
# fixture rightly reports "processes left behind". And the slower exits
# break the tests' polite-stop windows (host_mesh: 500 ms). ASan and UBSan
# stay on in every process. SANITIZER_CHILD_LEAKS=1 checks children too.
export SANITIZER_CHILD_LEAKS=${SANITIZER_CHILD_LEAKS:-0}
# Even without the leak check an instrumented proc's exit takes about 0.3 s
# of CPU (fake stacks of detect_stack_use_after_return, the allocator's
# unmapping), so the suites' 500 ms polite-stop window is scaled: 8 procs of
# two meshd stopping at once on two cores took 670 ms and were SIGTERMed.
# test/support/process.hpp polite_window() reads it.
export MESH_TEST_SLOWDOWN=${MESH_TEST_SLOWDOWN:-6}
export SANITIZER_LOG_ROOT=$root/$dir/meson-logs/sanitizers
rm -rf "$SANITIZER_LOG_ROOT" "$dir/meson-logs/canary"

# First the canary (test/sanitizers/canary.cpp): a bug in a grandchild must
# fail through the wrapper, a clean run must pass. If not, the options above
# no longer catch what they are meant to, and a green run would mean nothing.
canary=$dir/sanitizer-canary
g++ -std=c++17 -Og -g -fsanitize=address,undefined -fno-omit-frame-pointer \
  test/sanitizers/canary.cpp -o "$canary"
for mode in clean heap-overflow use-after-free signed-overflow; do
  want=1; [[ $mode == clean ]] && want=0
  got=0
  SANITIZER_LOG_ROOT=$dir/meson-logs/canary test/sanitizers/run-test.sh \
    "$canary" "$mode" >"$dir/meson-logs/canary-$mode.txt" 2>&1 || got=1
  if [[ $got -ne $want ]]; then
    echo "sanitizer canary '$mode': exit $got, expected $want" \
      "(see $dir/meson-logs/canary-$mode.txt)" >&2
    exit 1
  fi
done
echo "sanitizer canary: reports from a grandchild fail the test" >&2

status=0
# Instrumented code runs 2-3 times slower; the multiplier scales the
# per-suite timeouts of test/meson.build, not the tests' own deadlines.
meson test -C "$dir" --no-rebuild --print-errorlogs \
  --timeout-multiplier 3 --num-processes 1 \
  --wrapper "$root/test/sanitizers/run-test.sh" "${tests[@]}" || status=$?
# Meson names the log after the wrapper: testlog-run-test.sh.json.
python3 scripts/test-summary.py "$dir/meson-logs/testlog-run-test.sh.json" ||
  status=1
exit $status
