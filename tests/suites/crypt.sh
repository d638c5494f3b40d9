#!/bin/sh
# crypt.sh - per-value encryption: keygen, encrypt/decrypt, the decrypting
# load (get/list/env/run), every tampering case as a distinct error,
# interop with the age CLI both ways, set/unset/edit/recipients/rotate.
. tests/suites/cli-common.inc

AGE=$(command -v age)
AGE_KEYGEN=$(command -v age-keygen)
CANARY=crypt-canary-Vq81xZ
KEYS="$HOME/.config/coffer/keys.txt"
# tt DESC EXPR: ok when EXPR (shell code, run here with eval) succeeds
tt() { d=$1; shift; if eval "$1"; then ok "$d"; else nok "$d"; fi; }
# cin VALUE ARGS...: c with VALUE on stdin
cin() { printf '%s' "$1" >"$T/in"; shift; c "$@" <"$T/in"; }

# ---- keygen
c keygen
tt "keygen prints an age recipient" 'rc_is 0 && grep -qE "^age1[0-9a-z]{58}$" "$T/out"'
R1=$(cat "$T/out")
tt "keygen writes the identity 0600" '[ "$(stat -c %a "$KEYS")" = 600 ] && grep -q "^AGE-SECRET-KEY-1" "$KEYS"'
c keygen
tt "keygen never overwrites" 'rc_is 1 && err_has "never overwritten"'
c keygen -o "$T/k2.txt"
R2=$(cat "$T/out")
tt "keygen -o FILE" '[ -n "$R2" ] && [ "$R2" != "$R1" ] && [ "$(stat -c %a "$T/k2.txt")" = 600 ]'
c keygen -o - --bogus
t "keygen rejects an unknown option" rc_is 2

write_plain() {
    put "$PROJ" <<EOF
# team secrets
db_password = "$CANARY" # the db
port = 5432
ratio = 0.25
debug = true
born = 1979-05-27 07:32:00Z
day = 1979-05-27

[db]
user = "jane"
hosts = ["a", "b"]
EOF
}

# ---- encrypt
write_plain
c encrypt
tt "encrypt without recipients is a usage error" 'rc_is 2 && err_has "no recipients yet"'
c encrypt -r age1notarecipient
tt "encrypt refuses a malformed recipient" 'rc_is 2 && err_has "invalid recipient"'
t "a refused encrypt leaves the file alone" grep -qF "$CANARY" "$PROJ"
c encrypt -r "$R1"
tt "encrypt -r R" 'rc_is 0 && err_has "encrypted 9 values"'
tt "no plaintext left in the file" '! grep -qF "$CANARY" "$PROJ" && ! grep -q jane "$PROJ"'
tt "comments, keys and order stay" 'head -1 "$PROJ" | grep -qx "# team secrets" && grep -q "^db_password = \"ENC\[coffer:v1,string," "$PROJ" && grep -q "# the db$" "$PROJ" && grep -q "^port = \"ENC\[coffer:v1,integer," "$PROJ"'
tt "the [coffer] table comes last" 'grep -q "^\[coffer\]" "$PROJ" && grep -q "^mac = " "$PROJ" && [ "$(grep -n "^\[" "$PROJ" | tail -1 | cut -d: -f2)" = "[coffer]" ]'
tt "the file keeps mode 0600" '[ "$(stat -c %a "$PROJ")" = 600 ]'
cp "$PROJ" "$T/good.toml"

c get db_password
tt "get decrypts a string" 'rc_is 0 && out_is "$CANARY"'
c get port
tt "an encrypted integer is an integer" 'rc_is 0 && out_is 5432'
c get --format json ratio
t "an encrypted float is a float" out_is 0.25
c get --format json debug
t "an encrypted boolean is a boolean" out_is true
c get born
t "an encrypted date-time" out_is 1979-05-27T07:32:00Z
c get day
t "an encrypted local date" out_is 1979-05-27
c get --format json db.hosts
t "array elements are encrypted one by one" out_is '["a", "b"]'
c list
tt "list shows no metadata" 'rc_is 0 && out_has "db_password" && out_lacks coffer && out_lacks ENC'
c get coffer
t "the [coffer] table is no secret key" rc_is 4
c env
tt "env decrypts" "rc_is 0 && out_has \"export db_password='$CANARY'\" && out_has \"export port='5432'\""
c run -- sh -c 'echo "$db_password:$port"'
tt "run gives the child decrypted values" "rc_is 0 && out_is '$CANARY:5432'"
COFFER_AGE_KEY="$(grep AGE-SECRET "$KEYS")" COFFER_AGE_KEY_FILE=/x COFFER_AGE_PASSPHRASE=p \
    "$COFFER_BIN" run -- sh -c 'echo "${COFFER_AGE_KEY-unset}:${COFFER_AGE_KEY_FILE-unset}:${COFFER_AGE_PASSPHRASE-unset}:$port"' >"$T/out" 2>"$T/err"
