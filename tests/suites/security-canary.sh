#!/bin/sh
# security-canary.sh - secrets never appear in diagnostics (issue 5, "Proof").
#
# Secrets hold a random marker; then every error path of the library (via
# tests/suites/security_canary.c) and of the CLI (every verb) is driven: the
# marker must never appear in an error struct, a diagnostic, stderr, or the
# stdout of verbs that do not print values. Also memory-lock failure:
# without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0, coffer still works and
# warns once; with COFFER_STORE_REQUIRE_LOCK it fails with COFFER_ELOCK.
set -u
BUILD=${BUILD:-build}
RUN_PREFIX=${RUN_PREFIX:-}
SUITES=${SUITES:-all}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

sb=$(mktemp -d)
trap 'rm -rf "$sb"' EXIT
trap 'exit 1' INT TERM
chmod 711 "$sb"
umask 077
M="MRK$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
has_marker() { grep -a -q -F "$M" "$@" 2>/dev/null; }

# Compiler flags matching the library's sanitizers, if any.
cflags="-O1 -g"
cc=${CC:-cc}
asan=
if nm "$BUILD/libcoffer.a" 2>/dev/null | grep -q '__tsan_'; then
    cc=clang cflags="$cflags -fsanitize=thread" asan=1
elif nm "$BUILD/libcoffer.a" 2>/dev/null | grep -q '__asan_\|__ubsan_'; then
    cc=clang cflags="$cflags -fsanitize=address,undefined" asan=1
fi

# ---------------------------------------------------------------- library
prog=$sb/security_canary
if $cc -std=c11 -D_GNU_SOURCE $cflags -Iinclude -o "$prog" tests/suites/security_canary.c \
        "$BUILD/libcoffer.a" -lsodium -pthread 2>"$sb/cc.err"; then
    mkdir -p "$sb/lib"
    CANARY_MARKER=$M timeout 120 $RUN_PREFIX "$prog" "$sb/lib" >"$sb/lib.out" 2>"$sb/lib.err"
    rc=$?
    while IFS= read -r line; do
        case "$line" in
            "PASS "*) ok "library: ${line#PASS }" ;;
            "FAIL "*) nok "library: ${line#FAIL }" ;;
        esac
    done <"$sb/lib.out"
    check "$([ $rc -le 1 ]; echo $?)" "library canary program ran to the end (status $rc)"
    if has_marker "$sb/lib.err"; then
        nok "library: marker absent from stderr"
        grep -a -F "$M" "$sb/lib.err" | sed "s/$M/<MARKER>/g" | head -n 5 >&2
    else
        ok "library: marker absent from stderr"
    fi
else
    cat "$sb/cc.err" >&2
    nok "build security_canary"
fi

# -------------------------------------------------------------- lock failure
cat >"$sb/lockprog.c" <<'EOF'
#include "coffer.h"
#include <stdio.h>
#include <string.h>
/* lockprog FILE [require]: loads FILE, prints the status and lock state. */
int main(int argc, char **argv)
{
    const char *paths[] = { argv[1] };
    coffer_store_options opt;
    memset(&opt, 0, sizeof opt);
    opt.paths = paths;
    opt.path_count = 1;
    opt.flags = COFFER_STORE_NO_ENV_SOURCES |
                (argc > 2 ? COFFER_STORE_REQUIRE_LOCK : 0);
    coffer_store *s;
    coffer_error err;
    if (coffer_store_open(&opt, &s, &err))
        return 2;
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        coffer_snapshot *snap;
        rc = coffer_store_acquire(s, &snap, &err);
        if (rc == 0) {
            const char *v;
            rc = coffer_snapshot_get_string(snap, "db.password", &v, NULL, &err);
            coffer_snapshot_release(snap);
            if (rc == 0)
                rc = coffer_store_reload(s, &err);
        }
    }
    printf("rc=%d locked=%s\n", rc, coffer_memory_lock_failed() ? "no" : "yes");
    if (rc)
        printf("error: %s\n", err.message);
    coffer_store_close(s);
    return rc ? 1 : 0;
}
EOF
if [ -n "$asan" ]; then
    skip "lock failure" "sanitizers make mlock a no-op that succeeds"
elif ! command -v setpriv >/dev/null 2>&1; then
    skip "lock failure" "setpriv missing"
elif ! $cc -std=c11 -D_GNU_SOURCE $cflags -Iinclude -o "$sb/lockprog" "$sb/lockprog.c" \
        "$BUILD/libcoffer.a" -lsodium -pthread 2>"$sb/cc.err"; then
    cat "$sb/cc.err" >&2
    nok "build lock-failure program"
