#!/bin/sh
# make install lays out headers, static and shared library, coffer.pc and the
# man page; a program builds against it with pkg-config and runs.
set -u
BUILD=${BUILD:-build}
n=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
nok() { n=$((n+1)); echo "not ok $n - $1"; }
if [ "${SUITES:-all}" != all ]; then echo "ok 1 - install # SKIP not in $SUITES mode"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM
if make -s BUILD="$BUILD" install PREFIX="$tmp/prefix" >"$tmp/log" 2>&1; then ok "make install"
else nok "make install"; cat "$tmp/log"; exit 1; fi
for f in include/coffer.h lib/libcoffer.a lib/libcoffer.so.0.1.0 lib/libcoffer.so.0 \
         lib/libcoffer.so lib/pkgconfig/coffer.pc bin/coffer share/man/man1/coffer.1; do
    if [ -e "$tmp/prefix/$f" ]; then ok "installed $f"; else nok "installed $f"; fi
done
cat >"$tmp/hello.c" <<'C'
#include <coffer.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    coffer_doc *doc;
    coffer_error err;
    const char *t = "[db]\nuser = \"app\"\n";
    if (coffer_toml_parse(t, strlen(t), NULL, &doc, &err) != 0) return 1;
    const coffer_value *v;
    const char *s;
    if (coffer_value_seek(coffer_doc_root(doc), "db.user", &v, &err) != 0) return 2;
    if (coffer_value_string(v, &s, NULL) != 0) return 3;
    printf("%s %s\n", coffer_version(), s);
    coffer_doc_free(doc);
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
# A sanitizer build installs an instrumented library: link with the same runtime.
CC=cc
if nm "$BUILD/libcoffer.a" 2>/dev/null | grep -q '__asan_init'; then
    CC="clang -fsanitize=address,undefined"
elif nm "$BUILD/libcoffer.a" 2>/dev/null | grep -q '__tsan_init'; then
    CC="clang -fsanitize=thread"
fi
if $CC -std=c11 -Wall -Werror $(pkg-config --cflags coffer) -o "$tmp/hello" "$tmp/hello.c" \
      $(pkg-config --libs coffer) -lsodium 2>"$tmp/cc.log" &&
   out=$(LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/hello") && [ "$out" = "0.1.0 app" ]; then
    ok "program builds with pkg-config against the shared library and runs"
else nok "pkg-config build: $(cat "$tmp/cc.log") ${out:-}"; fi
if $CC -std=c11 $(pkg-config --cflags coffer) -o "$tmp/hello-static" "$tmp/hello.c" \
      "$tmp/prefix/lib/libcoffer.a" $(pkg-config --libs-only-other --static coffer) -lsodium -pthread 2>>"$tmp/cc.log" &&
   [ "$("$tmp/hello-static")" = "0.1.0 app" ]; then ok "program links the static library"
else nok "static link: $(cat "$tmp/cc.log")"; fi
if readelf -d "$tmp/hello" | grep -q 'NEEDED.*libcoffer.so.0'; then ok "binary records SONAME libcoffer.so.0"
else nok "binary does not need libcoffer.so.0"; fi
