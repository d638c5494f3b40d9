#!/bin/sh
# Runs every test suite and ends with one line: "N passed, N failed".
#
# Suites: each unit-test binary in $BUILD/tests (cmocka, TAP output), then
# each tests/suites/*.sh (shell suites printing TAP: "ok N - ...",
# "not ok N - ...", "ok N - ... # SKIP why"). A suite that exits non-zero
# without reporting a failure counts as one failure.
# Environment: BUILD (build dir), RUN_PREFIX (e.g. valgrind), SUITES
# (all | valgrind | tsan: suites may skip what does not fit the mode).
set -u
BUILD=${BUILD:-build}
RUN_PREFIX=${RUN_PREFIX:-}
SUITES=${SUITES:-all}
export BUILD RUN_PREFIX SUITES
export COFFER_TEST_ROOT="$(pwd)"
pass=0 fail=0 skip=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

run_suite() {
    name=$1; shift
    out="$tmp/out"
    start=$(date +%s)
    "$@" >"$out" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    # cmocka's TAP marks a skipped test "not ok N # SKIP": a skip either way.
    p=$(grep '^ok ' "$out" | grep -vc '# *SKIP' | tr -d ' ')
    s=$(grep -E '^(not )?ok ' "$out" | grep -c '# *SKIP' | tr -d ' ')
    f=$(grep '^not ok ' "$out" | grep -vc '# *SKIP' | tr -d ' ')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - suite '$name' exited with status $rc" >>"$out"
    fi
    if [ "$f" -gt 0 ]; then
        echo "--- $name: output ---"
        tail -n 60 "$out"
        echo "---"
    fi
    printf '%-28s %4d passed, %d failed, %d skipped (%ss)\n' "$name" "$p" "$f" "$s" "$secs"
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    run_suite "$name" env CMOCKA_MESSAGE_OUTPUT=TAP $RUN_PREFIX "$t"
done
for s in tests/suites/*.sh; do
    [ -f "$s" ] || continue
    run_suite "$(basename "$s" .sh)" sh "$s"
done
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