else
    mkdir -p "$sb/lock"
    printf 'a = "%s"\n[db]\npassword = "%s-pw"\n' "$M" "$M" >"$sb/lock/s.toml"
    # Without CAP_IPC_LOCK (dropped from the bounding set, so an exec'd root
    # process does not get it back) and RLIMIT_MEMLOCK 0, mlock fails.
    nolock() { (ulimit -l 0 && exec setpriv --bounding-set=-ipc_lock "$@"); }
    nolock $RUN_PREFIX "$sb/lockprog" "$sb/lock/s.toml" >"$sb/lock.out" 2>"$sb/lock.err"
    rc=$?
    check "$([ $rc -eq 0 ] && grep -q 'rc=0 locked=no' "$sb/lock.out"; echo $?)" \
        "lock failure: loading still works (status $rc, $(head -n 1 "$sb/lock.out"))"
    w=$(grep -c -i 'lock' "$sb/lock.err" | tr -d ' ')
    check "$([ "$w" -eq 1 ]; echo $?)" "lock failure: warned once on stderr ($w lock warnings over 3 loads)"
    check "$(has_marker "$sb/lock.err" "$sb/lock.out" && echo 1 || echo 0)" \
        "lock failure: marker absent from output"
    nolock $RUN_PREFIX "$sb/lockprog" "$sb/lock/s.toml" require >"$sb/lock2.out" 2>"$sb/lock2.err"
    rc=$?
    check "$([ $rc -eq 1 ] && grep -q 'rc=-11 ' "$sb/lock2.out"; echo $?)" \
        "lock failure with COFFER_STORE_REQUIRE_LOCK: fails with COFFER_ELOCK ($(head -n 1 "$sb/lock2.out"))"
    $RUN_PREFIX "$sb/lockprog" "$sb/lock/s.toml" require >"$sb/lock3.out" 2>"$sb/lock3.err"
    check "$(grep -q 'rc=0 locked=yes' "$sb/lock3.out"; echo $?)" \
        "control: with CAP_IPC_LOCK, REQUIRE_LOCK loads and memory is locked"
    if [ -x "$BUILD/coffer" ]; then
        nolock $RUN_PREFIX "$BUILD/coffer" -f "$sb/lock/s.toml" get db.password \
            >"$sb/lock4.out" 2>"$sb/lock4.err"
        rc=$?
        w=$(grep -c -i 'lock' "$sb/lock4.err" | tr -d ' ')
        check "$([ $rc -eq 0 ] && [ "$w" -eq 1 ] && [ "$(cat "$sb/lock4.out")" = "$M-pw" ]; echo $?)" \
            "lock failure: the CLI works and warns once (status $rc, $w warnings)"
        check "$(has_marker "$sb/lock4.err" && echo 1 || echo 0)" "lock failure: CLI stderr free of the marker"
    fi
fi

