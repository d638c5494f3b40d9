#!/bin/sh
# security-core.sh - secrets never reach a core dump (issue 5, "Proof").
#
# A helper program (tests/suites/security_holder.c, built here against
# $BUILD/libcoffer.a) loads a secrets file whose values hold a random marker,
# reads them through every API path, reloads after the file was rewritten
# with a second marker, and is dumped with gdb's gcore (live) and by the
# kernel (abort() with RLIMIT_CORE unlimited). Neither marker may be in
# either core. Control: HOLDER_LEAK=1 keeps an unprotected malloc'ed copy,
# and then the marker must be found (the test can fail).
# Then: the CLI holding secrets (`coffer watch`, `coffer run --restart`) is
# not dumpable: another process of the same (unprivileged) user cannot read
# its /proc/PID/environ or /proc/PID/mem, while it can for an ordinary
# process of that user (control), and the child of `run --restart` starts
# normally (dumpable).
set -u
BUILD=${BUILD:-build}
SUITES=${SUITES:-all}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

sb=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$sb"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 711 "$sb"
umask 077

marker() { printf 'MRK%s' "$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"; }
# count_in FILE MARKER: number of lines of FILE (binary) holding MARKER
count_in() { grep -a -c -F "$2" "$1" 2>/dev/null || true; }
digest() { printf '%s' "$1" | b2sum -l 256 | cut -d' ' -f1; }

write_secrets() { # FILE MARKER (encrypted when $ENCRYPT_TO is set)
    cat >"$1.tmp" <<EOF
# core-dump test secrets
api_key = "$2"
tokens = ["first", "$2-token"]
plain_number = 42

[db]
host = "localhost"
port = 5432
user = "app"
password = "$2-pw"

[nested.deep]
secret = "$2-nested"
EOF
    if [ -n "${ENCRYPT_TO:-}" ]; then
        "$cli" encrypt -r "$ENCRYPT_TO" "$1.tmp" >/dev/null 2>&1 || echo "encrypt failed" >&2
    fi
    mv "$1.tmp" "$1"
}

