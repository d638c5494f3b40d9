#!/bin/sh
# Install the Debian packages a make target needs. Called by the Makefile;
# safe to run repeatedly.
#
# Usage: scripts/deps.sh [--list] GROUP...
#   GROUP: build (make, make install), test (make test, asan, valgrind,
#   tsan), pg (the PostgreSQL example and its test), bench, fuzz, deb.
#   --list prints the packages of the groups, one a line, and exits.
#
# Missing packages are installed with apt-get as root, or through sudo when
# it needs no password. Otherwise (a user without sudo, or no dpkg at all)
# the script prints what is missing and the command to install it, and
# exits 0: the build goes on and the compiler says what really lacks.
# A failing apt-get as root is an error (exit 1).
set -eu

build="gcc libc6-dev make pkg-config libsodium-dev"
test="$build libcmocka-dev python3 python3-dotenv git bash zsh dash
      clang libclang-rt-14-dev valgrind gdb binutils man-db
      etcd-server etcd-client libcurl4-openssl-dev age openssl"
pg="$build libpq-dev postgresql"
bench="$build g++ libtomlplusplus-dev python3 python3-toml python3-dotenv python3-click hyperfine"
fuzz="$build clang libclang-rt-14-dev afl++"
deb="$build debhelper devscripts lintian fakeroot dpkg-dev libcurl4-openssl-dev"

list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
[ $# -gt 0 ] || set -- test
pkgs=
for group in "$@"; do
    case "$group" in
    build) pkgs="$pkgs $build" ;;
    test) pkgs="$pkgs $test" ;;
    pg) pkgs="$pkgs $pg" ;;
    bench) pkgs="$pkgs $bench" ;;
    fuzz) pkgs="$pkgs $fuzz" ;;
    deb) pkgs="$pkgs $deb" ;;
    *) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
    esac
done
# one each, in order
pkgs=$(printf '%s\n' $pkgs | awk '!seen[$0]++')
if [ "$list" = 1 ]; then printf '%s\n' $pkgs; exit 0; fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    exit 0   # not Debian: the README lists what to install
fi
missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then SUDO=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
    echo "coffer: missing packages ($*):$missing" >&2
    echo "coffer: to install them: sudo apt-get install$missing" >&2
    echo "coffer: going on without them" >&2
    exit 0
fi
echo "coffer: installing ($*):$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! { $SUDO apt-get update -qq >/dev/null &&
       $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
    echo "coffer: error: apt-get could not install:$missing" >&2
    exit 1
fi
