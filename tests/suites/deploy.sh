#!/bin/sh
# deploy: every example of docs/deploy.md, run against the layout the
# platform produces (systemd, the kubelet and Docker cannot run here):
# a LoadCredential= directory, a kubelet Secret volume with a ..data swap
# under run --restart, and Docker's /run/secrets as a non-root user.
. "$(dirname "$0")/cli-common.inc"

DOC="$ROOT/docs/deploy.md"
B=$COFFER_BIN
# The doc's own command lines: the test runs what the doc says.
unit_exec=$(sed -n 's/^ExecStart=//p' "$DOC")
pod_cmd=$(sed -n 's/^ *command: \[\(.*\)$/\1/p; s/^ *\("--grace".*\)\]$/\1/p' "$DOC" | tr -d '\n')
docker_entry=$(sed -n 's/^ENTRYPOINT \[\(.*\)\]$/\1/p' "$DOC")
t "deploy_doc: the unit's ExecStart runs 'coffer run --'" eval 'case "$unit_exec" in "/usr/local/bin/coffer run -- "*) true ;; *) false ;; esac'
t "deploy_doc: the Pod runs 'coffer -f MOUNT run --restart'" eval 'echo "$pod_cmd" | grep -qF "\"coffer\", \"-f\", \"/etc/app/secrets\", \"run\", \"--restart\""'
t "deploy_doc: the image's entrypoint reads flat:/run/secrets" eval 'echo "$docker_entry" | grep -qF "\"-f\", \"flat:/run/secrets\", \"run\", \"--\""'

cat >"$T/app" <<'EOF'
#!/bin/sh
# The service: logs what it got (test secrets, not real ones).
echo "start db_password=${db_password-unset} api_key=${api_key-unset} password=${password-unset}" >>"$APP_LOG"
[ -n "${APP_STAY-}" ] || exit 0
trap 'echo "term" >>"$APP_LOG"; exit 0' TERM
while :; do sleep 0.05; done
EOF
chmod 755 "$T/app"
export APP_LOG="$T/app.log"