t "COFFER_AGE_KEY decrypts, and no COFFER_AGE_* reaches the child" out_is "unset:unset:unset:5432"
c check
tt "check passes on a fully encrypted file" 'rc_is 0 && ! grep -q plaintext "$T/out"'
printf 'extra = "plain"\n' | cat - "$T/good.toml" >"$T/mixed.toml"; chmod 600 "$T/mixed.toml"
c -f "$T/mixed.toml" check
tt "check warns about plaintext values in a file with recipients" 'out_has "has recipients but 1 plaintext value" && out_has extra'
c -f "$T/mixed.toml" get extra
t "mixed files: plaintext values read as they are" out_is plain

# ---- interop with the age CLI
py_wrapped() { # FILE INDEX: the armored data key
    $PY -c 'import sys,tomllib; print(tomllib.load(open(sys.argv[1],"rb"))["coffer"]["wrapped"][int(sys.argv[2])], end="")' "$1" "$2"
}
if [ -n "$AGE" ] && $PY -c 'import tomllib' 2>/dev/null; then
    py_wrapped "$PROJ" 0 >"$T/w.age"
    "$AGE" -d -i "$KEYS" "$T/w.age" >"$T/dk.bin" 2>"$T/err"
    tt "age -d unwraps coffer's data key (32 bytes)" '[ "$(wc -c <"$T/dk.bin")" -eq 32 ]'
    "$AGE" -r "$R1" -a <"$T/dk.bin" >"$T/w2.age"
    $PY - "$PROJ" "$T/w.age" "$T/w2.age" <<'EOF'
import sys
p, old, new = sys.argv[1:]
s = open(p).read()
o = open(old).read(); n = open(new).read()
if not n.endswith("\n"): n += "\n"
assert o in s
open(p, "w").write(s.replace(o, n))
EOF
    c get db_password
    tt "a data key wrapped by 'age -r' is accepted" 'rc_is 0 && out_is "$CANARY" && grep -q "BEGIN AGE" "$PROJ"'
    cp "$T/good.toml" "$PROJ"
    # an independent implementation of the MAC (docs/SECURITY.md)
    $PY - "$PROJ" "$T/dk.bin" <<'EOF' >"$T/pymac" 2>&1
import sys, tomllib, hmac, hashlib, base64, struct, re
doc = tomllib.load(open(sys.argv[1], "rb")); key = open(sys.argv[2], "rb").read()
def hkdf(ikm, info):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()
def lp(b): return struct.pack(">Q", len(b)) + b
def key_text(k):
    if re.fullmatch(r"[A-Za-z0-9_-]+", k): return k
    return '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'
pairs = []
def walk(v, path):
    if isinstance(v, dict):
        for k, m in v.items():
            if not path and k == "coffer": continue
            walk(m, (path + "." if path else "") + key_text(k))
    elif isinstance(v, list):
        for i, m in enumerate(v): walk(m, "%s[%d]" % (path, i))
    elif isinstance(v, str) and v.startswith("ENC[coffer:v1,") and v.endswith("]"):
        pairs.append((path, v))
walk(doc, "")
meta = doc["coffer"]
m = lp(b"coffer:v1") + struct.pack(">Q", len(meta["recipients"]))
for r in meta["recipients"]: m += lp(r.encode())
m += struct.pack(">Q", len(pairs))
for p, e in pairs: m += lp(p.encode()) + lp(e.encode())
mac = hmac.new(hkdf(key, b"coffer:v1 mac key"), m, hashlib.sha256).digest()
print("ok" if base64.b64encode(mac).decode() == meta["mac"] else "mismatch")
EOF
    t "the MAC matches an independent implementation of the spec" grep -qx ok "$T/pymac"
