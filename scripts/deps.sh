#!/bin/sh
# Install the Debian packages coffer needs to build and test.
# Called by the Makefile; safe to run repeatedly. Usage: scripts/deps.sh [build|test|bench|fuzz|pg]
set -eu
group=${1:-test}
build="gcc libc6-dev make pkg-config libsodium-dev libcurl4-openssl-dev"
test="$build clang libcmocka-dev valgrind libclang-rt-14-dev python3 python3-dotenv git gdb etcd-server etcd-client openssl"
bench="$test g++ libtomlplusplus-dev python3-toml python3-dotenv python3-click hyperfine"
fuzz="$test afl++"
pg="$test libpq-dev postgresql"
case "$group" in
  build) pkgs=$build ;; test) pkgs=$test ;; bench) pkgs=$bench ;;
  fuzz) pkgs=$fuzz ;; pg) pkgs=$pg ;;
  *) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
esac
missing=
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo
else
  echo "coffer: missing packages:$missing" >&2
  echo "coffer: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "coffer: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
