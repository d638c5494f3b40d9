#!/bin/sh
# toml-test conformance: every case of $TOML_TEST_DIR (default
# ../shared/toml-test) through
# $BUILD/toml-test-decoder. valid/*.toml: the decoder's tagged JSON must
# equal the expected .json (integers, floats and date-times compared by
# value); invalid/*.toml: exit status 1, no crash, no sanitizer report, no
# timeout. One TAP line per case. Under SUITES=valgrind a sample of about 60
# cases runs (with RUN_PREFIX), the rest are not run.
set -u
ROOT=${COFFER_TEST_ROOT:-$(pwd)}
BUILD=${BUILD:-build}
SUITES=${SUITES:-all}
RUN_PREFIX=${RUN_PREFIX:-}
# The corpus: TOML_TEST_DIR, else ../shared/toml-test (see the README:
# the tests/ directory of github.com/toml-lang/toml-test). Missing: a skip
# on a developer's clone, a failure in CI (CI=true).
CASES=${TOML_TEST_DIR:-$ROOT/../shared/toml-test}
if [ ! -d "$CASES/valid" ] || [ ! -d "$CASES/invalid" ]; then
    if [ "${CI:-}" = true ]; then
        echo "not ok 1 - toml-test: no corpus at '$CASES' (set TOML_TEST_DIR to toml-test's tests/ directory)"
        exit 1
    fi
    echo "ok 1 - toml-test # SKIP no corpus at '$CASES' (set TOML_TEST_DIR, see README)"
    exit 0
