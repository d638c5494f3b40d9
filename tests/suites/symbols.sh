#!/bin/sh
# The library exports only coffer_-prefixed symbols (scripts/check-symbols.sh,
# also `make check-symbols`), the shared object carries its SONAME, and every
# export is declared in coffer.h.
set -u
BUILD=${BUILD:-build}
n=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
nok() { n=$((n+1)); echo "not ok $n - $1"; }

so="$BUILD/libcoffer.so.0.1.0"
# scripts/check-symbols.sh (also `make check-symbols`): nothing unprefixed
# exported from the shared object or defined globally in the archive.
if out=$(sh scripts/check-symbols.sh "$BUILD" 2>&1); then ok "check-symbols: only coffer_ symbols in libcoffer.so and libcoffer.a"
else nok "check-symbols: $out"; fi
if make -s BUILD="$BUILD" check-symbols >/dev/null 2>&1; then ok "make check-symbols passes"
else nok "make check-symbols fails"; fi
# ... and it does catch a leak: a library exporting 'helper' and a global
# 'table' next to a coffer_ function.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM
printf 'int coffer_ok(void) { return 1; }\nint helper(void) { return 2; }\nint table[2];\n' >"$tmp/leak.c"
if cc -fPIC -c -o "$tmp/leak.o" "$tmp/leak.c" && ar rcs "$tmp/libcoffer.a" "$tmp/leak.o" &&
   cc -shared -o "$tmp/libcoffer.so.0" "$tmp/leak.o"; then
    out=$(sh scripts/check-symbols.sh "$tmp" 2>&1); rc=$?
    if [ "$rc" -eq 1 ] && echo "$out" | grep -q "libcoffer.so.0' exports unprefixed symbols: helper table" &&
       echo "$out" | grep -q "libcoffer.a' defines unprefixed globals: helper table"; then
        ok "check-symbols names the unprefixed symbols of a leaking library (exit 1)"
    else nok "check-symbols on a leaking library: rc $rc: $out"; fi
else nok "could not build the leaking test library"; fi

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
