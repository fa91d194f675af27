#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the main job.
# The build shows its progress on stderr when there is something to build and
# prints nothing otherwise; stdout is the job's.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh --quiet-if-built
exec build/tools/meshctl up config/local.yaml --once