# ---- systemd LoadCredential= -------------------------------------------------
# systemd's layout: /run/credentials/UNIT.service, 0500, files 0400, owned
# by the service user, $CREDENTIALS_DIRECTORY pointing at it.
CR="$T/run/credentials/app.service"
mkdir -p "$CR"
printf 'db-from-systemd\n' > "$CR/db_password"
printf 'key-from-systemd' > "$CR/api_key"
chmod 400 "$CR/db_password" "$CR/api_key"; chmod 500 "$CR"
cmd=${unit_exec#/usr/local/bin/coffer }; cmd=${cmd%/usr/local/bin/app}
: >"$APP_LOG"
# $cmd is "run -- " from the unit file; the app stands in for /usr/local/bin/app.
CREDENTIALS_DIRECTORY="$CR" c $cmd "$T/app"
t "deploy_systemd: the unit's command exports the credentials" eval 'rc_is 0 && grep -qx "start db_password=db-from-systemd api_key=key-from-systemd password=unset" "$APP_LOG"'
t "deploy_systemd: no warning for 0400 files in a 0500 directory" eval 'err_empty'
CREDENTIALS_DIRECTORY="$CR" c paths
t "deploy_systemd: paths lists the credentials directory as flat" eval 'out_has "found    flat  $CR"'
CREDENTIALS_DIRECTORY="$CR" c check
t "deploy_systemd: check is clean" eval 'rc_is 0 && ! grep -qE "^(error|warning) " "$T/out"'
chmod 700 "$CR"

# ---- Kubernetes Secret volume + run --restart --------------------------------
kube() { # kube DIR STAMP KEY=VALUE...: the kubelet's atomic update
    kd=$1; st=$2; shift 2
    mkdir -p "$kd/$st"
    for kv in "$@"; do printf '%s' "${kv#*=}" > "$kd/$st/${kv%%=*}"; chmod 400 "$kd/$st/${kv%%=*}"; done
    ln -sfn "$st" "$kd/..data_tmp" && mv -T "$kd/..data_tmp" "$kd/..data"
    for kv in "$@"; do [ -L "$kd/${kv%%=*}" ] || ln -s "..data/${kv%%=*}" "$kd/${kv%%=*}"; done
}
MNT="$T/etc/app/secrets"   # the Pod's mountPath
kube "$MNT" ..2026_12_04_10_00_00.000000001 password=pw-1 username=app
if slow_ok; then
    : >"$APP_LOG"
    # The Pod's command with the mount path of this sandbox.
    APP_STAY=1 "$B" -f "$MNT" run --restart --grace 2 -- "$T/app" >"$T/r.out" 2>"$T/r.err" &
    rpid=$!; BGPIDS="$BGPIDS $rpid"
    t "deploy_k8s: the app starts with the Secret's keys as root keys" wait_for "$APP_LOG" '^start .* password=pw-1$'
    kube "$MNT" ..2026_12_04_11_00_00.000000002 password=pw-2 username=app
    t "deploy_k8s: a ..data swap restarts the app (SIGTERM first)" wait_for "$APP_LOG" '^term$'
    t "deploy_k8s: the app runs again with the new value" wait_for "$APP_LOG" '^start .* password=pw-2$'
    kill -TERM "$rpid"; wait_exit "$rpid"
    t "deploy_k8s: SIGTERM to coffer stops it cleanly (exit 0)" eval '[ "$bgrc" -eq 0 ]'
    t "deploy_k8s: no value on stderr" eval '! grep -q "pw-" "$T/r.err"'
else
    skip "deploy_k8s restart" "timing test in $SUITES mode"
fi
c -f "$MNT" check
t "deploy_k8s: defaultMode 0400 gives a clean check" eval 'rc_is 0 && ! grep -qE "^(error|warning) " "$T/out"'

# ---- Docker /run/secrets, as the image's non-root user -----------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    R=$(mktemp -d); chmod 755 "$R"
    mkdir -p "$R/run/secrets" "$R/app"; chmod 755 "$R/run" "$R/run/secrets"
    printf 'db-from-docker\n' > "$R/run/secrets/db_password"
    chmod 444 "$R/run/secrets/db_password"          # Swarm's default mode, root-owned
    cp "$T/app" "$R/app/server"; chmod 755 "$R/app" "$R/app/server"
    chown 10001 "$R/app"
    ent=$(echo "$docker_entry" | tr -d '",' | sed "s|/usr/local/bin/coffer|$B|; s|flat:/run/secrets|flat:$R/run/secrets|")
    # USER 10001, the image's ENTRYPOINT and CMD.
    ( cd "$R/app" && HOME="$R/app" APP_LOG="$R/app/log" \
        setpriv --reuid=10001 --regid=10001 --clear-groups $ent "$R/app/server" ) >"$T/out" 2>"$T/err"; rc=$?
    t "deploy_docker: the entrypoint exports the Docker secret" eval 'rc_is 0 && grep -qx "start db_password=db-from-docker api_key=unset password=unset" "$R/app/log"'
    t "deploy_docker: no chmod hint for a 0444 root-owned file" eval 'err_empty'
    rm -rf "$R"
else
    skip "deploy_docker" "needs root and setpriv to run as the image's user"
fi
if [ "$SUITES" != all ] || grep -qaE '__(a|t|ub)san_init|__asan_' "$B"; then
    skip "deploy_docker: CLI dependencies" "sanitizer and valgrind builds"
elif command -v readelf >/dev/null 2>&1; then
    # the default CLI needs glibc only (any glibc image); CLI_STATIC=1: nothing
    t "deploy_docker: the CLI needs at most glibc (copies into any glibc image)" \
        eval '[ -z "$(readelf -d "$B" 2>/dev/null | sed -n "s/.*(NEEDED).*\[\(.*\)\]/\1/p" | grep -vxE "libc\.so\.6|libm\.so\.6")" ]'
else
    skip "deploy_docker: CLI dependencies" "readelf not installed"
fi

finish
