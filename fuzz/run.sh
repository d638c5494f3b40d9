#!/bin/sh
# Builds every fuzz/fuzz_*.c (toml, load, roundtrip, env, age) as a libFuzzer
# target (clang, ASan + UBSan)
# into build-fuzz/ and runs each for $1 seconds (default 60). A target may
# declare extra link flags in a comment line "// fuzz-ldflags: ..." and a
# seed directory in "// fuzz-seeds: DIR". Corpora live in
# fuzz/corpus-<target>/ (gitignored); an empty corpus is seeded from the
# target's seed directory, else from ../shared/toml-test/**/*.toml. Crash inputs are written to
# fuzz/findings/. Exits non-zero if any target fails to build or crashes.
set -u
secs=${1:-60}
cd "$(dirname "$0")/.." || exit 2
out=build-fuzz
mkdir -p "$out" fuzz/findings
CC=${FUZZ_CC:-clang}
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Iinclude -Isrc -pthread"
seeds=../shared/toml-test
status=0
lib_src=$(ls src/*/*.c)

for target_src in fuzz/fuzz_*.c; do
    [ -f "$target_src" ] || continue
    name=$(basename "$target_src" .c)
    bin="$out/$name"
    extra=$(sed -n 's|^// *fuzz-ldflags: *||p' "$target_src" | tr '\n' ' ')
    echo "fuzz: building $name"
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS -o "$bin" "$target_src" $lib_src -lsodium $extra; then
        echo "fuzz: $name: build failed" >&2
        status=1
        continue
    fi
    corpus="fuzz/corpus-$name"
    mkdir -p "$corpus"
    # A target may name its own seed directory: "// fuzz-seeds: DIR".
    own=$(sed -n 's|^// *fuzz-seeds: *||p' "$target_src" | head -n 1)
    if [ -n "$own" ] && [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
        cp "$own"/* "$corpus"/ 2>/dev/null
    fi
    if [ -z "$(ls -A "$corpus" 2>/dev/null)" ] && [ -d "$seeds" ]; then
        i=0
        find "$seeds" -name '*.toml' | sort | while read -r f; do
            i=$((i + 1))
            cp "$f" "$corpus/seed-$i.toml"
        done
    fi
    echo "fuzz: running $name for ${secs}s"
    log="$out/$name.log"
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/findings/$name-" -print_final_stats=1 \
        "$corpus" >"$log" 2>&1
    rc=$?
    tail -n 12 "$log" | grep -E 'stat::number_of_executed_units|stat::peak_rss|Done' || true
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $name FAILED (status $rc); see $log and fuzz/findings/" >&2
        grep -m 5 -E 'ERROR|runtime error|SUMMARY' "$log" >&2
        status=1
    else
        echo "fuzz: $name ok"
    fi
done
if [ -f fuzz/afl/run.sh ]; then sh fuzz/afl/run.sh "$secs" || status=1; fi
exit $status
