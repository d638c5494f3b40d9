#!/bin/sh
# deps.sh - lean dependencies: scripts/deps.sh asks for the packages of the
# target's group only (plain make: compiler, pkg-config, libsodium-dev), is
# silent when nothing is missing, tells a user without root or sudo what is
# missing and lets the build go on, installs as root exactly what is
# missing; make asks for the right group per target, `make all` does not
# build the PostgreSQL example, COFFER_ETCD switches COFFER_WITH_ETCD and a
# change of configuration rebuilds; toml-test fails in CI without a corpus;
# a real build as an unprivileged user (when root can create one).
# dpkg-query, id, sudo and apt-get are faked through PATH.
. tests/suites/tap.inc
if [ "$SUITES" != all ]; then skip "deps" "not in $SUITES mode"; exit 0; fi
tmp=$(mktemp -d)
user=
cleanup() {
    [ -n "$user" ] && userdel -r "$user" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
has() { printf '%s\n' "$1" | grep -qE -- "$2"; }
lacks() { ! has "$@"; }
words() { tr ' \n' '\n\n' | grep -v '^$' | sort | tr '\n' ' '; }

# ---- groups ----
got=$(sh scripts/deps.sh --list build | words)
t "build group: compiler, make, pkg-config, libsodium-dev only ($got)" \
    [ "$got" = "gcc libc6-dev libsodium-dev make pkg-config " ]
got=$(sh scripts/deps.sh --list test | words)
t "test group has cmocka, python3-dotenv, etcd, libcurl headers, age, zsh, dash" \
    sh -c "for p in libcmocka-dev python3-dotenv etcd-server etcd-client libcurl4-openssl-dev age zsh dash libsodium-dev; do echo ' $got' | grep -q \" \$p \" || exit 1; done"
t "test group has no PostgreSQL" sh -c "! echo ' $got' | grep -qE ' (postgresql|libpq-dev) '"
got=$(sh scripts/deps.sh --list pg | words)
t "pg group: postgresql and libpq-dev on top of build" \
    sh -c "echo ' $got' | grep -q ' libpq-dev ' && echo ' $got' | grep -q ' postgresql ' && ! echo ' $got' | grep -q cmocka"
got=$(sh scripts/deps.sh --list deb | words)
t "deb group: debhelper devscripts lintian fakeroot" \
    sh -c "for p in debhelper devscripts lintian fakeroot; do echo ' $got' | grep -q \" \$p \" || exit 1; done"
t "an unknown group is an error (exit 2)" sh -c "sh scripts/deps.sh nosuch 2>/dev/null; [ \$? -eq 2 ]"

# ---- behaviour with fake tools ----
fake="$tmp/fake"; mkdir -p "$fake"
cat >"$fake/dpkg-query" <<'SH'
#!/bin/sh
# installed: the packages named in $FAKE_INSTALLED ("all" for every one)
for p; do :; done
case " $FAKE_INSTALLED " in *" all "*|*" $p "*) printf 'install ok installed' ;; *) exit 1 ;; esac
SH
cat >"$fake/id" <<'SH'
#!/bin/sh
echo "$FAKE_UID"
SH
cat >"$fake/sudo" <<'SH'
#!/bin/sh
exit 1
SH
cat >"$fake/apt-get" <<'SH'
#!/bin/sh
echo "apt-get $*" >>"$FAKE_LOG"
[ "$1" = install ] && [ -n "${FAKE_APT_FAIL:-}" ] && exit 100
exit 0
SH
chmod 755 "$fake"/*
export FAKE_LOG="$tmp/apt.log"
fk() { env PATH="$fake:$PATH" "$@"; }

: >"$FAKE_LOG"
out=$(FAKE_INSTALLED=all FAKE_UID=0 fk sh scripts/deps.sh build test pg 2>&1); rc=$?
t "nothing missing: exit 0, silent, no apt-get" eval '[ $rc -eq 0 ] && [ -z "$out" ] && [ ! -s "$FAKE_LOG" ]'
out=$(FAKE_INSTALLED="gcc make" FAKE_UID=1000 fk sh scripts/deps.sh build 2>&1); rc=$?
t "non-root without sudo: exit 0 (the build goes on)" [ "$rc" -eq 0 ]
t "... names what is missing and how to install it" \
    eval 'has "$out" "missing packages \(build\): libc6-dev pkg-config libsodium-dev" && has "$out" "sudo apt-get install libc6-dev pkg-config libsodium-dev"'
t "... and runs no apt-get" [ ! -s "$FAKE_LOG" ]
: >"$FAKE_LOG"
out=$(FAKE_INSTALLED="gcc libc6-dev make pkg-config" FAKE_UID=0 fk sh scripts/deps.sh build 2>&1); rc=$?
t "root: installs exactly the missing packages of the group" \
    sh -c "[ $rc -eq 0 ] && grep -qx 'apt-get install -y -qq --no-install-recommends libsodium-dev' '$FAKE_LOG'"
: >"$FAKE_LOG"
FAKE_APT_FAIL=1 FAKE_INSTALLED= FAKE_UID=0 fk sh scripts/deps.sh build >/dev/null 2>&1; rc=$?
t "root: a failing apt-get is an error (exit 1)" [ "$rc" -eq 1 ]
got=$(FAKE_INSTALLED= FAKE_UID=1000 fk sh scripts/deps.sh build 2>&1 | sed -n 's/.*missing packages (build)://p' | words)
t "plain make's group never asks for cmocka, clang, valgrind or PostgreSQL" \
    sh -c "! echo ' $got' | grep -qE ' (libcmocka-dev|clang|valgrind|postgresql|libpq-dev|gdb) '"

# ---- which group each make target asks for ----
groups() { mk -n BUILD="$tmp/n" "$@" 2>/dev/null | sed -n 's|^sh scripts/deps.sh ||p' | sort -u | tr '\n' ';'; }
t "make / make all: deps.sh build only ($(groups all))" [ "$(groups all)" = "build;" ]
t "make install: deps.sh build only" [ "$(groups install PREFIX="$tmp/p")" = "build;" ]
tl=$(mk -n BUILD="$tmp/n" test 2>/dev/null | grep -nE '^sh scripts/deps.sh|make .*WERROR=1 all examples' | cut -d: -f1 | tr '\n' ' ')
tg=$(mk -n BUILD="$tmp/n" test 2>/dev/null | sed -n 's|^sh scripts/deps.sh ||p' | head -n 1)
t "make test: deps.sh test pg, then a new make for the build (lines $tl)" \
    eval '[ "$tg" = "test pg" ] && set -- $tl && [ $# -ge 2 ] && [ "$1" -lt "$2" ]'
t "make deb: deps.sh deb" sh -c "echo '$(groups deb)' | grep -q '^deb;'"
t "NODEPS=1: deps.sh never runs" [ -z "$(groups all NODEPS=1)" ]
allout=$(mk -n BUILD="$tmp/n" all 2>&1)
t "make all does not build examples/pg_connect" eval 'has "$allout" "libcoffer.a" && lacks "$allout" pg_connect'
ex=$(mk -n BUILD="$tmp/n" examples 2>&1)
t "make examples builds it (with the pg group)" eval 'has "$ex" "deps.sh pg" && has "$ex" "examples/pg_connect.c"'

# A real build where dpkg says everything is missing and there is no way to
# install: the library and CLI still build.
if FAKE_INSTALLED= FAKE_UID=1000 fk env $MK_UNSET make -s -j2 BUILD="$tmp/b" all \
        >"$tmp/b.log" 2>&1 && [ -x "$tmp/b/coffer" ] && [ -f "$tmp/b/libcoffer.so.0.1.0" ]; then
    ok "make all builds when deps.sh cannot install anything (non-root, no sudo)"
else nok "build without installable deps: $(tail -n 5 "$tmp/b.log")"; fi
t "... after saying what is missing" grep -q 'missing packages (build)' "$tmp/b.log"
t "... and without building pg_connect" [ ! -e "$tmp/b/examples/pg_connect" ]

# ---- COFFER_ETCD ----
cmd() { mk -n BUILD="$tmp/e" "$@" "$tmp/e/obj/src/util/error.o" 2>&1 | grep -- '-c src/util/error.c'; }
t "COFFER_ETCD=0: no COFFER_WITH_ETCD" sh -c "! echo '$(cmd COFFER_ETCD=0)' | grep -q COFFER_WITH_ETCD"
if echo '#include <curl/curl.h>' | cc -E -x c - -o /dev/null 2>/dev/null; then
    t "COFFER_ETCD=auto with curl/curl.h: -DCOFFER_WITH_ETCD" sh -c "echo '$(cmd)' | grep -q -- -DCOFFER_WITH_ETCD"
    t "COFFER_ETCD=1 with curl/curl.h: -DCOFFER_WITH_ETCD" sh -c "echo '$(cmd COFFER_ETCD=1)' | grep -q -- -DCOFFER_WITH_ETCD"
else
    skip "COFFER_ETCD=auto with curl/curl.h" "curl/curl.h is not installed (deps.sh test)"
fi
t "COFFER_ETCD=auto without the header (-nostdinc): off" \
    sh -c "! echo '$(cmd CPPFLAGS=-nostdinc)' | grep -q COFFER_WITH_ETCD"
out=$(mk -n BUILD="$tmp/e" COFFER_ETCD=1 CPPFLAGS=-nostdinc all 2>&1); rc=$?
t "COFFER_ETCD=1 without the header: make stops with a clear error" \
    eval '[ $rc -ne 0 ] && has "$out" "COFFER_ETCD=1 needs curl/curl.h"'
t "CLI_STATIC=1: no etcd (COFFER_ETCD defaults to 0)" sh -c "! echo '$(cmd CLI_STATIC=1)' | grep -q COFFER_WITH_ETCD"
# A changed configuration rebuilds (make test's second make sees packages
# deps.sh just installed).
mk -s BUILD="$tmp/r" COFFER_ETCD=0 "$tmp/r/obj/src/util/error.o" >/dev/null 2>&1
mk -q BUILD="$tmp/r" COFFER_ETCD=0 "$tmp/r/obj/src/util/error.o"; same=$?
mk -q BUILD="$tmp/r" COFFER_ETCD=0 CFLAGS=-O1 "$tmp/r/obj/src/util/error.o"; changed=$?
t "same configuration: up to date; new CFLAGS: rebuild" [ "$same" -eq 0 ] && [ "$changed" -eq 1 ]

# ---- toml-test without its corpus ----
out=$(CI=true TOML_TEST_DIR="$tmp/none" sh tests/suites/toml-test.sh 2>&1); rc=$?
t "toml-test fails under CI=true when the corpus is missing" eval '[ $rc -ne 0 ] && has "$out" "^not ok"'
out=$(CI= TOML_TEST_DIR="$tmp/none" sh tests/suites/toml-test.sh 2>&1); rc=$?
t "toml-test skips outside CI" eval '[ $rc -eq 0 ] && has "$out" "# SKIP"'

# ---- a real unprivileged user ----
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v runuser >/dev/null; then
    skip "build as an unprivileged user" "needs root, useradd and runuser"
else
    user="cofb$$"
    if useradd -M -d "$tmp/src" -s /bin/sh "$user" 2>/dev/null; then
        mkdir -p "$tmp/src"
        git ls-files -co --exclude-standard -z | xargs -0 tar cf - 2>/dev/null | tar xf - -C "$tmp/src"
        chown -R "$user" "$tmp/src"
        chmod 755 "$tmp"
        if runuser -u "$user" -- env -i PATH=/usr/bin:/bin HOME="$tmp/src" \
               sh -c "cd '$tmp/src' && make -j2" >"$tmp/u.log" 2>&1 &&
           [ -x "$tmp/src/build/coffer" ]; then
            ok "make as unprivileged user '$user' (no sudo) builds the library and the CLI"
        else nok "unprivileged build: $(tail -n 5 "$tmp/u.log")"; fi
        t "... without asking for any package" sh -c "! grep -q 'missing packages' '$tmp/u.log'"
    else skip "build as an unprivileged user" "useradd failed"; user=; fi
fi