else
    skip "age interop" "age or python3 tomllib missing"
    skip "age -r interop" "age or python3 tomllib missing"
    skip "independent MAC" "age or python3 tomllib missing"
fi

# ---- without an identity, or with a wrong one
noid() { HOME="$T/nohome" c "$@"; }
noid get db_password
tt "no identity: get fails with exit 6" 'rc_is 6 && err_has "no identity can decrypt" && err_has "no identity:"'
noid get --format json db
t "no identity: a table holding locked values fails" rc_is 6
noid list
tt "no identity: list works" 'rc_is 0 && out_has db_password && out_has db.hosts'
noid where port
tt "no identity: where works" 'rc_is 0 && out_has "secrets.toml:3"'
noid paths
t "no identity: paths works" rc_is 0
noid env
tt "no identity: env fails with exit 6" 'rc_is 6 && err_has "no identity can decrypt" && out_lacks ENC'
noid run -- true
t "no identity: run fails with exit 6" rc_is 6
"$AGE_KEYGEN" -o "$T/other.txt" 2>/dev/null
ROTHER=$("$AGE_KEYGEN" -y "$T/other.txt")
COFFER_AGE_KEY_FILE="$T/other.txt" c get port
tt "wrong identity: exit 6, a distinct message" 'rc_is 6 && err_has "not among its recipients"'
chmod 640 "$KEYS"
c get port
tt "a group-readable identity file is refused" 'rc_is 5 && err_has "accessible by group or others"'
chmod 600 "$KEYS"
COFFER_AGE_KEY=garbage c get port
tt "a malformed COFFER_AGE_KEY is an error, not quoted" '! rc_is 0 && err_has COFFER_AGE_KEY && err_lacks garbage'

# ---- tampering: each a distinct error, nothing decrypted
tamper() { # DESC PYTHON-EXPR-ON-s EXPECTED-STATUS EXPECTED-TEXT
    cp "$T/good.toml" "$PROJ"
    $PY -c "import sys,re; s=open(sys.argv[1]).read(); s=$2; open(sys.argv[1],'w').write(s)" "$PROJ"
    c get port
    if rc_is "$3" && err_has "$4" && out_lacks 5432 && err_lacks "$CANARY" && out_lacks "$CANARY"; then
        ok "$1"; else nok "$1"; fi
}
ENC1=$(grep '^db_password' "$T/good.toml" | sed 's/^db_password = "\(.*\)" #.*/\1/')
tamper "tampered ciphertext" "s.replace('$ENC1', '$ENC1'[:30] + ('A' if '$ENC1'[30] != 'A' else 'B') + '$ENC1'[31:])" 6 "fails authentication"
tamper "value swapped between keys" "re.sub(r'^(user = )\"[^\"]*\"', r'\1\"$ENC1\"', s, flags=re.M)" 6 "'db.user'"
tamper "value dropped" "re.sub(r'^ratio = .*\n', '', s, flags=re.M)" 6 "mac mismatch"
tamper "values reordered" "re.sub(r'^(ratio = .*\n)(debug = .*\n)', r'\2\1', s, flags=re.M)" 6 "mac mismatch"
tamper "recipient list changed" "s.replace('\"$R1\",', '\"$R1\",\n  \"$ROTHER\",')" 6 "needs one wrapped"
tamper "MAC stripped" "re.sub(r'^mac = .*\n', '', s, flags=re.M)" 6 "no mac"
tamper "metadata missing" "s[:s.index('[coffer]')]" 6 "no [coffer] metadata"
tamper "unsupported version" "s.replace('version = 1', 'version = 2')" 6 "unsupported coffer version"
tamper "malformed ENC string" "s.replace('ENC[coffer:v1,integer,', 'ENC[coffer:v1,integr,')" 6 "malformed"
cp "$T/good.toml" "$PROJ"
head -c 1200 "$T/good.toml" >"$PROJ"
c get port
tt "truncated file: an error, nothing decrypted" '! rc_is 0 && out_lacks 5432 && err_lacks "$CANARY"'
# a value moved from another file with the same key path
write_plain
c encrypt -r "$R1"
ENC2=$(grep '^db_password' "$PROJ" | sed 's/^db_password = "\(.*\)" #.*/\1/')
cp "$T/good.toml" "$PROJ"
$PY -c "import sys; p=sys.argv[1]; s=open(p).read(); open(p,'w').write(s.replace(sys.argv[2], sys.argv[3]))" "$PROJ" "$ENC1" "$ENC2"
c get port
tt "value moved from another file" 'rc_is 6 && err_has "db_password" && err_has "fails authentication"'
cp "$T/good.toml" "$PROJ"

