#!/bin/sh
# cli-safety: init and check on a hostile machine (security report D8, D9,
# D11, D12, D15): init never replaces a file created at the same moment,
# odd .gitignore files, git run with a hostile repository configuration,
# directory permissions (OpenSSH StrictModes), COFFER_STRICT values.
. "$(dirname "$0")/cli-common.inc"

B=$COFFER_BIN
have_git=0; command -v git >/dev/null 2>&1 && have_git=1

# ---- D8: init against a concurrent writer, 60 trials ----------------------
trials=60; [ "$SUITES" = all ] || trials=10
lost=0 badmsg=0 i=0
while [ "$i" -lt "$trials" ]; do
    d="$T/race$i"; mkdir -p "$d/.streamlit"
    f="$d/.streamlit/secrets.toml"
    # The writer and init start together; the writer's content must win
    # whoever comes first (init links, never renames over).
    sh -c 'printf "user = \"mine\"\n" > "$1"' _ "$f" &
    wpid=$!
    $B -C "$d" init >"$T/race.out" 2>&1
    wait "$wpid"
    grep -q 'user = "mine"' "$f" || lost=$((lost + 1))
    # When init lost the race it says so, and never says "created" for a
    # file whose content is not its template (the writer may overwrite a
    # template that init created first: then init said "created").
    if grep -q "already exists" "$T/race.out"; then :;
    elif ! grep -q "^created" "$T/race.out"; then badmsg=$((badmsg + 1)); fi
    i=$((i + 1))
done
t "d8_init_race: the user's content survives every one of $trials trials" eval '[ "$lost" -eq 0 ]'
t "d8_init_race: init says created or already exists, nothing else" eval '[ "$badmsg" -eq 0 ]'
mkdir -p "$T/d8b/.streamlit"; printf 'mine = 1\n' > "$T/d8b/.streamlit/secrets.toml"
ln -s /nonexistent-target "$T/d8b/.streamlit/dangling" 2>/dev/null
c -C "$T/d8b" init
t "d8_init_existing: an existing file is left as it is" eval 'rc_is 0 && out_has "already exists" && [ "$(cat "$T/d8b/.streamlit/secrets.toml")" = "mine = 1" ]'
mkdir -p "$T/d8c/.streamlit"; ln -s "$T/d8c-target" "$T/d8c/.streamlit/secrets.toml"
c -C "$T/d8c" init
t "d8_init_dangling_link: a dangling secrets.toml link is not followed" eval 'out_has "already exists" && [ ! -e "$T/d8c-target" ]'

# ---- D9: odd .gitignore files ----------------------------------------------
if [ "$have_git" = 1 ]; then
    mkdir -p "$T/d9f" && git -C "$T/d9f" init -q . && mkfifo "$T/d9f/.gitignore"
    timeout 20 "$B" -C "$T/d9f" init >"$T/out" 2>"$T/err"; rc=$?
    t "d9_fifo_gitignore: init does not block on a FIFO .gitignore" eval '[ "$rc" -ne 124 ]'
    t "d9_fifo_gitignore: refused with a message, the FIFO stays" eval 'rc_is 1 && err_has "not a regular file" && [ -p "$T/d9f/.gitignore" ]'
    timeout 20 "$B" -C "$T/d9f" check >"$T/out" 2>"$T/err"; rc=$?
    t "d9_fifo_gitignore: check does not block either, reports it" eval '[ "$rc" -eq 1 ] && out_has ".gitignore: not a regular file"'

    mkdir -p "$T/d9l" && git -C "$T/d9l" init -q .
    printf 'node_modules/\n' > "$T/d9-target"
    ln -s "$T/d9-target" "$T/d9l/.gitignore"
    c -C "$T/d9l" init
    t "d9_symlink_gitignore: the link's target gets the line" eval 'rc_is 0 && grep -qx ".streamlit/secrets.toml" "$T/d9-target" && grep -qx "node_modules/" "$T/d9-target"'
    t "d9_symlink_gitignore: the link stays a link" eval '[ -L "$T/d9l/.gitignore" ] && [ "$(readlink "$T/d9l/.gitignore")" = "$T/d9-target" ]'

    mkdir -p "$T/d9d" && git -C "$T/d9d" init -q . && ln -s "$T/d9-missing" "$T/d9d/.gitignore"
    c -C "$T/d9d" init
    t "d9_dangling_gitignore: refused, the link is left alone" eval 'rc_is 1 && err_has "symbolic link to a missing file" && [ -L "$T/d9d/.gitignore" ] && [ ! -e "$T/d9-missing" ]'

    mkdir -p "$T/d9s" && git -C "$T/d9s" init -q . && ln -s /dev/null "$T/d9s/.gitignore"
    c -C "$T/d9s" init
    t "d9_gitignore_to_device: a link to a device is refused" eval 'rc_is 1 && [ -L "$T/d9s/.gitignore" ]'

    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$T/d9o" && git -C "$T/d9o" init -q .
        printf 'x\n' > "$T/d9-other"; chown 12345 "$T/d9-other"
        ln -s "$T/d9-other" "$T/d9o/.gitignore"
        c -C "$T/d9o" init
        t "d9_gitignore_foreign_target: a target owned by another user is refused" eval 'rc_is 1 && err_has "do not own" && [ "$(cat "$T/d9-other")" = x ]'
    else
        skip "d9_gitignore_foreign_target" "needs root to chown"
    fi
