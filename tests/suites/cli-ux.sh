#!/bin/sh
# cli-ux: the newcomer report's CLI friction (issue 13): messages that say
# where coffer looked and what to do next, verb typos, version, list order,
# one exit code for an invalid configuration, check wording, get --default,
# has, get -n, dump, the whole store, the path rule for -f and the
# variables, STREAMLIT_SECRETS_FILES, Kubernetes and Docker layouts.
. "$(dirname "$0")/cli-common.inc"

B=$COFFER_BIN

# ---- messages ---------------------------------------------------------------
c get x
t "nosecrets_hint: no secrets found suggests coffer init (exit 3)" eval 'rc_is 3 && err_has "no secrets found; searched" && err_has "coffer init"'
c check
t "check_no_dash: no file, no '-' prefix" eval 'rc_is 3 && out_lacks "error -:" && grep -q "^error no secrets found" "$T/out"'
put "$GLOBAL" <<'EOF'
db_password = "g"
[db_credentials]
host = "h"
EOF
put "$PROJ" <<'EOF'
api_key = "a"
db_password = "p"
EOF
c get db_pasword
t "missing_key_names_sources: the files searched, and a suggestion" eval 'rc_is 4 && err_has "not found in '"'"'$GLOBAL'"'"', '"'"'$PROJ'"'"'" && err_has "did you mean '"'"'db_password'"'"'"'

# ---- verbs ------------------------------------------------------------------
for typo in gte:get lsit:list chek:check wehre:where; do
    c "${typo%%:*}"
    t "verb_typo: '${typo%%:*}' suggests '${typo#*:}', one-line hint, exit 2" eval 'rc_is 2 && err_has "did you mean '"'"'${typo#*:}'"'"'" && err_has "coffer help" && [ "$(wc -l < "$T/err")" -eq 2 ]'
done
c version
t "version_verb: coffer version prints the version" eval 'rc_is 0 && grep -qE "^coffer [0-9]+\.[0-9]+\.[0-9]+$" "$T/out"'
c help version; t "help version works" eval 'rc_is 0 && out_has "usage: coffer version"'

# ---- list order: by source in precedence order, then line -------------------
c list
t "list_order: global file's keys first, then the project's, by line" eval 'rc_is 0 && [ "$(cut -f1 "$T/out" | tr "\n" " ")" = "db_credentials.host api_key db_password " ]'

# ---- invalid configuration: exit 5 for every verb ---------------------------
mkdir -p "$P/.streamlit"
printf '[secrets]\nfiles = ["notes.txt"]\n' > "$P/.streamlit/config.toml"
: > "$P/notes.txt"
all5=1
for v in paths list get dump check env has where watch; do
    case $v in get|has|where) c "$v" x ;; watch) pick_prefix; timeout 10 $pre "$B" watch >"$T/out" 2>"$T/err"; rc=$? ;; *) c "$v" ;; esac
    [ "$rc" -eq 5 ] || { all5=0; echo "# $v exited $rc"; }
done
t "config_exit_5: an invalid [secrets] files gives exit 5 for every verb, paths too" eval '[ "$all5" -eq 1 ]'
c paths
t "config_exit_5: the error names the config file and line" eval 'err_has "$P/.streamlit/config.toml:2:" && err_has "notes.txt"'
rm -f "$P/.streamlit/config.toml" "$P/notes.txt"

# ---- the path rule for -f and the variables ---------------------------------
printf 'x = 1\n' > "$T/notes.txt"
c -f "$T/notes.txt" list
t "path_rule_f: -f with a non-.toml file is a clear error (exit 5)" eval 'rc_is 5 && err_has "neither a .toml file nor a directory"'
COFFER_SECRETS_FILES="$T/notes.txt" c list
t "path_rule_env: COFFER_SECRETS_FILES follows the same rule" eval 'rc_is 5 && err_has "COFFER_SECRETS_FILES"'
c -f "$T/missing-dir" list
t "path_rule_f: a missing path without .toml is an error too" eval 'rc_is 5'
c -f "$T/missing.toml" -f "$PROJ" get api_key
t "path_rule_f: a missing .toml file is only missing" eval 'rc_is 0 && out_is a'
printf 'who = "streamlit"\n' > "$T/s.toml"; printf 'who = "coffer"\n' > "$T/c.toml"; chmod 600 "$T/s.toml" "$T/c.toml"
STREAMLIT_SECRETS_FILES="$T/s.toml" c get who
t "streamlit_alias: STREAMLIT_SECRETS_FILES is read" eval 'rc_is 0 && out_is streamlit'
STREAMLIT_SECRETS_FILES="$T/s.toml" COFFER_SECRETS_FILES="$T/c.toml" c get who
t "streamlit_alias: COFFER_SECRETS_FILES wins when both are set" eval 'rc_is 0 && out_is coffer'
mkdir -p "$T/flatd"; printf 'v1' > "$T/flatd/tok"; chmod 600 "$T/flatd/tok"
COFFER_SECRETS_FILES="flat:$T/flatd:$T/c.toml" c get tok
t "path_rule_env: flat: in COFFER_SECRETS_FILES is a prefix, not a separator" eval 'rc_is 0 && out_is v1'

