#!/bin/sh
# cli-env: what becomes an environment variable, and the export formats.
# Regression tests named after the security report's defects (d3_*, d4_*,
# d7_*, d10_*), the 10,000-value round trip of every env format, the
# dotenv: source, and the naming options (--prefix, --upper, --booleans).
. "$(dirname "$0")/cli-common.inc"
RT="$ROOT/tests/suites/env_roundtrip.py"
have_dotenv=false
"$PY" -c 'import dotenv' 2>/dev/null && have_dotenv=true

# ---------------------------------------------------------------- D3
# Property test: N random hostile values (backslashes, both quotes, CR, LF,
# CRLF, $, ${X}, backticks, ESC, unicode incl. non-BMP, trailing
# backslashes), one process per format and shell.
N=10000
[ "$SUITES" = all ] || N=300
SEED=${COFFER_ENV_SEED:-20261204}
"$PY" "$RT" gen "$N" "$SEED" "$T/rt.toml" "$T/rt.json" >"$T/gen.txt"
chmod 600 "$T/rt.toml"
echo "# $(cat "$T/gen.txt") (seed $SEED)"
c -f "$T/rt.toml" env --format dotenv
cp "$T/out" "$T/rt.env"; cp "$T/err" "$T/rt.env.err"
if $have_dotenv; then
    if "$PY" "$RT" dotenv "$T/rt.env" "$T/rt.json" >"$T/res" 2>&1; then
        ok "d3_dotenv_python_dotenv_round_trip: $(cat "$T/res")"
    else
        nok "d3_dotenv_python_dotenv_round_trip: $(cat "$T/res")"
    fi
else
    skip "d3_dotenv_python_dotenv_round_trip" "python3-dotenv not installed"
fi
skips=$(grep -c "cannot be written for dotenv" "$T/rt.env.err")
want=$(sed -n 's/.*values, \([0-9]*\) documented.*/\1/p' "$T/gen.txt")
t "d3_dotenv_skips_warn: one warning per documented skip ($skips)" [ "$skips" = "$want" ]
t "d3_dotenv_one_line_per_variable" [ "$(wc -l <"$T/rt.env")" -eq $((N - want)) ]
# Back through coffer's own reader (dotenv: source), out as JSON.
chmod 600 "$T/rt.env"
pick_prefix; $pre "$COFFER_BIN" -f "dotenv:$T/rt.env" env --format json >"$T/rt2.json" 2>"$T/err"; rc=$?
if rc_is 0 && "$PY" "$RT" json "$T/rt2.json" "$T/rt.json" dotenv >"$T/res" 2>&1; then
    ok "d3_dotenv_coffer_reader_round_trip: $(cat "$T/res")"
else
    nok "d3_dotenv_coffer_reader_round_trip: $(cat "$T/res")"
fi
c -f "$T/rt.toml" env --format json
if rc_is 0 && "$PY" "$RT" json "$T/out" "$T/rt.json" >"$T/res" 2>&1; then
    ok "d3_json_round_trip: $(cat "$T/res")"
else
    nok "d3_json_round_trip: $(cat "$T/res")"
fi
c -f "$T/rt.toml" env
cp "$T/out" "$T/rt.sh"
cat >"$T/dump.sh" <<'EOS'
eval "$(cat "$1")"
i=0
while [ "$i" -lt "$2" ]; do
    eval "v=\${v$i}"
    printf 'v%s=%s\0' "$i" "$v"
    i=$((i + 1))
done
EOS
for sh in bash dash zsh; do
    if ! command -v "$sh" >/dev/null 2>&1; then skip "d3_sh_round_trip_$sh" "$sh not installed"; continue; fi
    "$sh" "$T/dump.sh" "$T/rt.sh" "$N" >"$T/dump.$sh" 2>"$T/err.$sh"
    if "$PY" "$RT" shell "$T/dump.$sh" "$T/rt.json" >"$T/res" 2>&1 && [ ! -s "$T/err.$sh" ]; then
        ok "d3_sh_round_trip_$sh: $(cat "$T/res")"
    else
        nok "d3_sh_round_trip_$sh: $(cat "$T/res")"
    fi
done

