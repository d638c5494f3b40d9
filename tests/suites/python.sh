#!/bin/sh
# The Python module (bindings/python): the convention's own examples run
# verbatim with only the import changed, and behaviour tests, against this
# build's libcoffer.so. Prints TAP.
set -u
BUILD=${BUILD:-build}
if [ "${SUITES:-all}" != all ]; then
    echo "ok 1 - python # SKIP not in ${SUITES} mode"; exit 0
fi
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "not ok 1 - python3 is required (scripts/deps.sh test installs it)"; exit 1
fi
case $BUILD in /*) lib=$BUILD/libcoffer.so.0 ;; *) lib=$(pwd)/$BUILD/libcoffer.so.0 ;; esac
export COFFER_LIBRARY="$lib" COFFER_BUILD="$BUILD"
# A sanitizer build's library needs its runtime loaded first into python.
if nm -D "$lib" 2>/dev/null | grep -q '__asan_init'; then
    rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
    export LD_PRELOAD="$rt" ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
fi
exec "$PY" bindings/python/tests/run_tap.py
