#!/bin/sh
# pg.sh - end-to-end: examples/pg_connect against a real PostgreSQL server.
#
# Starts a throw-away server (Debian's postgresql package) on 127.0.0.1 with
# password (SCRAM) authentication in a mktemp sandbox, creates a role and a
# database, writes a project .streamlit/secrets.toml from
# examples/pg/secrets.toml, and runs $BUILD/examples/pg_connect from the
# project directory with a fake HOME. Also: a wrong password fails cleanly
# without printing it (canary), whole-section override by the project file,
# no secrets / no section errors, and `coffer run -- psql`.
# The server is always stopped (trap); as root it runs as user postgres.
# Under SUITES=valgrind pg_connect runs under $RUN_PREFIX like the rest
# (one connection takes about a second there).
set -u
BUILD=${BUILD:-build}
RUN_PREFIX=${RUN_PREFIX:-}
SUITES=${SUITES:-all}
ROOT=$(pwd)
PGC="$ROOT/$BUILD/examples/pg_connect"
COFFER="$ROOT/$BUILD/coffer"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; failed=1; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check DESCRIPTION COMMAND...: ok if the command succeeds
    d=$1; shift
    if "$@"; then ok "$d"; else notok "$d"; fi
}
failed=0

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ] || [ ! -x "$pgbin/pg_ctl" ]; then
    echo "1..1"
    skip "postgresql end-to-end" "postgresql is not installed (scripts/deps.sh pg)"
    exit 0
fi
if [ ! -x "$PGC" ]; then
    echo "1..1"
    notok "$PGC is built (make BUILD=$BUILD all)"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-pg.XXXXXX") || exit 1
pgdir="$tmp/pg"
data="$pgdir/data"
sock="$pgdir/sock"
started=0

# Runs a command as the owner of the cluster (postgres refuses root).
if [ "$(id -u)" = 0 ]; then
    as_pg() { (cd "$pgdir" && runuser -u postgres -- "$@"); }
else
    as_pg() { (cd "$pgdir" && "$@"); }
fi