# The report's reproduction: a trailing backslash and an injection attempt.
printf 'a = "x\\\\"\nb = "\\nLD_PRELOAD=/evil.so\\nINJECTED=yes\\n"\nc = "\\r"\n' | put "$T/d3.toml"
c -f "$T/d3.toml" env --format dotenv
cp "$T/out" "$T/d3.env"
if $have_dotenv; then
    t "d3_report_reproduction: exact values, no injected keys" "$PY" -c "
import sys
from dotenv import dotenv_values
for interp in (True, False):
    d = dict(dotenv_values(sys.argv[1], interpolate=interp))
    assert d == {'a': 'x\\\\', 'b': '\\nLD_PRELOAD=/evil.so\\nINJECTED=yes\\n', 'c': '\\r'}, d
" "$T/d3.env"
else
    skip "d3_report_reproduction" "python3-dotenv not installed"
fi

# ---------------------------------------------------------- dotenv: source
cat >"$T/app.env" <<'EOS'
# migrated from .env
export DB_PASSWORD="s3cr\"et"
API_KEY=abc123  # trailing comment
MULTI="line1
line2"
EOS
chmod 600 "$T/app.env"
c -f "dotenv:$T/app.env" get MULTI
t "dotenv_source: multi-line value" eval 'rc_is 0 && out_is "line1
line2"'
c -f "dotenv:$T/app.env" where API_KEY
t "dotenv_source: where gives file:line" eval 'rc_is 0 && out_is "$T/app.env:3"'
c -f "dotenv:$T/app.env" -f "$PROJ" get DB_PASSWORD
printf 'DB_PASSWORD = "from-toml"\n' | put "$PROJ"
c -f "dotenv:$T/app.env" -f "$PROJ" get DB_PASSWORD
t "dotenv_source: layers with TOML sources (later wins)" eval 'rc_is 0 && out_is from-toml'
printf 'A=1\nB\n' >"$T/bad.env"; chmod 600 "$T/bad.env"
c -f "dotenv:$T/bad.env" list
t "dotenv_source: an invalid line is an error with FILE:LINE:COL" eval 'rc_is 5 && err_has "$T/bad.env:2:2: expected '"'"'='"'"'"'
c -f "dotenv:$T/bad.env" check
t "dotenv_source: check reports it" eval 'rc_is 1 && out_has "bad.env"'
c -f "dotenv:$T/missing.env" list
t "dotenv_source: a missing file is 'no secrets found'" eval 'rc_is 3'
COFFER_SECRETS_FILES="dotenv:$T/app.env" c get API_KEY
t "dotenv_source: COFFER_SECRETS_FILES takes the prefix too" eval 'rc_is 0 && out_is abc123'

# ---------------------------------------------------------------- D4
mkdir -p "$T/evilbin"
printf '#!/bin/sh\necho EVIL_ENV_RAN_FROM_SECRETS_PATH\n' >"$T/evilbin/env"
chmod +x "$T/evilbin/env"
D4TOML="PATH = \"$T/evilbin\"
LD_PRELOAD = \"$T/evil.so\"
BASH_ENV = \"$T/evil.sh\"
IFS = \"x\"
PS4 = \"\$(touch $T/PWNED_ps4)\"
app_ok = \"fine\""
printf '%s\n' "$D4TOML" | put "$T/d4.toml"
mkdir -p "$T/d4flat"
for kv in "PATH=$T/evilbin" "LD_PRELOAD=$T/evil.so" "BASH_ENV=$T/evil.sh" "IFS=x" 'PS4=$(touch PWNED)' "app_ok=fine"; do
    printf '%s\n' "${kv#*=}" >"$T/d4flat/${kv%%=*}"; chmod 600 "$T/d4flat/${kv%%=*}"