# --------------------------------------------------------------------- CLI
case "$BUILD" in /*) cli=$BUILD/coffer ;; *) cli=$(pwd)/$BUILD/coffer ;; esac
if [ ! -x "$cli" ] || ! "$cli" --help >/dev/null 2>&1; then
    skip "CLI canaries" "$cli not built"
    echo "1..$n"
    exit 0
fi
d=$sb/cli
mkdir -p "$d/home" "$d/proj/.streamlit"
export HOME="$d/home"
unset COFFER_SECRETS COFFER_SECRETS_FILES COFFER_STRICT CREDENTIALS_DIRECTORY
good=$d/good.toml
cat >"$good" <<EOF
api_key = "$M"
port = 5432
"not-portable" = "$M-np"
list = ["$M-l0"]
[db]
user = "app"
password = "$M-pw"
[nested]
inner = { secret = "$M-in" }
EOF
chmod 600 "$good"
bad() { # NAME CONTENT (printf format, %s = marker)
    printf "$2" "$M" "$M" >"$d/$1.toml"
    chmod 600 "$d/$1.toml"
}
bad junk 'api_key = "%s"\nb = "%s" junk\n'
bad unterminated 'api_key = "%s\n'
bad utf8 'api_key = "%s\377\376"\n'
bad utf8b 'api_key = "%s\303"\n'
bad ctrl 'api_key = "%s\001"\n'
bad below 'api_key = "%s"\n[db]\npassword = "%s"\nx = [\n'
bad bare 'api_key = %s\n'
bad dup 'api_key = "%s"\napi_key = "%s"\n'
mkdir -p "$d/dir.toml"
printf 'a = "%s"\n' "$M" >"$d/writable.toml"; chmod 666 "$d/writable.toml"
printf 'a = "%s"\n' "$M" >"$d/readable.toml"; chmod 644 "$d/readable.toml"
printf 'a = "%s"\n' "$M" >"$d/other.toml"; chmod 600 "$d/other.toml"
chown nobody "$d/other.toml" 2>/dev/null || true
mkfifo "$d/fifo.toml"

# run_cli NAME EXPECTED_STATUS VALUES_OK ARGS...: runs the CLI; the marker
# must not be on stderr; on stdout only if VALUES_OK=1 (verbs printing data).
run_cli() {
    name=$1 want=$2 vals=$3
    shift 3
    (cd "$d/proj" && timeout 20 $RUN_PREFIX "$cli" "$@") >"$d/out" 2>"$d/err" </dev/null
    rc=$?
    msg="cli: $name (status $rc"
    if [ "$want" != any ] && [ "$rc" != "$want" ]; then
        nok "$msg, wanted $want): $(head -c 200 "$d/err")"
        return
    fi
    if has_marker "$d/err"; then
        nok "$msg): marker on stderr"
        sed "s/$M/<MARKER>/g" "$d/err" | head -n 5 >&2
        return
    fi
    if [ "$vals" = 0 ] && has_marker "$d/out"; then
        nok "$msg): marker on stdout"
        return
    fi
    ok "$msg, marker absent)"
}

verbs="get api_key|list|where api_key|env|check|run -- true"
# Under valgrind every CLI run costs a second: one verb is enough there.
[ "$SUITES" = valgrind ] && verbs="get api_key|check"
for f in junk unterminated utf8 utf8b ctrl below bare dup; do
    IFS='|'
    set -- $verbs
    unset IFS
    for verb in "$@"; do
        want=5
        [ "$verb" = check ] && want=1
        run_cli "$verb on bad toml '$f'" $want 0 -f "$d/$f.toml" $verb
    done
done
run_cli "get a missing key" 4 0 -f "$good" get db.passwrd
run_cli "get a missing root key" 4 0 -f "$good" get nope
run_cli "get below a string" 4 0 -f "$good" get api_key.x
run_cli "get an index out of range" 4 0 -f "$good" get "list[3]"
run_cli "get a malformed path" any 0 -f "$good" get "db."
run_cli "where a missing key" 4 0 -f "$good" where db.pw
run_cli "list never prints values" 0 0 -f "$good" list
run_cli "list --json never prints values" 0 0 -f "$good" list --json
run_cli "where never prints values" 0 0 -f "$good" where db.password
run_cli "paths never prints values" 0 0 -f "$good" paths
run_cli "check never prints values" any 0 -f "$good" check
run_cli "check --strict never prints values" any 0 -f "$good" check --strict
run_cli "env --format sh: non-portable name warning" 0 1 -f "$good" env --format sh
run_cli "get prints the value (control)" 0 1 -f "$good" get api_key
if grep -q -F "$M" "$d/out"; then ok "control: get printed the marker on stdout"; else nok "control: get printed the marker on stdout"; fi
(cd "$d/proj" && "$cli" -f "$good" get "$M") >/dev/null 2>"$d/err"
check "$(has_marker "$d/err"; echo $?)" "control: a missing key named like the marker is on stderr (detection works)"
run_cli "get an unknown format" 2 0 -f "$good" get --format yaml api_key
run_cli "unknown verb" 2 0 -f "$good" frobnicate
run_cli "run: command not found" 127 0 -f "$good" run -- /nonexistent/cmd
run_cli "run: command not executable" 126 0 -f "$good" run -- "$good"
run_cli "run: child fails" 3 0 -f "$good" run -- sh -c 'exit 3'
run_cli "no secrets at all" 3 0 get api_key
run_cli "a directory named .toml" 5 0 -f "$d/dir.toml" get a
run_cli "a fifo named .toml" 5 0 -f "$d/fifo.toml" get a
run_cli "a world-writable file" 5 0 -f "$d/writable.toml" get a
run_cli "check a world-writable file" 1 0 -f "$d/writable.toml" check
run_cli "a file owned by another user" 5 0 -f "$d/other.toml" get a
run_cli "a readable file (warning)" 0 1 -f "$d/readable.toml" get a
export COFFER_STRICT=1
run_cli "COFFER_STRICT=1 and a readable file" 5 0 -f "$d/readable.toml" get a
unset COFFER_STRICT
run_cli "check --strict of a readable file" 1 0 -f "$d/readable.toml" check --strict
run_cli "several bad files in check" 1 0 -f "$d/junk.toml" -f "$d/utf8.toml" -f "$d/below.toml" check
if command -v setpriv >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Unreadable for the running user: root-owned 0600 read by nobody.
    printf 'a = "%s"\n' "$M" >"$d/root.toml"; chmod 600 "$d/root.toml"
    cp "$cli" "$d/coffer-nobody"; chmod 755 "$d/coffer-nobody" "$d"
    (cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$d/coffer-nobody" -f "$d/root.toml" get a) >"$d/out" 2>"$d/err"
    rc=$?
    check "$([ $rc -eq 5 ] && ! has_marker "$d/err" "$d/out"; echo $?)" \
        "cli: unreadable file (status $rc, marker absent)"
fi

# encrypted files (issue 11): the plaintext marker never on stderr, and on
# stdout only from verbs that print values; every failure path clean too.
if "$cli" --help 2>&1 | grep -q encrypt; then
    (cd "$d/proj" && "$cli" keygen -o "$d/id.txt") >"$d/recip" 2>/dev/null
    enc=$d/enc.toml
    cp "$good" "$enc"
    (cd "$d/proj" && "$cli" encrypt -r "$(cat "$d/recip")" "$enc") >/dev/null 2>"$d/err"
    check "$(grep -q -F "$M" "$enc" && echo 1 || echo 0)" "encrypted: no marker left in the encrypted file"
    check "$(has_marker "$d/err" && echo 1 || echo 0)" "encrypted: encrypt's stderr free of the marker"
    export COFFER_AGE_KEY_FILE="$d/id.txt"
    run_cli "encrypted: get with an identity (control)" 0 1 -f "$enc" get api_key
    check "$(grep -q -F "$M" "$d/out"; echo $?)" "encrypted: control: get printed the decrypted marker"
    run_cli "encrypted: list" 0 0 -f "$enc" list
    run_cli "encrypted: where" 0 0 -f "$enc" where db.password
    run_cli "encrypted: check" 0 0 -f "$enc" check
    run_cli "encrypted: recipients list" 0 0 recipients list "$enc"
    run_cli "encrypted: rotate" 0 0 rotate "$enc"
    run_cli "encrypted: decrypt (prints values)" 0 1 decrypt "$enc"
    export EDITOR=true
    run_cli "encrypted: edit with an editor that changes nothing" 0 0 edit "$enc"
    unset EDITOR
    printf '%s-set' "$M" >"$d/val"
    (cd "$d/proj" && "$cli" set --file "$enc" db.extra) <"$d/val" >"$d/out" 2>"$d/err"
    check "$(has_marker "$d/err" "$d/out" && echo 1 || echo 0)" "encrypted: set from stdin: marker absent from output"
    check "$(grep -q -F "$M" "$enc" && echo 1 || echo 0)" "encrypted: set wrote no plaintext"
    unset COFFER_AGE_KEY_FILE
    run_cli "encrypted: get without identity" 6 0 -f "$enc" get api_key
    run_cli "encrypted: env without identity" 6 0 -f "$enc" env
    run_cli "encrypted: run without identity" 6 0 -f "$enc" run -- true
    run_cli "encrypted: decrypt without identity" 6 0 decrypt "$enc"
    export COFFER_AGE_KEY_FILE="$d/id.txt"
    for t in tamper drop nomac nometa; do
        case $t in
            tamper) sed 's/^api_key = "ENC\[coffer:v1,string,\(.\)/api_key = "ENC[coffer:v1,string,X\1/' "$enc" ;;
            drop) grep -v '^port = ' "$enc" ;;
            nomac) grep -v '^mac = ' "$enc" ;;
            nometa) sed '/^\[coffer\]/,$d' "$enc" ;;
        esac >"$d/$t.toml"
        chmod 600 "$d/$t.toml"
        run_cli "encrypted: get from a $t file" 6 0 -f "$d/$t.toml" get api_key
        run_cli "encrypted: check of a $t file" 1 0 -f "$d/$t.toml" check
    done
    unset COFFER_AGE_KEY_FILE
fi

# init into a project: never writes anything of an existing file to stderr.
cp "$good" "$d/proj/.streamlit/secrets.toml"
run_cli "init over an existing file" 0 0 init

# watch: reload errors on stderr without the marker.
w=$d/watched.toml
cp "$good" "$w"
chmod 600 "$w"
(cd "$d/proj" && exec "$cli" -f "$w" watch) >"$d/watch.out" 2>"$d/watch.err" &
wp=$!
sleep 0.5
for f in junk utf8 below; do
    cp "$d/$f.toml" "$w.tmp" && mv "$w.tmp" "$w"
    sleep 0.4
done
cp "$good" "$w.tmp" && mv "$w.tmp" "$w"
sleep 0.4
rm -f "$w"
sleep 0.4
kill "$wp" 2>/dev/null
wait "$wp" 2>/dev/null
lines=$(cat "$d/watch.err" "$d/watch.out" | wc -l | tr -d ' ')
check "$([ "$lines" -ge 3 ]; echo $?)" "cli: watch reported the reload errors ($lines lines)"
check "$(has_marker "$d/watch.err" "$d/watch.out" && echo 1 || echo 0)" \
    "cli: watch output and errors free of the marker"

echo "1..$n"
