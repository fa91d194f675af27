#!/usr/bin/env bash
# Configures (once) and builds libmesh into ./build with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
"./scripts/install-deps.sh"
if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=debugoptimized -Dwerror=true >/dev/null
fi
# Two heavy CAF translation units at a time fit comfortably in memory.
meson compile -C build -j "$(nproc)"
