#!/bin/sh
# bench_etcd.sh - rotation-to-visible latency of etcd sources: a real
# 3-node cluster on loopback, N `coffer watch` processes (N = 1, 20, 100)
# on etcd://.../KEY, ROTATIONS writes each (default 20); the time from just
# before the put to each watcher's change line, p50/p99/max.
# Usage: sh bench/bench_etcd.sh [BUILD] [ROTATIONS]
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
ROT=${2:-20}
case $BUILD in /*) C=$BUILD/coffer ;; *) C=$ROOT/$BUILD/coffer ;; esac
W=$(mktemp -d)
ETCD_DIR="$W/etcd"
. "$ROOT/tests/suites/etcd-lib.inc"
trap 'etcd_cluster_stop; rm -rf "$W"' EXIT
trap 'exit 1' INT TERM
etcd_cluster_start 3 || { echo "bench_etcd: etcd did not start" >&2; exit 1; }
echo "etcd rotation-to-visible latency (3-node cluster on loopback, $ROT rotations)"
printf '%-10s %s\n' watchers result
for n in 1 20 100; do
    r=$(python3 "$ROOT/tests/suites/etcd_latency.py" "$C" "etcd://$ETCD_EPS/bench" "$ETCD_EP1" "$n" "$ROT")
    printf '%-10s %s\n' "$n" "$r"
done
