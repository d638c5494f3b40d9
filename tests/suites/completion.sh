#!/bin/sh
# completion.sh - bash and zsh completion (completions/): verbs from the
# binary (`coffer help --verbs`), global and per-verb options, option
# values, key paths from `coffer list` for verbs taking a KEY, commands
# after `run --`; never a value. bash: the completion function called with
# COMP_WORDS; zsh: compinit registers _coffer for coffer, and the function
# runs under stubs of compadd/_files that record what it offers, and in a
# real interactive zsh (zpty) where TAB goes through compinit.
. tests/suites/cli-common.inc
if [ "$SUITES" != all ]; then skip "completion" "not in $SUITES mode"; exit 0; fi
BASHC="$ROOT/completions/coffer.bash"
ZSHC="$ROOT/completions/_coffer"
put "$PROJ" <<'EOF2'
db_password = "hunter2-value"
api_key = "k-value"
[db]
host = "db.example"
port = 5432
[[servers]]
host = "a"
EOF2
mkdir -p "$T/bin"
ln -s "$COFFER_BIN" "$T/bin/coffer"
# a coffer with one more verb, to show the verbs come from the binary
cat >"$T/bin/coffer-new" <<EOF2
#!/bin/sh
if [ "\$1 \$2" = "help --verbs" ]; then "$COFFER_BIN" help --verbs; echo frobnicate; exit 0; fi
exec "$COFFER_BIN" "\$@"
EOF2
chmod 755 "$T/bin/coffer-new"
export PATH="$T/bin:$PATH"

# ---- coffer help --verbs ----
c help --verbs
t "help --verbs prints the verb table, one a line" sh -c "[ $rc -eq 0 ] && grep -qx get '$T/out' && grep -qx run '$T/out' && grep -qx init '$T/out'"
bad=
for v in $(cat "$T/out"); do "$COFFER_BIN" "$v" --help >/dev/null 2>&1 || bad="$bad $v"; done
t "every listed verb has --help (exit 0)" [ -z "$bad" ]
t "help --verbs stays out of the usage text" sh -c "! '$COFFER_BIN' --help | grep -q -- '--verbs'"

# ---- bash ----
bc() { # bc WORD...: the candidates for the last word, space-separated, sorted
    bash --norc --noprofile -c '
        . "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _coffer; [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort -u | tr "\n" " "' bc "$BASHC" "$@"
}
t "bash: the file loads and registers _coffer for coffer" \
    bash --norc --noprofile -c ". '$BASHC' && complete -p coffer | grep -q -- '-F _coffer'"
got=$(bc coffer '')
all_verbs() { for v in $("$COFFER_BIN" help --verbs) help; do case " $1 " in *" $v "*) ;; *) return 1 ;; esac; done; }
t "bash: every verb of the binary, and help ('$got')" all_verbs "$got"
got=$(bc coffer-new '')
t "bash: a verb the binary adds is offered ($got)" sh -c "echo '$got' | grep -qw frobnicate"
got=$(bc coffer w)
t "bash: verb prefix 'w' -> watch where" [ "$got" = "watch where " ]
got=$(bc coffer --st)
t "bash: global option --strict" [ "$got" = "--strict " ]
got=$(bc coffer get --)
t "bash: get options (--format)" sh -c "echo '$got' | grep -qw -- --format"
got=$(bc coffer get --format '')
t "bash: --format values from get's usage ($got)" [ "$got" = "json text toml " ]
got=$(bc coffer env --format d)
t "bash: env --format d -> dotenv" [ "$got" = "dotenv " ]
got=$(bc coffer run --re)
t "bash: run --re -> --restart" [ "$got" = "--restart " ]
got=$(bc coffer get db)
t "bash: 'coffer get db<TAB>' completes key paths ($got)" [ "$got" = "db db.host db.port db_password " ]
got=$(bc coffer where '')
t "bash: keys for where, with array paths ($got)" sh -c "echo '$got' | grep -q 'servers\\[0\\].host' && echo '$got' | grep -qw api_key"
t "bash: no value among the candidates" sh -c "! echo '$got' | grep -q value"
got=$(bc coffer list '')
t "bash: no keys for a verb without KEY (list)" [ -z "$got" ]
other="$T/other.toml"
printf 'only_here = 1\n' | put "$other"
got=$(bc coffer -f "$other" get '')
t "bash: keys follow the global -f ($got)" [ "$got" = "only_here " ]
got=$(bc coffer help g)
t "bash: help VERB" [ "$got" = "get " ]
got=$(bc coffer run -- ech)
t "bash: a command after run --" sh -c "echo '$got' | grep -qw echo"
got=$(bc coffer -C "$T/pr")
t "bash: -C completes directories" [ "$got" = "$T/proj " ]