else
    skip "d9 .gitignore tests" "git not installed"
fi

# ---- D11: git with a hostile repository configuration ----------------------
if [ "$have_git" = 1 ]; then
    H="$T/d11"; mkdir -p "$H/.streamlit" "$T/hooks"
    git -C "$H" init -q .
    for hk in post-index-change pre-commit post-checkout reference-transaction; do
        printf '#!/bin/sh\ntouch "%s/RAN-hook"\n' "$T" > "$T/hooks/$hk"; chmod +x "$T/hooks/$hk"
    done
    git -C "$H" config core.fsmonitor "touch $T/RAN-fsmonitor; false"
    git -C "$H" config core.hooksPath "$T/hooks"
    git -C "$H" config core.pager "touch $T/RAN-pager; cat"
    git -C "$H" config pager.ls-files "touch $T/RAN-pager2; cat"
    git -C "$H" config alias.check-ignored "!touch $T/RAN-alias"
    git -C "$H" config diff.external "$T/hooks/pre-commit"
    git -C "$H" config core.untrackedCache true
    printf 'a = "x"\n' > "$H/.streamlit/secrets.toml"; chmod 600 "$H/.streamlit/secrets.toml"
    git -C "$H" -c core.fsmonitor= -c core.hooksPath=/dev/null add -f .streamlit/secrets.toml
    rm -f "$T"/RAN-*
    # The environment tries too: config injected through GIT_CONFIG_*,
    # a redirected GIT_DIR, an external diff, a pager.
    GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor \
    GIT_CONFIG_VALUE_0="touch $T/RAN-envconfig; false" \
    GIT_EXTERNAL_DIFF="$T/hooks/pre-commit" GIT_PAGER="touch $T/RAN-gitpager" \
    PAGER="touch $T/RAN-pagerenv" \
        c -C "$H" check
    t "d11_hostile_git_config: check still finds the tracked file" eval 'rc_is 1 && out_has "tracked by git"'
    t "d11_hostile_git_config: nothing from the repository or GIT_* ran" eval '! ls "$T"/RAN-* >/dev/null 2>&1'
    GIT_DIR="$T/nowhere" c -C "$H" check
    t "d11_git_dir_env: GIT_DIR from the environment does not redirect git" eval 'rc_is 1 && out_has "tracked by git"'
    H2="$T/d11b"; mkdir -p "$H2"; git -C "$H2" init -q .
    cp "$H/.git/config" "$H2/.git/config"
    GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0="touch $T/RAN-envconfig; false" \
        c -C "$H2" init
    t "d11_hostile_git_config: init adds the .gitignore line, nothing ran" eval 'rc_is 0 && grep -qx ".streamlit/secrets.toml" "$H2/.gitignore" && ! ls "$T"/RAN-* >/dev/null 2>&1'
else
    skip "d11 hostile git config" "git not installed"
fi

# ---- D12: directory permissions --------------------------------------------
D="$T/d12a"; mkdir -p "$D/.streamlit"; chmod 777 "$D/.streamlit"
printf 'a = "x"\n' > "$D/.streamlit/secrets.toml"; chmod 600 "$D/.streamlit/secrets.toml"
c -C "$D" check
t "d12_dir_0777: check reports the world-writable directory as an error" eval 'rc_is 1 && grep -E "^error $D/.streamlit/secrets.toml: " "$T/out" | grep -qF "directory '"'"'$D/.streamlit'"'"'"'
c -C "$D" get a
t "d12_dir_0777: load warns (naming the directory) and still reads" eval 'rc_is 0 && out_is x && err_has "warning:" && err_has "$D/.streamlit'"'"', which is writable by group or others"'
c -C "$D" --strict get a
t "d12_dir_0777: refused in strict mode (exit 5)" eval 'rc_is 5 && err_has "writable by group or others"'
COFFER_STRICT=yes c -C "$D" get a
t "d12_dir_0777: COFFER_STRICT=yes refuses it too" eval 'rc_is 5'
D="$T/d12b"; mkdir -p "$D/.streamlit"; chmod 777 "$D/.streamlit"
c -C "$D" init
t "d12_init_0777: init refuses to write into it" eval 'rc_is 5 && err_has "writable by group or others" && [ ! -e "$D/.streamlit/secrets.toml" ]'
chmod 1777 "$D/.streamlit"
c -C "$D" init
t "d12_init_1777_own: a sticky directory owned by the user is fine" eval 'rc_is 0 && [ -f "$D/.streamlit/secrets.toml" ]'
c -C "$D" check
t "d12_check_1777_own: no directory finding" eval 'out_lacks "directory '"'"'$D"'
if [ "$(id -u)" = 0 ]; then
    D="$T/d12c"; mkdir -p "$D/.streamlit"; chmod 1777 "$D/.streamlit"
    printf 'a = "x"\n' > "$D/.streamlit/secrets.toml"; chmod 600 "$D/.streamlit/secrets.toml"
    chown 12345 "$D/.streamlit"
    c -C "$D" check
    t "d12_dir_1777_foreign: sticky but owned by another user is an error" eval 'rc_is 1 && out_has "sticky but owned by another user (uid 12345)"'
    rm -f "$D/.streamlit/secrets.toml"
    c -C "$D" init
    t "d12_init_1777_foreign: init refuses it" eval 'rc_is 5 && [ ! -e "$D/.streamlit/secrets.toml" ]'
