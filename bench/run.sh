#!/bin/sh
# bench/run.sh BUILD - the benchmarks behind `make bench`.
#
# 1. The TOML parser benchmark: builds bench_parse (against BUILD/libcoffer.a)
#    and the toml++ driver, generates the secrets-shaped inputs into
#    bench/out/ (deterministic; regenerated only when gen_inputs.py changes),
#    measures coffer, toml++, Python tomllib and Python toml on the same
#    files, and prints one table plus a target check (also written to
#    bench/out/parse-results.md).
# 2. Then every other bench/*.sh in turn (each gets BUILD as its argument).
#
# Missing targets are reported, not fatal; a benchmark that fails to build
# or run makes the script exit non-zero after all have run.
# BENCH_ONLY=parse runs the parser benchmark alone.
set -u
BUILD=${1:-build}
CC=${CC:-cc}
CXX=${CXX:-g++}
PY=/usr/bin/python3
cd "$(dirname "$0")/.." || exit 1
OUT=bench/out
BIN=$BUILD/bench
mkdir -p "$OUT" "$BIN"
status=0

if [ ! -f "$BUILD/libcoffer.a" ]; then
    echo "bench: $BUILD/libcoffer.a is missing (run: make BUILD=$BUILD)" >&2
    exit 1
fi

echo "== TOML parse benchmark"
$CC -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -Isrc bench/bench_parse.c \
    "$BUILD/libcoffer.a" -lsodium -pthread -o "$BIN/bench_parse" || exit 1
tomlpp=1
if ! $CXX -O2 -std=c++17 bench/peer_tomlpp.cpp -o "$BIN/peer_tomlpp" 2>"$OUT/peer_tomlpp.log"; then
    echo "bench: cannot build the toml++ driver (see $OUT/peer_tomlpp.log); toml++ column n/a" >&2
    tomlpp=0
fi

stamp=$(md5sum bench/gen_inputs.py | cut -d' ' -f1)
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "generating inputs into $OUT/"
    $PY bench/gen_inputs.py "$OUT" || exit 1
    echo "$stamp" >"$OUT/.stamp"
fi
files=
for shape in sections aot; do
    for size in 2k 200k 20m; do
        files="$files $OUT/$shape-$size.toml"
    done
done

load_before=$(cut -d" " -f1 /proc/loadavg)
res=$OUT/parse-results.txt
: >"$res"
echo "coffer..."
"$BIN/bench_parse" $files >>"$res" || { echo "bench: coffer failed to parse an input" >&2; exit 1; }
for shape in sections aot; do
    # a fresh process per 20 MiB input for its peak RSS
    "$BIN/bench_parse" --rss "$OUT/$shape-20m.toml" >>"$res" || status=1
done
if [ "$tomlpp" = 1 ]; then
    echo "toml++..."
    "$BIN/peer_tomlpp" $files >>"$res" || status=1
fi
echo "python tomllib..."
$PY bench/peer_python.py tomllib 60 $files >>"$res" || echo "bench: tomllib n/a" >&2
# Python toml does about 2-5 MB/s: a single run on one 20 MiB input (the
# sections shape), skipped too when the smaller files predict more than 60 s.
echo "python toml..."
$PY bench/peer_python.py toml 60 $(echo $files | sed "s|$OUT/aot-20m.toml||") >>"$res" ||
    echo "bench: python3-toml n/a" >&2
echo "toml $OUT/aot-20m.toml skip skip" >>"$res"
echo
LOAD_BEFORE=$load_before $PY bench/report.py "$res" "$OUT/parse-results.md" || status=1

[ "${BENCH_ONLY:-}" = parse ] && exit $status
for s in bench/*.sh; do
    [ -f "$s" ] || continue
    [ "$s" = bench/run.sh ] && continue
    echo
    echo "== $s"
    sh "$s" "$BUILD" || { echo "bench: $s failed" >&2; status=1; }
done
exit $status
