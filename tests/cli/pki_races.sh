#!/bin/bash
# What the second adversarial pass of the bus PKI showed (dev/pki.md), each
# refused: two writers in one --out at once, a node join that would spend
# its token into a data dir it cannot write, a FIFO where a certificate is
# read, renewing a revoked identity, names that differ only in case, and a
# server still using a revoked certificate (doctor, and serve's log).
# usage: pki_races.sh MEMBERSHIPD
. "$(dirname "$0")/lib.sh"
D="$WORK/data"
TLS="$WORK/tls"
NOWHERE="https://127.0.0.1:9" # never reached: every refusal here comes first

token_status() {
    "$M" token list --data-dir "$D" | awk -v name="$1" '$3 == name {print $6}'
}

"$M" ca init --trust-domain races.test --data-dir "$D" >/dev/null 2>&1
"$M" cert issue cp --role node --ip 127.0.0.1 --out "$TLS" --data-dir "$D" >/dev/null
"$M" ca show --data-dir "$D" | sed -n '/BEGIN/,$p' >"$WORK/ca.crt"

# --- one writer at a time in a directory
exec 9<"$TLS"
flock -x 9
t "cert renew while another writer holds --out" 1 "another membershipd cert or join is writing" \
    "$M" cert renew cp --out "$TLS" --data-dir "$D"
t "cert issue too" 1 "is writing in" "$M" cert issue other --role client --out "$TLS" --data-dir "$D"
exec 9<&-
t "and once it is done" 0 "" "$M" cert renew cp --out "$TLS" --data-dir "$D"

# --- a node join checks where it will write before the token is spent
"$M" token create --role node --name n2 --out "$WORK/n2.token" --data-dir "$D" 2>/dev/null
mkdir -p -m 700 "$WORK/d-open" && mkdir -m 775 "$WORK/d-open/tls"
t "a join into a tls dir others may write" 1 "may be written by group or others" \
    "$M" join "$NOWHERE" --ca "$WORK/ca.crt" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d-open"
mkdir -p -m 700 "$WORK/d-link" "$WORK/elsewhere" && ln -s "$WORK/elsewhere" "$WORK/d-link/tls"
t "a join into a tls symlink" 1 "a symlink is refused" \
    "$M" join "$NOWHERE" --ca "$WORK/ca.crt" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d-link"
mkdir -m 700 "$WORK/d-dangling" "$WORK/d-dangling/tls" && ln -s "$WORK/nothing" "$WORK/d-dangling/tls/n2.key"
t "a join over a dangling symlink of an earlier join" 1 "holds an earlier join" \
    "$M" join "$NOWHERE" --ca "$WORK/ca.crt" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d-dangling"
check "the token is unspent" [ "$(token_status n2)" = usable ]

# --- a FIFO where a certificate is read is refused, not waited on
mkdir -m 700 "$WORK/fifo-out" && mkfifo "$WORK/fifo-out/ca.crt"
t "a FIFO as --out's ca.crt" 1 "not a regular file" \
    timeout 20 "$M" cert issue f --role client --out "$WORK/fifo-out" --data-dir "$D"
mkfifo "$WORK/ca.fifo"
t "a FIFO as join's --ca" 2 "not a regular file" \
    timeout 20 "$M" join "$NOWHERE" --ca "$WORK/ca.fifo" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d-f"
rm -f "$WORK/fifo-out/ca.crt" "$WORK/ca.fifo"

# --- a revoked identity is not renewed; a name is one identity whatever its case
"$M" cert issue gw1 --role node --out "$WORK/gw" --data-dir "$D" >/dev/null
t "a second valid gw1 spelt GW1" 1 "a valid certificate named GW1 exists" \
    "$M" cert issue GW1 --role node --out "$WORK/gw" --data-dir "$D"
"$M" cert revoke gw1 --data-dir "$D" >/dev/null
t "renewing a revoked identity" 1 "a revoked identity is not renewed" \
    "$M" cert renew gw1 --out "$WORK/gw" --data-dir "$D"

# --- doctor fails a control plane serving a revoked certificate
run "$M" doctor --data-dir "$D" --tls-cert "$TLS/cp.crt" --tls-key "$TLS/cp.key"
check "doctor: the serving certificate is fine" contains "$OUT" "ok    pki.serving_cert"
"$M" cert revoke cp --data-dir "$D" >/dev/null
run "$M" doctor --data-dir "$D" --tls-cert "$TLS/cp.crt" --tls-key "$TLS/cp.key"
check "doctor: it is revoked" contains "$OUT" "fail  pki.serving_cert"
check "doctor exits 1" [ "$RC" = 1 ]

# --- and serve says so (it goes on serving: revocation is a record until the cluster)
"$M" serve --http-port 0 --nats-port 0 --data-dir "$D" --tls-cert "$TLS/cp.crt" --tls-key "$TLS/cp.key" \
    2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 400); do grep -q 'msg=listening' "$WORK/serve.log" && break; sleep 0.05; done
check "serve logs that its certificate is revoked" grep -q "msg=tls_cert_revoked cert=$TLS/cp.crt" "$WORK/serve.log"
kill "$SERVER" && wait "$SERVER"
check "serve stops cleanly" [ $? = 0 ]

finish
