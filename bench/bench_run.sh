#!/bin/sh
# bench_run.sh - start-up cost of `coffer run -- true` (issue 3, Performance).
#
# Usage: sh bench/bench_run.sh [BUILD]     (from anywhere; BUILD defaults to
#        build, relative to the repository root; needs BUILD/coffer)
# Environment: BENCH_RUNS (default 300, split into BENCH_ROUNDS=10 rounds)
#        and BENCH_WARMUP (20 per round) for the fast commands, BENCH_SLOW_RUNS (40) for python-dotenv, dotenvx and the
#        Python reference; BENCH_NO_NPM=1 skips installing dotenvx.
#
# On a 20-key secrets set (a project .streamlit/secrets.toml, mode 0600, and
# the same 20 variables as a .env file), hyperfine -N times:
#   true            bare /usr/bin/true
#   floor           bench/floor_exec.c: only execvp(argv[1], argv+1), then true
#   coffer          coffer run -- true
#   python-dotenv   python3 -m dotenv -f .env run -- true  (Debian python3-dotenv)
#   dotenvx         node_modules/.bin/dotenvx run -f .env -- true
#                   (npm i @dotenvx/dotenvx into bench/node_modules, once)
#   reference       /usr/bin/python3: toml.load + os.environ.update + execvp
# and prints medians, means, CPU time (user+sys) and the ratios the issue
# sets targets for:
# coffer/floor <= 1.15, python-dotenv/coffer ~40x, dotenvx/coffer ~200x.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
RUNS=${BENCH_RUNS:-300}
WARMUP=${BENCH_WARMUP:-20}
ROUNDS=${BENCH_ROUNDS:-10}
SLOW=${BENCH_SLOW_RUNS:-40}
PY=/usr/bin/python3

coffer="$BUILD/coffer"
[ -x "$coffer" ] || { echo "bench_run: $coffer is not built" >&2; exit 1; }
command -v hyperfine >/dev/null || {
    echo "bench_run: hyperfine is missing (scripts/deps.sh bench)" >&2; exit 1; }

mkdir -p "$BUILD/bench"
floor="$BUILD/bench/floor_exec"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$floor" "$root/bench/floor_exec.c"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
proj="$tmp/proj"
mkdir -p "$tmp/home" "$proj/.streamlit"
chmod 700 "$tmp/home" "$proj" "$proj/.streamlit"

# 20 root-level secrets: 16 strings, 2 integers, 2 floats (all exported);
# the .env file holds the same 20 variables.
umask 077
i=1
: >"$proj/.streamlit/secrets.toml"
: >"$proj/.env"
while [ $i -le 20 ]; do
    k=$(printf 'SECRET_%02d' $i)
    case $i in
    17|18) v=$((i * 1000 + 7)); tv=$v ;;
    19|20) v="$i.25"; tv=$v ;;
    *) v=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n'); tv="\"$v\"" ;;
    esac
    echo "$k = $tv" >>"$proj/.streamlit/secrets.toml"
    echo "$k=$v" >>"$proj/.env"
    i=$((i + 1))
done
chmod 600 "$proj/.streamlit/secrets.toml" "$proj/.env"
want=$(sed -n 's/^SECRET_01=//p' "$proj/.env")

# dotenvx, installed once into bench/node_modules (gitignored).
dotenvx="$root/bench/node_modules/.bin/dotenvx"
if [ ! -x "$dotenvx" ] && [ "${BENCH_NO_NPM:-0}" != 1 ] &&
   command -v npm >/dev/null; then
    echo "bench_run: npm i @dotenvx/dotenvx (once, into bench/node_modules)" >&2
    (cd "$root/bench" && npm i --no-save --no-audit --no-fund --silent \
        --prefix "$root/bench" @dotenvx/dotenvx >&2) || true
fi
[ -x "$dotenvx" ] || dotenvx=

ref="import toml, os; d=toml.load('.streamlit/secrets.toml'); \
os.environ.update({k:str(v) for k,v in d.items() \
if not isinstance(v,(dict,bool,list))}); os.execvp('true',['true'])"

cd "$proj"
unset COFFER_SECRETS_FILES COFFER_SECRETS CREDENTIALS_DIRECTORY COFFER_STRICT
# A fixed, short PATH: every wrapper looks `true` up the same way, and a long
# PATH (failed execve per entry) would only add the same constant to all.
export HOME="$tmp/home" PATH=/usr/local/bin:/usr/bin:/bin

# Every wrapper must really export the secrets before we time it.
sanity() { # sanity NAME CMD...: CMD ... -- sh -c 'echo $SECRET_01'
    n=$1; shift
    got=$("$@" sh -c 'printf %s "$SECRET_01"' 2>/dev/null) || got="(failed)"
    if [ "$got" != "$want" ]; then
        echo "bench_run: $n does not export SECRET_01 (got '$got')" >&2
        exit 1
    fi
}
sanity coffer "$coffer" run --
sanity python-dotenv "$PY" -m dotenv -f .env run --
got=$("$PY" -c "${ref%%os.execvp*}print(os.environ['SECRET_01'], end='')")
[ "$got" = "$want" ] || { echo "bench_run: reference does not export" >&2; exit 1; }
[ -z "$dotenvx" ] || sanity dotenvx "$dotenvx" run -f .env --

