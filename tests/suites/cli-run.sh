#!/bin/sh
# cli-run: coffer run (exec, exports, exit codes, COFFER_SECRETS removal,
# dumpability) and coffer run --restart (restart on change, grace, signal
# forwarding, exit status).
. "$(dirname "$0")/cli-common.inc"

put "$PROJ" <<'EOF'
db_username = "jane"
db_password = "pw-1"
port = 5432
ratio = 0.1
whole = 1.0
big = 1e20
flag = true
"not-portable" = "np"
[db_credentials]
user = "u"
EOF

c run -- sh -c 'printf "%s|%s|%s|%s|%s|%s" "$db_username" "$db_password" "$port" "$ratio" "$whole" "$big"'
t "run exports root strings, ints and floats" eval 'rc_is 0 && out_is "jane|pw-1|5432|0.1|1.0|1e+20"'
c run -- sh -c 'env | grep -E "^(flag|db_credentials|user)=" || echo none'
t "run does not export bools or sections" eval 'rc_is 0 && out_is none'
env 'not-portable=stale' "$COFFER_BIN" run -- env >"$T/out" 2>"$T/err"; rc=$?
t "d7: run does not export non-portable names, and unsets a stale one" eval 'rc_is 0 && out_lacks "not-portable=" && err_has "not-portable"'
c run sh -c 'echo "$db_username"'
t "run without --" eval 'rc_is 0 && out_is jane'
db_username=preset c run -- sh -c 'echo "$db_username"'
t "run overwrites an existing variable" eval 'out_is jane'
db_username=preset c run --keep-existing -- sh -c 'echo "$db_username"'
t "run --keep-existing keeps it" eval 'rc_is 0 && out_is preset'
c run -- sh -c 'exit 42'
t "run: exit status is the command's own" rc_is 42
c run -- sh -c 'kill -TERM $$'
t "run: killed by a signal like the command itself" rc_is 143
c run -- no-such-command-coffer-xyz
t "run: command not found exits 127" eval 'rc_is 127 && err_has "no-such-command-coffer-xyz"'
printf '#!/bin/sh\necho hi\n' >"$T/noexec"; chmod 600 "$T/noexec"
c run -- "$T/noexec"
t "run: not executable exits 126" eval 'rc_is 126 && err_has "$T/noexec"'
c run -- "$T"
t "run: a directory is not executable (126)" rc_is 126
sh -c 'echo $$; exec "$1" run -- sh -c "echo \$\$"' sh "$COFFER_BIN" >"$T/pids" 2>/dev/null
t "run replaces itself with the command (same pid)" [ "$(sed -n 1p "$T/pids")" = "$(sed -n 2p "$T/pids")" ]

COFFER_SECRETS='api_key = "from-env"' c run -- sh -c 'echo "${COFFER_SECRETS-unset} $api_key"'
t "run removes COFFER_SECRETS from the command's environment" eval 'rc_is 0 && out_is "unset from-env"'
COFFER_SECRETS='api_key = "from-env"' c run --keep-coffer-secrets -- sh -c 'echo "${COFFER_SECRETS-unset}"'
t "run --keep-coffer-secrets keeps it" eval 'rc_is 0 && out_is "api_key = \"from-env\""'
COFFER_SECRETS='api_key = "x"' c run --restart --grace 1 -- sh -c 'echo "${COFFER_SECRETS-unset}"'
t "run --restart also removes COFFER_SECRETS" eval 'rc_is 0 && out_is unset'

# The program started by run is dumpable again (execve resets it).
c run -- "$PY" -c 'import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))'
t "run: the command starts dumpable (PR_GET_DUMPABLE = 1)" eval 'rc_is 0 && out_is 1'

# coffer itself is non-dumpable while it holds secrets: another process of
# the same user cannot read its /proc/PID/environ, but can read its child's.
# (As root, both run as nobody: root may read anything.)
if ! slow_ok; then
    skip "coffer is non-dumpable, its child is not" "timing test in $SUITES mode"
elif [ "$(id -u)" = 0 ] && ! command -v setpriv >/dev/null; then
    skip "coffer is non-dumpable, its child is not" "setpriv missing"
else
    if [ "$(id -u)" = 0 ]; then
        AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
        chmod 711 "$T"
        mkdir -p "$T/nob/.streamlit"; cp "$PROJ" "$T/nob/.streamlit/"
        chown -R 65534:65534 "$T/nob"
        D="$T/nob"
    else
        AS= D="$P"
    fi
    cp "$COFFER_BIN" "$T/coffer-copy"; chmod 755 "$T/coffer-copy"
    ( cd "$D" && HOME="$D" exec $AS "$T/coffer-copy" run --restart --grace 1 -- sleep 30 ) >/dev/null 2>&1 &
    cpid=$!; BGPIDS="$BGPIDS $cpid"
    kid=
    i=0
    while [ $i -lt 50 ]; do
        i=$((i + 1))
        kid=$( (cat /proc/$cpid/task/$cpid/children 2>/dev/null || pgrep -P "$cpid") | tr -d ' ')
        [ -n "$kid" ] && [ "$(readlink /proc/$kid/exe 2>/dev/null)" != "$T/coffer-copy" ] && break
        sleep 0.1
    done
    $AS cat /proc/$cpid/environ >/dev/null 2>&1; parent_rc=$?
    $AS cat /proc/$kid/environ 2>/dev/null | tr '\0' '\n' >"$T/kidenv"
    t "coffer is non-dumpable (its environ is unreadable to its own user)" [ "$parent_rc" -ne 0 ]
    t "its child is dumpable and has the secrets" grep -qx 'db_username=jane' "$T/kidenv"
    kill -TERM "$cpid"; wait_exit "$cpid"
    t "SIGTERM forwarded: exit status 128+15" [ "$bgrc" -eq 143 ]
