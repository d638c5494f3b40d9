#!/bin/sh
# check-symbols.sh BUILD: the library exports only coffer_-prefixed symbols.
# Fails (exit 1, one line per offender) when libcoffer.so exports, or a
# member of libcoffer.a defines as global, a symbol without the prefix.
# Used by `make check-symbols` and tests/suites/symbols.sh.
set -u
BUILD=${1:-build}
so="$BUILD/libcoffer.so.0"
a="$BUILD/libcoffer.a"
status=0
for f in "$so" "$a"; do
    [ -e "$f" ] || { echo "check-symbols: '$f' is missing (run make)" >&2; exit 2; }
done
# Dynamic exports of the shared object (defined ones only: T D B R V W i u).
bad=$(nm -D --defined-only "$so" | awk 'NF == 3 {print $3}' | grep -v '^coffer_' || true)
if [ -n "$bad" ]; then
    echo "check-symbols: '$so' exports unprefixed symbols:" $bad >&2
    status=1
fi
# Global definitions of every object of the archive.
bad=$(nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 {print $3}' | grep -v '^coffer_' || true)
if [ -n "$bad" ]; then
    echo "check-symbols: '$a' defines unprefixed globals:" $bad >&2
    status=1
fi
exit $status
