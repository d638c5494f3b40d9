#!/bin/sh
# cli-watch: coffer watch prints one line per change (time, source, key
# paths, never values), reports reload errors on stderr, exits 0 on
# SIGINT/SIGTERM and 3/5 on start-up failures.
. "$(dirname "$0")/cli-common.inc"

c watch; t "watch with no secrets: exit 3" eval 'rc_is 3 && err_has "$PROJ"'
printf 'a = "unterminated\n' | put "$PROJ"
c watch; t "watch with invalid TOML: exit 5" eval 'rc_is 5 && err_has "$PROJ:1:"'
c watch --poll 0; t "watch --poll 0: exit 2" eval 'rc_is 2'

if ! slow_ok; then
    skip "watch change lines" "timing test in $SUITES mode"
    finish; exit $?
fi

TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
put "$GLOBAL" <<'EOF'
g = "g1"
EOF
put "$PROJ" <<'EOF'
db_password = "secret-one"
[db]
password = "inner-one"
host = "h"
EOF
"$COFFER_BIN" watch >"$T/w.out" 2>"$T/w.err" &
wpid=$!; BGPIDS="$BGPIDS $wpid"
t "watch: says it is watching (stderr)" wait_for "$T/w.err" 'watching 2 sources'
put "$PROJ" <<'EOF'
db_password = "secret-two"
api_key = "k"
[db]
password = "inner-two"
host = "h"
EOF
t "watch: one line for a change written by rename" wait_for "$T/w.out" "^$TS $PROJ "
line=$(sed -n 1p "$T/w.out")
echo "# $line"
t "watch: line lists changed and added key paths" eval 'echo "$line" | grep -qE "^$TS $PROJ changed: [^;]*db_password" && echo "$line" | grep -qE "changed: [^;]*db\.password" && echo "$line" | grep -qE "; added: api_key$"'
t "watch: never a value" eval '! grep -qE "secret-|inner-" "$T/w.out" "$T/w.err"'
touch "$PROJ"; cp "$PROJ" "$T/same"; put "$PROJ" <"$T/same"
sleep 0.5
t "watch: touch and same-content rewrite print nothing" [ "$(wc -l <"$T/w.out")" -eq 1 ]
put "$GLOBAL" <<'EOF'
EOF
t "watch: removal in the global file names that file" wait_for "$T/w.out" "^$TS $GLOBAL removed: g$"
printf 'db_password = "secret-three\n' | put "$PROJ"
t "watch: reload error on stderr with file:line:col" wait_for "$T/w.err" "$PROJ:1:[0-9]+"
t "watch: no line on stdout for the invalid content" [ "$(wc -l <"$T/w.out")" -eq 2 ]
put "$PROJ" <<'EOF'
db_password = "secret-four"
api_key = "k"
EOF
# (waits for the third line: the first one also starts "changed: db_password")
t "watch: the fixed file is picked up" wait_for "$T/w.out" "^$TS $PROJ changed: db_password;.*removed: "
t "watch: removed section keys reported" eval 'sed -n 3p "$T/w.out" | grep -q "removed: "'
t "watch: still no value anywhere" eval '! grep -qE "secret-|inner-" "$T/w.out" "$T/w.err"'
kill -TERM "$wpid"; wait_exit "$wpid"
t "watch: SIGTERM exits 0" [ "$bgrc" -eq 0 ]

rm -f "$PROJ"
"$COFFER_BIN" watch >"$T/w2.out" 2>"$T/w2.err" &
wpid=$!; BGPIDS="$BGPIDS $wpid"
wait_for "$T/w2.err" 'watching' >/dev/null
put "$PROJ" <<'EOF'
late = "created after start"
EOF
t "watch: a project file created after start is picked up" wait_for "$T/w2.out" "^$TS $PROJ added: late$"
kill -INT "$wpid"; wait_exit "$wpid"
t "watch: SIGINT exits 0" [ "$bgrc" -eq 0 ]

"$COFFER_BIN" watch --poll 100 >"$T/w3.out" 2>"$T/w3.err" &
wpid=$!; BGPIDS="$BGPIDS $wpid"
wait_for "$T/w3.err" 'watching' >/dev/null
sleep 0.2
put "$PROJ" <<'EOF'
late = "changed by poll"
EOF
t "watch --poll: change seen by polling" wait_for "$T/w3.out" "^$TS $PROJ changed: late$"
kill -TERM "$wpid"; wait_exit "$wpid"
t "watch --poll: SIGTERM exits 0" [ "$bgrc" -eq 0 ]
finish
