#!/bin/sh
# cli-canary: a marker secret goes through every error path of every verb;
# it must never appear on stderr (nor in the outputs that never hold
# values: list, where, paths, check, watch).
. "$(dirname "$0")/cli-common.inc"

M=CANARY-CLI-91b2
ERR="$T/all.err"
: >"$ERR"
# e ARGS...: runs coffer, appends its stderr to $ERR, keeps $rc.
e() { c "$@"; cat "$T/err" >>"$ERR"; }
no_marker_out() { out_lacks "$M"; }

put "$GLOBAL" <<EOF
db_password = "$M-global"
EOF
put "$PROJ" <<EOF
db_username = "$M-user"
api_key = "$M-api"
port = 5432
"not portable" = "$M-np"
"a=b" = "$M-eq"
flag = true
[db_credentials]
password = "$M-section"
EOF

e get db_usernam;            t "get: missing key (exit 4)" rc_is 4
e get db_username.sub;       t "get: path through a string (exit 4)" rc_is 4
e get 'db_credentials.password[0]'; t "get: index into a string" eval '[ $rc -ne 0 ]'
e get 'a..b';                t "get: malformed path" eval '[ $rc -ne 0 ]'
e get --format nope db_username; t "get: bad format (exit 2)" rc_is 2
e where db_usernam;          t "where: missing key (exit 4)" rc_is 4
e where db_username;         t "where: prints no value" eval 'rc_is 0 && no_marker_out'
e list;                      t "list: prints no value" eval 'rc_is 0 && no_marker_out'
e list --json;               t "list --json: prints no value" eval 'rc_is 0 && no_marker_out'
e paths;                     t "paths: prints no value" eval 'rc_is 0 && no_marker_out'
e env;                       t "env: warnings for skipped names only" rc_is 0
e env --format dotenv;       t "env dotenv" rc_is 0
e run -- no-such-command-coffer-xyz; t "run: not found (127)" rc_is 127
printf 'x\n' >"$T/noexec"; chmod 600 "$T/noexec"
e run -- "$T/noexec";        t "run: not executable (126)" rc_is 126
e run -- sh -c 'exit 3';     t "run: child status" rc_is 3
e check;                     t "check: prints no value" eval 'no_marker_out'
chmod 664 "$PROJ"
for v in "get db_username" list "where api_key" env "run -- true" check; do
    e $v; t "group-writable file refused: ${v%% *}" eval '[ $rc -ne 0 ] && no_marker_out'
done
chmod 640 "$PROJ"
for v in "get db_username" list env "run -- true"; do
    e --strict $v; t "--strict refuses a group-readable file: ${v%% *}" rc_is 5
done
e check --strict; t "check --strict with a readable file" eval 'rc_is 1 && no_marker_out'
chmod 600 "$PROJ"

e init;                      t "init on an existing file: exit 0, no content shown" eval 'rc_is 0 && no_marker_out && out_has "already exists"'
mkdir -p "$T/initfile"; : >"$T/initfile/.streamlit"
e -C "$T/initfile" init;     t "init where .streamlit is a file: fails" eval '[ $rc -ne 0 ]'
printf 'db_username = "%s\n' "$M" >"$T/badw.toml"; chmod 600 "$T/badw.toml"
e -f "$T/badw.toml" watch;   t "watch start-up with invalid TOML: exit 5" rc_is 5

# Invalid TOML around the marker: the error must not quote source text.
for bad in "x = \"$M" "x = $M" "x = 1 = \"$M\"" "x = \"ok\" $M" "[t]
x = \"$M\" y" "x = [\"$M\", " \
           "x = '''$M" "x = \"$M\"
x = \"$M\"" "x = { a = \"$M\" b = 1 }" "x = \"\\q$M\"" "x = 1$M" "x = 2026-13-99$M"; do
    printf '%s\n' "$bad" >"$T/bad.toml"; chmod 600 "$T/bad.toml"
    for v in "get x" list "where x" env "run -- true" check paths; do
        e -f "$T/bad.toml" $v
        case $v in
            check) t "bad TOML ($(printf %s "$bad" | tr "\n" " " | head -c 12)...): check exit 1, no value" eval 'rc_is 1 && no_marker_out' ;;
            paths) t "bad TOML: paths still lists, no value" eval 'rc_is 0 && no_marker_out' ;;
            *) t "bad TOML: ${v%% *} exits 5" rc_is 5 ;;
        esac
    done
done
COFFER_SECRETS="x = \"$M" e get x; t "invalid COFFER_SECRETS: exit 5" rc_is 5
COFFER_SECRETS="k = \"$M-env\"" e get nope; t "missing key with COFFER_SECRETS: exit 4" rc_is 4

# Directory sources: a layout error, a non-UTF-8 flat file, a missing key.
mkdir -p "$T/kdir/key" "$T/flat"
printf '%s\n' "$M-dir" >"$T/kdir/key/key"
printf '%s\n' "$M-stray" >"$T/kdir/stray"
e -f "$T/kdir" get key;      t "dir layout error: exit 5" rc_is 5
e -f "$T/kdir" check;        t "dir layout error: check exit 1, no value" eval 'rc_is 1 && no_marker_out'
printf '%s\377\n' "$M" >"$T/flat/bin"
e -f "flat:$T/flat" get bin; t "flat non-UTF-8 file: exit 5" rc_is 5
rm "$T/flat/bin"; printf '%s\n' "$M-flat" >"$T/flat/tok"
e -f "flat:$T/flat" get tok2; t "flat: missing key exit 4" rc_is 4

# Watch: reload errors and change lines.
if slow_ok; then
    "$COFFER_BIN" watch >"$T/w.out" 2>"$T/w.err" &
    wpid=$!; BGPIDS="$BGPIDS $wpid"
    wait_for "$T/w.err" 'watching' >/dev/null
    printf 'db_username = "%s-2\n' "$M" | put "$PROJ"
    wait_for "$T/w.err" 'reload' >/dev/null
    printf 'db_username = "%s-3"\n' "$M" | put "$PROJ"
    wait_for "$T/w.out" 'changed' >/dev/null
    kill -TERM "$wpid"; wait_exit "$wpid"
    cat "$T/w.err" >>"$ERR"
    t "watch: reload error and change lines without the marker" eval '[ "$bgrc" -eq 0 ] && ! grep -q "$M" "$T/w.out" && grep -q reload "$T/w.err"'
else
    skip "watch canary" "timing test in $SUITES mode"
fi

echo "# stderr lines collected: $(wc -l <"$ERR")"
t "the marker never appeared on stderr" eval '! grep -q "$M" "$ERR"'
t "stderr was not empty (the error paths ran)" [ -s "$ERR" ]
finish
