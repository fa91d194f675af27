#!/usr/bin/env bash
# The README's second command: install what is missing, build, run every test
# and end with one line "N passed, M failed" (doctest test cases, all suites).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
status=0
meson test -C build --print-errorlogs "$@" || status=$?
# .ci/run sets MESH_FUZZ_RESULTS so that the fuzz targets count in the line.
python3 scripts/test-summary.py build/meson-logs/testlog.json \
  ${MESH_FUZZ_RESULTS:+--fuzz "$MESH_FUZZ_RESULTS"} || status=1
exit $status