# ---- COFFER_SECRETS holds an encrypted document too
COFFER_SECRETS="$(cat "$T/good.toml")" c -f "$T/none.toml" get port
tt "COFFER_SECRETS text is decrypted by the same reader" 'rc_is 0 && out_is 5432'

# ---- decrypt
c decrypt
tt "decrypt prints plaintext TOML without [coffer]" "rc_is 0 && out_has 'db_password = \"$CANARY\" # the db' && out_has 'port = 5432' && out_has 'born = 1979-05-27 07:32:00Z' && out_lacks '[coffer]'"
HOME="$T/nohome" c decrypt
t "decrypt without identity: exit 6" rc_is 6
cp "$T/good.toml" "$T/ip.toml"
c decrypt --in-place "$T/ip.toml"
tt "decrypt --in-place warns and rewrites" "rc_is 0 && err_has 'plaintext secrets' && grep -q '^port = 5432' '$T/ip.toml' && ! grep -q coffer '$T/ip.toml'"

# ---- set / unset
cin "tok-$CANARY
" set api.token
tt "set: a new table, value from stdin, encrypted" "rc_is 0 && grep -q '^\[api\]' '$PROJ' && ! grep -q 'tok-' '$PROJ'"
c get api.token
t "set value reads back (trailing newline dropped)" out_is "tok-$CANARY"
cin '6000' set --type integer port
c get --format json port
tt "set --type integer replaces a value in place" 'out_is 6000 && grep -q "^port = \"ENC\[coffer:v1,integer," "$PROJ" && [ "$(grep -n "^port" "$PROJ" | cut -d: -f1)" = 3 ]'
cin 'x' set --type integer port
tt "set refuses a value of the wrong type" 'rc_is 2 && err_has "not a TOML integer"'
cin 'v' set port extra
t "set never takes the value from argv" rc_is 2
cin 'v' set db
t "set refuses to replace a table" rc_is 4
cin 'z' set db.zone
c get db.zone
tt "set adds a key to an existing [table]" 'out_is z && [ "$(grep -c "^\[db\]" "$PROJ")" = 1 ]'
c unset db.zone
tt "unset removes a key" 'rc_is 0 && ! grep -q "^zone" "$PROJ"'
c unset nothere
t "unset of a missing key: exit 4" rc_is 4
c unset api
tt "unset removes a [table]" "rc_is 0 && ! grep -q '^\[api\]' '$PROJ'"
c get port
tt "the file stays valid and authentic after edits" 'rc_is 0 && out_is 6000'
put "$T/plain.toml" <<'EOF'
a = "1"
EOF
cin 'two' set --file "$T/plain.toml" b
tt "set in a file without recipients writes plaintext" "rc_is 0 && grep -qx 'b = \"two\"' '$T/plain.toml'"

# ---- recipients, rotate
cp "$T/good.toml" "$PROJ"
HOME="$T/nohome" c recipients list
tt "recipients list needs no identity" "rc_is 0 && out_is '$R1'"
c recipients add "$ROTHER"
tt "recipients add" 'rc_is 0 && [ "$(grep -c "BEGIN AGE" "$PROJ")" = 2 ]'
COFFER_AGE_KEY_FILE="$T/other.txt" c get port
t "the added recipient can decrypt" out_is 5432
tt "recipients add keeps every ENC string" 'diff "$T/good.toml" "$PROJ" | grep "^[<>]" | grep -q "ENC\[coffer"; [ $? -ne 0 ]'
cp "$PROJ" "$T/two.toml"
c recipients remove "$ROTHER"
tt "recipients remove" 'rc_is 0 && err_has "rotated"'
COFFER_AGE_KEY_FILE="$T/other.txt" c get port
t "a removed recipient loses access" rc_is 6
# its old data key opens none of the new values
if [ -n "$AGE" ]; then
    py_wrapped "$T/two.toml" 1 >"$T/w3.age" 2>/dev/null
    "$AGE" -d -i "$T/other.txt" "$T/w3.age" >"$T/old.bin" 2>/dev/null
    tt "rotation changed every ENC string" '! grep -F "$(grep "^port" "$T/two.toml")" "$PROJ" >/dev/null'
