#!/bin/sh
# cli-basic: verbs, options, layering, value forms, errors and exit codes
# of the coffer CLI (get, list, where, paths, env, init, usage).
. "$(dirname "$0")/cli-common.inc"

# ---- usage, help, version ----
c --version; t "--version prints the version" eval 'rc_is 0 && out_is "coffer 0.1.0"'
c --help; t "--help: usage on stdout, exit 0" eval 'rc_is 0 && out_has "usage: coffer" && err_empty'
c help; t "help: usage on stdout, exit 0" eval 'rc_is 0 && out_has "usage: coffer"'
c; t "no verb: usage on stderr, exit 2" eval 'rc_is 2 && err_has "usage: coffer" && [ ! -s "$T/out" ]'
c frobnicate; t "unknown verb: exit 2, a one-line hint, not the usage" eval 'rc_is 2 && err_has "coffer: error: unknown verb '"'"'frobnicate'"'"'" && err_has "coffer help" && err_lacks "usage:"'
c --bogus list; t "unknown global option: exit 2" eval 'rc_is 2 && err_has "unknown option"'
c -C; t "-C without a directory: exit 2" eval 'rc_is 2'
c -C "$T/nonexistent" list; t "-C to a missing directory: exit 2" eval 'rc_is 2 && err_has "cannot change to"'
for v in get list where paths env run watch check init; do
    c "$v" --help
    t "$v --help: usage on stdout, exit 0" eval 'rc_is 0 && out_has "usage: coffer $v" && err_empty'
    c "$v" --no-such-option
    t "$v --no-such-option: usage on stderr, exit 2" eval 'rc_is 2 && err_has "usage: coffer $v" && [ ! -s "$T/out" ]'
done
c help get; t "help VERB prints the verb's usage" eval 'rc_is 0 && out_has "usage: coffer get"'
c help nope; t "help of an unknown verb: exit 2" eval 'rc_is 2'
c get; t "get without KEY: exit 2" eval 'rc_is 2 && err_has "missing KEY"'
c get a b; t "get with two keys: exit 2" eval 'rc_is 2'
c get --format yaml x; t "get --format yaml: exit 2" eval 'rc_is 2 && err_has "unknown format"'
c env --format xml; t "env --format xml: exit 2" eval 'rc_is 2'
c run; t "run without CMD: exit 2" eval 'rc_is 2 && err_has "missing CMD"'
c run --grace abc -- true; t "run --grace abc: exit 2" eval 'rc_is 2'

# ---- no secrets at all ----
for v in "get x" list "where x" env "run -- touch $T/ran" check; do
    c $v
    cat "$T/out" >>"$T/err" # check reports on stdout
    t "no secrets: '${v%% *}' exits 3 and names both paths" \
        eval 'rc_is 3 && err_has "$GLOBAL" && err_has "$PROJ"'
done
t "no secrets: run did not start the command" test ! -e "$T/ran"

# ---- global only ----
put "$GLOBAL" <<'EOF'
db_username = "global-jane"
db_password = "global-pw"
shared = "from-global"

[db_credentials]
host = "db.global"
extra = "only-in-global"
EOF
c get db_username; t "global only: get a root string" eval 'rc_is 0 && out_is global-jane'
c get db_credentials.extra; t "global only: get a section member" eval 'rc_is 0 && out_is only-in-global'
c where shared; t "global only: where" eval 'rc_is 0 && out_is "$GLOBAL:3"'
c paths
t "paths: both default files in order with kind and found" eval \
    'rc_is 0 && [ "$(sed -n 1p "$T/out")" = "found    file  $GLOBAL" ] && [ "$(sed -n 2p "$T/out")" = "missing  file  $PROJ" ]'

# ---- project only (HOME elsewhere) ----
put "$PROJ" <<'EOF'
# project secrets
db_username = "proj-jane"
port = 5432
ratio = 0.1
whole = 1.0
big = 1e20
enabled = true
when = 2026-11-27
odd-name = "dash"

[db_credentials]
host = "db.proj"
user = "proj-user"

