#!/bin/sh
# etcd.sh - etcd sources against a real 3-node etcd cluster on loopback
# (tests/suites/etcd-lib.inc): read and merge with files, provenance
# @REVISION, watch latency across 20 watchers, leader killed under a write
# loop, a node down at start, all nodes down and back, the last-known-good
# cache, push (compare-and-swap race, invalid TOML) and history, run
# --restart on an etcd change, auth with a wrong password, TLS with a test
# CA and client certificates; no value ever on stderr.
. tests/suites/cli-common.inc
. "$ROOT/tests/suites/etcd-lib.inc"
ETCD_DIR="$T/etcd"
trap 'etcd_cluster_stop; cleanup' EXIT

if ! etcd_available; then
    skip "etcd suite" "etcd/etcdctl not installed (apt-get install etcd-server etcd-client)"
    finish; exit
fi
if ! "$COFFER_BIN" -f etcd://127.0.0.1:1/x get a 2>&1 | grep -q "cannot reach etcd"; then
    skip "etcd suite" "coffer built without etcd support (libcurl headers missing)"
    finish; exit
fi
if ! etcd_cluster_start 3; then
    nok "3-node etcd cluster starts"; finish; exit
fi
ok "3-node etcd cluster starts on loopback ($ETCD_EPS)"
EPS=$ETCD_EPS
U="etcd://$EPS/app/secrets"
ALLERR="$T/allerr"
: >"$ALLERR"
# ce: c, keeping every stderr for the final no-value check
ce() { c "$@"; cat "$T/err" >>"$ALLERR"; }
doc() { printf 'password = "%s"\nuser = "svc"\n[db]\nhost = "db.internal"\n' "$1"; }

# ---- read and merge ----
doc MARKER-pw-1 | ectl put app/secrets >/dev/null
printf 'user = "local-user"\nlocal_only = 1\n' | put "$PROJ"
ce -f "$PROJ" -f "$U" get password
t "etcd value is read" eval 'rc_is 0 && out_is MARKER-pw-1'
ce -f "$U" -f "$PROJ" get user
t "later file overrides the etcd layer" eval 'rc_is 0 && out_is local-user'
ce -f "$PROJ" -f "$U" get user
t "later etcd layer overrides the file" eval 'rc_is 0 && out_is svc'
REV=$(ectl get app/secrets -w json | sed 's/.*"mod_revision":\([0-9]*\).*/\1/')
ce -f "$PROJ" -f "$U" where db.host
t "provenance is etcd://.../KEY@REVISION:LINE" eval "rc_is 0 && out_is '$U@$REV:4'"
ce -f "$PROJ" -f "$U" list
t "list shows both layers" eval "out_has 'local_only	$PROJ:2' && out_has 'password	$U@$REV:1'"
ce -f "$U" -f "etcd://$EPS/absent" paths
t "paths: found with revision, absent key missing" eval "rc_is 0 && out_has 'found    etcd  $U@$REV' && out_has 'missing  etcd  etcd://$EPS/absent'"
COFFER_SECRETS_FILES="$PROJ:$U" ce get password
t "COFFER_SECRETS_FILES splits around etcd URLs" eval 'rc_is 0 && out_is MARKER-pw-1'
ce -f "etcd://$EPS/absent" get password
t "only source absent: no secrets found (exit 3)" eval 'rc_is 3 && err_has "etcd://$EPS/absent"'
ce -f "etcd://user:pw@$ETCD_EP1/app" get password
t "credentials in the url refused, url not echoed" eval 'rc_is 5 && err_has "must not carry credentials" && err_lacks "user:pw"'

# ---- one node down at start ----
etcd_node_stop 1
ce -f "$U" get password
t "one node down at start: another member serves" eval 'rc_is 0 && out_is MARKER-pw-1'
etcd_node_start 1
etcd_wait_healthy || nok "node 1 back"

# ---- no member reachable ----
set -- $(etcd_free_ports 2)
ce -f "etcd://127.0.0.1:$1,127.0.0.1:$2/app" get password
t "no member reachable: exit 7 naming every endpoint" eval "rc_is 7 && err_has \"'127.0.0.1:$1'\" && err_has \"'127.0.0.1:$2'\""

