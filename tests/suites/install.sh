#!/bin/sh
# make install lays out headers, static and shared library, coffer.pc, the
# man pages and the shell completions, honouring PREFIX, DESTDIR, LIBDIR
# (multiarch), BINDIR, MANDIR, INCLUDEDIR; the CLI is stripped; a program
# builds against it with pkg-config and runs; make uninstall removes every
# file and link install made, and nothing else.
. tests/suites/tap.inc
if [ "${SUITES:-all}" != all ]; then echo "ok 1 - install # SKIP not in $SUITES mode"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM
if make -s BUILD="$BUILD" install PREFIX="$tmp/prefix" >"$tmp/log" 2>&1; then ok "make install"
else nok "make install"; cat "$tmp/log"; exit 1; fi
for f in include/coffer.h lib/libcoffer.a lib/libcoffer.so.0.1.0 lib/libcoffer.so.0 \
         lib/libcoffer.so lib/pkgconfig/coffer.pc bin/coffer share/man/man1/coffer.1 \
         share/man/man3/coffer.3 share/bash-completion/completions/coffer \
         share/zsh/vendor-completions/_coffer; do
    if [ -e "$tmp/prefix/$f" ]; then ok "installed $f"; else nok "installed $f"; fi
done
t "installed CLI is stripped (no .symtab)" \
    sh -c "! readelf -SW '$tmp/prefix/bin/coffer' | grep -q '\\.symtab'"
t "installed CLI runs" sh -c "'$tmp/prefix/bin/coffer' --version | grep -q '^coffer 0.1.0\$'"
t "coffer.pc states the MIT licence" grep -q 'MIT' "$tmp/prefix/lib/pkgconfig/coffer.pc"
t "man -l renders coffer(3) without warnings" \
    sh -c "out=\$(MANWIDTH=80 man --warnings -l '$tmp/prefix/share/man/man3/coffer.3' 2>&1 >/dev/null); [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
t "make uninstall (same PREFIX)" make -s BUILD="$BUILD" uninstall PREFIX="$tmp/prefix"
left=$(find "$tmp/prefix" ! -type d | sed "s|$tmp/prefix/||")
if [ -z "$left" ]; then ok "uninstall leaves no file or link"
else nok "uninstall left: $(echo $left)"; fi

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
# A distribution layout: DESTDIR staging, /usr prefix, multiarch LIBDIR,
# its own BINDIR/MANDIR/INCLUDEDIR.
stage="$tmp/stage"
ma=lib/x86_64-linux-gnu
if make -s BUILD="$BUILD" install DESTDIR="$stage" PREFIX=/usr LIBDIR=/usr/$ma \
        BINDIR=/usr/sbin MANDIR=/usr/share/man INCLUDEDIR=/usr/include/coffer >"$tmp/log" 2>&1
then ok "make install DESTDIR=... PREFIX=/usr LIBDIR=/usr/$ma BINDIR INCLUDEDIR"
else nok "staged install: $(cat "$tmp/log")"; fi
for f in usr/include/coffer/coffer.h usr/$ma/libcoffer.a usr/$ma/libcoffer.so.0 usr/$ma/libcoffer.so \
         usr/$ma/pkgconfig/coffer.pc usr/sbin/coffer usr/share/man/man3/coffer.3 \
         usr/share/bash-completion/completions/coffer usr/share/zsh/vendor-completions/_coffer; do
    if [ -e "$stage/$f" ]; then ok "staged $f"; else nok "staged $f"; fi
done
t "nothing lands outside LIBDIR/BINDIR/INCLUDEDIR/share" \
    sh -c "[ -z \"\$(cd '$stage' && find . ! -type d | grep -vE '^\\./usr/($ma|sbin|include/coffer|share)/')\" ]"
t "coffer.pc names the multiarch libdir and the include dir" \
    sh -c "grep -qx 'libdir=/usr/$ma' '$stage/usr/$ma/pkgconfig/coffer.pc' && grep -qx 'includedir=/usr/include/coffer' '$stage/usr/$ma/pkgconfig/coffer.pc'"

# pkg-config against the staged tree, as a distribution's sysroot.
export PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$stage/usr/$ma/pkgconfig"
# A sanitizer build installs an instrumented library: link with the same runtime.
CC=cc
if nm "$BUILD/libcoffer.a" 2>/dev/null | grep -q '__asan_init'; then
    CC="clang -fsanitize=address,undefined"
elif nm "$BUILD/libcoffer.a" 2>/dev/null | grep -q '__tsan_init'; then
    CC="clang -fsanitize=thread"
fi
if $CC -std=c11 -Wall -Werror $(pkg-config --cflags coffer) -o "$tmp/hello" "$tmp/hello.c" \
      $(pkg-config --libs coffer) -lsodium 2>"$tmp/cc.log" &&
   out=$(LD_LIBRARY_PATH="$stage/usr/$ma" "$tmp/hello") && [ "$out" = "0.1.0 app" ]; then
    ok "program builds with pkg-config against the shared library and runs"
else nok "pkg-config build: $(cat "$tmp/cc.log") ${out:-}"; fi
if $CC -std=c11 $(pkg-config --cflags coffer) -o "$tmp/hello-static" "$tmp/hello.c" \
      "$stage/usr/$ma/libcoffer.a" $(pkg-config --libs-only-other --static coffer) -lsodium -pthread 2>>"$tmp/cc.log" &&
   [ "$("$tmp/hello-static")" = "0.1.0 app" ]; then ok "program links the static library"
else nok "static link: $(cat "$tmp/cc.log")"; fi
if readelf -d "$tmp/hello" | grep -q 'NEEDED.*libcoffer.so.0'; then ok "binary records SONAME libcoffer.so.0"
else nok "binary does not need libcoffer.so.0"; fi
t "make uninstall with the same variables" make -s BUILD="$BUILD" uninstall DESTDIR="$stage" PREFIX=/usr \
    LIBDIR=/usr/$ma BINDIR=/usr/sbin MANDIR=/usr/share/man INCLUDEDIR=/usr/include/coffer
left=$(find "$stage" ! -type d | sed "s|$stage/||")
if [ -z "$left" ]; then ok "staged uninstall leaves no file or link"
else nok "staged uninstall left: $(echo $left)"; fi
# STRIP= keeps the symbols (for packagers that strip into -dbgsym)
make -s BUILD="$BUILD" install PREFIX="$tmp/ns" STRIP= >/dev/null 2>&1
t "STRIP= installs an unstripped CLI" sh -c "readelf -SW '$tmp/ns/bin/coffer' | grep -q '\\.symtab'"
