#!/usr/bin/env bash
# Runs the whole test suite RUNS times in a row (default 10) in an existing
# build directory while stress-ng loads the machine, and stops at the first
# failing run. Issue 13's acceptance: 10 runs in a row under
# `stress-ng --cpu 16 --io 2` (a load average near 20 on two cores).
#
#   scripts/stress-tests.sh [BUILD_DIR] [RUNS] [stress-ng arguments...]
#   scripts/stress-tests.sh build 10 --cpu 16 --io 2
#
# Prints one line per run ("run 3/10: 612 passed, 0 failed, 241 s, load 19.8")
# and keeps each run's meson log as BUILD_DIR/stress-runN.txt. Only the
# stress-ng it started is stopped, by its PID.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-10}
shift 2 2>/dev/null || shift $#
load_args=("$@")
[ ${#load_args[@]} -eq 0 ] && load_args=(--cpu 16 --io 2)
command -v stress-ng >/dev/null || { echo "stress-ng is not installed" >&2; exit 2; }
stress-ng "${load_args[@]}" --timeout 0 --quiet &
stress_pid=$!
trap 'kill -TERM "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null' EXIT
sleep 20 # let the load build up
status=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  meson test -C "$build" --no-rebuild >"$build/stress-run$i.txt" 2>&1
  rc=$?
  line=$(python3 scripts/test-summary.py "$build/meson-logs/testlog.json" 2>&1 | tail -1)
  cp "$build/meson-logs/testlog.txt" "$build/stress-testlog$i.txt" 2>/dev/null
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "run $i/$runs: $line, $(( $(date +%s) - start )) s, load $load (stress-ng ${load_args[*]})"
  if [ $rc -ne 0 ]; then
    status=1
    grep -E "^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)" "$build/stress-run$i.txt"
    break
  fi
done
exit $status