cleanup() {
    if [ "$started" = 1 ]; then
        as_pg "$pgbin/pg_ctl" -D "$data" -m immediate -w -t 20 stop \
            >/dev/null 2>&1
        # If pg_ctl could not stop it, kill our postmaster by its pid.
        if [ -f "$data/postmaster.pid" ]; then
            pid=$(head -n 1 "$data/postmaster.pid")
            [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
        fi
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ the server
chmod 711 "$tmp"
mkdir -p "$pgdir" "$sock"
[ "$(id -u)" = 0 ] && chown -R postgres: "$pgdir"
chmod 700 "$pgdir"

if ! as_pg "$pgbin/initdb" -D "$data" -U postgres -A trust -E UTF8 \
        --locale=C -N >"$tmp/initdb.log" 2>&1; then
    echo "1..1"
    notok "initdb"
    sed 's/^/# /' "$tmp/initdb.log"
    exit 1
fi
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 20
password_encryption = 'scram-sha-256'
EOF
# Admin work over the sandbox's unix socket; applications over TCP, with a
# password checked by SCRAM.
cat >"$data/pg_hba.conf" <<EOF
local all postgres trust
host  all all 127.0.0.1/32 scram-sha-256
EOF

port=
for try in 1 2 3 4 5 6 7 8; do
    p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
    if ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then
        continue
    fi
    if as_pg "$pgbin/pg_ctl" -D "$data" -l "$pgdir/server.log" -w -t 60 \
            -o "-p $p" start >/dev/null 2>&1; then
        port=$p
        started=1
        break
    fi
    # A failed start leaves no server behind; retry on another port unless
    # the failure had nothing to do with the port.
    grep -q 'could not bind\|could not create listen socket\|in use' \
        "$pgdir/server.log" 2>/dev/null || break
done

echo "1..14"
if [ -z "$port" ]; then
    notok "postgresql server started on 127.0.0.1"
    sed 's/^/# /' "$pgdir/server.log" 2>/dev/null | tail -n 20
    exit 1
fi
ok "postgresql server started on 127.0.0.1:$port (scram-sha-256)"

# The role's password carries a space and a quote (values go to libpq as
# they are, never through a connection string) and is the canary.
PASS="c4n4ry pw'Zq81-$$"
PASS_SQL=$(printf '%s' "$PASS" | sed "s/'/''/g")
WRONG="wr0ng-c4n4ry-pw-$$"
psql_admin() {
    PSQLRC=/dev/null "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" \
        -p "$port" -U postgres -d postgres "$@"
}
if psql_admin -c "CREATE ROLE coffer_app LOGIN PASSWORD '$PASS_SQL'" \
        >"$tmp/admin.log" 2>&1 &&
   psql_admin -c "CREATE DATABASE coffer_demo OWNER coffer_app" \
        >>"$tmp/admin.log" 2>&1; then
    ok "role coffer_app with a password and database coffer_demo created"
else
    notok "role and database created"
    sed 's/^/# /' "$tmp/admin.log"
fi

# ----------------------------------------------------------- the project
home="$tmp/home"
proj="$tmp/proj"
mkdir -p "$home" "$proj/.streamlit"
chmod 700 "$home" "$proj" "$proj/.streamlit"

# write_secrets FILE PASSWORD: examples/pg/secrets.toml with our port and
# PASSWORD (TOML basic string: the quote needs no escape).
write_secrets() {
    umask 077
    sed -e "s/^port = 5432\$/port = $port/" \
        -e "s|^password = \"change-me\"\$|password = \"$2\"|" \
        "$ROOT/examples/pg/secrets.toml" >"$1"
    chmod 600 "$1"
}

# run_pgc DIR [ARGS...]: pg_connect from DIR with the fake HOME; sets rc,
# stdout in $tmp/out, stderr in $tmp/err.
run_pgc() {
    dir=$1; shift
    (
        cd "$dir" || exit 99
        unset COFFER_SECRETS_FILES COFFER_SECRETS CREDENTIALS_DIRECTORY \
            COFFER_STRICT PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD \
            PGDATABASE PGSERVICE PGSSLMODE PGOPTIONS
        export HOME="$home" PGPASSFILE=/dev/null PGGSSENCMODE=disable
        exec $RUN_PREFIX "$PGC" "$@"
    ) >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
nosecret() { # nosecret FILE...: none holds either password
    ! grep -qF -e "$PASS" -e "$WRONG" "$@" &&
    ! grep -qF -e "c4n4ry" "$@"
}
show() { sed 's/^/# /' "$tmp/out" "$tmp/err"; }

# 3-4: the example connects with the project file and runs its query.
write_secrets "$proj/.streamlit/secrets.toml" "$PASS"
run_pgc "$proj"
if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "coffer_app|42" ]; then
    ok "pg_connect connects with [db_credentials] and prints 'coffer_app|42'"
else
    notok "pg_connect connects with [db_credentials] (rc=$rc)"; show
fi
check "no password on stdout or stderr of a successful run" \
    nosecret "$tmp/out" "$tmp/err"

# 5: a query from argv: the database, the TCP path (only SCRAM is allowed
# there, see pg_hba.conf), and a libpq keyword taken from the file.
run_pgc "$proj" "SELECT current_database(), host(inet_server_addr()), \
(SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid())"
if [ "$rc" -eq 0 ] &&
   [ "$(cat "$tmp/out")" = "coffer_demo|127.0.0.1|pg_connect" ]; then
    ok "query from argv: database, loopback TCP, application_name from file"
else
    notok "query from argv (rc=$rc)"; show
fi

# 6: the global file's [db_credentials] is replaced whole by the project's:
# its sslmode=require (which this server cannot do) must not leak in.
mkdir -p "$home/.streamlit"
umask 077
cat >"$home/.streamlit/secrets.toml" <<EOF
global_only = "from-home"
[db_credentials]
host = "127.0.0.1"
port = 1
user = "nobody"
password = "$WRONG"
sslmode = "require"
EOF
chmod 600 "$home/.streamlit/secrets.toml"
run_pgc "$proj" "SELECT current_user"
if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "coffer_app" ] &&
   nosecret "$tmp/out" "$tmp/err"; then
    ok "project [db_credentials] replaces the global one whole"
else
    notok "project [db_credentials] replaces the global one whole (rc=$rc)"
    show
fi
rm -f "$home/.streamlit/secrets.toml"

# 7-9: a wrong password fails cleanly and is never printed.
write_secrets "$proj/.streamlit/secrets.toml" "$WRONG"
run_pgc "$proj"
if [ "$rc" -eq 1 ] && [ ! -s "$tmp/out" ]; then
    ok "wrong password: exit status 1, nothing on stdout"
else
    notok "wrong password: exit status 1 (rc=$rc)"; show
fi
if grep -q 'password authentication failed for user "coffer_app"' "$tmp/err"
then
    ok "wrong password: stderr says the authentication failed"
else
    notok "wrong password: stderr says the authentication failed"; show
fi
check "wrong password: stderr does not contain the password (canary)" \
    nosecret "$tmp/out" "$tmp/err"

# 10: no secrets at all: exit 3, both searched paths listed, in order.
empty="$tmp/empty"
mkdir -p "$empty"
run_pgc "$empty"
if [ "$rc" -eq 3 ] &&
   grep -qF "$home/.streamlit/secrets.toml" "$tmp/err" &&
   grep -qF "$empty/.streamlit/secrets.toml" "$tmp/err"; then
    ok "no secrets file: exit 3, message lists the searched paths"
else
    notok "no secrets file: exit 3, message lists the searched paths (rc=$rc)"
    show
fi

# 11: the secrets exist but have no [db_credentials] (a close name instead).
other="$tmp/other"
mkdir -p "$other/.streamlit"
cat >"$other/.streamlit/secrets.toml" <<EOF
[db_credential]
password = "$PASS"
EOF
chmod 600 "$other/.streamlit/secrets.toml"
run_pgc "$other"
if [ "$rc" -eq 4 ] && grep -q "db_credentials" "$tmp/err" &&
   nosecret "$tmp/out" "$tmp/err"; then
    ok "missing [db_credentials]: exit 4, message names it, no value shown"
else
    notok "missing [db_credentials]: exit 4 (rc=$rc)"; show
fi

# 12: a section that is not a table of scalars: exit 4, no value shown.
cat >"$other/.streamlit/secrets.toml" <<EOF
[db_credentials]
password = "$PASS"
hosts = ["a", "b"]
EOF
run_pgc "$other"
if [ "$rc" -eq 4 ] && nosecret "$tmp/out" "$tmp/err"; then
    ok "[db_credentials] with an array member: exit 4, no value shown"
else
    notok "[db_credentials] with an array member: exit 4 (rc=$rc)"; show
fi

# 13: the same credentials as root-level PG* variables, through coffer run.
if [ ! -x "$COFFER" ]; then
    skip "coffer run -- psql" "$COFFER is not built"
else
    runp="$tmp/runp"
    mkdir -p "$runp/.streamlit"
    cat >"$runp/.streamlit/secrets.toml" <<EOF
PGHOST = "127.0.0.1"
PGPORT = $port
PGUSER = "coffer_app"
PGPASSWORD = "$PASS"
PGDATABASE = "coffer_demo"
EOF
    chmod 600 "$runp/.streamlit/secrets.toml"
    (
        cd "$runp" || exit 99
        unset COFFER_SECRETS_FILES COFFER_SECRETS CREDENTIALS_DIRECTORY \
            PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE
        export HOME="$home" PGPASSFILE=/dev/null PSQLRC=/dev/null
        exec $RUN_PREFIX "$COFFER" run -- "$pgbin/psql" -X -At \
            -c "SELECT current_user || '@' || current_database()"
    ) >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 0 ] &&
       [ "$(cat "$tmp/out")" = "coffer_app@coffer_demo" ] &&
       nosecret "$tmp/out" "$tmp/err"; then
        ok "coffer run -- psql connects with exported PG* secrets"
    else
        notok "coffer run -- psql (rc=$rc)"; show
    fi
fi

# 14: stop the server; no process of ours is left.
pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1
# (The postmaster was reparented when pg_ctl exited; until its new parent
# reaps it, it may linger as a zombie, which is not running.)
alive() { st=$(ps -o stat= -p "$1" 2>/dev/null) && case $st in Z*) false ;; esac; }
if [ -n "$pid" ] && ! alive "$pid" && [ ! -f "$data/postmaster.pid" ]; then
    started=0
    ok "server stopped, no postgres process left"
else
    notok "server stopped (pid $pid)"
fi

exit "$failed"
