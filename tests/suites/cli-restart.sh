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

# ---- d2: deep nesting, with a 1 MiB stack ----
"$PY" -c "print('['+'.'.join(['k']*60000)+']\nx=1')" >"$T/h.toml"
"$PY" -c "print('.'.join(['k']*100000)+' = 1')" >"$T/d.toml"
"$PY" -c "print('x = 1\n['+'.'.join(['k']*513)+']\ny=2')" >"$T/l.toml"
chmod 600 "$T/h.toml" "$T/d.toml" "$T/l.toml"
for f in h d; do
    for verb in list get env check; do
        case $verb in get) a="get k" ;; env) a="env --format sh" ;; *) a=$verb ;; esac
        ( ulimit -s 1024; exec "$COFFER_BIN" -f "$T/$f.toml" $a ) >"$T/out" 2>"$T/err"; rc=$?
        if [ $verb = check ]; then # a finding on stdout, status 1 (problems found)
            t "d2_deep_${f}_check: status 1 with the nesting finding, no crash (1 MiB stack)" \
                eval 'rc_is 1 && out_has "nesting deeper than 512 levels" && out_has "$T/$f.toml"'
        else
            t "d2_deep_${f}_$verb: exit 5 with the nesting error, no crash (1 MiB stack)" \
                eval 'rc_is 5 && err_has "nesting deeper than 512 levels" && err_has "$T/$f.toml:"'
        fi
    done
done
( ulimit -s 1024; exec "$COFFER_BIN" -f "$T/l.toml" list ) >"$T/out" 2>"$T/err"; rc=$?
t "d2_header_513: one level past the limit names FILE:2:COL" \
    eval 'rc_is 5 && err_has "$T/l.toml:2:1026: nesting deeper than 512 levels"'
"$PY" -c "print('['+'.'.join(['k']*512)+']\ny=2')" >"$T/m.toml"; chmod 600 "$T/m.toml"
( ulimit -s 1024; exec "$COFFER_BIN" -f "$T/m.toml" list ) >"$T/out" 2>"$T/err"; rc=$?
t "d2_header_512: at the limit, list works with a 1 MiB stack" \
    eval 'rc_is 0 && [ "$(wc -c <"$T/out")" -gt 1024 ]'

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

# ---- d13: a slow in-place writer ----
printf 'pw = "v1"\nuser = "u1"\n' | put "$S"
: >"$T/d13.log"
"$COFFER_BIN" run --restart --grace 1 -- "$T/child.sh" "$T/d13.log" >/dev/null 2>"$T/d13.err" &
rpid=$!; BGPIDS="$BGPIDS $rpid"
wait_for "$T/d13.log" '^start [0-9]+ v1 u1$' >/dev/null
"$PY" -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"pw = \"v2\"\n"); time.sleep(3.5)
os.write(fd, b"user = \"u2\"\n"); os.close(fd)' "$S"
t "d13_slow_inplace_writer: the child restarts once, with the whole new set" \
    eval 'wait_for "$T/d13.log" "^start [0-9]+ v2 u2$" && sleep 0.3 && [ "$(grep -c ^start "$T/d13.log")" -eq 2 ]'
t "d13_slow_inplace_writer: never a child with a partial set" eval '! grep -q "UNSET" "$T/d13.log"'
kill -TERM "$rpid"; wait_exit "$rpid"

# ---- d2: a reload to a too-deep file (watch, run --restart), 1 MiB stack ----
printf 'pw = "p2"\n' | put "$S"
: >"$T/d2.log"
( ulimit -s 1024; exec "$COFFER_BIN" run --restart --grace 1 -- "$T/child.sh" "$T/d2.log" ) >/dev/null 2>"$T/d2.err" &
rpid=$!; BGPIDS="$BGPIDS $rpid"
( ulimit -s 1024; exec "$COFFER_BIN" watch ) >"$T/w2.out" 2>"$T/w2.err" &
wpid=$!; BGPIDS="$BGPIDS $wpid"
wait_for "$T/d2.log" '^start [0-9]+ p2 ' >/dev/null
wait_for "$T/w2.err" 'watching' >/dev/null
put "$S" <"$T/h.toml"
wait_for "$T/d2.err" 'nesting deeper' >/dev/null
put "$S" <"$T/d.toml"
wait_for "$T/w2.err" 'nesting deeper.*\n?' >/dev/null; sleep 0.3
t "d2_reload_run_restart: the supervisor and its child survive, keeping the last good secrets" \
    eval 'kill -0 "$rpid" 2>/dev/null && grep -c ^start "$T/d2.log" | grep -qx 1 && grep -q "reload failed, keeping the last good secrets: .*nesting deeper than 512 levels" "$T/d2.err"'
t "d2_reload_watch: watch survives and reports the error" \
    eval 'kill -0 "$wpid" 2>/dev/null && [ "$(grep -c "nesting deeper than 512 levels" "$T/w2.err")" -ge 2 ]'
printf 'pw = "p3"\n' | put "$S"
t "d2_reload_run_restart: the next good file restarts the child" wait_for "$T/d2.log" '^start [0-9]+ p3 '
kill -TERM "$rpid" "$wpid"; wait_exit "$rpid"; wait_exit "$wpid"

finish
