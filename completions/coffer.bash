# bash completion for coffer(1): verbs, global and per-verb options, option
# values, and key paths for verbs that take a KEY. Verbs and options come
# from the coffer binary being completed (`coffer help --verbs`, `coffer
# VERB --help`), so new verbs appear without changing this file. Keys come
# from `coffer list` (key paths only: values are never read).
# Installed as $(PREFIX)/share/bash-completion/completions/coffer.

_coffer_keys()
{
    # leaf paths, plus the root table of each dotted or indexed path
    "$@" list 2>/dev/null | awk -F '\t' '
        { k = $1; if (!(k in seen)) { seen[k] = 1; print k }
          r = k; q = 0; out = ""
          for (i = 1; i <= length(k); i++) {
              c = substr(k, i, 1)
              if (c == "\"") q = !q
              if (!q && (c == "." || c == "[")) { out = substr(k, 1, i - 1); break }
          }
          if (out != "" && !(out in seen)) { seen[out] = 1; print out } }'
}

_coffer()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd=${COMP_WORDS[0]} verb= vi=0 i w
    local -a globals=()
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
        -C | -f | --file) globals+=("$w" "${COMP_WORDS[i+1]}"); ((i++)) ;;
        -C?* | --file=* | --strict) globals+=("$w") ;;
        -*) ;;
        *) verb=$w; vi=$i; break ;;
        esac
    done

    if [[ -z $verb ]]; then
        case $prev in
        -C) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        -f | --file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-C -f --file --strict --version --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$("$cmd" help --verbs 2>/dev/null) help" -- "$cur"))
        fi
        return
    fi

    if [[ $verb == help ]]; then
        ((COMP_CWORD == vi + 1)) &&
            COMPREPLY=($(compgen -W "$("$cmd" help --verbs 2>/dev/null)" -- "$cur"))
        return
    fi

    # after `--` (run -- CMD ARGS): a command, then files
    for ((i = vi + 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            if ((COMP_CWORD == i + 1)); then
                COMPREPLY=($(compgen -c -- "$cur"))
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return
        fi
    done

    local usage vals
    usage=$("$cmd" "$verb" --help 2>&1) || return
    # the value of an option: NAME a|b|c lists them, a PATH/FILE/DIR is a file
    if [[ $prev == -* ]]; then
        vals=$(printf '%s\n' "$usage" | grep -oE -- "\\[?$prev[ =][a-z0-9]+(\\|[a-z0-9]+)+" |
               head -n 1 | sed -E "s/^\\[?$prev[ =]//" | tr '|' ' ')
        if [[ -n $vals ]]; then
            COMPREPLY=($(compgen -W "$vals" -- "$cur"))
            return
        fi
        if printf '%s\n' "$usage" | grep -qE -- "$prev[ =](FILE|PATH)"; then
            COMPREPLY=($(compgen -f -- "$cur")); return
        elif printf '%s\n' "$usage" | grep -qE -- "$prev[ =]DIR"; then
            COMPREPLY=($(compgen -d -- "$cur")); return
        elif printf '%s\n' "$usage" | grep -qE -- "$prev[ =][A-Z]+"; then
            return   # a number or a name: nothing to offer
        fi
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(printf '%s\n' "$usage" |
            grep -oE -- '(^|[][ ,|])--?[A-Za-z][A-Za-z0-9-]*' |
            sed -E 's/^[][ ,|]//' | sort -u)" -- "$cur"))
        return
    fi
    local synopsis
    synopsis=$(printf '%s\n' "$usage" | sed -n '1,/^$/p')
    if [[ $synopsis == *KEY* ]]; then
        local k
        local IFS=$'\n'
        for k in $(_coffer_keys "$cmd" "${globals[@]}"); do
            [[ $k == "$cur"* ]] && COMPREPLY+=("$k")
        done
    elif [[ $synopsis == *FILE* || $synopsis == *PATH* ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F _coffer coffer