done
d4_check_child() { # $1: label
    t "d4_dangerous_names_$1: run ignores PATH from the secrets and exports none of them" eval \
        'rc_is 0 && out_lacks EVIL_ENV_RAN && out_lacks "LD_PRELOAD=$T" && out_lacks "BASH_ENV=" && out_lacks "IFS=x" && out_lacks "PS4=" && out_has "app_ok=fine" && out_has "PATH=$PATH" && err_has "skipping key '"'"'LD_PRELOAD'"'"'" && err_lacks "cannot be preloaded"'
}
c -f "$T/d4.toml" run -- env; d4_check_child file
c -f "flat:$T/d4flat" run -- env; d4_check_child flat_dir
COFFER_SECRETS="$D4TOML" c -f "$T/nothing.toml" run -- env; d4_check_child coffer_secrets
c -f "$T/d4.toml" env
t "d4_env_prints_none_of_them" eval 'rc_is 0 && out_is "export app_ok='"'"'fine'"'"'" && err_has "'"'"'PS4'"'"' is a loader"'
c -f "$T/d4.toml" check
t "d4_check_warns" eval 'rc_is 0 && out_has "warning $T/d4.toml: key '"'"'PATH'"'"' names a loader" && out_has "LD_PRELOAD"'
c -f "$T/d4.toml" --strict check
t "d4_check_strict_errors" eval 'rc_is 1 && out_has "error $T/d4.toml: key '"'"'IFS'"'"' names a loader"'
c -f "$T/d4.toml" run --allow-env PATH --allow-env IFS -- env
t "d4_allow_env: allowed names are exported, CMD still from the caller's PATH" eval \
    'rc_is 0 && out_lacks EVIL_ENV_RAN && out_has "PATH=$T/evilbin" && out_has "IFS=x" && out_lacks "LD_PRELOAD=$T"'
COFFER_ALLOW_ENV="PS4,BASH_ENV" c -f "$T/d4.toml" env
t "d4_COFFER_ALLOW_ENV allows from the caller's environment" eval 'rc_is 0 && out_has "export PS4=" && out_has "export BASH_ENV=" && out_lacks "LD_PRELOAD"'
printf 'COFFER_ALLOW_ENV = "LD_PRELOAD"\nLD_PRELOAD = "/evil.so"\n' | put "$T/d4b.toml"
c -f "$T/d4b.toml" run --allow-env COFFER_ALLOW_ENV -- env
t "d4_a_source_cannot_allow: COFFER_ALLOW_ENV is never exported" eval 'rc_is 0 && out_lacks "LD_PRELOAD=/evil" && out_lacks "COFFER_ALLOW_ENV="'
rm -f "$T/PWNED_ps4"
env -i HOME="$HOME" PATH="$PATH" bash -c 'eval "$("$1" -f "$2" env 2>/dev/null)"; set -x; true' _ "$COFFER_BIN" "$T/d4.toml" 2>/dev/null
t "d4_eval_then_set_x_runs_nothing" [ ! -e "$T/PWNED_ps4" ]
c -f "$T/d4.toml" run -- no-such-command-coffer
t "d4_run_not_found_in_callers_path: 127" eval 'rc_is 127 && err_has "command not found"'
printf 'echo from-sh-script\n' >"$T/noshebang"; chmod +x "$T/noshebang"
PATH="$T:$PATH" c -f "$T/d4.toml" run -- noshebang
t "run: a script without #! runs through /bin/sh (as execvp does)" eval 'rc_is 0 && out_is from-sh-script'

# ---------------------------------------------------------------- D7
printf 'DB_PASSWORD = "new\\u0000secret"\nok = "fine"\n' | put "$T/nul.toml"
DB_PASSWORD=stale-outer-value c -f "$T/nul.toml" run -- sh -c 'echo "${DB_PASSWORD-UNSET}"'
t "d7_nul_value_unsets_the_parent_variable" eval 'rc_is 0 && out_is UNSET && err_has "DB_PASSWORD" && err_has "NUL byte"'
DB_PASSWORD=mine c -f "$T/nul.toml" run --keep-existing -- sh -c 'echo "${DB_PASSWORD-UNSET}"'
t "d7_keep_existing_keeps_the_callers_value" eval 'rc_is 0 && out_is mine'
c -f "$T/nul.toml" check
t "d7_check_reports_nul_values" eval 'rc_is 0 && out_has "the value of key '"'"'DB_PASSWORD'"'"' contains a NUL byte"'
for f in sh dotenv json; do
    c -f "$T/nul.toml" env --format "$f"
    t "d7_env_$f: skipped with a warning" eval 'rc_is 0 && out_lacks "secret" && err_has "DB_PASSWORD"'
