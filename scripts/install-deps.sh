#!/usr/bin/env bash
# Installs the Debian 12 packages libmesh needs to build, test and benchmark.
# Idempotent: prints nothing and touches nothing when all are present.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config python3
  libcaf-dev libssl-dev openssl   # CAF 0.17.6 core, io and openssl modules
  libboost-dev                    # Boost.Process (header-only v1)
  libyaml-cpp-dev                 # mesh files
  libspdlog-dev libfmt-dev        # logging and formatting
  libcli11-dev                    # meshctl / meshd command lines
  nlohmann-json3-dev              # the introspection tree's JSON (header-only)
  libcpp-httplib-dev              # the admin endpoint (HTTP server), meshctl's client
  python3-prometheus-client       # the admin suite parses /metrics with it
  doctest-dev                     # tests
  tmux                            # meshctl top's real-terminal test
  cmake                           # the install test's CMake consumer (test/install)
  iproute2 util-linux numactl     # network namespaces, taskset, numactl
  clang-14 libfuzzer-14-dev       # the fuzz targets (scripts/fuzz.sh, fuzz/)
  slurm-wlm munge                 # the Slurm allocator's tests: a real slurmctld/slurmd
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "installing: ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
  --no-install-recommends "${missing[@]}" >/dev/null
