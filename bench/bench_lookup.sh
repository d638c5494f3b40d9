#!/bin/sh
# bench_lookup.sh - builds and runs bench/bench_lookup.c against
# BUILD/libcoffer.a: dotted-path lookup in a loaded ~200 KB store (median ns,
# allocation count) and first access of a 2 KB file (median us, secure and
# plain memory). Usage: sh bench/bench_lookup.sh [BUILD [BATCHES [FRESH]]]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
lib="$BUILD/libcoffer.a"
[ -f "$lib" ] || { echo "bench_lookup: $lib is not built" >&2; exit 1; }
mkdir -p "$BUILD/bench"
# No sanitizers here: the program interposes malloc and times nanoseconds.
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -pthread \
    -I"$root/include" -o "$BUILD/bench/bench_lookup" \
    "$root/bench/bench_lookup.c" "$lib" -lsodium -lm -pthread
shift $(( $# > 0 ? 1 : 0 ))
exec "$BUILD/bench/bench_lookup" "$@"
