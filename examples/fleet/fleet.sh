#!/bin/sh
# fleet.sh - a fleet reading its secrets from etcd, end to end:
#   1. bring up a 3-node etcd cluster on loopback (free ports, temp dir)
#   2. push a secrets document with `coffer push` (validated, CAS)
#   3. run two services under `coffer run --restart`, each reading the
#      key from the cluster
#   4. rotate the database password with a second `coffer push`
#   5. show both services restarted with the new value
# Usage: sh examples/fleet/fleet.sh   (COFFER=path/to/coffer, default
# build/coffer). Everything is torn down on exit. Exit 0 on success.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COFFER=${COFFER:-$ROOT/build/coffer}
W=$(mktemp -d)
ETCD_DIR="$W/etcd"
. "$ROOT/tests/suites/etcd-lib.inc"
PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    etcd_cluster_stop
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
say() { echo "fleet: $*"; }

etcd_cluster_start 3 || { say "etcd did not start"; exit 1; }
say "cluster up: $ETCD_EPS"
URL="etcd://$ETCD_EPS/fleet/secrets"

umask 077
cat >"$W/secrets.toml" <<'TOML'
db_user = "app"
db_password = "first-password"
[api]
endpoint = "https://api.example.com"
TOML
rev=$("$COFFER" push "$URL" "$W/secrets.toml") || exit 1
say "pushed revision $rev"

# A service: logs the password it was started with, then serves forever.
cat >"$W/service.sh" <<'SH'
echo "$1 started with db_password=$db_password" >>"$2"
exec sleep 3600
SH
for svc in web worker; do
    "$COFFER" -f "$URL" run --restart --grace 1 -- sh "$W/service.sh" "$svc" "$W/$svc.log" \
        2>>"$W/coffer.err" &
    PIDS="$PIDS $!"
done

wait_line() { # FILE PATTERN: up to 10 s
    n=0
    while [ $n -lt 100 ]; do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; n=$((n + 1)); done
    return 1
}
for svc in web worker; do
    wait_line "$W/$svc.log" "first-password" || { say "$svc did not start"; exit 1; }
done
say "both services running:"; cat "$W/web.log" "$W/worker.log"

sed 's/first-password/rotated-password/' "$W/secrets.toml" >"$W/rotated.toml"
rev=$("$COFFER" push "$URL" "$W/rotated.toml") || exit 1
say "rotated the password: revision $rev"
for svc in web worker; do
    wait_line "$W/$svc.log" "rotated-password" || { say "$svc was not restarted"; exit 1; }
done
say "both services restarted with the new value:"; cat "$W/web.log" "$W/worker.log"
"$COFFER" history "$URL"