# ---- zsh ----
zc() { # zc WORD...: what _coffer offers for the last word
    zsh -f -c '
        compadd() { local a; while [[ $1 == -* && $1 != -- ]]; do shift; done
                    [[ $1 == -- ]] && shift
                    for a; do [[ $a == ${PREFIX}* ]] && print -r -- "$a"; done }
        _files() { print "<files>" }; _directories() { print "<dirs>" }
        _normal() { print "<normal:${words[1]}>" }
        f=$1; shift
        words=(coffer); CURRENT=1; PREFIX=
        source "$f" >/dev/null 2>&1
        words=("$@"); CURRENT=${#words}; PREFIX=${words[CURRENT]}
        _coffer' zc "$ZSHC" "$@" | sort -u | tr '\n' ' '
}
t "zsh: compinit registers _coffer for coffer" zsh -f -c "
    mkdir -p '$T/zf' && cp '$ZSHC' '$T/zf/' && fpath=('$T/zf' \$fpath)
    autoload -U compinit && compinit -u -d '$T/zcompdump' && [[ \${_comps[coffer]} == _coffer ]]"
got=$(zc coffer '')
t "zsh: every verb of the binary, and help ($got)" all_verbs "$got"
got=$(zc coffer-new '')
t "zsh: a verb the binary adds is offered" sh -c "echo '$got' | grep -qw frobnicate"
got=$(zc coffer get db)
t "zsh: 'coffer get db<TAB>' completes key paths ($got)" [ "$got" = "db db.host db.port db_password " ]
t "zsh: no value among the candidates" sh -c "! echo '$(zc coffer get '')' | grep -q value"
got=$(zc coffer get --format '')
t "zsh: --format values ($got)" [ "$got" = "json text toml " ]
got=$(zc coffer run --)
t "zsh: run options ($got)" sh -c "echo '$got' | grep -qw -- --restart && echo '$got' | grep -qw -- --grace"
got=$(zc coffer run -- ech)
t "zsh: after run -- the command's own completion" [ "$got" = "<normal:ech> " ]
got=$(zc coffer -f "$other" where '')
t "zsh: keys follow the global -f" [ "$got" = "only_here " ]
got=$(zc coffer -C '')
t "zsh: -C completes directories" [ "$got" = "<dirs> " ]

# The real thing: an interactive zsh in a zpty, compinit autoloading
# _coffer from fpath, TAB typed; a compadd wrapper prints what the
# completion system was given.
zpty_complete() { # zpty_complete LINE: candidates offered for LINE<TAB>
    cat >"$T/zp.zsh" <<'ZEOF'
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z "PROMPT='> '; fpath=($ZFP \$fpath); autoload -U compinit; compinit -u -d $ZDUMP"
zpty -w z 'compadd() { builtin compadd -O __c "$@"; print -l -- "" "<cand>" $__c "</cand>" >/dev/tty; builtin compadd "$@" }'
zpty -w z 'zstyle ":completion:*" list-prompt ""; setopt nobeep; echo READY'
zpty -r z line '*READY*'
zpty -n -w z "$ZLINE"$'\t'
sleep 1
out=
while zpty -rt z chunk; do out+=$chunk; done
zpty -d z
print -r -- "$out" | tr -d '\r' | sed -n '/^<cand>$/,/^<\/cand>$/p' | grep -v '^</\{0,1\}cand>$'
ZEOF
    mkdir -p "$T/zfp"; cp "$ZSHC" "$T/zfp/"
    ZFP="$T/zfp" ZDUMP="$T/zdump2" ZLINE="$1" timeout 20 zsh -f "$T/zp.zsh" 2>/dev/null | sort -u | tr '\n' ' '
}
got=$(zpty_complete 'coffer get db')
if [ -z "$got" ] && ! zsh -f -c 'zmodload zsh/zpty' 2>/dev/null; then
    skip "zsh (zpty): real completion" "zsh/zpty is not available"
else
    t "zsh (zpty, compinit): 'coffer get db<TAB>' offers key paths ($got)" [ "$got" = "db db.host db.port db_password " ]
    got=$(zpty_complete 'coffer w')
    t "zsh (zpty, compinit): 'coffer w<TAB>' offers watch, where ($got)" [ "$got" = "watch where " ]
fi
[ "$failed" -eq 0 ]
