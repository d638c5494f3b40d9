#!/bin/sh
# deb.sh - the Debian packages (make deb): build coffer, libcoffer0 and
# libcoffer-dev with dpkg-buildpackage from a copy of the tree (the work
# tree stays clean), lintian clean, unpack them into a staging root with
# dpkg -x (no container, no root), run the staged coffer, and compile and
# run a program with pkg-config against the staged dev package.
# Slow (a full package build): runs when CI=true or COFFER_TEST_DEB=1.
. tests/suites/tap.inc
if [ "${CI:-}" != true ] && [ "${COFFER_TEST_DEB:-}" != 1 ]; then
    skip "Debian packages" "slow: set COFFER_TEST_DEB=1 (CI=true runs it)"; exit 0
fi
if [ "$SUITES" != all ]; then skip "Debian packages" "not in $SUITES mode"; exit 0; fi
if nm "$BUILD/libcoffer.a" 2>/dev/null | grep -qE '__(asan|tsan)_init'; then
    skip "Debian packages" "sanitizer run (the package build does not use \$BUILD; the plain run covers it)"; exit 0
fi
for tool in dpkg-buildpackage lintian dh; do
    command -v "$tool" >/dev/null || { echo "not ok 1 - $tool is missing (scripts/deps.sh deb)"; exit 1; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM
before=$(git status --porcelain 2>/dev/null)
if mk BUILD="$tmp/b" deb >"$tmp/deb.log" 2>&1
then ok "make deb (dpkg-buildpackage -us -uc -b, lintian without errors or warnings)"
else nok "make deb: $(tail -n 15 "$tmp/deb.log")"; exit 1; fi
t "the work tree is unchanged by the package build" [ "$(git status --porcelain 2>/dev/null)" = "$before" ]
debdir="$tmp/b/deb"
v=$(dpkg-parsechangelog -S Version)
for p in coffer libcoffer0 libcoffer-dev; do
    t "built ${p}_${v}_*.deb" sh -c "ls '$debdir'/${p}_${v}_*.deb >/dev/null 2>&1"
done
t "lintian --pedantic: no E:/W:/I:/P: tag" sh -c "! grep -qE '^[EWIP]: ' '$debdir/lintian.log'"
deb() { ls "$debdir"/"$1"_"$v"_*.deb; }
field() { dpkg-deb -f "$(deb "$1")" "$2"; }
t "coffer Recommends libcurl4 (etcd)" sh -c "dpkg-deb -f '$(deb coffer)' Recommends | grep -qw libcurl4"
t "libcoffer-dev depends on libcoffer0 (= $v) and libsodium-dev" \
    sh -c "dpkg-deb -f '$(deb libcoffer-dev)' Depends | grep -q 'libcoffer0 (= $v)' && dpkg-deb -f '$(deb libcoffer-dev)' Depends | grep -q libsodium-dev"
t "libcoffer0 ships a symbols file listing coffer_store_open" \
    sh -c "dpkg-deb -I '$(deb libcoffer0)' symbols | grep -q '^ coffer_store_open@Base'"
t "libcoffer0 holds only the shared library (SONAME libcoffer.so.0)" \
    sh -c "[ -z \"\$(dpkg-deb -c '$(deb libcoffer0)' | awk '{print \$6}' | grep -vE '/\$|/usr/lib/[^/]+/libcoffer\\.so\\.0(\\.1\\.0)?\$|/usr/share/doc/')\" ]"

stage="$tmp/stage"
for p in coffer libcoffer0 libcoffer-dev; do dpkg -x "$(deb "$p")" "$stage"; done
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for f in usr/bin/coffer usr/share/man/man1/coffer.1.gz usr/share/man/man3/coffer.3.gz \
         usr/share/bash-completion/completions/coffer usr/share/zsh/vendor-completions/_coffer \
         usr/include/coffer.h usr/lib/$ma/libcoffer.so.0 usr/lib/$ma/libcoffer.so usr/lib/$ma/libcoffer.a \
         usr/lib/$ma/pkgconfig/coffer.pc usr/share/doc/libcoffer0/copyright; do
    t "staged /$f" test -e "$stage/$f"
done
t "copyright is DEP-5 with the MIT (Expat) licence" \
    sh -c "grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' '$stage/usr/share/doc/libcoffer0/copyright' && grep -q '^License: Expat' '$stage/usr/share/doc/libcoffer0/copyright'"
out=$("$stage/usr/bin/coffer" --version 2>&1)
t "staged coffer --version ($out)" [ "$out" = "coffer $v" ]
mkdir -p "$tmp/proj"
printf 'api_key = "staged-ok"\n' >"$tmp/proj/s.toml"; chmod 600 "$tmp/proj/s.toml"
out=$(HOME="$tmp/proj" "$stage/usr/bin/coffer" -f "$tmp/proj/s.toml" get api_key 2>&1)
t "staged coffer reads a secrets file" [ "$out" = "staged-ok" ]
t "staged CLI is stripped (dh_strip)" sh -c "readelf -hW '$stage/usr/bin/coffer' >/dev/null && ! readelf -SW '$stage/usr/bin/coffer' | grep -q '\\.symtab'"

cat >"$tmp/app.c" <<'C'
#include <coffer.h>
#include <stdio.h>
int main(void)
{
    coffer_store *s;
    coffer_snapshot *snap;
    coffer_error err;
    const char *v;
    if (coffer_store_open(NULL, &s, &err) != 0) return 1;
    if (coffer_store_acquire(s, &snap, &err) != 0) { fprintf(stderr, "%s\n", err.message); return 2; }
    if (coffer_snapshot_get_string(snap, "api_key", &v, NULL, &err) != 0) return 3;
    printf("%s %s\n", coffer_version(), v);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$stage/usr/lib/$ma/pkgconfig"
cflags=$(pkg-config --cflags coffer); libs=$(pkg-config --libs coffer)
t "pkg-config resolves into the staging root ($cflags $libs)" \
    sh -c "echo '$libs' | grep -q -- '-L$stage/usr/lib/$ma'"
if cc -std=c11 -Wall -Werror $cflags -o "$tmp/app" "$tmp/app.c" $libs 2>"$tmp/cc.log" &&
   out=$(cd "$tmp/proj" && COFFER_SECRETS_FILES="$tmp/proj/s.toml" LD_LIBRARY_PATH="$stage/usr/lib/$ma" "$tmp/app") &&
   [ "$out" = "$v staged-ok" ]; then
    ok "a program built with pkg-config against the staged libcoffer-dev runs"
else nok "staged dev package: $(cat "$tmp/cc.log") ${out:-}"; fi
t "it loads the staged libcoffer.so.0" sh -c "LD_LIBRARY_PATH='$stage/usr/lib/$ma' ldd '$tmp/app' | grep -q '$stage/usr/lib/$ma/libcoffer.so.0'"
if cc -std=c11 $cflags -o "$tmp/app-static" "$tmp/app.c" -Wl,-Bstatic $libs -Wl,-Bdynamic \
      $(pkg-config --static --libs-only-l coffer | sed 's/-lcoffer//') 2>>"$tmp/cc.log" &&
   out=$(COFFER_SECRETS_FILES="$tmp/proj/s.toml" "$tmp/app-static") && [ "$out" = "$v staged-ok" ]
then ok "the staged static library links with pkg-config --static"
else nok "static link against the staged libcoffer.a: $(tail -n 5 "$tmp/cc.log") ${out:-}"; fi
