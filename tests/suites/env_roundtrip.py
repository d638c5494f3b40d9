#!/usr/bin/python3
"""env_roundtrip.py - the D3 property test's helper for tests/suites/cli-env.sh.

  gen N SEED OUT.toml EXPECT.json   N random hostile values as keys v0..v(N-1)
  dotenv ENV_FILE EXPECT.json       python-dotenv, default interpolation and
                                    interpolate=False: every key coffer wrote
                                    reads back exactly, no other key appears,
                                    and the keys missing are exactly the ones
                                    coffer(1) documents as skipped
  json JSON_FILE EXPECT.json [SKIP] python's json: exact, all keys (or all but
                                    the documented dotenv skips with SKIP=dotenv)
  shell DUMP EXPECT.json            NUL-separated "key=value" records printed by
                                    a shell after eval: exact, every key
Prints one line of counts; exits 1 on the first mismatch (named by key only:
values are test data, but the harness never needs to show them).
"""
import json
import random
import re
import sys

PIECES = ["\\", "\\\\", "'", '"', "\r", "\n", "\r\n", "$", "${X}", "${X:-d}",
          "${", "}", "`", "`id`", "$(id)", "\x1b", "\x1b[2K", "\x07", "#", " #",
          " ", "\t", "=", "é", "中", "\U0001F600", "\u2028", "\x85", "a", "Z",
          "0", "export ", "LD_PRELOAD=x", "\\n", "\\'", '\\"', "%", "!", "~"]

INTERP = re.compile(r"\$\{[^}:]*(?::-[^}]*)?\}")


def gen_value(rng):
    n = rng.randint(0, 12)
    v = "".join(rng.choice(PIECES) for _ in range(n))
    r = rng.random()
    if r < 0.15:
        v += "\\"                      # trailing backslash
    elif r < 0.2:
        v = "".join(rng.choice("abcXYZ019-_:/.@") for _ in range(rng.randint(1, 8))) + "\\"
    return v


def toml_basic(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o == 0x7f:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dotenv_skipped(v):
    """coffer(1): values `env --format dotenv` skips (besides NUL bytes)."""
    if INTERP.search(v):
        return True
    if v.endswith("\\"):
        bare = v[0] not in "'\"" and all(0x21 <= ord(c) <= 0x7e for c in v)
        return not bare
    return False


def load(p):
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        n, seed = int(sys.argv[2]), int(sys.argv[3])
        rng = random.Random(seed)
        exp = {"v%d" % i: gen_value(rng) for i in range(n)}
        with open(sys.argv[4], "w", encoding="utf-8", newline="") as f:
            for k, v in exp.items():
                f.write("%s = %s\n" % (k, toml_basic(v)))
        with open(sys.argv[5], "w", encoding="utf-8") as f:
            json.dump(exp, f)
        skips = sum(dotenv_skipped(v) for v in exp.values())
        print("generated %d values, %d documented dotenv skips" % (n, skips))
    elif cmd == "dotenv":
        from dotenv import dotenv_values
        exp = load(sys.argv[3])
        for interp in (True, False):
            d = dotenv_values(sys.argv[2], interpolate=interp)
            extra = set(d) - set(exp)
            if extra:
                fail("interpolate=%s: keys not in the file: %d" % (interp, len(extra)))
            for k, v in exp.items():
                if dotenv_skipped(v):
                    if k in d:
                        fail("interpolate=%s: %s written though documented as skipped" % (interp, k))
                elif k not in d:
                    fail("interpolate=%s: %s missing" % (interp, k))
                elif d[k] != v:
                    fail("interpolate=%s: %s differs" % (interp, k))
        print("dotenv: %d exact, %d skipped as documented, both modes"
              % (len(d), len(exp) - len(d)))
    elif cmd == "json":
        exp = load(sys.argv[3])
        if len(sys.argv) > 4 and sys.argv[4] == "dotenv":
            exp = {k: v for k, v in exp.items() if not dotenv_skipped(v)}
        d = load(sys.argv[2])
        if set(d) != set(exp):
            fail("json: key sets differ (%d vs %d)" % (len(d), len(exp)))
        for k, v in exp.items():
            if d[k] != v:
                fail("json: %s differs" % k)
        print("json: %d exact" % len(d))
    elif cmd == "shell":
        exp = load(sys.argv[3])
        with open(sys.argv[2], "rb") as f:
            recs = f.read().split(b"\0")
        got = {}
        for r in recs[:-1]:
            k, _, v = r.partition(b"=")
            got[k.decode()] = v.decode("utf-8")
        if set(got) != set(exp):
            fail("shell: key sets differ (%d vs %d)" % (len(got), len(exp)))
        for k, v in exp.items():
            if got[k] != v:
                fail("shell: %s differs" % k)
        print("shell: %d exact" % len(got))
    else:
        fail("unknown command")


main()
