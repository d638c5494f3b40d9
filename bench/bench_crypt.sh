#!/bin/sh
# bench_crypt.sh - cost of per-value encryption (issue 11, Benchmark).
#
# Usage: sh bench/bench_crypt.sh [BUILD]     (needs BUILD/coffer, libcoffer.a)
# Environment: BENCH_RUNS (default 200), BENCH_SLOW_RUNS (30, dotenvx),
#        BENCH_NO_NPM=1 skips installing dotenvx.
#
# A 20-key secrets file (16 strings, 2 integers, 2 floats; ~2 KB once
# encrypted), plaintext and encrypted to one age X25519 recipient, the
# identity in COFFER_AGE_KEY_FILE:
#   load   in-process: store open + first acquire + lookup + close, us
#          (bench/bench_load_crypt.c, median of 9 rounds)
#   run    coffer run -- true, plaintext and encrypted (hyperfine -N)
#   dotenvx run -f .env -- true on a dotenvx-encrypted .env (npm
#          @dotenvx/dotenvx, installed once into bench/node_modules)
#   sops   sops exec-env, if a sops binary is on PATH (not in Debian 12)
# Goal: encrypted run within 1.5x of plaintext run.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
RUNS=${BENCH_RUNS:-200}
SLOW=${BENCH_SLOW_RUNS:-30}
PY=/usr/bin/python3
coffer="$BUILD/coffer"
[ -x "$coffer" ] || { echo "bench_crypt: $coffer is not built" >&2; exit 1; }
command -v hyperfine >/dev/null || {
    echo "bench_crypt: hyperfine is missing (scripts/deps.sh bench)" >&2; exit 1; }
mkdir -p "$BUILD/bench"
loadb="$BUILD/bench/bench_load_crypt"
${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -I"$root/include" -o "$loadb" \
    "$root/bench/bench_load_crypt.c" "$BUILD/libcoffer.a" -lsodium -lm -pthread

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench-crypt.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
umask 077
mkdir -p "$tmp/home" "$tmp/plain/.streamlit" "$tmp/enc/.streamlit" "$tmp/dx"
i=1
: >"$tmp/plain/.streamlit/secrets.toml"
: >"$tmp/dx/.env"
while [ $i -le 20 ]; do
    k=$(printf 'SECRET_%02d' $i)
    case $i in
    17|18) v=$((i * 1000 + 7)); tv=$v ;;
    19|20) v="$i.25"; tv=$v ;;
    *) v=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n'); tv="\"$v\"" ;;
    esac
    echo "$k = $tv" >>"$tmp/plain/.streamlit/secrets.toml"
    echo "$k=$v" >>"$tmp/dx/.env"
    i=$((i + 1))
done
export HOME="$tmp/home" PATH=/usr/local/bin:/usr/bin:/bin
unset COFFER_SECRETS_FILES COFFER_SECRETS CREDENTIALS_DIRECTORY COFFER_STRICT \
      COFFER_AGE_KEY COFFER_AGE_PASSPHRASE
"$coffer" keygen -o "$tmp/id.txt" >"$tmp/recip"
cp "$tmp/plain/.streamlit/secrets.toml" "$tmp/enc/.streamlit/secrets.toml"
"$coffer" encrypt -r "$(cat "$tmp/recip")" "$tmp/enc/.streamlit/secrets.toml" 2>/dev/null
export COFFER_AGE_KEY_FILE="$tmp/id.txt"
want=$(sed -n 's/^SECRET_01=//p' "$tmp/dx/.env")
for d in plain enc; do
    got=$(cd "$tmp/$d" && "$coffer" run -- sh -c 'printf %s "$SECRET_01"')
    [ "$got" = "$want" ] || { echo "bench_crypt: $d run does not export" >&2; exit 1; }
done
size=$(wc -c <"$tmp/enc/.streamlit/secrets.toml")
nenc=$(grep -c 'ENC\[coffer' "$tmp/enc/.streamlit/secrets.toml")

