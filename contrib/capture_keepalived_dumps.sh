#!/bin/bash
# Capture the dump files keepalived 2.2.7 writes (SIGUSR1 -> keepalived.data, SIGUSR2 -> keepalived.stats,
# SIGRTMIN+2 -> keepalived.json) for two peers on a veth pair, to refresh the fixtures in
# tests/unit/keepalived_dumps/.  Runs everything in a private mount + network namespace:
# /tmp and /run are fresh tmpfs there, so nothing touches the host's /tmp, /run or namespaces, and a private pid
# namespace: when the script ends, however it ends, the kernel kills every keepalived it started.
# Usage (root): contrib/capture_keepalived_dumps.sh OUTDIR
set -euo pipefail
out=$(realpath "${1:?usage: $0 OUTDIR}")
mkdir -p "$out"
here=$(dirname "$(realpath "$0")")
exec unshare --mount --net --pid --mount-proc --fork --propagation private bash "$here/capture_keepalived_dumps.inner" "$out"