[my_other_secrets]
things_i_like = ["Streamlit", "Python"]

[[servers]]
host = "a.example"
[[servers]]
host = "b.example"

["key.with.dots"]
x = "dotted"
EOF
HOME="$T/emptyhome" c get db_username
t "project only: get" eval 'rc_is 0 && out_is proj-jane'
HOME="$T/emptyhome" c get shared
t "project only: a global key is missing (exit 4)" eval 'rc_is 4'

# ---- both: overrides ----
c get db_username; t "both: project overrides a root scalar" eval 'rc_is 0 && out_is proj-jane'
c get shared; t "both: global keys stay visible" eval 'rc_is 0 && out_is from-global'
c get db_credentials.host; t "both: section comes from the project" eval 'rc_is 0 && out_is db.proj'
c get db_credentials.extra
t "both: a section is replaced whole (no key-by-key merge)" eval 'rc_is 4 && err_has "db_credentials.extra"'
c where db_username; t "both: where names the project file" eval 'rc_is 0 && out_is "$PROJ:2"'
c where shared; t "both: where names the global file" eval 'rc_is 0 && out_is "$GLOBAL:3"'

# ---- value forms ----
c get port; t "get int: TOML form" eval 'rc_is 0 && out_is 5432'
c get ratio; t "get float 0.1" eval 'out_is 0.1'
c get whole; t "get float 1.0" eval 'out_is 1.0'
c get big; t "get float 1e+20" eval 'out_is 1e+20'
c get enabled; t "get bool" eval 'rc_is 0 && out_is true'
c get when; t "get date" eval 'rc_is 0 && out_is 2026-11-27'
c get db_credentials
t "get table: JSON in definition order" eval 'rc_is 0 && [ "$(tr -d " \n" <"$T/out")" = "{\"host\":\"db.proj\",\"user\":\"proj-user\"}" ]'
c get my_other_secrets.things_i_like
t "get array: JSON" eval 'rc_is 0 && [ "$(tr -d " \n" <"$T/out")" = "[\"Streamlit\",\"Python\"]" ]'
c get --format toml db_username; t "get --format toml quotes a string" eval 'rc_is 0 && out_is "\"proj-jane\""'
c get --format=json db_username; t "get --format=json" eval 'rc_is 0 && out_is "\"proj-jane\""'
c get --format text port; t "get --format text" eval 'rc_is 0 && out_is 5432'
c get 'servers[1].host'; t "get servers[1].host" eval 'rc_is 0 && out_is b.example'
c get '"key.with.dots".x'; t "get a quoted key with dots" eval 'rc_is 0 && out_is dotted'
c get -- db_username; t "get -- KEY" eval 'rc_is 0 && out_is proj-jane'
c get --format json db_credentials
t "get --format json table is valid JSON" eval 'rc_is 0 && "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d==dict(host=\"db.proj\",user=\"proj-user\")" "$T/out"'

# ---- errors ----
c get db_usernam
t "missing key: exit 4 with a suggestion" eval 'rc_is 4 && err_has "db_usernam" && err_has "did you mean '"'"'db_username'"'"'" && [ ! -s "$T/out" ]'
c where nothing_here; t "where of a missing key: exit 4" eval 'rc_is 4 && err_has "nothing_here"'
c get '.a'; t "malformed key path: exit 2" eval 'rc_is 2'
c get 'no_such_key]'; t "malformed key path after a missing key: exit 2, not 4" eval 'rc_is 2 && err_has "invalid character in path"'

