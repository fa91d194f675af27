#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang into ./build-fuzz and runs
# each for FUZZ_SECONDS (default 60) from a fresh copy of its seed corpus.
#
#   scripts/fuzz.sh                        every target
#   FUZZ_SECONDS=10 scripts/fuzz.sh        a shorter run
#   FUZZ_TARGETS="payload id" scripts/fuzz.sh   some of them
#
# Prints one line per target, "fuzz <name>: <execs>/s, cov <N>, ft <M>,
# ok|FAILED", and writes build-fuzz/fuzz-results.json. Any crash, leak,
# timeout (10 s per input) or OOM (2 GiB) fails the target; the script then
# exits non-zero. The failing input is kept in build-fuzz/fuzz-artifacts/
# <name>/ (replay: build-fuzz/fuzz/fuzz_<name> <file>), every log in
# build-fuzz/fuzz-logs/. New corpus entries stay in a temporary directory:
# the committed seeds (fuzz/corpus/) never change.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(payload mesh_file extent region id zygote_protocol line_framer basp_guard
  proc_stats introspect_json registry_entry slurm_hostlist slurm_record)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
seconds=${FUZZ_SECONDS:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "FUZZ_SECONDS must be a positive number of seconds, not '$seconds'" >&2
  exit 2
fi

"./scripts/install-deps.sh"
rm -f build-fuzz/fuzz-results.json
if [[ ! -f build-fuzz/build.ninja ]]; then
  echo "configuring build-fuzz/ ..." >&2
  # Meson's summary is long; show it only when the configuration fails.
  if ! setup_log=$(CC=clang-14 CXX=clang++-14 meson setup build-fuzz \
      -Dfuzz=true -Dtests=false -Dexamples=false -Dbenches=false \
      -Dtools=false 2>&1); then
    printf '%s\n' "$setup_log" >&2
    exit 1
  fi
fi
build_start=$SECONDS
meson compile -C build-fuzz -j "$(nproc)"
echo "build-fuzz: built in $((SECONDS - build_start)) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/libmesh-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p build-fuzz/fuzz-logs
rm -rf build-fuzz/fuzz-artifacts

# The number after `key` in the last line of libFuzzer's log that has it:
# its status lines ("#N DONE cov: C ft: F ...") or its final stats.
last_value() {
  local key=$1 log=$2
  grep -E '^(#[0-9]+|stat::)' "$log" | grep -oE "(^| )$key:? +[0-9]+" |
    tail -n 1 | grep -oE '[0-9]+$' || echo 0
}

# One target's run; leaves its summary line, its JSON entry and its verdict
# in $work/$name.{line,json,failed}.
run_target() {
  local name=$1
  local exe=build-fuzz/fuzz/fuzz_$name
  local dir=$work/$name
  mkdir -p "$dir/artifacts"
  cp -R "fuzz/corpus/$name" "$dir/corpus"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
  [[ -f fuzz/$name.dict ]] && args+=(-dict="fuzz/$name.dict")
  local log=build-fuzz/fuzz-logs/$name.log
  local status=0
  "$exe" "${args[@]}" "$dir/corpus" > "$log" 2>&1 || status=$?

  local execs cov ft ok verdict
  execs=$(last_value 'stat::average_exec_per_sec' "$log")
  cov=$(last_value cov "$log")
  ft=$(last_value ft "$log")
  # libFuzzer exits 0 only after its time is up with nothing found.
  if [[ $status -eq 0 ]] && grep -q '^Done [0-9]* runs' "$log"; then
    ok=true
    verdict=ok
  else
    ok=false
    verdict=FAILED
    mkdir -p "build-fuzz/fuzz-artifacts/$name"
    cp -R "$dir/artifacts/." "build-fuzz/fuzz-artifacts/$name/"
    {
      echo "--- fuzz_$name exited $status; the end of $log:"
      tail -n 40 "$log"
      echo "--- failing inputs kept in build-fuzz/fuzz-artifacts/$name/:"
      ls "build-fuzz/fuzz-artifacts/$name/"
    } > "$work/$name.failed"
  fi
  echo "fuzz $name: $execs/s, cov $cov, ft $ft, $verdict" > "$work/$name.line"
  echo "\"$name\": {\"ok\": $ok, \"execs_per_sec\": $execs, \"cov\": $cov, \"ft\": $ft}" \
    > "$work/$name.json"
}

for name in "${targets[@]}"; do
  if [[ ! -x build-fuzz/fuzz/fuzz_$name || ! -d fuzz/corpus/$name ]]; then
    echo "no fuzz target '$name' (known: ${all_targets[*]})" >&2
    exit 2
  fi
done
# A libFuzzer process uses one core: FUZZ_JOBS targets run at a time (the
# number of cores by default), so the CI stage takes 13 x 60 s / 2, not
# 13 x 60 s. Results are printed in the targets' order.
jobs=${FUZZ_JOBS:-$(nproc)}
running=0
for name in "${targets[@]}"; do
  if (( running >= jobs )); then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$name" &
  running=$((running + 1))
done
wait || true

failed=0
json="{"
for name in "${targets[@]}"; do
  if [[ -f $work/$name.failed ]]; then
    cat "$work/$name.failed" >&2
    failed=1
  fi
  if [[ ! -f $work/$name.line ]]; then
    echo "fuzz $name: no result (its run ended early)" >&2
    failed=1
    continue
  fi
  cat "$work/$name.line"
  [[ $json == "{" ]] || json+=", "
  json+=$(cat "$work/$name.json")
done
json+="}"
printf '%s\n' "$json" > build-fuzz/fuzz-results.json
exit $failed