fi

# ---- run --restart ----
if ! slow_ok; then
    for d in "restart on change" "forwarding" "exit status"; do
        skip "run --restart: $d" "timing test in $SUITES mode"
    done
    finish; exit $?
fi
cat >"$T/child.sh" <<'EOF'
#!/bin/sh
# Logs its start with the current password, its signals, and ends on a flag.
log=$1
trap 'echo "usr1 $$" >>"$log"' USR1
trap 'echo "term $$" >>"$log"; exit 0' TERM
echo "start $$ $db_password" >>"$log"
while :; do
    if [ -e "$log.stop" ]; then rm -f "$log.stop"; exit 7; fi
    sleep 0.05
done
EOF
chmod 700 "$T/child.sh"
L="$T/log"
"$COFFER_BIN" run --restart --grace 3 -- "$T/child.sh" "$L" >"$T/r.out" 2>"$T/r.err" &
rpid=$!; BGPIDS="$BGPIDS $rpid"
t "restart: child started with the secrets" wait_for "$L" '^start [0-9]+ pw-1$'
sed 's/pw-1/pw-2/' "$PROJ" | put "$PROJ"
t "restart: child stopped with SIGTERM on change" wait_for "$L" '^term '
t "restart: child started again with the new value" wait_for "$L" '^start [0-9]+ pw-2$'
t "restart: coffer says why it restarted (stderr)" grep -q 'restarting' "$T/r.err"
touch "$PROJ"; cp "$PROJ" "$T/same"; put "$PROJ" <"$T/same"
sleep 0.6
t "restart: a touch or same-content rewrite does not restart" [ "$(grep -c '^start' "$L")" -eq 2 ]
sed 's/^flag = true/flag = false/' "$PROJ" | put "$PROJ"
i=0; while [ "$(grep -c '^start' "$L")" -lt 3 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
t "restart: a change of an unexported key restarts too" [ "$(grep -c '^start' "$L")" -eq 3 ]
sleep 0.2
kill -USR1 "$rpid"
t "restart: SIGUSR1 forwarded to the child" wait_for "$L" '^usr1 '
touch "$L.stop"
wait_exit "$rpid"
t "restart: exits with the child's own status (7)" [ "$bgrc" -eq 7 ]
t "restart: no value on stderr" eval '! grep -q "pw-" "$T/r.err"'

# A child that ignores SIGTERM is killed after --grace.
cat >"$T/stubborn.sh" <<'EOF'
#!/bin/sh
trap '' TERM
echo "start $db_password $$" >>"$1"
while :; do sleep 0.05; done
EOF
chmod 700 "$T/stubborn.sh"; : >"$T/log2"
"$COFFER_BIN" run --restart --grace 0.3 -- "$T/stubborn.sh" "$T/log2" >/dev/null 2>&1 &
rpid=$!; BGPIDS="$BGPIDS $rpid"
wait_for "$T/log2" '^start pw-2 [0-9]+$' >/dev/null
sed 's/pw-2/pw-3/' "$PROJ" | put "$PROJ"
t "restart: SIGKILL after --grace when SIGTERM is ignored" wait_for "$T/log2" '^start pw-3 [0-9]+$' 40
# Stopping coffer itself (as a service manager does): the same grace, then
# SIGKILL for a child that ignores SIGTERM; coffer exits 128+9.
kid=$(sed -n 's/^start pw-3 \([0-9]*\)$/\1/p' "$T/log2")
kill -TERM "$rpid"; wait_exit "$rpid"
t "restart: SIGTERM to coffer, child ignoring it is killed after --grace (137)" \
    eval '[ "$bgrc" -eq 137 ] && ! kill -0 "$kid" 2>/dev/null'
kill -KILL "$kid" 2>/dev/null # (only if the test above failed)

# coffer killed outright (no time to stop its child): the child gets SIGTERM.
: >"$T/log3"
"$COFFER_BIN" run --restart --grace 3 -- "$T/child.sh" "$T/log3" >/dev/null 2>&1 &
rpid=$!; BGPIDS="$BGPIDS $rpid"
wait_for "$T/log3" '^start [0-9]+ pw-3$' >/dev/null
kill -KILL "$rpid"; wait "$rpid" 2>/dev/null
t "restart: coffer killed by SIGKILL, its child gets SIGTERM" wait_for "$T/log3" '^term '
kill "$(sed -n 's/^start \([0-9]*\) .*/\1/p' "$T/log3")" 2>/dev/null # (if it failed)

# A child killed by a signal: exit 128+N; a command not found: 127.
"$COFFER_BIN" run --restart -- sh -c 'kill -KILL $$' >/dev/null 2>&1 &
rpid=$!; wait_exit "$rpid"
t "restart: child killed by SIGKILL gives 137" [ "$bgrc" -eq 137 ]
c run --restart -- no-such-command-coffer-xyz
t "restart: command not found gives 127" eval 'rc_is 127 && err_has "no-such-command-coffer-xyz"'
rm -f "$PROJ"; HOME="$T/emptyhome" c run --restart -- touch "$T/started"
t "restart: no secrets exits 3 without starting" eval 'rc_is 3 && [ ! -e "$T/started" ]'
finish
