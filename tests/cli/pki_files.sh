#!/bin/bash
# Where cert issue and cert renew write (dev/pki.md, "Renewal and
# revocation"): --out is opened once and refused when a symlink or inside a
# directory someone else may swap; a renewal that cannot put both files in
# place leaves the old pair and no valid certificate that nothing holds.
# usage: pki_files.sh MEMBERSHIPD
. "$(dirname "$0")/lib.sh"
D="$WORK/data"
TLS="$WORK/tls"

# The key's public half is the certificate's.
pair_matches() {
    [ "$(openssl pkey -in "$1" -pubout 2>/dev/null)" = "$(openssl x509 -in "$2" -noout -pubkey 2>/dev/null)" ]
}

valid_serials() {
    "$M" cert list --data-dir "$D" | awk -v name="$1" '$1 == name && $5 == "valid" {print $3}'
}

serial_of() {
    openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'
}

"$M" ca init --trust-domain files.test --data-dir "$D" >/dev/null 2>&1
t "cert issue" 0 "" "$M" cert issue cp --role node --ip 127.0.0.1 --out "$TLS" --data-dir "$D"
check "the pair matches" pair_matches "$TLS/cp.key" "$TLS/cp.crt"
check "the key is 0600" [ "$(mode_of "$TLS/cp.key")" = 600 ]
t "cert renew" 0 "" "$M" cert renew cp --out "$TLS/" --data-dir "$D"
check "the renewed pair matches" pair_matches "$TLS/cp.key" "$TLS/cp.crt"
check "no file left beside them (route-pins: a node's)" [ "$(ls "$TLS" | tr '\n' ' ')" = "ca.crt cp.crt cp.key route-pins " ]

# --- F4: the directory written is the one checked
ln -s "$TLS" "$WORK/link"
t "a symlinked --out" 1 "a symlink is refused" "$M" cert renew cp --out "$WORK/link" --data-dir "$D"
t "a symlinked --out with a slash" 1 "a symlink is refused" "$M" cert renew cp --out "$WORK/link/" --data-dir "$D"
mkdir -m 777 "$WORK/shared"
mkdir -m 700 "$WORK/shared/out"
t "--out inside a directory others may write" 1 "chmod go-w $WORK/shared" \
    "$M" cert issue a --role client --out "$WORK/shared/out" --data-dir "$D"
check "nothing written there" [ -z "$(ls -A "$WORK/shared/out")" ]
t "a new --out inside it" 1 "chmod go-w $WORK/shared" \
    "$M" cert issue a --role client --out "$WORK/shared/new" --data-dir "$D"
check "nothing made there" [ ! -e "$WORK/shared/new" ]
# Its owner could swap a symlink below it between a check and the writes.
# Needs root to give a directory away; ctest runs as root.
if [ "$(id -u)" = 0 ]; then
    mkdir -m 755 "$WORK/theirs"
    mkdir -m 700 "$WORK/theirs/out"
    chown 65534 "$WORK/theirs"
    t "--out inside a directory another user owns" 1 "$WORK/theirs, owned by uid 65534" \
        "$M" cert issue b --role client --out "$WORK/theirs/out" --data-dir "$D"
    check "nothing written there" [ -z "$(ls -A "$WORK/theirs/out")" ]
fi
t "the refused ones issued nothing" 0 "" "$M" cert list --data-dir "$D"
check "only cp is listed" [ "$(printf '%s\n' "$OUT" | awk 'NR > 1 {print $1}' | sort -u)" = cp ]

# --- F5: the certificate cannot be put in place (NAME.crt is a non-empty
# directory, so the second rename fails after the key's succeeded)
cp "$TLS/cp.key" "$WORK/old.key"
cp "$TLS/cp.crt" "$WORK/old.crt"
VALID_BEFORE=$(valid_serials cp)
rm "$TLS/cp.crt"
mkdir "$TLS/cp.crt"
touch "$TLS/cp.crt/in-the-way"
t "a renewal whose certificate cannot be put in place" 1 "cannot put cp.crt in place" \
    "$M" cert renew cp --out "$TLS" --data-dir "$D"
check "says the old files are kept" contains "$ERR" "the old files are kept"
check "the old key is back" cmp -s "$WORK/old.key" "$TLS/cp.key"
check "no .new or .old file left" [ "$(ls "$TLS" | tr '\n' ' ')" = "ca.crt cp.crt cp.key route-pins " ]
rm -r "$TLS/cp.crt"
cp "$WORK/old.crt" "$TLS/cp.crt"
check "the pair on disk still matches" pair_matches "$TLS/cp.key" "$TLS/cp.crt"
check "the certificate issued for it is revoked: the same ones are valid" [ "$(valid_serials cp)" = "$VALID_BEFORE" ]
check "the one on disk among them" contains "$VALID_BEFORE" "$(serial_of "$TLS/cp.crt")"
t "a renewal after it" 0 "" "$M" cert renew cp --out "$TLS" --data-dir "$D"
check "the renewed pair matches" pair_matches "$TLS/cp.key" "$TLS/cp.crt"
check "its certificate is valid" contains "$(valid_serials cp)" "$(serial_of "$TLS/cp.crt")"

finish
