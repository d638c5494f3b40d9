#!/bin/sh
# fuzz/afl/run.sh [SECONDS] - AFL++ on the coffer CLI reading a secrets file.
#
# Builds the CLI with afl-clang-fast (ASan+UBSan) into build-afl/, makes a
# seed corpus from a sample of ../shared/toml-test valid cases (minimized
# with afl-cmin), and runs
#     afl-fuzz -i SEEDS -o build-afl/findings-VERB -V SECONDS -- \
#         build-afl/coffer -f @@ VERB...
# in a sandbox (fake HOME, empty working directory, no COFFER_* variables).
# Exits 1 only if afl-fuzz found crashes (they are listed), 2 on set-up
# errors. Environment:
#   AFL_VERB   list (default) | env | get | check | json: which CLI verb
#   AFL_KEEP=1 keep an existing findings directory and resume it
#   AFL_NOSAN=1 build without ASan/UBSan into build-afl-nosan/ (about 10x
#              more executions per second, fewer bugs detected)
# Run from anywhere; paths are relative to the repository root.
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
B=build-afl
san="AFL_USE_ASAN=1 AFL_USE_UBSAN=1"
if [ "${AFL_NOSAN:-0}" = 1 ]; then
    B=build-afl-nosan san=
fi
verb=${AFL_VERB:-list}
case "$verb" in
    list) args="list" ;;
    env) args="env --format sh" ;;
    json) args="env --format json" ;;
    get) args="get --format json db" ;;
    check) args="check --strict" ;;
    *) echo "afl/run.sh: unknown AFL_VERB '$verb'" >&2; exit 2 ;;
esac
for t in afl-fuzz afl-clang-fast afl-cmin; do
    command -v "$t" >/dev/null 2>&1 || { echo "afl/run.sh: '$t' not found (Debian afl++)" >&2; exit 2; }
done

# 1. The instrumented CLI (ASan+UBSan unless AFL_NOSAN=1).
env $san AFL_QUIET=1 \
    make -s BUILD=$B CC=afl-clang-fast CLI_STATIC=0 $B/coffer >$B.log 2>&1 || {
    cat $B.log >&2; echo "afl/run.sh: cannot build $B/coffer" >&2; exit 2; }
rm -f $B.log

# 2. Seeds: small valid toml-test cases (every 3rd, at most 2 KB), plus a
#    secrets-shaped file; minimized by afl-cmin (runs of 120 s or more).
sandbox=$(mktemp -d)
trap 'rm -rf "$sandbox"' EXIT INT TERM
mkdir -p "$sandbox/home" "$sandbox/cwd" "$sandbox/raw"
chmod 700 "$sandbox"
cat >"$sandbox/raw/secrets.toml" <<'EOF'
api_key = "sk-test"
port = 5432
ratio = 0.5
debug = true
when = 1979-05-27T07:32:00Z
tokens = ["a", "b"]
[db]
host = "localhost"
password = "p'w\"d\n"
[[servers]]
name = "x"
EOF
if [ -d ../shared/toml-test/valid ]; then
    i=0
    find ../shared/toml-test/valid -name '*.toml' -size -2k | sort | while read -r f; do
        i=$((i + 1))
        [ $((i % 3)) -eq 0 ] || continue
        cp "$f" "$sandbox/raw/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
else
    echo "afl/run.sh: ../shared/toml-test absent; using the built-in seed only" >&2
fi
chmod 600 "$sandbox"/raw/*
seeds=$B/seeds-$verb
if [ ! -d "$seeds" ] || [ -z "$(ls "$seeds" 2>/dev/null)" ]; then
    rm -rf "$seeds"
    # afl-cmin takes about half a minute: short (smoke) runs skip it.
    if [ "$secs" -lt 120 ] || ! (cd "$sandbox/cwd" && HOME=$sandbox/home AFL_QUIET=1 AFL_SKIP_BIN_CHECK=0 \
            afl-cmin -m none -i "$sandbox/raw" -o "$root/$seeds" -- \
            "$root/$B/coffer" -f @@ $args) >"$sandbox/cmin.log" 2>&1 \
            || [ -z "$(ls "$seeds" 2>/dev/null)" ]; then
        rm -rf "$seeds"
        cp -r "$sandbox/raw" "$seeds"
    fi
fi

# 3. Fuzz.
out=$B/findings-$verb
if [ "${AFL_KEEP:-0}" = 1 ] && [ -d "$out/default/queue" ]; then
    in=-
else
    rm -rf "$out"
    in=$seeds
fi
# afl-fuzz writes the test case (mode 0600) to $out/default/.cur_input.
(
    cd "$sandbox/cwd"
    unset COFFER_SECRETS COFFER_SECRETS_FILES COFFER_STRICT CREDENTIALS_DIRECTORY 2>/dev/null || true
    HOME=$sandbox/home AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 \
        AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1 \
        exec afl-fuzz -i "$( [ "$in" = - ] && echo - || echo "$root/$in")" \
        -o "$root/$out" -m none -t 2000 -V "$secs" -- \
        "$root/$B/coffer" -f @@ $args
) >"$out.log" 2>&1 || {
    tail -n 30 "$out.log" >&2
    echo "afl/run.sh: afl-fuzz failed (log: $out.log)" >&2
    exit 2
}

stats=$out/default/fuzzer_stats
if [ -f "$stats" ]; then
    grep -E '^(execs_done|execs_per_sec|corpus_count|bitmap_cvg|saved_crashes|saved_hangs|run_time) ' "$stats" |
        sed 's/^/afl: /'
fi
crashes=$(ls "$out/default/crashes" 2>/dev/null | grep -c '^id:' || true)
if [ "$crashes" -gt 0 ]; then
    echo "afl/run.sh: $crashes crash(es) in $out/default/crashes:" >&2
    ls "$out/default/crashes" | grep '^id:' >&2
    exit 1
fi
echo "afl ($verb): no crashes in ${secs}s"