# ---- get --default, has, get -n, the whole store -----------------------------
c get --default fallback nope
t "get_default: a missing key prints the default, exit 0" eval 'rc_is 0 && out_is fallback'
c get --default fallback api_key
t "get_default: a present key prints its value" eval 'rc_is 0 && out_is a'
c get --default=fb db_password.x
t "get_default: --default=VALUE, and a scalar in the way counts as missing" eval 'rc_is 0 && out_is fb'
c -f "$T/nothing-here.toml" get --default d x
t "get_default: no secrets at all prints the default" eval 'rc_is 0 && out_is d'
printf 'bad = = 1\n' > "$T/bad.toml"; chmod 600 "$T/bad.toml"
c -f "$T/bad.toml" get --default d x
t "get_default: an invalid file still fails (exit 5)" eval 'rc_is 5 && out_is ""'
c has api_key; t "has: a present key exits 0, prints nothing" eval 'rc_is 0 && [ ! -s "$T/out" ] && err_empty'
c has nope; t "has: a missing key exits 4, prints nothing" eval 'rc_is 4 && [ ! -s "$T/out" ] && err_empty'
c has db_credentials.host; t "has: a nested key" eval 'rc_is 0'
c -f "$T/bad.toml" has x; t "has: invalid input exits 5" eval 'rc_is 5'
c has 'x]'; t "has: a malformed key exits 2" eval 'rc_is 2'
c -f "$T/nothing-here.toml" has x; t "has: no secrets at all exits 4" eval 'rc_is 4'
c get -n api_key
t "get_n: no trailing newline" eval 'rc_is 0 && [ "$(od -An -c "$T/out" | tr -d " \n")" = a ]'
c get --format json ''
t "get_whole_store: get --format json '' prints every value as one document" eval 'rc_is 0 && $PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d==dict(db_password=\"p\",db_credentials=dict(host=\"h\"),api_key=\"a\"), d" "$T/out"'

# ---- dump --------------------------------------------------------------------
c dump
t "dump: keys and types, no values" eval 'rc_is 0 && out_has "api_key	string" && out_has "db_credentials.host	string" && out_lacks "\"p\""'
c dump --json
t "dump --json: keys and types as JSON, no values" eval 'rc_is 0 && $PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert all(\"value\" not in e for e in d) and {\"key\":\"api_key\",\"type\":\"string\"} in d" "$T/out"'
c dump --values
t "dump --values: PATH = TOML value when stdout is not a terminal" eval 'rc_is 0 && out_has "db_password = \"p\""'
c dump --json --values
t "dump --json --values: a value member" eval 'rc_is 0 && $PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert {\"key\":\"db_password\",\"type\":\"string\",\"value\":\"p\"} in d" "$T/out"'
if command -v script >/dev/null 2>&1; then
    script -qec "$B dump --values" /dev/null >"$T/out" 2>&1; rc=$?
    t "dump_tty: --values to a terminal is refused (exit 2), no value shown" eval 'rc_is 2 && out_has "refusing" && out_lacks "\"p\""'
    script -qec "$B dump --values --force" /dev/null >"$T/out" 2>&1; rc=$?
    t "dump_tty: --force prints them" eval 'rc_is 0 && out_has "db_password = \"p\""'
else
    skip "dump_tty" "script(1) not installed"
fi

# ---- check wording -----------------------------------------------------------
chmod 644 "$PROJ"
c check
t "check_path_once: a permission finding names the path once" eval 'grep "^warning $PROJ:" "$T/out" | awk -v p="$PROJ" "{ n = gsub(p, \"\"); exit n != 1 }"'
chmod 600 "$PROJ"
if command -v git >/dev/null 2>&1; then
    git -C "$P" init -q . && printf '.streamlit/secrets.toml\n' > "$P/.gitignore"
    git -C "$P" add -f .streamlit/secrets.toml
    c check
    t "check_tracked_ignored: says rotate, not to add the line already there" eval 'rc_is 1 && out_has "rotate" && out_lacks "add the line" && out_has "git rm --cached .streamlit/secrets.toml"'
    rm -f "$P/.gitignore"
    c check
    t "check_tracked: says to add the line and to rotate" eval 'rc_is 1 && out_has "add the line" && out_has "rotate"'
    rm -rf "$P/.git"
else
    skip "check git wording" "git not installed"
fi
printf 'a = \n' > "$T/t1.toml"; chmod 600 "$T/t1.toml"
c -f "$T/t1.toml" check
t "check_toml_format: FILE:LINE:COL: message, as a load prints it" eval 'rc_is 1 && grep -qE "^error $T/t1.toml:1:[0-9]+: " "$T/out"'
t "check_toml_format: the load error has the same text" eval 'msg=$(sed -n "s/^error //p" "$T/out"); c -f "$T/t1.toml" get a; [ -n "$msg" ] && [ "$(cat "$T/err")" = "coffer: error: $msg" ]'