# ---- list ----
c list
t "list: leaf paths with FILE:LINE" eval 'rc_is 0 && grep -qxF "db_username	$PROJ:2" "$T/out" && grep -qxF "shared	$GLOBAL:3" "$T/out" && grep -qxF "db_credentials.host	$PROJ:12" "$T/out"'
t "list: arrays are one leaf" eval 'grep -qxF "my_other_secrets.things_i_like	$PROJ:16" "$T/out"'
t "list: arrays of tables as name[i].key" eval 'grep -qxF "servers[0].host	$PROJ:19" "$T/out" && grep -qxF "servers[1].host	$PROJ:21" "$T/out"'
t "list: quoted keys stay quoted" eval 'grep -qF "\"key.with.dots\".x	" "$T/out"'
t "list: no values" eval 'out_lacks proj-jane && out_lacks db.proj && out_lacks from-global'
t "list: shadowed global keys are not listed twice" eval '[ "$(grep -c "^db_username	" "$T/out")" -eq 1 ]'
c list --json
t "list --json: valid JSON with key, file, line" eval 'rc_is 0 && "$PY" -c "
import json,sys
d=json.load(open(sys.argv[1]))
m={e[\"key\"]:(e[\"file\"],e[\"line\"]) for e in d}
assert m[\"db_username\"]==(sys.argv[2],2), m
assert m[\"servers[1].host\"]==(sys.argv[2],21)
" "$T/out" "$PROJ"'

# ---- -C and -f ----
cd "$T"
c -C proj get db_username; t "-C DIR: project file looked up in DIR" eval 'rc_is 0 && out_is proj-jane'
c get db_username; t "without -C from another dir: only global" eval 'rc_is 0 && out_is global-jane'
c -C proj -f .streamlit/secrets.toml get shared
t "-f replaces the defaults; relative -f resolved after -C" eval 'rc_is 4'
c -f .streamlit/secrets.toml -C proj where db_username
t "-f before -C is still resolved after -C" eval 'rc_is 0 && out_is "$PROJ:2"'
put "$T/a.toml" <<'EOF'
k = "a"
only_a = "a"
EOF
put "$T/b.toml" <<'EOF'
k = "b"
EOF
c -f a.toml -f b.toml get k; t "-f repeatable: the later file wins" eval 'rc_is 0 && out_is b'
c --file=b.toml --file a.toml get k; t "--file=PATH and --file PATH" eval 'rc_is 0 && out_is a'
COFFER_SECRETS_FILES="$T/a.toml:$T/b.toml" c get k
t "COFFER_SECRETS_FILES" eval 'rc_is 0 && out_is b'
COFFER_SECRETS_FILES="$T/a.toml:$T/b.toml" c -f a.toml get k
t "-f beats COFFER_SECRETS_FILES" eval 'rc_is 0 && out_is a'
mkdir -p "$T/kdir/api_key" "$T/flat"
printf 'dir-value\n' >"$T/kdir/api_key/api_key"
printf 'flat-value\n' >"$T/flat/token"
c -f kdir -f flat:flat paths
t "paths shows kinds dir and flat" eval 'rc_is 0 && out_has "found    dir   $T/kdir" && out_has "flat" && out_has "$T/flat"'
c -f kdir -f flat:flat get token; t "flat: source readable" eval 'rc_is 0 && out_is flat-value'
c -f kdir get api_key; t "dir source readable" eval 'rc_is 0 && out_is dir-value'
c -f kdir where api_key; t "where names the file inside a dir source" eval 'rc_is 0 && out_is "$T/kdir/api_key/api_key:1"'
COFFER_SECRETS='k = "injected"' c -f a.toml get k
t "COFFER_SECRETS overrides the files" eval 'rc_is 0 && out_is injected'
COFFER_SECRETS='k = "injected"' c -f a.toml paths
t "paths lists COFFER_SECRETS as text" eval 'rc_is 0 && out_has "text" && out_has "COFFER_SECRETS"'
cd "$P"

# ---- bad and refused files ----
put "$T/bad.toml" <<'EOF'
ok = "fine"
broken = "no end
EOF
c -f "$T/bad.toml" get ok
t "bad TOML: exit 5 with file:line:col" eval 'rc_is 5 && grep -qE "^coffer: error: $T/bad.toml:2:[0-9]+: " "$T/err"'
mkdir -p "$T/isdir.toml"
c -f "$T/isdir.toml" list; t "a directory at a .toml path: exit 5" eval 'rc_is 5 && err_has "$T/isdir.toml"'
cp "$T/a.toml" "$T/gw.toml"; chmod 620 "$T/gw.toml"
c -f "$T/gw.toml" get k; t "group-writable file refused: exit 5" eval 'rc_is 5 && err_has "$T/gw.toml"'
cp "$T/a.toml" "$T/gr.toml"; chmod 640 "$T/gr.toml"
c -f "$T/gr.toml" get k; t "group-readable file: warning, still read" eval 'rc_is 0 && out_is a && err_has "warning" && err_has "$T/gr.toml"'
c --strict -f "$T/gr.toml" get k; t "--strict refuses a group-readable file: exit 5" eval 'rc_is 5'
COFFER_STRICT=1 c -f "$T/gr.toml" get k; t "COFFER_STRICT=1 refuses it too" eval 'rc_is 5'

# ---- env ----
put "$T/nasty.toml" <<'EOF'
plain = "simple"
quote = "it's a 'quoted' \"value\""
multi = "line one\nline two\n"
dollar = "$HOME `id` $(id) ${x}"
backslash = 'C:\path\to\n'
trailing_ws = "  spaced  "
empty = ""
unicode = "h\u00e9llo \u2603"
port = 5432
ratio = 0.1
whole = 1.0
big = 1e20
neg = -17
flag = true
when = 2026-11-27
list = [1, 2]
"not-portable" = "np"
"sp ace" = "x"
[section]
inner = "no"
EOF
c -f "$T/nasty.toml" env
cp "$T/out" "$T/env.sh"
t "env: exit 0" rc_is 0
t "env: export NAME='value' form" grep -qxF "export plain='simple'" "$T/env.sh"
t "env: non-portable names skipped with a warning" eval 'err_has "not-portable" && err_has "sp ace" && ! grep -q "not-portable" "$T/env.sh"'
t "env: bools, dates, arrays, tables not exported" eval '! grep -qE "^export (flag|when|list|section|inner)=" "$T/env.sh"'
c -f "$T/nasty.toml" get quote; q=$(cat "$T/out")
# eval round trip: every exported variable equals `coffer get` exactly.
cat >"$T/rt.sh" <<'EOF'
eval "$(cat "$1")"
for k in plain quote multi dollar backslash trailing_ws empty unicode; do
    eval "v=\${$k}"
    printf '%s' "$v" >"$2/env.$k"
done
printf '%s|%s|%s|%s|%s' "$port" "$ratio" "$whole" "$big" "$neg" >"$2/env.nums"
EOF
sh "$T/rt.sh" "$T/env.sh" "$T"
allok=true
for k in plain quote multi dollar backslash trailing_ws empty unicode; do
    pick_prefix; $pre "$COFFER_BIN" -f "$T/nasty.toml" get "$k" >"$T/get.$k" 2>/dev/null
    # get adds one newline; strip exactly that one
    "$PY" -c "import sys; a=open(sys.argv[1],'rb').read(); b=open(sys.argv[2],'rb').read(); sys.exit(0 if a==b[:-1] and b.endswith(b'\n') else 1)" \
        "$T/env.$k" "$T/get.$k" || { allok=false; echo "# mismatch for $k"; }
done
t "env: eval \"\$(coffer env)\" reproduces nasty values exactly" $allok
t "env: numbers as 5432, 0.1, 1.0, 1e+20, -17" [ "$(cat "$T/env.nums")" = "5432|0.1|1.0|1e+20|-17" ]
c -f "$T/nasty.toml" env --format dotenv
t "env --format dotenv skips a \${x} value with a warning (python-dotenv expands it)" eval 'err_has "dollar" && err_has "\${...}" && err_lacks "\$(id)" && out_lacks "dollar="'
if ! "$PY" -c 'import dotenv' 2>/dev/null; then
    skip "env --format dotenv round trip" "python3-dotenv not installed"
else
t "env --format dotenv round trip (python-dotenv, interpolate=False)" eval 'rc_is 0 && "$PY" -c "
import sys
from dotenv import dotenv_values
d = dotenv_values(sys.argv[1], interpolate=False)
exp = {\"plain\": \"simple\", \"quote\": \"it'"'"'s a '"'"'quoted'"'"' \\\"value\\\"\", \"multi\": \"line one\\nline two\\n\",
       \"backslash\": \"C:\\\\path\\\\to\\\\n\", \"empty\": \"\",
       \"port\": \"5432\", \"ratio\": \"0.1\", \"big\": \"1e+20\"}
for k, v in exp.items():
    assert d[k] == v, (k, d[k], v)
assert \"flag\" not in d and \"not-portable\" not in d and \"dollar\" not in d
" "$T/out"'
fi
c -f "$T/nasty.toml" env --format json
t "env --format json: every exportable key" eval 'rc_is 0 && "$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d[\"multi\"] == \"line one\\nline two\\n\" and d[\"port\"] == \"5432\" and d[\"whole\"] == \"1.0\"
assert \"not-portable\" not in d and \"sp ace\" not in d  # same keys as run
assert \"flag\" not in d and \"section\" not in d
" "$T/out"'

printf 'nul = "a\\u0000b"\nok = "fine"\n' | put "$T/nul.toml"
c -f "$T/nul.toml" env
t "env sh: a value with a NUL byte is skipped with a warning (and unset, as run does)" eval 'rc_is 0 && out_is "unset nul
export ok='"'"'fine'"'"'" && err_has "'"'"'nul'"'"'"'
c -f "$T/nul.toml" env --format json
t "env json: a NUL-valued key is skipped like for run" eval 'rc_is 0 && out_lacks "nul" && err_has "NUL"'

# ---- init ----
mkdir -p "$T/fresh"
c -C "$T/fresh" init
t "init: creates the file, exit 0" eval 'rc_is 0 && [ -f "$T/fresh/.streamlit/secrets.toml" ] && out_has "created"'
t "init: directory mode 0700" [ "$(stat -c %a "$T/fresh/.streamlit")" = 700 ]
t "init: file mode 0600" [ "$(stat -c %a "$T/fresh/.streamlit/secrets.toml")" = 600 ]
t "init: no .gitignore outside a git work tree" [ ! -e "$T/fresh/.gitignore" ]
c -C "$T/fresh" list; t "init: the template is valid TOML (all comments)" eval 'rc_is 0'
echo 'mine = "keep"' >>"$T/fresh/.streamlit/secrets.toml"
sum=$(cksum <"$T/fresh/.streamlit/secrets.toml")
c -C "$T/fresh" init
t "init: never overwrites; says so; exit 0" eval 'rc_is 0 && out_has "already exists; nothing changed" && [ "$(cksum <"$T/fresh/.streamlit/secrets.toml")" = "$sum" ]'
mkdir -p "$T/repo"
git init -q "$T/repo" 2>/dev/null
printf 'node_modules/\n*.log' >"$T/repo/.gitignore"
c -C "$T/repo" init
t "init in a git work tree: .gitignore gets the line, old content kept" eval 'rc_is 0 && [ "$(cat "$T/repo/.gitignore")" = "node_modules/
*.log
.streamlit/secrets.toml" ]'
t "init: git now ignores the secrets file" git -C "$T/repo" check-ignore -q .streamlit/secrets.toml
rm "$T/repo/.streamlit/secrets.toml"
c -C "$T/repo" init
t "init again: the .gitignore line is not added twice" eval 'rc_is 0 && [ "$(grep -c "^.streamlit/secrets.toml$" "$T/repo/.gitignore")" -eq 1 ]'
mkdir -p "$T/repo2"; git init -q "$T/repo2" 2>/dev/null
c -C "$T/repo2" init
t "init in a repo without .gitignore creates it" eval 'rc_is 0 && [ "$(cat "$T/repo2/.gitignore")" = ".streamlit/secrets.toml" ]'

# ---- the demo (make demo) ----
(cd "$ROOT" && sh examples/demo.sh "$BUILD") >"$T/demo.out" 2>&1; drc=$?
t "demo: runs, exit 0, shows run's exported variable" eval '[ $drc -eq 0 ] && grep -qx "db_username is jane" "$T/demo.out"'
t "demo: never prints a password" eval '! grep -q "Pa55word" "$T/demo.out"'
finish
