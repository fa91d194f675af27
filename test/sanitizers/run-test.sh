#!/usr/bin/env bash
# `meson test --wrapper` for the sanitizer builds (scripts/sanitize.sh, and by
# hand for build-tsan): runs one test and fails it if any process it started
# wrote a sanitizer report, the test binary itself or any descendant.
#
# Why a wrapper: a report ends the reporting process (exit code 23 from
# scripts/sanitize.sh's options), but most processes a test starts are not
# the test binary. meshd, bootstrap children, the zygote and the procs it
# forks are ended by the test or by their launcher, and their exit status
# is read (if at all) by libmesh code that treats a failed proc as an
# ordinary event; their stderr goes into pipes nobody may print. A report
# there would be lost. Instead every process writes its reports to a file
# of its own: log_path=DIR/report makes the runtime open DIR/report.<pid>
# at its first report, and a new one after fork (the zygote's procs).
# libmesh passes its environment on to everything it starts, so all of
# them inherit the options; nothing is written unless something is
# reported. After the test this wrapper prints every such file and turns
# the result into a failure. (UBSan cannot write to log_path with GCC; see
# scripts/sanitize.sh for how its reports reach these files anyway.)
#
#   SANITIZER_LOG_ROOT   where the per-test directories go (required)
#   SANITIZER_CHILD_LEAKS  "1" (default): LeakSanitizer checks every process
#                        at exit; "0": only the test binary
#   SANITIZER_REPORTS    "fail" (default): any report fails the test;
#                        "keep": print them and keep the test's own status
#                        (the TSan survey of test/sanitizers/README.md)
set -uo pipefail

: "${SANITIZER_LOG_ROOT:?set SANITIZER_LOG_ROOT}"
mkdir -p "$SANITIZER_LOG_ROOT"
name=$(basename "$1")
# A python test's $1 is the interpreter: name it after its script instead.
[[ $name == python3* && $# -ge 2 ]] && name=$(basename "$2" .py)
# Every suite is one program (test/mesh_tests): its directory is named after
# the suite, which test/meson.build passes as MESH_TEST_SUITE.
dir=$(mktemp -d "$SANITIZER_LOG_ROOT/${MESH_TEST_SUITE:-$name}.XXXX")

# Appended last, so they win over a log_path given by the caller. One path
# for all: libubsan's start-up hands its log_path to libasan (see
# scripts/sanitize.sh), which must not move ASan's reports elsewhere.
for var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do
  export "$var=${!var:-}:log_path=$dir/report"
done

# SANITIZER_CHILD_LEAKS=0: LeakSanitizer checks the test binary at exit but
# no program it starts (why: scripts/sanitize.sh). ASan expands %b in
# include_if_exists to the name of the running program, so only the test
# binary finds the file that turns detect_leaks back on.
if [[ ${SANITIZER_CHILD_LEAKS:-1} == 0 ]]; then
  mkdir -p "$SANITIZER_LOG_ROOT/.options"
  echo "detect_leaks=1" >"$SANITIZER_LOG_ROOT/.options/$name"
  export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0:include_if_exists=$SANITIZER_LOG_ROOT/.options/%b"
fi

"$@"
status=$?

reports=$(find "$dir" -type f -size +0 | sort)
if [[ -n $reports ]]; then
  count=$(wc -l <<<"$reports")
  echo "=== $count sanitizer report file(s) from this test (one per process) ===" >&2
  while read -r f; do
    echo "--- $f" >&2
    cat "$f" >&2
  done <<<"$reports"
  if [[ ${SANITIZER_REPORTS:-fail} == fail ]]; then
    echo "=== failing the test: a sanitizer reported (see above) ===" >&2
    [[ $status -eq 0 ]] && status=1
  fi
else
  rmdir "$dir" 2>/dev/null
fi
exit $status
