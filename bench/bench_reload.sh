#!/bin/sh
# bench/bench_reload.sh BUILD - live reload benchmark (bench_reload.c):
# change latency with inotify (debounce 20/5/1 ms) and polling (100 ms),
# the cost of reloading a 200 KB file, and reader lookup latency with and
# without reloads running. Prints Markdown tables (also written to
# bench/out/reload-results.md). BENCH_QUICK=1 runs 40 changes instead of 200.
set -u
BUILD=${1:-build}
CC=${CC:-cc}
cd "$(dirname "$0")/.." || exit 1
OUT=bench/out
BIN=$BUILD/bench
mkdir -p "$OUT" "$BIN"
if [ ! -f "$BUILD/libcoffer.a" ]; then
    echo "bench_reload: $BUILD/libcoffer.a is missing (run: make BUILD=$BUILD)" >&2
    exit 1
fi
echo "== Live reload benchmark"
$CC -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -Isrc bench/bench_reload.c \
    "$BUILD/libcoffer.a" -lsodium -pthread -o "$BIN/bench_reload" || exit 1
"$BIN/bench_reload" "${BENCH_RELOAD_CHANGES:-200}" | tee "$OUT/reload-results.md"