# ---- push / history ----
PU="etcd://$EPS/pushed"
doc MARKER-push-1 >"$T/p1.toml"
doc MARKER-push-2 >"$T/p2.toml"
doc MARKER-push-3 >"$T/p3.toml"
ce push "$PU" "$T/p1.toml"
R1=$(cat "$T/out")
t "push creates the key, prints the revision" eval 'rc_is 0 && [ "$R1" -gt 0 ]'
ce -f "$PU" get password
t "pushed document is read back" eval 'rc_is 0 && out_is MARKER-push-1'
printf 'password = "MARKER-bad"\n[db\n' >"$T/bad.toml"
ce push "$PU" "$T/bad.toml"
t "push of invalid TOML: exit 5, file:line in the message" eval "rc_is 5 && err_has '$T/bad.toml:2'"
ce -f "$PU" get password
t "invalid push wrote nothing" eval 'out_is MARKER-push-1'
# two writers that both reviewed revision R1: exactly one wins
"$COFFER_BIN" push --revision "$R1" "$PU" "$T/p2.toml" >"$T/race1.out" 2>"$T/race1.err" &
pa=$!
"$COFFER_BIN" push --revision "$R1" "$PU" "$T/p3.toml" >"$T/race2.out" 2>"$T/race2.err" &
pb=$!
wait "$pa"; ra=$?
wait "$pb"; rb=$?
cat "$T/race1.err" "$T/race2.err" >>"$ALLERR"
t "push race: exactly one wins, the other exits 8" \
    eval '{ [ $ra = 0 ] && [ $rb = 8 ]; } || { [ $ra = 8 ] && [ $rb = 0 ]; }'
ce -f "$PU" get password
if [ $ra = 0 ]; then want=MARKER-push-2; else want=MARKER-push-3; fi
t "push race: the winner's document is in etcd" eval "out_is $want"
grep -h "another push won" "$T/race1.err" "$T/race2.err" >/dev/null
t "push race: the loser is told why" [ $? -eq 0 ]
ce push --revision "$R1" "$PU" "$T/p1.toml"
t "push against a stale revision is refused (exit 8)" rc_is 8
ce push --force "$PU" "$T/p1.toml"
t "push --force overwrites" eval 'rc_is 0'
ce history "$PU"
t "history lists every revision, newest first, no values" \
    eval 'rc_is 0 && [ $(grep -c "^[0-9]" "$T/out") -eq 3 ] && out_lacks MARKER && head -n 2 "$T/out" | tail -n 1 | grep -q "	3	"'
ce history "etcd://$EPS/never-written"
t "history of an absent key: exit 4" rc_is 4

# ---- watch: 20 watchers, latency ----
if slow_ok; then
    res=$(python3 "$ROOT/tests/suites/etcd_latency.py" "$COFFER_BIN" "etcd://$EPS/lat" "$ETCD_EP2" 20 10)
    lrc=$?
    echo "# 20 watchers x 10 rotations: $res"
    t "20 coffer watch processes see every rotation" [ $lrc -eq 0 ]
    p99=$(echo "$res" | sed 's/.*p99_ms=\([0-9.]*\).*/\1/')
    case $BUILD in
    *asan*|*tsan*|*vg*) skip "p99 < 100 ms (p99 $p99 ms)" "sanitizer build" ;;
    *) t "rotation visible to 20 watchers with p99 < 100 ms (p99 $p99 ms)" \
        python3 -c "import sys; sys.exit(0 if float('$p99') < 100 else 1)" ;;
    esac
else
    skip "20 watchers latency" "timing test in $SUITES mode"
fi

# ---- leader killed under a write loop, watchers running ----
# Each watcher is `coffer run --restart` whose child logs the password it got.
# The watchers' first endpoint is the leader: killing it kills their
# watch streams mid-way (failover + resume from the last revision + 1).
L=$(etcd_leader)
eval "LEP=\$ETCD_EP$L"
WU="etcd://$LEP,$EPS/fleet"
doc v-0 | ectl put fleet >/dev/null
NW=5; [ "$SUITES" = all ] || NW=2
j=1
while [ $j -le $NW ]; do
    "$COFFER_BIN" -f "$WU" run --restart --grace 1 -- \
        sh -c 'echo "$password" >>"$0"; exec sleep 300' "$T/w$j.log" \
        >/dev/null 2>>"$T/w.err" &
    BGPIDS="$BGPIDS $!"
    j=$((j + 1))
done
j=1; okw=1
while [ $j -le $NW ]; do wait_for "$T/w$j.log" '^v-0$' 100 || okw=0; j=$((j + 1)); done
t "run --restart children start with the etcd value" [ $okw = 1 ]
sleep 0.5
q=1
while [ $q -le 30 ]; do
    [ $q = 10 ] && etcd_node_stop "$L"
    doc "v-$q" | ectl put fleet >/dev/null 2>&1 || { sleep 0.3; doc "v-$q" | ectl put fleet >/dev/null 2>&1; }
    q=$((q + 1))
