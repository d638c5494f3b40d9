#!/bin/sh
# The library exports only coffer_-prefixed symbols (plus nothing else), and
# the shared object carries its SONAME.
set -u
BUILD=${BUILD:-build}
n=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
nok() { n=$((n+1)); echo "not ok $n - $1"; }

so="$BUILD/libcoffer.so.0.1.0"
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBRVW]/ {print $3}' | grep -v '^coffer_' || true)
if [ -z "$bad" ]; then ok "shared library exports only coffer_ symbols"
else nok "shared library exports unprefixed symbols: $(echo $bad | tr '\n' ' ')"; fi

# Global symbols of the static archive: everything non-static is coffer_-prefixed.
bad=$(nm -g --defined-only "$BUILD/libcoffer.a" 2>/dev/null | awk 'NF==3 {print $3}' | grep -v '^coffer_' || true)
if [ -z "$bad" ]; then ok "static archive defines only coffer_ globals"
else nok "static archive defines unprefixed globals: $(echo $bad | tr '\n' ' ')"; fi

if readelf -d "$so" | grep -q 'SONAME.*libcoffer.so.0'; then ok "SONAME is libcoffer.so.0"
else nok "SONAME missing"; fi

# Every exported symbol is declared in the public header.
missing=
for s in $(nm -D --defined-only "$so" | awk '$2 ~ /[TDBR]/ {print $3}'); do
    grep -q "\\b$s\\b" include/coffer.h || missing="$missing $s"
done
if [ -z "$missing" ]; then ok "every exported symbol is declared in coffer.h"
else nok "exported but undeclared:$missing"; fi
[ "$n" -gt 0 ]