# The fast commands are compared within 15%, on a machine that other jobs
# share: run them in ROUNDS alternating rounds (true, floor, coffer, then
# again) so that drift hits all three alike; medians pool every round.
r=1
per=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
while [ $r -le "$ROUNDS" ]; do
    hyperfine -N --style none --warmup "$WARMUP" --runs "$per" \
        --export-json "$tmp/fast$r.json" \
        -n true 'true' \
        -n floor "$floor true" \
        -n coffer "$coffer run -- true" >"$tmp/fast.log" 2>&1 ||
        { cat "$tmp/fast.log" >&2; exit 1; }
    r=$((r + 1))
done
set -- -n python-dotenv "$PY -m dotenv -f .env run -- true" \
       -n reference "$PY -c \"$ref\""
[ -n "$dotenvx" ] && set -- "$@" -n dotenvx "$dotenvx run -f .env -- true"
hyperfine -N --style none --warmup 3 --runs "$SLOW" \
    --export-json "$tmp/slow.json" "$@" >"$tmp/slow.log" 2>&1 ||
    { cat "$tmp/slow.log" >&2; exit 1; }

cp "$tmp"/*.json "$BUILD/bench/" 2>/dev/null || true
"$PY" - "$tmp" "$ROUNDS" "$RUNS" "$SLOW" <<'EOF'
import json, os, statistics as st, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
times, cpu, per_round = {}, {}, []
for r in range(1, rounds + 1):
    rr = {}
    for x in json.load(open(os.path.join(tmp, "fast%d.json" % r)))["results"]:
        times.setdefault(x["command"], []).extend(x["times"])
        cpu.setdefault(x["command"], []).append(x["user"] + x["system"])
        rr[x["command"]] = x["median"]
    per_round.append(rr["coffer"] / rr["floor"])
for x in json.load(open(os.path.join(tmp, "slow.json")))["results"]:
    times[x["command"]] = x["times"]
    cpu[x["command"]] = [x["user"] + x["system"]]
res = {k: {"median": st.median(v), "mean": st.mean(v),
           "stddev": st.stdev(v) if len(v) > 1 else 0.0, "n": len(v),
           "cpu": st.mean(cpu[k])}
       for k, v in times.items()}
label = {
    "true": "bare `true`",
    "floor": "floor: `floor_exec true` (execvp only)",
    "coffer": "`coffer run -- true`",
    "python-dotenv": "`python3 -m dotenv run -- true`",
    "dotenvx": "`dotenvx run -- true`",
    "reference": "reference start-up (python3 toml load+env+exec)",
}
c = res["coffer"]["median"]
fl = res["floor"]["median"]
print("coffer run -- true, 20-key secrets set (hyperfine -N; true/floor/"
      "coffer: %d runs each in %d rounds; others: %s runs)"
      % (res["coffer"]["n"], rounds, sys.argv[4]))
print()
print("| command | median ms | mean ms | stddev ms | CPU ms | x floor | x coffer |")
print("|---|---:|---:|---:|---:|---:|---:|")
for k in ["true", "floor", "coffer", "reference", "python-dotenv", "dotenvx"]:
    if k not in res:
        print("| %s | skipped (npm install failed) | | | | | |" % label[k])
        continue
    r = res[k]
    print("| %s | %.3f | %.3f | %.3f | %.3f | %.2f | %.1f |" % (
        label[k], r["median"] * 1e3, r["mean"] * 1e3, r["stddev"] * 1e3,
        r["cpu"] * 1e3, r["median"] / fl, r["median"] / c))
print()
ratio = c / fl
print("coffer/floor (median)   %.3f  (target <= 1.15: %s)" % (
    ratio, "met" if ratio <= 1.15 else "MISSED"))
print("coffer/floor (mean)     %.3f" % (res["coffer"]["mean"] / res["floor"]["mean"]))
print("coffer/floor per round  %s" % " ".join("%.3f" % x for x in per_round))
print("coffer/floor (CPU time) %.3f  (user+sys of the whole run, hyperfine)"
      % (res["coffer"]["cpu"] / res["floor"]["cpu"]))
print("floor/true  (median)    %.2f" % (fl / res["true"]["median"]))
for k, tgt in (("python-dotenv", "~40x"), ("dotenvx", "~200x"),
               ("reference", "")):
    if k in res:
        print("%-23s %.1fx %s" % (k + "/coffer", res[k]["median"] / c,
                                  ("(issue: " + tgt + ")") if tgt else ""))
EOF