lp=$("$loadb" "$tmp/plain/.streamlit/secrets.toml" 200)
le=$("$loadb" "$tmp/enc/.streamlit/secrets.toml" 200)

dotenvx="$root/bench/node_modules/.bin/dotenvx"
if [ ! -x "$dotenvx" ] && [ "${BENCH_NO_NPM:-0}" != 1 ] && command -v npm >/dev/null; then
    echo "bench_crypt: npm i @dotenvx/dotenvx (once, into bench/node_modules)" >&2
    (cd "$root/bench" && npm i --no-save --no-audit --no-fund --silent \
        --prefix "$root/bench" @dotenvx/dotenvx >&2) || true
fi
[ -x "$dotenvx" ] || dotenvx=
if [ -n "$dotenvx" ]; then
    (cd "$tmp/dx" && "$dotenvx" encrypt -f .env >/dev/null 2>&1) || dotenvx=
    if [ -n "$dotenvx" ]; then
        got=$(cd "$tmp/dx" && "$dotenvx" run -q -f .env -- sh -c 'printf %s "$SECRET_01"' 2>/dev/null || true)
        [ "$got" = "$want" ] || dotenvx=
    fi
fi
sops=$(command -v sops || true)

set -- -n plain "cd $tmp/plain && $coffer run -- true" \
       -n encrypted "cd $tmp/enc && $coffer run -- true"
hyperfine --style none -N --warmup 10 --runs "$RUNS" --export-json "$tmp/fast.json" \
    -n plain "$coffer -C $tmp/plain run -- true" \
    -n encrypted "$coffer -C $tmp/enc run -- true" >"$tmp/fast.log" 2>&1 ||
    { cat "$tmp/fast.log" >&2; exit 1; }
if [ -n "$dotenvx" ]; then
    (cd "$tmp/dx" && hyperfine --style none -N --warmup 3 --runs "$SLOW" \
        --export-json "$tmp/slow.json" -n dotenvx "$dotenvx run -q -f .env -- true") \
        >"$tmp/slow.log" 2>&1 || dotenvx=
fi
cp "$tmp"/*.json "$BUILD/bench/" 2>/dev/null || true
"$PY" - "$tmp" "$lp" "$le" "$size" "$nenc" "${dotenvx:+1}" "${sops:+1}" <<'PYEOF'
import json, os, sys, statistics as st
tmp, lp, le, size, nenc, dx, sops = sys.argv[1:8]
res = {x["command"]: x for x in json.load(open(os.path.join(tmp, "fast.json")))["results"]}
if dx:
    for x in json.load(open(os.path.join(tmp, "slow.json")))["results"]:
        res[x["command"]] = x
p = res["plain"]["median"]
print("per-value encryption, 20 keys (%s bytes encrypted, %s ENC values)" % (size, nenc))
print()
print("| measure | plaintext | encrypted | ratio |")
print("|---|---:|---:|---:|")
print("| load: open + acquire + lookup + close (us, in-process) | %s | %s | %.2fx |"
      % (lp, le, float(le) / float(lp)))
e = res["encrypted"]["median"]
print("| `coffer run -- true` median (ms) | %.3f | %.3f | %.2fx |" % (p * 1e3, e * 1e3, e / p))
print("| `coffer run -- true` mean (ms) | %.3f | %.3f | %.2fx |"
      % (res["plain"]["mean"] * 1e3, res["encrypted"]["mean"] * 1e3,
         res["encrypted"]["mean"] / res["plain"]["mean"]))
if dx:
    d = res["dotenvx"]["median"]
    print("| `dotenvx run -- true`, encrypted .env, median (ms) | | %.1f | %.0fx coffer encrypted |" % (d * 1e3, d / e))
else:
    print("| `dotenvx run` | skipped (npm install or encrypt failed) | | |")
if not sops:
    print("| `sops exec-env` | skipped (no sops binary; not packaged in Debian 12) | | |")
print()
print("encrypted/plaintext run: %.2fx (goal <= 1.5x: %s)" % (e / p, "met" if e / p <= 1.5 else "MISSED"))
PYEOF
