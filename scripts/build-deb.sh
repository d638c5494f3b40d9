#!/bin/sh
# build-deb.sh OUTDIR: the Debian packages (debian/) from a copy of the
# source (tracked files plus new, not ignored ones) in OUTDIR/coffer-VERSION,
# so that the work tree stays clean; .deb, .buildinfo and .changes land in
# OUTDIR, then lintian checks them (lintian.log). Used by `make deb`.
set -eu
out=${1:-build/deb}
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/coffer-$version"
rm -rf "$src" "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo
mkdir -p "$src"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 tar cf - ) | tar xf - -C "$src"
# a clean environment: a make above us (make deb BUILD=...) exports its
# variables, and the package must not depend on the caller's settings
(cd "$src" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$out" LC_ALL=C.UTF-8 \
    ${DEB_BUILD_OPTIONS:+DEB_BUILD_OPTIONS="$DEB_BUILD_OPTIONS"} \
    dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) || {
    tail -n 40 "$out/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
    exit 1
}
rm -rf "$src"
changes=$(ls "$out"/coffer_*.changes)
# every tag lintian reports; overrides live in debian/*.lintian-overrides
lintian --info --display-info --pedantic "$changes" >"$out/lintian.log" 2>&1 || true
echo "build-deb: $(ls "$out"/*.deb | tr '\n' ' ')"
if grep -qE '^[EW]: ' "$out/lintian.log"; then
    echo "build-deb: lintian errors or warnings:" >&2
    grep -E '^[EW]: ' "$out/lintian.log" >&2
    exit 1
fi
