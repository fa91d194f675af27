#!/usr/bin/env bash
# Configures (once) and builds libmesh into ./build with warnings as errors.
#
#   scripts/build.sh                     ninja's output on stdout (run-tests.sh)
#   scripts/build.sh --quiet-if-built    prints nothing when build/ is up to
#                                        date; otherwise ninja's progress on
#                                        stderr (run-main.sh: stdout is the job's)
set -euo pipefail
cd "$(dirname "$0")/.."
quiet_if_built=false
case "${1:-}" in
  --quiet-if-built) quiet_if_built=true ;;
  "") ;;
  *) echo "usage: $0 [--quiet-if-built]" >&2; exit 2 ;;
esac

"./scripts/install-deps.sh"
if [[ ! -f build/build.ninja ]]; then
  echo "configuring build/ ..." >&2
  # Meson's summary is long; show it only when the configuration fails.
  if ! setup_log=$(meson setup build --buildtype=debugoptimized -Dwerror=true 2>&1); then
    printf '%s\n' "$setup_log" >&2
    exit 1
  fi
fi
if $quiet_if_built; then
  # A dry run lists what is out of date without building anything.
  if ninja -C build -n 2>/dev/null | grep -qx 'ninja: no work to do\.'; then
    exit 0
  fi
  echo "building build/ ..." >&2
  exec >&2
fi
# Two heavy CAF translation units at a time fit comfortably in memory.
meson compile -C build -j "$(nproc)"
