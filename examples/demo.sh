#!/bin/sh
# make demo: coffer on the bundled example project (examples/project, with
# examples/home as a fake $HOME). The secrets are fake demo values.
#
# git stores files as 0644, which coffer would warn about (secrets must not
# be readable by group or others), so the demo copies both directories into
# a temporary directory and makes them private first: 0700 / 0600, as
# `coffer init` creates them. The last step shows the warning on purpose.
set -eu
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
[ -x "$BUILD/coffer" ] || { echo "demo: $BUILD/coffer not built (run make)" >&2; exit 1; }
SRC=$(cd "$(dirname "$0")" && pwd)
DEMO=$(mktemp -d)
trap 'rm -rf "$DEMO"' EXIT
trap 'exit 1' INT TERM
DEMO=$(cd "$DEMO" && pwd -P)
cp -R "$SRC/project" "$SRC/home" "$DEMO/"
chmod 700 "$DEMO/project/.streamlit" "$DEMO/home/.streamlit"
chmod 600 "$DEMO/project/.streamlit/secrets.toml" "$DEMO/home/.streamlit/secrets.toml"

export HOME="$DEMO/home" PATH="$BUILD:$PATH"
unset COFFER_SECRETS COFFER_SECRETS_FILES CREDENTIALS_DIRECTORY COFFER_STRICT
cd "$DEMO/project"

if [ -t 1 ]; then
    B=$(printf '\033[1m') D=$(printf '\033[36m') N=$(printf '\033[0m')
else
    B= D= N=
fi
step() { printf '\n%s# %s%s\n' "$D" "$*" "$N"; }
# show CMD: prints the command as typed, runs it, shows paths as $DEMO/...
show() {
    printf '%s$ %s%s\n' "$B" "$1" "$N"
    sh -c "$1" 2>&1 | sed "s|$DEMO|\$DEMO|g"
}

printf '%scoffer demo%s: a project in $DEMO/project, a fake $HOME in $DEMO/home\n' "$B" "$N"
step "Where secrets come from, lowest precedence first: the global file, then the project's."
show 'coffer paths'
step "Every key and the FILE:LINE it comes from; values are never listed."
show 'coffer list'
step "One value: strings print raw, numbers in TOML form."
show 'coffer get db_credentials.user'
show 'coffer get db_credentials.port'
step "The project file overrides the global one at the root: where wins db_username?"
show 'coffer where db_username'
show 'coffer get db_username'
step "Keys only in the global file stay visible (its value is not shown here)."
show 'coffer where github_token'
step "A table or an array prints as JSON, ready for jq or a program."
show 'coffer get my_other_secrets'
step "Root-level strings and numbers become environment variables (values hidden here)."
show "coffer env | sed 's/=.*/=.../'"
step "Run a program with its secrets in the environment (coffer execs it)."
show "coffer run -- sh -c 'echo \"db_username is \$db_username\"'"
show 'coffer run -- sh app.sh'
step "A typo gets a suggestion and exit status 4; no value is ever printed."
show 'coffer get db_usernme; echo "exit status $?"'
step "A health check: shadowed keys (info), permissions, git hygiene."
show 'coffer check; echo "exit status $?"'
step "A group-readable secrets file gets a warning (an error with --strict); made private again after."
show 'chmod 640 .streamlit/secrets.toml && coffer check; echo "exit status $?"'
chmod 600 .streamlit/secrets.toml
# Encrypted secrets, safe to commit (examples/encrypted): values sealed to an
# age recipient, read with the demo identity in COFFER_AGE_KEY_FILE.
cp -R "$SRC/encrypted" "$DEMO/"
chmod 600 "$DEMO/encrypted/demo-key.txt" "$DEMO/encrypted/.streamlit/secrets.toml"
cp "$DEMO/encrypted/.streamlit/secrets.toml" "$DEMO/committed.toml"
cd "$DEMO/encrypted"
step "A committed, encrypted secrets file: keys in the clear, values as ENC[...] strings."
show "sed -n '5,10p' .streamlit/secrets.toml | cut -c1-70"
step "Without an identity: keys are listed, values stay locked (exit status 6)."
show 'coffer list'
show 'coffer get db_password; echo "exit status $?"'
export COFFER_AGE_KEY_FILE="$DEMO/encrypted/demo-key.txt"
step "With the demo identity (COFFER_AGE_KEY_FILE) every verb decrypts transparently."
show 'coffer get stripe.secret_key'
show 'coffer run -- sh app.sh'
step "Set a value from stdin (never argv): encrypted, the rest of the file untouched."
show 'printf "rotated-demo-password" | coffer set db_password && diff ../committed.toml .streamlit/secrets.toml | grep "^[<>]" | cut -c1-40; coffer get db_password'
unset COFFER_AGE_KEY_FILE
cd "$DEMO/project"

printf '\n%sMore:%s coffer --help, coffer VERB --help, man docs/coffer.1\n' "$B" "$N"