# Waits until FILE has a line matching PATTERN (up to 15 s); prints it.
wait_line() {
    i=0
    while [ $i -lt 150 ]; do
        l=$(grep -E "$2" "$1" 2>/dev/null | tail -n 1)
        if [ -n "$l" ]; then printf '%s\n' "$l"; return 0; fi
        grep -q '^error' "$1" 2>/dev/null && break
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# ---------------------------------------------------------------- build
case "$BUILD" in /*) cli=$BUILD/coffer ;; *) cli=$(pwd)/$BUILD/coffer ;; esac
san=
if nm "$BUILD/libcoffer.a" 2>/dev/null | grep -q '__asan_\|__tsan_\|__ubsan_'; then san=1; fi
holder=$sb/security_holder
if [ ! -f "$BUILD/libcoffer.a" ]; then
    nok "build security_holder ($BUILD/libcoffer.a missing)"
    echo "1..$n"; exit 1
fi
if [ -n "$san" ]; then
    skip "core-dump tests" "sanitizer build: cores of sanitized processes are not representative"
    echo "1..$n"; exit 0
fi
if [ "$SUITES" = valgrind ] || [ "$SUITES" = tsan ]; then
    skip "core-dump tests" "not run under $SUITES"
    echo "1..$n"; exit 0
fi
if ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -o "$holder" \
        tests/suites/security_holder.c "$BUILD/libcoffer.a" -lsodium -pthread \
        2>"$sb/cc.err"; then
    ok "build security_holder"
else
    cat "$sb/cc.err" >&2
    nok "build security_holder"
    echo "1..$n"; exit 1
fi
if ! command -v gcore >/dev/null 2>&1; then
    have_gcore=
else
    have_gcore=1
fi
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|')
case "$pattern" in
    '|'* | /*) kernel_core= ;; # a pipe or a fixed directory: not ours to read
    *) kernel_core=1 ;;
esac

# ------------------------------------------------------- holder scenario
# run_holder NAME LEAK [EXPORT]: runs the whole scenario, leaves cores in $sb/NAME/.
# Sets M1, M2 (the markers) and reports TAP lines about reading.
run_holder() {
    name=$1 leak=$2 export=${3:-0}
    d=$sb/$name
    mkdir -p "$d/run"
    M1=$(marker) M2=$(marker)
    write_secrets "$d/secrets.toml" "$M1"
    mkfifo "$d/ctl"
    exec 3<>"$d/ctl"
    (
        cd "$d/run" || exit 1
        ulimit -c unlimited 2>/dev/null
        HOLDER_LEAK=$leak HOLDER_EXPORT=$export exec "$holder" "$d/secrets.toml" <"$d/ctl" 3>&-
    ) >"$d/status" 2>"$d/stderr" &
    hp=$!
    pids="$pids $hp"
    l=$(wait_line "$d/status" '^loaded ')
    case "$l" in
        *" gen=1 port=5432 "*" $(digest "$M1")") ok "$name: secrets loaded and read through every path" ;;
        *) nok "$name: secrets loaded and read through every path (got '$l')"
           cat "$d/status" "$d/stderr" >&2 ;;
    esac
    if [ -n "$have_gcore" ]; then
        gcore -o "$d/gcore1" "$hp" >/dev/null 2>&1
    fi
    write_secrets "$d/secrets.toml" "$M2"
    echo reload >&3
    l=$(wait_line "$d/status" '^reloaded ')
    case "$l" in
        *" gen=2 port=5432 "*" $(digest "$M2")") ok "$name: reload read the second marker" ;;
        *) nok "$name: reload read the second marker (got '$l')"
           cat "$d/status" "$d/stderr" >&2 ;;
    esac
    if [ -n "$have_gcore" ]; then
        gcore -o "$d/gcore2" "$hp" >/dev/null 2>&1
    fi
    echo abort >&3
    exec 3>&-
    wait "$hp" 2>/dev/null
    hrc=$?
    if [ "$hrc" -gt 128 ]; then
        ok "$name: holder aborted (status $hrc)"
    else
        nok "$name: holder aborted (status $hrc)"
    fi
    kcore=$(ls "$d/run"/core* 2>/dev/null | head -n 1)
}

# Protected run: no marker anywhere in any core.
run_holder protected 0
if [ -n "$have_gcore" ]; then
    c1=$d/gcore1.$hp c2=$d/gcore2.$hp
    if [ -s "$c1" ] && [ -s "$c2" ]; then
        ok "gcore wrote cores of the live process"
        # Sanity: the cores do hold the process heap (the store keeps the
        # file path in plain memory), so an absent marker means something.
        check "$([ "$(count_in "$c1" "$d/secrets.toml")" -gt 0 ]; echo $?)" \
            "gcore after load: core holds the heap (file path found)"
        check "$(count_in "$c1" "$M1")" "gcore after load: marker absent from core"
        check "$(count_in "$c2" "$M1")" "gcore after reload: first (replaced) marker absent"
        check "$(count_in "$c2" "$M2")" "gcore after reload: second (current) marker absent"
    else
        nok "gcore wrote cores of the live process"
    fi
else
    skip "gcore dumps" "gdb's gcore not installed"
fi
if [ -n "$kernel_core" ]; then
    if [ -n "$kcore" ] && [ -s "$kcore" ]; then
        ok "kernel core dump written on abort"
        check "$([ "$(count_in "$kcore" "$d/secrets.toml")" -gt 0 ]; echo $?)" \
            "kernel core holds the heap (file path found)"
        check "$(count_in "$kcore" "$M1")" "kernel core: first marker absent"
        check "$(count_in "$kcore" "$M2")" "kernel core: second marker absent"
    else
        nok "kernel core dump written on abort (core_pattern '$pattern')"
    fi
else
    skip "kernel core dump" "core_pattern '$pattern' is not a relative file name"
fi
rm -f "$d"/gcore* "$d"/run/core*

# The same with coffer_store_export(): the environment points into
# coffer's secure record, so exported values are not in the core either.
run_holder exported 0 1
if [ -n "$have_gcore" ]; then
    check "$(count_in "$d/gcore1.$hp" "$M1")" "exported: gcore after load: marker absent"
    check "$(( $(count_in "$d/gcore2.$hp" "$M1") + $(count_in "$d/gcore2.$hp" "$M2") ))" \
        "exported: gcore after reload and re-export: both markers absent"
fi
if [ -n "$kernel_core" ] && [ -n "$kcore" ]; then
    check "$(( $(count_in "$kcore" "$M1") + $(count_in "$kcore" "$M2") ))" \
        "exported: kernel core: both markers absent"
fi
rm -f "$d"/gcore* "$d"/run/core*

# Encrypted secrets files (issue 11): the decrypted values live in the
# same locked, never-dumped memory; the identity file's key is read into
# secure memory and wiped. No marker in any core.
if [ -x "$cli" ] && "$cli" --help 2>&1 | grep -q encrypt; then
    "$cli" keygen -o "$sb/id.txt" >"$sb/recip" 2>/dev/null
    ENCRYPT_TO=$(cat "$sb/recip")
    export COFFER_AGE_KEY_FILE="$sb/id.txt"
    run_holder encrypted 0
    check "$(grep -c 'ENC\[coffer' "$d/secrets.toml" | grep -qv '^0$'; echo $?)" \
        "encrypted: the holder read an encrypted file"
    if [ -n "$have_gcore" ]; then
        check "$(count_in "$d/gcore1.$hp" "$M1")" "encrypted: gcore after decrypting load: marker absent"
        check "$(( $(count_in "$d/gcore2.$hp" "$M1") + $(count_in "$d/gcore2.$hp" "$M2") ))" \
            "encrypted: gcore after reload: both markers absent"
        sk=$(grep AGE-SECRET-KEY "$sb/id.txt")
        check "$(count_in "$d/gcore2.$hp" "$sk")" "encrypted: the identity is absent from the core"
    fi
    if [ -n "$kernel_core" ] && [ -n "$kcore" ]; then
        check "$(( $(count_in "$kcore" "$M1") + $(count_in "$kcore" "$M2") ))" \
            "encrypted: kernel core: both markers absent"
    fi
    rm -f "$d"/gcore* "$d"/run/core*
    unset ENCRYPT_TO COFFER_AGE_KEY_FILE
fi

# Control: the same program with an unprotected copy: markers found.
run_holder leaky 1
if [ -n "$have_gcore" ]; then
    check "$([ "$(count_in "$d/gcore1.$hp" "$M1")" -gt 0 ]; echo $?)" \
        "control: unprotected copy found by gcore after load"
    check "$([ "$(count_in "$d/gcore2.$hp" "$M2")" -gt 0 ]; echo $?)" \
        "control: unprotected copy found by gcore after reload"
fi
if [ -n "$kernel_core" ] && [ -n "$kcore" ]; then
    check "$([ "$(count_in "$kcore" "$M2")" -gt 0 ]; echo $?)" \
        "control: unprotected copy found in kernel core"
fi
rm -f "$d"/gcore* "$d"/run/core*

# ------------------------------------------------- CLI is not dumpable
case "$BUILD" in /*) cli=$BUILD/coffer ;; *) cli=$(pwd)/$BUILD/coffer ;; esac

# ------------------------------------------ CLI processes holding secrets
# Root can still attach to a non-dumpable process: gcore the long-running
# CLI verbs after a change of the secrets; no marker may be in the core.
if [ -x "$cli" ] && "$cli" --help 2>&1 | grep -q watch && [ -n "$have_gcore" ]; then
    d=$sb/clicore
    mkdir -p "$d/home"
    M1=$(marker) M2=$(marker)
    write_secrets "$d/secrets.toml" "$M1"
    (cd "$d" && HOME=$d/home exec "$cli" -f "$d/secrets.toml" watch) >"$d/watch.out" 2>&1 &
    wp=$!
    (cd "$d" && HOME=$d/home exec "$cli" -f "$d/secrets.toml" run --restart -- sleep 60) \
        >"$d/run.out" 2>&1 &
    rp=$!
    pids="$pids $wp $rp"
    sleep 0.5
    write_secrets "$d/secrets.toml" "$M2"
    wait_line "$d/watch.out" 'changed' >/dev/null
    wait_line "$d/run.out" 'restart' >/dev/null
    sleep 0.3
    gcore -o "$d/watch" "$wp" >/dev/null 2>&1
    gcore -o "$d/run" "$rp" >/dev/null 2>&1
    child=$(cat "/proc/$rp/task/$rp/children" 2>/dev/null | awk '{print $1}')
    pids="$pids $child"
    for what in watch run; do
        c=$d/$what.$wp
        [ $what = run ] && c=$d/$what.$rp
        label="coffer $what"
        [ $what = run ] && label="coffer run --restart parent"
        if [ -s "$c" ] && [ "$(count_in "$c" "$d/secrets.toml")" -gt 0 ]; then
            check "$(( $(count_in "$c" "$M1") + $(count_in "$c" "$M2") ))" \
                "$label: no marker in a core after a change (old $(count_in "$c" "$M1"), new $(count_in "$c" "$M2"))"
        else
            nok "$label: gcore of the running CLI ($(head -c 200 "$d/$what.out"))"
        fi
    done
    kill "$wp" "$rp" 2>/dev/null
    wait "$wp" "$rp" 2>/dev/null
    rm -f "$d"/watch.* "$d"/run.*
fi
if [ ! -x "$cli" ] || ! "$cli" --help 2>&1 | grep -q watch; then
    skip "CLI not dumpable" "CLI with 'watch' not built"
elif ! command -v setpriv >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    skip "CLI not dumpable" "needs root and setpriv to run as an unprivileged user"
else
    as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
    d=$sb/cli
    mkdir -p "$d"
    cp "$cli" "$d/coffer"
    chmod 755 "$d" "$d/coffer"
    write_secrets "$d/secrets.toml" "$(marker)"
    chown -R nobody:nogroup "$d"
    chmod 600 "$d/secrets.toml"
    chown root:root "$d/coffer"

    # Control: an ordinary process of user nobody is readable by another.
    (exec setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 30) &
    cp_=$!
    pids="$pids $cp_"
    sleep 0.2
    as_nobody cat "/proc/$cp_/environ" >/dev/null 2>&1
    check $? "control: a plain process of user nobody can be inspected by another"

    # coffer watch, as nobody.
    (cd "$d" && HOME=$d exec setpriv --reuid=nobody --regid=nogroup \
        --clear-groups ./coffer -f "$d/secrets.toml" watch) >"$d/watch.out" 2>&1 &
    wp=$!
    pids="$pids $wp"
    sleep 0.5
    if kill -0 "$wp" 2>/dev/null; then
        ok "coffer watch runs as nobody"
        as_nobody cat "/proc/$wp/environ" >/dev/null 2>&1
        check "$([ $? -ne 0 ]; echo $?)" "coffer watch: /proc/PID/environ refused to the same user"
        as_nobody dd if="/proc/$wp/mem" of=/dev/null bs=1 count=1 skip=4096 >/dev/null 2>&1
        check "$([ $? -ne 0 ]; echo $?)" "coffer watch: /proc/PID/mem refused to the same user"
        kill "$wp" 2>/dev/null
        wait "$wp" 2>/dev/null
    else
        nok "coffer watch runs as nobody ($(head -c 300 "$d/watch.out"))"
    fi

    # coffer run --restart: parent protected, child a normal process.
    (cd "$d" && HOME=$d exec setpriv --reuid=nobody --regid=nogroup \
        --clear-groups ./coffer -f "$d/secrets.toml" run --restart -- sleep 30) \
        >"$d/run.out" 2>&1 &
    rp=$!
    pids="$pids $rp"
    sleep 0.5
    child=$(cat "/proc/$rp/task/$rp/children" 2>/dev/null | awk '{print $1}')
    if kill -0 "$rp" 2>/dev/null && [ -n "$child" ]; then
        ok "coffer run --restart runs a child as nobody"
        as_nobody cat "/proc/$rp/environ" >/dev/null 2>&1
        check "$([ $? -ne 0 ]; echo $?)" "coffer run --restart: parent's /proc/PID/environ refused"
        as_nobody cat "/proc/$child/environ" >/dev/null 2>&1
        check $? "coffer run --restart: the child starts normally (dumpable)"
        pids="$pids $child"
        kill "$rp" 2>/dev/null
        wait "$rp" 2>/dev/null
    else
        nok "coffer run --restart runs a child as nobody ($(head -c 300 "$d/run.out"))"
    fi
    kill "$cp_" 2>/dev/null
    wait "$cp_" 2>/dev/null
fi

echo "1..$n"