done

# ---------------------------------------------------------------- D10
printf '"a\\nok /fake: all good\\u001b[2K" = "v"\n"b\\u001b]0;TITLE\\u0007" = 1\n"c\\u0007" = { x = 1 }\nPS1 = "x"\n' | put "$T/esc.toml"
raw_ctl() { "$PY" -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(1 if any(b in d for b in (b"\x1b", b"\x07")) or b"\nok /fake" in d or d.startswith(b"ok /fake") else 0)' "$1"; }
d10ok=true
for args in "list" "get a" "get c.y" "where nope" "paths" "env" "env --format dotenv" "env --format json" "env --upper --prefix P_" "run -- true" "check" "--strict check"; do
    # shellcheck disable=SC2086
    c -f "$T/esc.toml" $args
    raw_ctl "$T/err" || { d10ok=false; echo "# raw control bytes in stderr of: $args"; }
done
mkdir -p "$T/escproj/.streamlit"; cp "$T/esc.toml" "$T/escproj/.streamlit/secrets.toml"
c -C "$T/escproj" init
raw_ctl "$T/err" || { d10ok=false; echo "# raw control bytes in stderr of: init"; }
if slow_ok; then
    timeout 3 "$COFFER_BIN" -f "$T/esc.toml" watch >"$T/w.out" 2>"$T/w.err" &
    wpid=$!; BGPIDS="$BGPIDS $wpid"
    sleep 0.5
    printf '"a\\nok /fake: all good\\u001b[2K" = "changed"\n"d\\u001b[31m" = 2\n' | put "$T/esc.toml"
    wait_for "$T/w.out" "d" 20
    printf 'x = = 1\n' | put "$T/esc.toml"
    sleep 0.5
    kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
    cp "$T/escproj/.streamlit/secrets.toml" "$T/esc.toml"
    raw_ctl "$T/w.err" && raw_ctl "$T/w.out" || { d10ok=false; echo "# raw control bytes in the output of: watch"; }
    grep -q "u001b" "$T/w.out" || { d10ok=false; echo "# watch did not report the escaped keys"; sed "s/^/#  w: /" "$T/w.out" "$T/w.err"; }
fi
t "d10_no_raw_control_bytes_in_any_diagnostic (list get where paths env run check init watch)" $d10ok
c -f "$T/esc.toml" env
t "d10_env_warning_escapes_the_key" eval 'err_has "\\u000a" && err_has "\\u001b"'

# ---------------------------------------------------------- naming (issue 13)
printf 'db_password = "pw"\nport = 5432\ndebug = true\nDB_PASSWORD = "dup"\n' | put "$T/nm.toml"
c -f "$T/nm.toml" env --prefix APP_ --upper
t "naming: --prefix APP_ --upper" eval 'rc_is 0 && out_is "export APP_DB_PASSWORD='"'"'pw'"'"'
export APP_PORT='"'"'5432'"'"'" && err_has "same variable name"'
c -f "$T/nm.toml" env --booleans --format json
t "naming: --booleans exports true/false" eval 'rc_is 0 && out_has "\"debug\": \"true\""'
c -f "$T/nm.toml" env
t "naming: booleans stay unexported by default" eval 'rc_is 0 && out_lacks debug'
c -f "$T/nm.toml" run --prefix APP_ --upper --booleans -- sh -c 'echo "$APP_DB_PASSWORD|$APP_PORT|$APP_DEBUG|${db_password-none}"'
t "naming: run takes the same options" eval 'rc_is 0 && out_is "pw|5432|true|none"'
c -f "$T/nm.toml" env --prefix 'a-b'
t "naming: an invalid --prefix is a usage error" eval 'rc_is 2 && err_has "invalid --prefix"'
c -f "$T/nm.toml" run --allow-env 'X=1' -- true
t "naming: an invalid --allow-env is a usage error" eval 'rc_is 2'
c -f "$T/nm.toml" env --prefix LD_
t "naming: the dangerous-name check applies to the final name" eval 'rc_is 0 && [ ! -s "$T/out" ] && err_has "'"'"'LD_port'"'"' is a loader"'
finish
