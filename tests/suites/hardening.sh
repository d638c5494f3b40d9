#!/bin/sh
# hardening.sh - checksec-style checks with readelf on the CLI and
# libcoffer.so: PIE (ET_DYN + DF_1_PIE), GNU_RELRO + BIND_NOW, stack
# protector and fortify symbols, non-executable stack, the CLI's shared
# dependencies; and that the Makefile keeps its required flags when a user
# sets CFLAGS (make CFLAGS=-O0 / -g), handles _FORTIFY_SOURCE at -O0 and
# from CPPFLAGS, and uses -Werror only when asked.
. tests/suites/tap.inc
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM

cli="$BUILD/coffer"
so="$BUILD/libcoffer.so.0"
for f in "$cli" "$so"; do
    [ -e "$f" ] || { echo "not ok 1 - '$f' is not built"; exit 1; }
done
san=
if nm "$BUILD/libcoffer.a" 2>/dev/null | grep -qE '__(asan|tsan)_init'; then san=1; fi

is_pie() { # ET_DYN with DF_1_PIE: a position-independent executable
    readelf -hW "$1" | grep -qE 'Type: +DYN' &&
        readelf -dW "$1" | grep -E '\(FLAGS_1\)' | grep -qw PIE
}
full_relro() {
    readelf -lW "$1" | grep -qw GNU_RELRO &&
        readelf -dW "$1" | grep -E '\((FLAGS|FLAGS_1)\)' | grep -qwE 'BIND_NOW|NOW'
}
nx_stack() { # a GNU_STACK header without E
    readelf -lW "$1" | awk '$1 == "GNU_STACK" { found = 1; if ($(NF-1) ~ /E/) bad = 1 }
                             END { exit !(found && !bad) }'
}
# symbols from .dynsym and .symtab (a stripped binary keeps its imports)
syms() { readelf -sW "$1" | awk 'NF >= 8 {print $8}' | sed 's/@.*//' | sort -u; }
has_stack_chk() { syms "$1" | grep -qx '__stack_chk_fail'; }
has_fortify() { syms "$1" | grep -qE '^__[a-z_0-9]+_chk$'; }

check_binary() { # check_binary LABEL FILE
    t "$1: GNU_RELRO and BIND_NOW (full RELRO)" full_relro "$2"
    t "$1: non-executable stack" nx_stack "$2"
    t "$1: stack protector (__stack_chk_fail)" has_stack_chk "$2"
    if [ -n "$san" ]; then skip "$1: fortify (__*_chk)" "sanitizer build (no _FORTIFY_SOURCE)"
    else t "$1: fortify (__*_chk functions)" has_fortify "$2"; fi
}

t "CLI is a PIE (ET_DYN, DF_1_PIE)" is_pie "$cli"
check_binary CLI "$cli"
check_binary libcoffer.so "$so"
t "libcoffer.so is ET_DYN with SONAME libcoffer.so.0" \
    sh -c "readelf -dW '$so' | grep -q 'SONAME.*\\[libcoffer.so.0\\]'"
t "libcoffer.so carries no text relocations" \
    sh -c "! readelf -dW '$so' | grep -q TEXTREL"

# The default CLI is dynamic (dlopen of libcurl needs that) and needs only
# glibc: libsodium is linked in statically.
needed=$(readelf -dW "$cli" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
if [ -n "$san" ]; then skip "CLI needs only libc" "sanitizer runtime"
elif readelf -dW "$cli" | grep -q NEEDED &&
     [ -z "$(printf '%s\n' $needed | grep -vxE 'libc\.so\.6|libm\.so\.6')" ]; then
    ok "CLI is dynamic and needs only glibc ($needed)"
else nok "CLI shared dependencies: '$needed'"; fi

# ---- the Makefile's flags ----
dry() { mk -n BUILD="$tmp/dry" "$@" "$tmp/dry/obj/src/util/error.o" 2>&1 | grep -- ' -c src/util/error.c'; }
has_all() { line=$1; shift; for f; do case " $line " in *" $f "*) ;; *) return 1 ;; esac; done; }
req="-std=c11 -fPIC -fvisibility=hidden -fstack-protector-strong -fstack-clash-protection"
line=$(dry CFLAGS=-O0)
t "make CFLAGS=-O0 keeps $req" has_all "$line" $req -O0
t "make CFLAGS=-O0 leaves _FORTIFY_SOURCE out" sh -c "! echo '$line' | grep -q FORTIFY"
line=$(dry CFLAGS=-g)
t "make CFLAGS=-g keeps the required flags, no fortify without -O" \
    sh -c "echo '$line' | grep -q -- ' -g ' && ! echo '$line' | grep -q FORTIFY" 