# ---- Kubernetes and Docker layouts -------------------------------------------
# kubelet volume: ..DATE/ with the files, ..data -> ..DATE, KEY -> ..data/KEY.
kube() { # kube DIR STAMP KEY=VALUE...
    kd=$1; st=$2; shift 2
    mkdir -p "$kd/$st"
    for kv in "$@"; do printf '%s\n' "${kv#*=}" > "$kd/$st/${kv%%=*}"; chmod 644 "$kd/$st/${kv%%=*}"; done
    ln -sfn "$st" "$kd/..data_tmp" && mv -T "$kd/..data_tmp" "$kd/..data"
    for kv in "$@"; do ln -sfn "..data/${kv%%=*}" "$kd/${kv%%=*}"; done
}
K="$T/k8s/single"
kube "$K" ..2026_12_04_10_00_00.1 password=pw1 username=app
c -f "$K" get password
t "k8s_single_mount: one Secret mounted at the path is a directory source" eval 'rc_is 0 && out_is pw1'
c -f "$K" list
t "k8s_single_mount: its keys are root keys, no ..data entries" eval 'rc_is 0 && [ "$(cut -f1 "$T/out" | tr "\n" " ")" = "password username " ]'
kube "$K" ..2026_12_04_11_00_00.2 password=pw2 username=app
c -f "$K" get password
t "k8s_single_mount: a ..data swap gives the new value" eval 'rc_is 0 && out_is pw2'
M="$T/k8s/multi"
kube "$M/api" ..2026_12_04_10_00_00.3 token=tok1
c -f "$M" get api.token
t "k8s_one_key_secret: a Secret with one key keeps its shape" eval 'rc_is 0 && out_is tok1'
mkdir -p "$T/plain"; printf 'pw\n' > "$T/plain/password"; chmod 600 "$T/plain/password"
c -f "$T/plain" list
t "k8s_top_level_file: the layout error suggests flat:" eval 'rc_is 5 && err_has "flat:$T/plain"'

# Docker /run/secrets: root-owned 0444 files that the user cannot chmod.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    R=$(mktemp -d); chmod 755 "$R"; mkdir -p "$R/run/secrets" "$R/home"
    printf 'dbpw\n' > "$R/run/secrets/db_password"; chmod 444 "$R/run/secrets/db_password"
    chmod 755 "$R/run" "$R/run/secrets"; chown 65534 "$R/home"
    as_nobody() { HOME=$R/home setpriv --reuid=65534 --regid=65534 --clear-groups "$B" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
    as_nobody -C "$R/home" -f "flat:$R/run/secrets" get db_password
    t "docker_secrets: a root-owned 0444 file gets no unfixable chmod warning" eval 'rc_is 0 && out_is dbpw && err_empty'
    as_nobody -C "$R/home" -f "flat:$R/run/secrets" check
    t "docker_secrets: check says why, as info" eval 'rc_is 0 && out_has "info $R/run/secrets/db_password: readable by group or others, owned by root"'
    as_nobody -C "$R/home" --strict -f "flat:$R/run/secrets" get db_password
    t "docker_secrets: strict mode still refuses it, saying why" eval 'rc_is 5 && err_has "cannot be changed here"'
    rm -rf "$R"
else
    skip "docker_secrets" "needs root and setpriv to run as another user"
fi
# A read-only mount (statvfs ST_RDONLY), when this machine lets us make one.
RO=$(mktemp -d); mkdir -p "$RO/src"; printf 'v\n' > "$RO/src/k"; chmod 644 "$RO/src/k"
if command -v unshare >/dev/null 2>&1 && unshare -m sh -c "mount --bind '$RO/src' '$RO/src' && mount -o remount,bind,ro '$RO/src'" 2>/dev/null; then
    unshare -m sh -c "mount --bind '$RO/src' '$RO/src' && mount -o remount,bind,ro '$RO/src' && exec '$B' -f 'flat:$RO/src' get k" >"$T/out" 2>"$T/err"; rc=$?
    t "docker_readonly_mount: a 0644 file on a read-only mount: no chmod warning" eval 'rc_is 0 && out_is v && err_empty'
else
    skip "docker_readonly_mount" "cannot make a read-only bind mount here"
fi
rm -rf "$RO"

# get dotted.key without quotes, where the root holds the key "dotted.key"
printf '"dotted.key" = "v"\nother = 1\n' > "$T/dotted.toml"; chmod 600 "$T/dotted.toml"
c -f "$T/dotted.toml" get dotted.key
t "dotted_key_hint: a dotted path that is one quoted key suggests the quotes" eval 'rc_is 4 && err_has "did you mean '"'"'\"dotted.key\"'"'"'?"'

finish