done
j=1; okw=1
while [ $j -le $NW ]; do wait_for "$T/w$j.log" '^v-30$' 300 || okw=0; j=$((j + 1)); done
t "leader killed under a write loop: every watcher ends with the final value" [ $okw = 1 ]
# each child logs what it got: values only ever move forward (no reload of
# an older document, no duplicate restart for one change)
j=1; okw=1
while [ $j -le $NW ]; do
    sed 's/^v-//' "$T/w$j.log" | awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }' || okw=0
    j=$((j + 1))
done
t "leader killed: every watcher's values strictly increase (no duplicate restart)" [ $okw = 1 ]
etcd_node_start "$L"
etcd_wait_healthy || nok "killed leader rejoins"
cat "$T/w.err" >>"$ALLERR"

# ---- all nodes down, then back: watch resumes, no duplicate reload ----
AU="etcd://$EPS/all"
doc a-1 | ectl put all >/dev/null
"$COFFER_BIN" -f "$AU" watch >"$T/aw.out" 2>"$T/aw.err" &
AW=$!; BGPIDS="$BGPIDS $AW"
sleep 1
doc a-2 | ectl put all >/dev/null
t "watch sees a change" wait_for "$T/aw.out" 'changed: password' 50
j=1; while [ $j -le 3 ]; do etcd_node_stop $j; j=$((j + 1)); done
sleep 1.5
j=1; while [ $j -le 3 ]; do etcd_node_start $j; j=$((j + 1)); done
etcd_wait_healthy || nok "cluster back"
sleep 1.5
t "cluster back without a change: no reload" [ "$(grep -c changed "$T/aw.out")" -eq 1 ]
doc a-3 | ectl put all >/dev/null
wait_for "$T/aw.out" 'changed: password.*' 50
sleep 0.5
t "watch resumes after all nodes were down: exactly one reload per change" \
    [ "$(grep -c changed "$T/aw.out")" -eq 2 ]
doc a-3 | ectl put all >/dev/null
sleep 0.5
t "a put of the same document: no reload" [ "$(grep -c changed "$T/aw.out")" -eq 2 ]
printf 'password = "MARKER-broken' | ectl put all >/dev/null
t "invalid document in etcd: reload error, last good kept" wait_for "$T/aw.err" 'reload failed' 50
kill "$AW" 2>/dev/null; wait "$AW" 2>/dev/null
cat "$T/aw.err" >>"$ALLERR"

# ---- last-known-good cache ----
CU="etcd://$EPS/cached"
doc MARKER-cache | ectl put cached >/dev/null
COFFER_ETCD_CACHE="$T/cache" ce -f "$CU" get password
t "cache: read through the cluster" eval 'rc_is 0 && out_is MARKER-cache'
cf=$(ls "$T/cache"/etcd-*.cache 2>/dev/null | head -n 1)
t "cache file is 0600 and holds no plaintext" \
    eval '[ -n "$cf" ] && [ "$(stat -c %a "$cf")" = 600 ] && [ "$(stat -c %a "$T/cache/key")" = 600 ] && ! grep -q MARKER "$cf"'
j=1; while [ $j -le 3 ]; do etcd_node_stop $j; j=$((j + 1)); done
COFFER_ETCD_CACHE="$T/cache" ce -f "$CU" get password
t "cache: no member reachable, cached copy used with a warning" \
    eval 'rc_is 0 && out_is MARKER-cache && err_has "using the cached copy"'
COFFER_ETCD_CACHE="$T/cache" ce -f "$CU" paths
t "paths shows the cached copy's age" eval 'out_has "(cached copy from"'
ce -f "$CU" get password
t "without the cache option: exit 7" rc_is 7
cp "$cf" "$T/cf.bak"
printf 'X' | dd of="$cf" bs=1 seek=60 conv=notrunc 2>/dev/null
COFFER_ETCD_CACHE="$T/cache" ce -f "$CU" get password
t "tampered cache is not used" rc_is 7
cp "$T/cf.bak" "$cf"
j=1; while [ $j -le 3 ]; do etcd_node_start $j; j=$((j + 1)); done
etcd_wait_healthy || nok "cluster back after cache test"