else
    skip "d12_dir_1777_foreign" "needs root to chown a directory to another user"
    skip "d12_init_1777_foreign" "needs root to chown a directory to another user"
fi
# A .streamlit symlink into a 0777 directory, and a secrets.toml symlink
# into one: the real directories are walked too.
W="$T/world"; mkdir -p "$W"; chmod 777 "$W"
printf 'a = "x"\n' > "$W/secrets.toml"; chmod 600 "$W/secrets.toml"
D="$T/d12d"; mkdir -p "$D"; ln -s "$W" "$D/.streamlit"
c -C "$D" check
t "d12_symlink_dir_into_0777: check reports the directory" eval 'rc_is 1 && grep -E "^error " "$T/out" | grep -qF "which is writable by group or others"'
D="$T/d12e"; mkdir -p "$D/.streamlit"; ln -s "$W/secrets.toml" "$D/.streamlit/secrets.toml"
c -C "$D" check
t "d12_symlink_file_into_0777: a secrets.toml link into it too" eval 'rc_is 1 && out_has "directory '"'"'$W'"'"'"'
D="$T/d12f"; mkdir -p "$D"; ln -s "$W" "$D/.streamlit"; rm -f "$W/secrets.toml"
c -C "$D" init
t "d12_init_symlink_into_0777: init refuses a .streamlit link into it" eval 'rc_is 5 && [ ! -e "$W/secrets.toml" ]'
# A directory source in a 0777 directory.
K="$T/d12k"; mkdir -p "$K/secrets/db"; chmod 777 "$K/secrets"
printf 'pw' > "$K/secrets/db/password"; chmod 600 "$K/secrets/db/password"
c -f "$K/secrets" check
t "d12_dir_source_0777: a world-writable directory source is an error" eval 'rc_is 1 && out_has "directory '"'"'$K/secrets'"'"'"'
chmod 755 "$K/secrets"
c -f "$K/secrets" check
t "d12_dir_source_0755: a safe one is not" eval 'rc_is 0'

# A file of a flat directory that links into a 0777 directory.
mkdir -p "$T/d12l"; printf 'tok' > "$W/tok"; chmod 600 "$W/tok"; ln -s "$W/tok" "$T/d12l/tok"
c -f "flat:$T/d12l" check
t "d12_flat_link_into_0777: a key file linking into it is an error" eval 'rc_is 1 && out_has "directory '"'"'$W'"'"'"'
c -f "flat:$T/d12l" get tok
t "d12_flat_link_into_0777: a warning at load" eval 'rc_is 0 && out_is tok && err_has "$W"'

# ---- D15: COFFER_STRICT values ---------------------------------------------
put "$PROJ" <<'EOF'
a = "x"
EOF
chmod 644 "$PROJ"
for v in 1 true yes on YES True; do
    COFFER_STRICT=$v c get a
    t "d15_strict_on: COFFER_STRICT=$v refuses a group-readable file" eval 'rc_is 5'
done
for v in 0 false no off ""; do
    COFFER_STRICT=$v c get a
    t "d15_strict_off: COFFER_STRICT='$v' reads it with a warning" eval 'rc_is 0 && out_is x && err_has "warning:"'
done
for v in maybe 2 enabled " 1"; do
    COFFER_STRICT=$v c get a
    t "d15_strict_invalid: COFFER_STRICT='$v' fails closed (exit 2)" eval 'rc_is 2 && err_has "invalid COFFER_STRICT value" && out_is ""'
done
COFFER_STRICT=maybe c check
t "d15_strict_invalid: check fails closed too" eval 'rc_is 2 && err_has "invalid COFFER_STRICT"'
chmod 600 "$PROJ"

finish