fi
c recipients remove "$R1"
tt "removing the last recipient is refused" 'rc_is 2 && err_has "every recipient"'
cp "$PROJ" "$T/pre-rot.toml"
c rotate
tt "rotate re-encrypts every value" 'rc_is 0 && [ "$(diff "$T/pre-rot.toml" "$PROJ" | grep -c "^>.*ENC\[coffer")" -ge 8 ]'
c get db_password
t "values survive rotation" out_is "$CANARY"
c recipients frob
t "recipients: unknown command" rc_is 2
c rotate "$T/plain.toml"
tt "rotate of a plaintext file is refused" 'rc_is 6 && err_has "not encrypted"'

# ---- passphrase recipients (age scrypt)
write_plain
COFFER_AGE_PASSPHRASE=correct-horse COFFER_AGE_SCRYPT_LOG_N=10 c encrypt -p
tt "encrypt -p: a passphrase recipient" 'rc_is 0 && grep -q "\"scrypt\"" "$PROJ"'
HOME="$T/nohome" COFFER_AGE_PASSPHRASE=correct-horse c get port
t "COFFER_AGE_PASSPHRASE decrypts" out_is 5432
HOME="$T/nohome" COFFER_AGE_PASSPHRASE=wrong c get port
t "a wrong passphrase: exit 6" rc_is 6
cp "$T/good.toml" "$PROJ"

# ---- edit
SHM=/dev/shm
if [ ! -w "$SHM" ]; then
    skip "edit" "no writable /dev/shm"
else
cat >"$T/ed-change.sh" <<'EOF'
#!/bin/sh
# records where the temp file is, checks no plaintext reached disk, edits
echo "$1" >"$EDLOG"
stat -c %a "$1" >>"$EDLOG"
grep -rlF "$EDCANARY" "$EDDIRS" 2>/dev/null | grep -v '^/dev/shm' >>"$EDLOG.leak"
sed -i 's/^port = 5432/port = 6543/' "$1"
EOF
chmod +x "$T/ed-change.sh"
export EDLOG="$T/edlog" EDCANARY="$CANARY" EDDIRS="$P"
# inotify watch on the project dirs and /tmp: any file created or written
# there during the edit is checked for the plaintext at once
cat >"$T/watch.py" <<'EOF'
import ctypes, os, stat, struct, sys, select
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
canary = sys.argv[1].encode(); dirs = sys.argv[2:]
wd = {}
for d in dirs:
    w = libc.inotify_add_watch(fd, d.encode(), 0x100 | 0x2 | 0x8 | 0x80)  # CREATE MODIFY CLOSE_WRITE MOVED_TO
    wd[w] = d
print("ready", flush=True)
seen = 0
while True:
    r, _, _ = select.select([fd, sys.stdin], [], [], 10)
    if sys.stdin in r: break
    if fd not in r: continue
    buf = os.read(fd, 65536); i = 0
    while i < len(buf):
        w, mask, cookie, ln = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode(); i += 16 + ln
        p = os.path.join(wd.get(w, "?"), name); seen += 1
        try:  # regular files only: valgrind makes FIFOs in /tmp (vgdb)
            fd2 = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            try:
                if stat.S_ISREG(os.fstat(fd2).st_mode) and canary in os.read(fd2, 1 << 24):
                    print("LEAK", p, flush=True)
            finally: os.close(fd2)
        except OSError: pass