# ---- auth ----
printf 'MARKER-rootpw\n' >"$T/rootpw"; chmod 600 "$T/rootpw"
printf 'MARKER-wrongpw\n' >"$T/wrongpw"; chmod 600 "$T/wrongpw"
if ectl user add root --new-user-password=MARKER-rootpw >/dev/null 2>&1 &&
   ectl auth enable >/dev/null 2>&1; then
    COFFER_ETCD_USER=root COFFER_ETCD_PASSWORD_FILE="$T/rootpw" ce -f "$U" get password
    t "auth: right password reads" eval 'rc_is 0 && out_is MARKER-pw-1'
    COFFER_ETCD_USER=root COFFER_ETCD_PASSWORD_FILE="$T/wrongpw" ce -f "$U" get password
    t "auth: wrong password is a clear error, exit 5" \
        eval "rc_is 5 && err_has \"refused user 'root'\" && err_lacks MARKER"
    ce -f "$U" get password
    t "auth: no user given: exit 5 with a hint" eval 'rc_is 5 && err_has COFFER_ETCD_USER'
    COFFER_ETCD_USER=root COFFER_ETCD_PASSWORD_FILE="$T/rootpw" ce push "$PU" "$T/p2.toml"
    t "auth: push with credentials" rc_is 0
    COFFER_ETCD_USER=root COFFER_ETCD_PASSWORD_FILE="$T/rootpw" \
        ce -f "$U" run -- sh -c 'env | grep -c MARKER-rootpw; true'
    t "auth: the password is not exported to a run child" eval 'out_is 0'
    ectl --user root:MARKER-rootpw auth disable >/dev/null 2>&1
else
    nok "auth: enabling auth on the cluster"
fi

# ---- TLS with a test CA and client certificates ----
if command -v openssl >/dev/null 2>&1; then
    X="$T/tls"; mkdir -p "$X"
    (
        cd "$X" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=coffer-test-ca \
            -keyout ca.key -out ca.crt
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout srv.key -out srv.csr
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >srv.ext
        openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile srv.ext -out srv.crt
        openssl req -newkey rsa:2048 -nodes -subj /CN=coffer-client -keyout cli.key -out cli.csr
        printf 'extendedKeyUsage=clientAuth\n' >cli.ext
        openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile cli.ext -out cli.crt
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca \
            -keyout other.key -out other.crt
    ) >"$T/openssl.log" 2>&1
    set -- $(etcd_free_ports 2)
    TCP=$1 TPP=$2
    setsid "$ETCD_BIN" --name tls --data-dir "$X/data" \
        --listen-client-urls "https://127.0.0.1:$TCP" --advertise-client-urls "https://127.0.0.1:$TCP" \
        --listen-peer-urls "http://127.0.0.1:$TPP" --initial-advertise-peer-urls "http://127.0.0.1:$TPP" \
        --initial-cluster "tls=http://127.0.0.1:$TPP" \
        --cert-file "$X/srv.crt" --key-file "$X/srv.key" --trusted-ca-file "$X/ca.crt" \
        --client-cert-auth --logger zap --log-outputs "$X/etcd.log" >"$X/etcd.out" 2>&1 &
    ETCD_PIDS="$ETCD_PIDS $!"
    TCTL="$ETCDCTL_BIN --endpoints https://127.0.0.1:$TCP --cacert $X/ca.crt --cert $X/cli.crt --key $X/cli.key"
    q=0; while [ $q -lt 100 ] && ! $TCTL endpoint health >/dev/null 2>&1; do sleep 0.1; q=$((q + 1)); done
    doc MARKER-tls | $TCTL put tlskey >/dev/null 2>&1
    COFFER_ETCD_CACERT="$X/ca.crt" COFFER_ETCD_CERT="$X/cli.crt" COFFER_ETCD_KEY="$X/cli.key" \
        ce -f "etcds://127.0.0.1:$TCP/tlskey" get password
    t "tls: CA + client certificate reads over https" eval 'rc_is 0 && out_is MARKER-tls'
    COFFER_ETCD_CACERT="$X/ca.crt" ce -f "etcds://127.0.0.1:$TCP/tlskey" get password
    t "tls: no client certificate is refused (exit 7)" eval 'rc_is 7 && err_lacks MARKER'
    COFFER_ETCD_CACERT="$X/other.crt" COFFER_ETCD_CERT="$X/cli.crt" COFFER_ETCD_KEY="$X/cli.key" \
        ce -f "etcds://127.0.0.1:$TCP/tlskey" get password
    t "tls: a server not signed by the CA is refused (exit 7)" rc_is 7
    ce -f "etcd://127.0.0.1:$TCP/tlskey" get password
    t "tls: plain http to a TLS member fails (exit 7)" rc_is 7
else
    skip "tls" "openssl not installed"
fi

# ---- the fleet example ----
if slow_ok && [ -f "$ROOT/examples/fleet/fleet.sh" ]; then
    if COFFER="$COFFER_BIN" sh "$ROOT/examples/fleet/fleet.sh" >"$T/fleet.out" 2>&1; then
        ok "examples/fleet: two services restarted with the rotated password"
    else
        nok "examples/fleet/fleet.sh: $(tail -n 5 "$T/fleet.out" | tr '\n' ' ')"
    fi
else
    skip "examples/fleet" "not in $SUITES mode"
fi

t "no value, password or token in any stderr" eval '! grep -q MARKER "$ALLERR"'
finish
