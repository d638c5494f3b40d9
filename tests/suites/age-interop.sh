#!/bin/sh
# age-interop.sh - coffer's age v1 implementation against Debian's age
# (age, age-keygen; scripts/deps.sh installs them in the test group), both
# ways: keys, X25519 files armored and binary, several recipients, identity
# files with comments, sizes around the 64 KiB chunk, scrypt passphrase
# files (age -p reads the terminal: driven through a pty by age_pty.py),
# and refusals (wrong identity, wrong passphrase, tampered files).
# coffer's side is build/age-tool (tools/age-tool.c, a test tool).
. tests/suites/cli-common.inc

case $BUILD in /*) TOOL=$BUILD/age-tool ;; *) TOOL=$ROOT/$BUILD/age-tool ;; esac
PTY="$PY $ROOT/tests/suites/age_pty.py"
if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
    echo "1..0 # SKIP age/age-keygen not installed (scripts/deps.sh test)"
    exit 0
fi
[ -x "$TOOL" ] || { echo "not ok 1 - $TOOL missing (make all)"; exit 1; }
cd "$T" || exit 1

# ct ARGS...: the coffer side (under $RUN_PREFIX for some calls).
ct() { pick_prefix; $pre "$TOOL" "$@"; }
same() { cmp -s "$1" "$2"; }

age-keygen -o k1.txt 2>/dev/null
ct keygen >k2.txt
R1=$(age-keygen -y k1.txt)
R2=$(age-keygen -y k2.txt)
R2c=$(ct public k2.txt)
R1c=$(ct public k1.txt)
t "age-keygen's identity gives the same recipient in coffer" [ "$R1c" = "$R1" ]
t "coffer's identity file is read by age-keygen -y" [ "$R2c" = "$R2" ]
case $R2 in age1*) ok "coffer's recipient is an age1 string" ;; *) nok "recipient '$R2'" ;; esac

# Plaintexts: small, empty, one chunk exactly, just over, several chunks.
printf 'attack at dawn\n' >small
: >empty
head -c 65536 /dev/urandom >c64k
head -c 65537 /dev/urandom >c64k1
head -c 300000 /dev/urandom >big

for f in small empty c64k c64k1 big; do
    ct encrypt -r "$R1" <"$f" >"$f.arm" 2>"$T/err"
    age -d -i k1.txt "$f.arm" >"$f.out1" 2>"$T/err"
    t "coffer armored ($f) decrypts with age -d" same "$f" "$f.out1"
    ct encrypt -b -r "$R1" <"$f" >"$f.bin"
    age -d -i k1.txt "$f.bin" >"$f.out2" 2>"$T/err"
    t "coffer binary ($f) decrypts with age -d" same "$f" "$f.out2"
    age -r "$R2" -o "$f.age" "$f"
    ct decrypt -i k2.txt <"$f.age" >"$f.out3" 2>"$T/err"
    t "age -r ($f) decrypts with coffer" same "$f" "$f.out3"
    age -a -r "$R2" -o "$f.asc" "$f"
    ct decrypt -i k2.txt <"$f.asc" >"$f.out4" 2>"$T/err"
    t "age -a -r ($f) decrypts with coffer" same "$f" "$f.out4"
done
head -n 1 small.arm | grep -qx -- '-----BEGIN AGE ENCRYPTED FILE-----' &&
    awk 'length($0) > 64 { bad = 1 } END { exit bad }' big.arm
t "coffer's armor: begin line, lines of at most 64 columns" [ $? -eq 0 ]

# Several recipients, each side.
age -r "$R1" -r "$R2" -o multi.age small
ct decrypt -i k1.txt <multi.age >multi.out1 2>"$T/err"
ct decrypt -i k2.txt <multi.age >multi.out2 2>>"$T/err"
t "age with two recipients: coffer decrypts with either identity" \
    eval 'same small multi.out1 && same small multi.out2'
ct encrypt -r "$R1" -r "$R2" <small >multi.arm
age -d -i k1.txt -o multi.out3 multi.arm && age -d -i k2.txt -o multi.out4 multi.arm
t "coffer with two recipients: age decrypts with either identity" \
    eval 'same small multi.out3 && same small multi.out4'

# Identity files with comments, blank lines and two keys.
{ echo "# team keys"; echo; cat k1.txt; echo; echo "# second"; cat k2.txt; } >both.txt
ct decrypt -i both.txt <small.age >both.out 2>"$T/err"
t "coffer reads an identity file with comments and two keys" same small both.out
age -d -i both.txt -o both.out2 small.arm
t "age reads the same identity file for a coffer file" same small both.out2

# Refusals.
age-keygen -o k3.txt 2>/dev/null
ct decrypt -i k3.txt <small.age >/dev/null 2>"$T/err"; rc=$?
t "coffer: wrong identity for an age file is refused (status 1)" [ "$rc" -eq 1 ]
t "... and says no identity matches" err_has "no identity matches"
age -d -i k3.txt -o /dev/null small.arm 2>/dev/null; rc=$?
t "age: wrong identity for a coffer file is refused" [ "$rc" -ne 0 ]
# tamper with one payload byte of an age file, and with its header
$PY - small.age small.tamper 300 <<'EOF'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[-5] ^= 1
open(sys.argv[2], "wb").write(d)
d[-5] ^= 1
d[40] ^= 1
open(sys.argv[2] + ".hdr", "wb").write(d)
EOF
ct decrypt -i k2.txt <small.tamper >tamper.out 2>"$T/err"; rc=$?
t "coffer: an age file with a flipped payload bit is refused" \
    eval '[ "$rc" -eq 1 ] && [ ! -s tamper.out ] && err_has "fails authentication"'
ct decrypt -i k2.txt <small.tamper.hdr >/dev/null 2>"$T/err"; rc=$?
t "coffer: an age file with a flipped header bit is refused" [ "$rc" -eq 1 ]
{ cat small.asc; echo garbage; } >trail.asc
ct decrypt -i k2.txt <trail.asc >/dev/null 2>"$T/err"; rc=$?
t "coffer: trailing garbage after age's armor is refused" \
    eval '[ "$rc" -eq 1 ] && err_has "trailing data"'

# scrypt (passphrases), both ways, through a pty for age.
export AGE_PTY_PASSPHRASE="correct horse battery"
export AGE_TOOL_PASSPHRASE="$AGE_PTY_PASSPHRASE"
if [ "$SUITES" = valgrind ] || [ "$SUITES" = tsan ]; then
    skip "age -p interop" "scrypt at age's work factor 18 is too slow under $SUITES"
else
    $PTY age -p -o pass.age small 2>/dev/null; rc=$?
    t "age -p encrypts through the pty" [ "$rc" -eq 0 ]
    grep -q '^-> scrypt ' pass.age
    t "... with an scrypt stanza" [ $? -eq 0 ]
    "$TOOL" decrypt -p <pass.age >pass.out 2>"$T/err"
    t "age -p file decrypts with coffer's scrypt" same small pass.out
    AGE_TOOL_PASSPHRASE=wrong "$TOOL" decrypt -p <pass.age >/dev/null 2>"$T/err"; rc=$?
    t "coffer: wrong passphrase for an age -p file is refused" \
        eval '[ "$rc" -eq 1 ] && err_has "wrong passphrase"'
    "$TOOL" decrypt -p -m 17 <pass.age >/dev/null 2>"$T/err"; rc=$?
    t "coffer: a work factor over the limit is refused before scrypt runs" \
        eval '[ "$rc" -eq 1 ] && err_has "work factor 18 exceeds the limit of 17"'
    for mode in "" -b; do
        "$TOOL" encrypt $mode -p -n 15 <big >"pass$mode.c" 2>"$T/err"
        $PTY age -d -o "pass$mode.out" "pass$mode.c" 2>/dev/null; rc=$?
        t "coffer scrypt file (${mode:-armored}) decrypts with age -d (pty)" \
            eval '[ "$rc" -eq 0 ] && same big "pass$mode.out"'
    done
    AGE_PTY_PASSPHRASE=wrong $PTY age -d -o pass.bad pass.c 2>/dev/null; rc=$?
    t "age: wrong passphrase for a coffer scrypt file is refused" [ "$rc" -ne 0 ]
fi
# An scrypt recipient must be alone (coffer refuses to write one).
"$TOOL" encrypt -r "$R1" -p -n 10 <small >/dev/null 2>"$T/err"; rc=$?
t "coffer refuses an scrypt recipient next to another" \
    eval '[ "$rc" -eq 1 ] && err_has "must be the only one"'

echo "1..$n"
[ "$failed" -eq 0 ]