t "make CFLAGS=-g keeps $req" has_all "$(dry CFLAGS=-g)" $req
line=$(dry)
t "default build: -O2 and -D_FORTIFY_SOURCE=2" has_all "$line" -O2 -D_FORTIFY_SOURCE=2 $req
line=$(dry CFLAGS='-O1 -O0')
t "the last -O counts (CFLAGS='-O1 -O0': no fortify)" sh -c "! echo '$line' | grep -q FORTIFY"
line=$(dry CPPFLAGS=-D_FORTIFY_SOURCE=3)
t "a user's CPPFLAGS=-D_FORTIFY_SOURCE=3 is not overridden" \
    sh -c "[ \$(echo '$line' | grep -o '_FORTIFY_SOURCE' | wc -l) -eq 1 ]"
line=$(dry CFLAGS='-O2 -std=gnu89 -fno-PIC')
t "required flags come after the user's CFLAGS" \
    sh -c "echo '$line' | grep -q -- '-fno-PIC.* -std=c11 -fPIC'"
t "plain make: no -Werror" sh -c "! echo '$(dry)' | grep -q -- -Werror"
t "WERROR=1: -Werror" has_all "$(dry WERROR=1)" -Werror
t "CI=true: -Werror" has_all "$(dry CI=true)" -Werror
tw=$(mk -n NODEPS=1 BUILD="$tmp/dry" test 2>/dev/null)
t "make test passes WERROR=1 to its build" eval 'printf "%s\n" "$tw" | grep -q "WERROR=1 all"'
tw=$(mk -n NODEPS=1 BUILD="$tmp/dry" WERROR=0 test 2>/dev/null)
t "make WERROR=0 test keeps WERROR=0" eval 'printf "%s\n" "$tw" | grep -q "WERROR=0 all"'

if [ "$SUITES" != all ]; then
    skip "real -O0 and static-pie builds" "not in $SUITES mode"
    exit 0
fi
# A real -O0 build with -Werror: no _FORTIFY_SOURCE warning from glibc.
if mk BUILD="$tmp/o0" CFLAGS=-O0 WERROR=1 "$tmp/o0/obj/src/store/env.o" >"$tmp/o0.log" 2>&1 &&
   ! grep -qi warning "$tmp/o0.log"; then ok "make CFLAGS=-O0 WERROR=1 compiles without a warning"
else nok "-O0 build: $(tail -n 5 "$tmp/o0.log")"; fi
if mk BUILD="$tmp/f3" CPPFLAGS=-D_FORTIFY_SOURCE=3 WERROR=1 "$tmp/f3/obj/src/store/env.o" >"$tmp/f3.log" 2>&1
then ok "CPPFLAGS=-D_FORTIFY_SOURCE=3 WERROR=1 compiles (no redefinition)"
else nok "fortify 3 build: $(tail -n 5 "$tmp/f3.log")"; fi
# CLI_STATIC=1: a static-pie, hardened the same way.
if mk -j2 BUILD="$tmp/st" CLI_STATIC=1 "$tmp/st/coffer" >"$tmp/st.log" 2>&1; then
    ok "make CLI_STATIC=1 builds"
    t "CLI_STATIC=1: static-pie (ET_DYN, DF_1_PIE, no NEEDED)" \
        sh -c "readelf -hW '$tmp/st/coffer' | grep -qE 'Type: +DYN' && readelf -dW '$tmp/st/coffer' | grep -q 'FLAGS_1.*PIE' && ! readelf -dW '$tmp/st/coffer' | grep -q NEEDED"
    check_binary "static-pie CLI" "$tmp/st/coffer"
    t "CLI_STATIC=1: coffer --version runs" sh -c "'$tmp/st/coffer' --version | grep -q '^coffer '"
    t "CLI_STATIC=1 has no etcd support compiled in" sh -c "! grep -q COFFER_WITH_ETCD '$tmp/st/.config'"
else nok "make CLI_STATIC=1: $(tail -n 5 "$tmp/st.log")"; fi
