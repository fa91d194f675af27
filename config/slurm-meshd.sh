#!/usr/bin/env bash
# Slurm by hand: start one meshd per allocated node on a fixed port, attach a
# client to all of them, and stop the daemons when the client is done.
#
# Prefer mode slurm (config/slurm.yaml; README.md, "Running on Slurm"), or
# mesh::slurm::job / in_allocation from C++ (mesh/slurm.hpp): they submit
# the job (or use the allocation you are in), learn the daemons' addresses
# from a spool directory instead of fixed ports, hand the daemons your mesh
# key instead of certificates, show the job's state while it pends, and
# end the job on shutdown, on Ctrl-C and when the client dies. The same as
# this script, with a mesh file of `mode: slurm` and `allocation: current`:
#
#   sbatch --nodes=4 --wrap "build/tools/meshctl up --once inside.yaml"
#
# This script stays as a template for setups the allocator does not cover:
# daemons that clients outside the job attach to, on a known port, with the
# cluster's certificates (README.md, "Running across machines"). Unlike the
# allocator, it is not tested against Slurm.
#
#   sbatch --nodes=4 config/slurm-meshd.sh
#
# Settings (environment, all optional):
#   MESHD         the meshd binary, on a path every node sees   (build/tools/meshd)
#   PROC_COMMAND  what procs run: a program whose main() calls
#                 mesh::run_bootstrap_child()                    (meshd itself)
#   MESHD_PORT    the port every meshd listens on               (26600)
#   TLS_DIR       ca.pem, node.pem, node.key: a certificate of the cluster's
#                 CA shared by the nodes and the client (`meshctl cert init
#                 DIR` makes them); without it meshd runs plain TCP with
#                 --insecure (trusted networks only)
#   CLIENT        the client command; it gets the addresses as its arguments
#                 (default: attach with `meshctl up --once` to a generated
#                 mesh file)
#   MESHCTL       meshctl for the default client       (build/tools/meshctl)
#
#SBATCH --job-name=libmesh
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --time=01:00:00
set -euo pipefail

MESHD=${MESHD:-$PWD/build/tools/meshd}
MESHCTL=${MESHCTL:-$(dirname "$MESHD")/tools/meshctl}
MESHD_PORT=${MESHD_PORT:-26600}
TLS_DIR=${TLS_DIR:-}
PROC_COMMAND=${PROC_COMMAND:-}

security=(--insecure)
if [[ -n "$TLS_DIR" ]]; then
  security=(--tls-cert "$TLS_DIR/node.pem" --tls-key "$TLS_DIR/node.key"
            --tls-ca "$TLS_DIR/ca.pem")
  # The client uses the same credentials (any certificate of the CA works).
  export MESH_TLS_CERTIFICATE="$TLS_DIR/node.pem"
  export MESH_TLS_KEY="$TLS_DIR/node.key"
  export MESH_TLS_CAFILE="$TLS_DIR/ca.pem"
fi
procs=()
[[ -n "$PROC_COMMAND" ]] && procs=(--proc-command "$PROC_COMMAND")

# One meshd per node, each listening on its node's own name. --wait=0 keeps
# srun from ending the others when the client shuts them down one by one.
# shellcheck disable=SC2016 # $0, $@ and $(hostname) expand on each node
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --wait=0 \
  bash -c 'exec "$0" --listen "$(hostname):'"$MESHD_PORT"'" "$@"' \
  "$MESHD" "${security[@]}" "${procs[@]}" &
daemons=$!
trap 'kill -TERM "$daemons" 2>/dev/null || true; wait "$daemons" || true' EXIT

# The addresses the client attaches to: node:port, in node-list order.
addrs=()
for node in $(scontrol show hostnames "$SLURM_JOB_NODELIST"); do
  addrs+=("$node:$MESHD_PORT")
done

# Wait until every daemon accepts connections (at most a minute each).
for addr in "${addrs[@]}"; do
  for _ in $(seq 60); do
    if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
      break
    fi
    sleep 1
  done
done

if [[ -n "${CLIENT:-}" ]]; then
  # The client calls, for example:
  #   auto hosts = mesh::host_mesh::attach(sys, mesh::host_mesh_id::instance("job"),
  #                                        {"node1:26600", "node2:26600", ...});
  #   ... hosts->spawn(...) ...
  #   hosts->shutdown();   // ends the daemons; hosts->stop() would keep them
  $CLIENT "${addrs[@]}"
else
  mesh_file=$(mktemp --suffix=.yaml)
  {
    echo "hosts:"
    echo "  mode: attach"
    echo "  addresses:"
    for addr in "${addrs[@]}"; do echo "    - $addr"; done
    echo "proc_meshes:"
    echo "  - name: workers"
    echo "    per_host: {procs: 4}"
  } >"$mesh_file"
  echo "attaching to: ${addrs[*]}"
  "$MESHCTL" up --once "$mesh_file"
  rm -f "$mesh_file"
fi
