#!/bin/sh
# bench/bench_store.sh BUILD - loading through the store against the bare
# parser (bench_store.c), glibc's malloc defaults against warm malloc, and
# the whole `coffer -f FILE list` process on the 20 MB inputs.
#
# Runs bench_store ROUNDS times (default 3) alternating two processes: one
# with glibc's defaults, one with GLIBC_TUNABLES for warm memory (freed
# memory kept); each process itself interleaves files and modes. Medians
# pool the per-process medians (median of them). Then hyperfine times
# `coffer -f FILE list >/dev/null` and /usr/bin/time -v gives its peak RSS.
# Prints a Markdown table (also bench/out/store-results.md).
set -u
BUILD=${1:-build}
CC=${CC:-cc}
cd "$(dirname "$0")/.." || exit 1
OUT=bench/out
BIN=$BUILD/bench
mkdir -p "$OUT" "$BIN"
[ -f "$BUILD/libcoffer.a" ] || { echo "bench_store: $BUILD/libcoffer.a is missing" >&2; exit 1; }
$CC -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -Isrc bench/bench_store.c \
    "$BUILD/libcoffer.a" -lsodium -pthread -o "$BIN/bench_store" || exit 1
[ -f "$OUT/flat-20m.toml" ] || /usr/bin/python3 bench/gen_inputs.py "$OUT" || exit 1
WARM=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295:glibc.malloc.top_pad=67108864
files="$OUT/secrets-2k.toml $OUT/sections-200k.toml $OUT/aot-200k.toml $OUT/flat-200k.toml $OUT/flat-20m.toml $OUT/sections-20m.toml"
res=$OUT/store-results.txt
: >"$res"
r=1
while [ $r -le "${BENCH_STORE_ROUNDS:-3}" ]; do
    echo "round $r..."
    "$BIN/bench_store" -r 2 -t 0.1 default $files >>"$res" || exit 1
    GLIBC_TUNABLES=$WARM "$BIN/bench_store" -r 2 -t 0.1 warm $files >>"$res" || exit 1
    r=$((r + 1))
done
for f in flat-20m sections-20m; do
    hyperfine -N --style none --warmup 2 --runs 10 --export-json "$OUT/list-$f.json" \
        "$BUILD/coffer -f $OUT/$f.toml list" >/dev/null 2>&1 || exit 1
    rss=$( { /usr/bin/time -v "$BUILD/coffer" -f "$OUT/$f.toml" list >/dev/null; } 2>&1 |
          sed -n 's/.*Maximum resident set size (kbytes): //p')
    echo "list $f $(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median']*1e6)" "$OUT/list-$f.json") $rss" >>"$res"
done
/usr/bin/python3 - "$res" "$OUT" <<'EOF' | tee "$OUT/store-results.md"
import os, statistics as st, sys
res, out = sys.argv[1], sys.argv[2]
med, lst = {}, {}
for line in open(res):
    w = line.split()
    if w[0] == "list":
        lst[w[1]] = (float(w[2]), int(w[3]) * 1024)
        continue
    label, mode, path = w[0], w[1], os.path.basename(w[2]).rsplit(".", 1)[0]
    med.setdefault((label, mode, path), []).append(float(w[3]))
m = {k: st.median(v) for k, v in med.items()}
names = []
for (_, _, p) in med:
    if p not in names:
        names.append(p)
print("| input | parse us | store us (x parse) | store plain us (x) | reload us (x) | reload plain us (x) | parse warm malloc us (default / warm) |")
print("|---|---:|---:|---:|---:|---:|---:|")
fails = []
for p in names:
    pa = m[("default", "parse", p)]
    bound = 3.0 if p.endswith("2k") else 1.5
    cells = []
    for mode in ("store", "store-plain", "reload", "reload-plain"):
        v = m[("default", mode, p)]
        cells.append("%.1f (%.2fx)" % (v, v / pa))
        if mode in ("store", "reload") and v / pa > bound:
            fails.append("%s %s %.2fx > %.1fx" % (p, mode, v / pa, bound))
    w = m[("warm", "parse", p)]
    print("| %s | %.1f | %s | %.1f (%.2fx) |" % (p, pa, " | ".join(cells), w, pa / w))
    if p == "flat-20m" and pa / w > 1.25:
        fails.append("flat-20m parse default/warm %.2fx > 1.25x" % (pa / w))
fs = m[("default", "parse", "flat-20m")] / m[("default", "parse", "sections-20m")]
print()
print("flat-20m / sections-20m parse time: %.2fx (bound 1.5x)" % fs)
if fs > 1.5:
    fails.append("flat/sections %.2fx" % fs)
for f, (us, rss) in sorted(lst.items()):
    size = os.path.getsize(os.path.join(out, f + ".toml"))
    ratio = us / m[("default", "store", f)]
    print("`coffer -f %s.toml list >/dev/null`: %.1f ms (%.2fx the in-process store load), peak RSS %.1f MiB (%.2fx the input)"
          % (f, us / 1e3, ratio, rss / 2**20, rss / size))
    if ratio > 2:
        fails.append("%s list %.2fx store load" % (f, ratio))
    if rss / size > 2.5:
        fails.append("%s list RSS %.2fx input" % (f, rss / size))
print()
print("bounds: " + ("all met" if not fails else "not met: " + "; ".join(fails)))
EOF