fi
DECODER="$BUILD/toml-test-decoder"
case "$DECODER" in /*) ;; *) DECODER="$ROOT/$DECODER" ;; esac
if [ ! -x "$DECODER" ]; then
    echo "not ok 1 - toml-test: $DECODER not built"
    exit 1
fi
exec /usr/bin/python3 - "$CASES" "$DECODER" "$SUITES" "$RUN_PREFIX" <<'PYEOF'
import json, math, os, re, shlex, subprocess, sys

cases_dir, decoder, suites, prefix = sys.argv[1:5]
prefix = shlex.split(prefix)

TAGS = {"string", "integer", "float", "bool", "datetime", "datetime-local",
        "date-local", "time-local"}

def is_tagged(v):
    return (isinstance(v, dict) and set(v) == {"type", "value"}
            and isinstance(v["type"], str) and v["type"] in TAGS
            and isinstance(v["value"], str))

def parse_float(s):
    s = s.replace("_", "")
    if s in ("nan", "+nan", "-nan"):
        return float("nan")
    if s in ("inf", "+inf"):
        return float("inf")
    if s == "-inf":
        return float("-inf")
    return float(s)

DT = re.compile(r"^(?:(\d{4})-(\d{2})-(\d{2}))?[Tt ]?"
                r"(?:(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?"
                r"([Zz]|[+-]\d{2}:\d{2})?$")

def parse_dt(s):
    m = DT.match(s)
    if not m:
        return ("unparsable", s)
    y, mo, d, h, mi, se, frac, off = m.groups()
    ns = int((frac or "0")[:9].ljust(9, "0"))
    if off in ("Z", "z"):
        off = "+00:00"
    return (y, mo, d, h, mi, se, ns, off)

def same(exp, got, path):
    if is_tagged(exp):
        if not is_tagged(got):
            return "%s: expected a %s value" % (path, exp["type"])
        if exp["type"] != got["type"]:
            return "%s: type %s, expected %s" % (path, got["type"], exp["type"])
        t, a, b = exp["type"], exp["value"], got["value"]
        if t == "integer":
            ok = int(a) == int(b)
        elif t == "float":
            x, y = parse_float(a), parse_float(b)
            if math.isnan(x) or math.isnan(y):
                ok = math.isnan(x) and math.isnan(y)
            else:
                ok = x == y and math.copysign(1, x) == math.copysign(1, y)
        elif t in ("datetime", "datetime-local", "date-local", "time-local"):
            ok = parse_dt(a) == parse_dt(b)
        else:
            ok = a == b
        return None if ok else "%s: value differs" % path
    if isinstance(exp, dict):
        if not isinstance(got, dict) or is_tagged(got):
            return "%s: expected a table" % path
        if set(exp) != set(got):
            return "%s: keys differ: missing %s, extra %s" % (
                path, sorted(set(exp) - set(got)), sorted(set(got) - set(exp)))
        for k in exp:
            r = same(exp[k], got[k], path + "." + k)
            if r:
                return r
        return None
    if isinstance(exp, list):
        if not isinstance(got, list):
            return "%s: expected an array" % path
        if len(exp) != len(got):
            return "%s: %d elements, expected %d" % (path, len(got), len(exp))
        for i, (e, g) in enumerate(zip(exp, got)):
            r = same(e, g, "%s[%d]" % (path, i))
            if r:
                return r
        return None
    return "%s: unexpected expected-json node" % path

cases = []
# A toml-test checkout lists its TOML 1.0.0 cases in files-toml-1.0.0 (it
# also holds TOML 1.1 cases): take those when the list is there.
listed = os.path.join(cases_dir, "files-toml-1.0.0")
if os.path.isfile(listed):
    with open(listed, encoding="utf-8") as fh:
        for line in fh:
            rel = line.strip()
            kind = rel.split("/", 1)[0]
            if rel.endswith(".toml") and kind in ("valid", "invalid"):
                cases.append((kind, os.path.join(cases_dir, rel)))
else:
    for kind in ("valid", "invalid"):
        for dirpath, _, files in os.walk(os.path.join(cases_dir, kind)):
            for f in files:
                if f.endswith(".toml"):
                    cases.append((kind, os.path.join(dirpath, f)))
cases.sort()
timeout = 10
if suites == "valgrind":
    step = max(1, len(cases) // 60)
    sample = cases[::step]
    print("# valgrind: running %d of %d toml-test cases" % (len(sample), len(cases)))
    cases = sample
    timeout = 120

def bad_output(err):
    return ("AddressSanitizer" in err or "runtime error:" in err
            or "LeakSanitizer" in err or "ThreadSanitizer" in err
            or "==ERROR" in err or "Invalid read" in err
            or "Invalid write" in err or "uninitialised" in err)

def check(case):
    kind, path = case
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        p = subprocess.run(prefix + [decoder], input=data, capture_output=True,
                           timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        rc, out, err = None, b"", ""
    why = None
    if rc is None:
        why = "timeout"
    elif rc < 0 or rc > 128:
        why = "crashed (status %d)" % rc
    elif bad_output(err):
        why = "sanitizer or valgrind report"
    elif kind == "invalid":
        if rc != 1:
            why = "accepted invalid toml (status %d)" % rc
        elif err.count("\n") != 1:
            why = "expected one line on stderr"
    else:
        if rc != 0:
            why = "rejected: " + err.strip()[:200]
        else:
            try:
                got = json.loads(out.decode("utf-8"))
                with open(path[:-5] + ".json", encoding="utf-8") as fh:
                    exp = json.load(fh)
                why = same(exp, got, "$")
            except Exception as e:  # bad JSON from the decoder
                why = "bad output: %s" % e
    return why

# two cases at a time (the machine has two cores; valgrind is slow to start)
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(max_workers=2) as pool:
    results = list(pool.map(check, cases))
failed = 0
counts = {"valid": [0, 0], "invalid": [0, 0]}
for n, ((kind, path), why) in enumerate(zip(cases, results), 1):
    name = os.path.relpath(path, cases_dir)
    counts[kind][0 if why is None else 1] += 1
    if why is None:
        print("ok %d - %s" % (n, name))
    else:
        failed += 1
        print("not ok %d - %s: %s" % (n, name, why))
print("# valid: %d passed, %d failed; invalid: %d passed, %d failed" % (
    counts["valid"][0], counts["valid"][1], counts["invalid"][0],
    counts["invalid"][1]))
sys.exit(1 if failed else 0)
PYEOF