print("events", seen, flush=True)
EOF
mkfifo "$T/wfifo"
$PY "$T/watch.py" "$CANARY" "$P" "$P/.streamlit" /tmp <"$T/wfifo" >"$T/watch.out" 2>&1 &
WPID=$!
BGPIDS="$BGPIDS $WPID"
exec 7>"$T/wfifo"
wait_for "$T/watch.out" ready 300
EDITOR="$T/ed-change.sh" c edit
echo done >&7; exec 7>&-
wait_exit "$WPID" 60
tt "edit writes the change" 'rc_is 0 && err_has wrote'
c get port
t "edit: the changed value reads back" out_is 6543
tt "edit: the temp file was on /dev/shm, mode 600" 'head -1 "$EDLOG" | grep -q "^/dev/shm/coffer-edit-" && sed -n 2p "$EDLOG" | grep -qx 600'
tt "edit: the temp file is gone" '[ ! -e "$(head -1 "$EDLOG")" ]'
tt "edit: no plaintext in the project dir while editing" '[ ! -s "$EDLOG.leak" ]'
tt "edit: inotify saw no plaintext written to the project or /tmp" 'grep -q "^events" "$T/watch.out" && ! grep -q LEAK "$T/watch.out"'
tt "edit: only the changed value's ENC string changes" '[ "$(diff "$T/good.toml" "$PROJ" | grep "^>" | grep -c ENC)" = 1 ] && diff "$T/good.toml" "$PROJ" | grep "^>" | grep -q "^> port"'
cp "$T/good.toml" "$PROJ"
cat >"$T/ed-twice.sh" <<'EOF'
#!/bin/sh
n=$(cat "$EDLOG.n" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$EDLOG.n"
if [ $n = 1 ]; then echo 'broken = ' >>"$1"; exit 0; fi
head -1 "$1" >"$EDLOG.head"
sed -i '/^broken = $/d; /^# coffer: /d' "$1"
echo 'added = "new-value"' >>"$1"
EOF
chmod +x "$T/ed-twice.sh"
rm -f "$EDLOG.n"
EDITOR="$T/ed-twice.sh" c edit
tt "edit: invalid TOML re-opens the editor with the error on top" 'rc_is 0 && [ "$(cat "$EDLOG.n")" = 2 ] && grep -q "^# coffer: error: line" "$EDLOG.head"'
c get db.added
tt "edit: a new value is added encrypted" 'out_is new-value && ! grep -q new-value "$PROJ"'
cp "$T/good.toml" "$PROJ"
cat >"$T/ed-crash.sh" <<'EOF'
#!/bin/sh
echo "$1" >"$EDLOG"
echo 'port = 1' >>"$1"
kill -SEGV $$
EOF
chmod +x "$T/ed-crash.sh"
EDITOR="$T/ed-crash.sh" c edit
tt "edit: an editor crash changes nothing" '! rc_is 0 && err_has "editor failed" && cmp -s "$T/good.toml" "$PROJ"'
tt "edit: the temp file is gone after the crash" '[ ! -e "$(head -1 "$EDLOG")" ]'
cat >"$T/ed-hang.sh" <<'EOF'
#!/bin/sh
echo "$1" >"$EDLOG"
sleep 30 &
echo "$$ $!" >"$EDLOG.pids"
wait
EOF
chmod +x "$T/ed-hang.sh"
rm -f "$EDLOG"
EDITOR="$T/ed-hang.sh" "$COFFER_BIN" edit >"$T/out" 2>"$T/err" &
EPID=$!
BGPIDS="$BGPIDS $EPID"
wait_for "$EDLOG" shm 300
TMPF=$(head -1 "$EDLOG")
t "edit: the temp file exists while the editor runs" test -f "$TMPF"
kill -TERM "$EPID"
wait_exit "$EPID" 30
kill $(cat "$EDLOG.pids") 2>/dev/null
tt "edit: SIGTERM to coffer removes the temp file" '[ ! -e "$TMPF" ] && cmp -s "$T/good.toml" "$PROJ"'
# SIGKILL leaves the file: the next run removes files of dead pids
rm -f "$EDLOG"
EDITOR="$T/ed-hang.sh" "$COFFER_BIN" edit >"$T/out" 2>"$T/err" &
EPID=$!
BGPIDS="$BGPIDS $EPID"
wait_for "$EDLOG" shm 300
TMPF=$(head -1 "$EDLOG")
kill -KILL "$EPID"
wait_exit "$EPID" 30
kill $(cat "$EDLOG.pids") 2>/dev/null
t "edit: SIGKILL leaves the temp file (documented residue)" test -f "$TMPF"
EDITOR=true c edit
tt "edit: the next run wipes stale files of dead pids" '[ ! -e "$TMPF" ] && err_has "interrupted"'
fi

finish
