#!/bin/sh
# cli-check: coffer check findings (TOML errors, permissions, exportable
# names, shadowing, git tracking and ignoring) and its exit status.
. "$(dirname "$0")/cli-common.inc"

c check; t "check with no secrets: exit 3" eval 'rc_is 3'

put "$GLOBAL" <<'EOF'
shared = "g"
only_global = "g"
EOF
put "$PROJ" <<'EOF'
shared = "p"
db_password = "pw"
EOF
c check
t "check: clean sources, exit 0" eval 'rc_is 0 && ! grep -qE "^(error|warning) " "$T/out"'
t "check: shadowed root key reported as info" eval 'grep -E "^info " "$T/out" | grep -qF shared'
t "check: one finding per line, severity FILE: message" eval '! grep -vqE "^(info|warning|error) [^ ]+: " "$T/out"'
c check --strict
t "check --strict: info never fails" eval 'rc_is 0'

chmod 640 "$PROJ"
c check
t "check: group-readable file is a warning, exit 0" eval 'rc_is 0 && grep -qE "^warning $PROJ: " "$T/out"'
c check --strict; t "check --strict: warning fails (exit 1)" eval 'rc_is 1'
c --strict check; t "coffer --strict check: exit 1" eval 'rc_is 1'
COFFER_STRICT=1 c check; t "COFFER_STRICT=1 check: exit 1" eval 'rc_is 1'
chmod 602 "$PROJ"
c check
t "check: world-writable file is an error, exit 1" eval 'rc_is 1 && grep -qE "^error $PROJ: " "$T/out"'
chmod 600 "$PROJ"

put "$GLOBAL" <<'EOF'
ok = 1
bad = = 2
EOF
put "$PROJ" <<'EOF'
a = "x"

b = [1, 2
EOF
c check
t "check: every file's TOML error with file and line/col, exit 1" eval \
    'rc_is 1 && grep -qE "^error $GLOBAL:2:[0-9]+: " "$T/out" && grep -qE "^error $PROJ:(3|4):[0-9]+: " "$T/out"'
t "check: no value in the report" eval 'out_lacks "\"x\""'

put "$GLOBAL" <<'EOF'
fine = "g"
EOF
put "$PROJ" <<'EOF'
"my-key" = "x"
"a=b" = "y"
good = "z"
EOF
c check
t "check: a non-portable name is a warning naming the key" eval 'rc_is 0 && grep -E "^warning $PROJ: " "$T/out" | grep -qF "my-key"'
t "check: a key that cannot be exported is reported" eval 'grep -E "^(warning|error) $PROJ: " "$T/out" | grep -qF "a=b"'
c check --strict; t "check --strict fails on those warnings" eval 'rc_is 1'

# ---- directory sources ----
mkdir -p "$T/kdir"
printf 'x\n' >"$T/kdir/stray_file"
c -f "$T/kdir" check
t "check: a layout error in a secrets directory, exit 1" eval 'rc_is 1 && grep -qE "^error .*kdir" "$T/out"'

# ---- git ----
put "$PROJ" <<'EOF'
db_password = "pw"
EOF
rm -f "$GLOBAL"
c check; t "check outside a git work tree: no git findings" eval 'rc_is 0 && out_lacks git'
git init -q "$P" 2>/dev/null
c check
t "check: file not ignored by git is a warning with the line to add" eval \
    'rc_is 0 && grep -E "^warning $PROJ: " "$T/out" | grep -qF "add this line to $P/.gitignore: .streamlit/secrets.toml"'
c check --strict; t "check --strict: not ignored fails" eval 'rc_is 1'
echo ".streamlit/secrets.toml" >"$P/.gitignore"
c check; t "check: ignored file gives no git finding" eval 'rc_is 0 && out_lacks git'
git -C "$P" add -f .streamlit/secrets.toml
c check
t "check: a secrets file tracked by git is an error, exit 1" eval \
    'rc_is 1 && grep -E "^error $PROJ: " "$T/out" | grep -q "tracked by git"'
git -C "$P" rm -q --cached .streamlit/secrets.toml
mkdir -p "$P/sub/.streamlit"; put "$P/sub/.streamlit/secrets.toml" <<'EOF'
k = 1
EOF
rm "$P/.gitignore"
c -C sub check
t "check in a subdirectory: the line is relative to the work tree top" eval \
    'rc_is 0 && out_has "add this line to $P/.gitignore: sub/.streamlit/secrets.toml"'
mkdir -p "$T/cfg/.streamlit"
printf '[secrets]\nfiles = ["creds.txt"]\n' >"$T/cfg/.streamlit/config.toml"
c -C "$T/cfg" get x; t "invalid [secrets] files entry: get exits 5 naming it" eval 'rc_is 5 && err_has "creds.txt"'
c -C "$T/cfg" check; t "invalid [secrets] files entry: check reports it, exit 5" eval 'rc_is 5 && grep -E "^error " "$T/out" | grep -qF creds.txt'
printf 'k = "from-config"\n' | put "$T/cfg/my.toml"
printf '[secrets]\nfiles = ["my.toml"]\n' >"$T/cfg/.streamlit/config.toml"
c -C "$T/cfg" where k; t "[secrets] files in .streamlit/config.toml sets the sources" eval 'rc_is 0 && out_is "$T/cfg/my.toml:1"'
if [ -z "$RUN_PREFIX" ]; then
    env PATH="$T/nobin" "$COFFER_BIN" check >"$T/out" 2>"$T/err"; rc=$?
    t "check without git installed: info, no failure" eval 'rc_is 0 && grep -qE "^info .*git not found" "$T/out"'
else
    skip "check without git installed" "needs PATH without git; not under $RUN_PREFIX"
fi
finish
