#!/bin/bash
# The bus PKI (issue 13; membershipd/pki/README.md) as an operator and a new
# peer use it: the CA, certificates, join tokens, a control plane on a
# certificate of this CA, and joins of a member and of a node, end to end
# against a real membershipd on loopback.  What the certificates say is
# checked with the openssl CLI, never only with our own code.
# usage: pki.sh MEMBERSHIPD UNIBUS MAKE_TEST_PKI
. "$(dirname "$0")/lib.sh" || exit 1
U="$2"
MAKE_TEST_PKI="$3"
TD=bus.test
D="$WORK/data"
export UNIBUS_DATA_DIR="$D"
LOG="${UNIBUS_TEST_LOG_DIR:-$WORK}/membershipd-pki-$$.log"
SECRETS="${UNIBUS_TEST_SECRETS_DIR:-$WORK}/secrets-pki-$$.txt"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
umask 077

# ---- helpers ----------------------------------------------------------------

# openssl's view of a certificate: its text, one extension, its SHA-256.
x509_text() { openssl x509 -in "$1" -noout -text; }
x509_ext() { openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null; }
x509_sha256() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
# SHA-256 of a certificate's SubjectPublicKeyInfo (DER), and of a key file's.
spki_of_cert() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
spki_of_key() { openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -c1-64; }
# The serial openssl reads, as the 32 hex digits (16 bytes) we print.
x509_serial() {
    local s
    s=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f)
    [ "${#s}" -le 32 ] && printf '%32s' "$s" | tr ' ' 0
}
# verifies CA-FILE CERT: openssl verifies CERT against CA-FILE alone.
verifies() { openssl verify -CAfile "$1" "$2" >/dev/null 2>&1; }
# Any of FILES holds the bytes of TEXT.
holds() { local text="$1"; shift; grep -qaF -- "$text" "$@" 2>/dev/null; }
lacks_bytes() { ! holds "$@"; }
no_sanitizer_report() { ! grep -qE 'Sanitizer|runtime error:' "$1"; }
# The field after "KEY " in the command's output ("sha256 ab12..." lines).
field() { awk -v k="$1" 'index($0, k " ") == 1 {print substr($0, length(k) + 2)}' <<<"$2"; }
# A token's parts: the secret after the last dot, and the prefix of its id,
# the public half of the token key the store keeps: the Ed25519 key whose
# seed is SHA-256 of "unibus-join-token-key-v1\n" and the secret, derived
# here by openssl (not by our code) from a PKCS#8 wrapping of the seed.
token_secret() { printf '%s' "${1##*.}"; }
token_id_prefix() {
    python3 - "$1" <<'PY'
import base64, hashlib, subprocess, sys
secret = base64.urlsafe_b64decode(sys.argv[1].strip().rsplit(".", 1)[1] + "=")
seed = hashlib.sha256(b"unibus-join-token-key-v1\n" + secret).digest()
der = bytes.fromhex("302e020100300506032b657004220420") + seed
spki = subprocess.run(["openssl", "pkey", "-inform", "DER", "-pubout", "-outform", "DER"], input=der,
                      capture_output=True, check=True).stdout
print(spki[-32:].hex()[:16])
PY
}
# Waits (at most 30 s) for a file to hold a pattern; the check after says whether it did.
wait_for() { for _ in $(seq 600); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# ---- the CA -----------------------------------------------------------------

ca_checks() {
    t "ca init" 0 "" "$M" ca init --trust-domain "$TD"
    check "ca init names the KEK file" contains "$OUT" "key-encryption key: $D/ca.kek"
    check "the KEK file is private" [ "$(mode_of "$D/ca.kek")" = 600 ]
    t "ca show" 0 "" "$M" ca show
    printf '%s\n' "$OUT" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' >"$WORK/ca-show.pem"
    CA_SHA=$(x509_sha256 "$WORK/ca-show.pem")
    check "ca show prints a certificate openssl reads" [ -n "$CA_SHA" ]
    check "ca show's fingerprint is openssl's" [ "$(field sha256 "$OUT")" = "$CA_SHA" ]
    check "ca show names the trust domain" contains "$OUT" "trust domain $TD"
    check "the CA is a CA to openssl" grep -q "CA:TRUE" <<<"$(x509_ext "$WORK/ca-show.pem" basicConstraints)"
    t "ca show --json" 0 "" "$M" ca show --json
    check "ca show --json fingerprint is openssl's" contains "$OUT" "\"sha256\": \"$CA_SHA\""
    check "ca show --json trust domain" contains "$OUT" "\"trust_domain\": \"$TD\""
    t "a second ca init is refused" 1 "has a CA already" "$M" ca init --trust-domain "$TD"
    check "the CA is unchanged" [ "$(field sha256 "$("$M" ca show)")" = "$CA_SHA" ]
    t "a bad trust domain" 2 "--trust-domain" "$M" ca init --trust-domain Bad_Domain! --data-dir "$WORK/bad"
    t "no trust domain" 2 "--trust-domain" "$M" ca init --data-dir "$WORK/bad"
    check "a refused ca init leaves no KEK" [ ! -e "$WORK/bad/ca.kek" ]
    sed -n 2p "$D/ca.kek" >>"$SECRETS"
}

# ---- issuing ----------------------------------------------------------------

issue_checks() {
    local out="$WORK/n1"
    t "cert issue node" 0 "" "$M" cert issue n1 --role node --dns n1.test,localhost --ip 127.0.0.1,::1 --out "$out"
    N1_SERIAL=$(field serial "$OUT")
    check "openssl verifies it against ca.crt" verifies "$out/ca.crt" "$out/n1.crt"
    check "ca.crt is the CA ca show prints" [ "$(x509_sha256 "$out/ca.crt")" = "$CA_SHA" ]
    local text sans
    text=$(x509_text "$out/n1.crt")
    sans=$(x509_ext "$out/n1.crt" subjectAltName)
    check "URI SAN spiffe://$TD/node/n1" contains "$sans" "URI:spiffe://$TD/node/n1"
    check "DNS SANs" contains "$sans" "DNS:n1.test, DNS:localhost"
    check "IP SANs" contains "$sans" "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    check "key usage critical, digital signature only" \
        grep -Pzq 'X509v3 Key Usage: critical\n +Digital Signature\n' <<<"$text"
    check "node EKU: server and client auth" \
        grep -q "TLS Web Server Authentication, TLS Web Client Authentication" <<<"$text"
    check "not a CA" grep -Pzq 'Basic Constraints: critical\n +CA:FALSE\n' <<<"$text"
    check "ECDSA P-256" grep -q "NIST CURVE: P-256" <<<"$text"
    check "serial: 16 bytes, as printed" grep -Eqx '[0-9a-f]{32}' <<<"$N1_SERIAL"
    check "openssl reads the same serial" [ "$(x509_serial "$out/n1.crt")" = "$N1_SERIAL" ]
    check "the key is private" [ "$(mode_of "$out/n1.key")" = 600 ]
    check "the key is the certificate's" [ "$(spki_of_key "$out/n1.key")" = "$(spki_of_cert "$out/n1.crt")" ]
    check "the out dir is private" [ "$(mode_of "$out")" = 700 ]

    t "cert issue client" 0 "" "$M" cert issue c1 --role client --out "$WORK/c1"
    C1_SERIAL=$(field serial "$OUT")
    check "client: verifies" verifies "$WORK/c1/ca.crt" "$WORK/c1/c1.crt"
    check "client: URI SAN spiffe://$TD/client/c1" \
        contains "$(x509_ext "$WORK/c1/c1.crt" subjectAltName)" "URI:spiffe://$TD/client/c1"
    check "client EKU: client auth only" [ "$(x509_ext "$WORK/c1/c1.crt" extendedKeyUsage | tail -1 | xargs)" \
        = "TLS Web Client Authentication" ]
    check "two serials differ" [ "$C1_SERIAL" != "$N1_SERIAL" ]
}

issue_refusals() {
    local sums
    sums=$(sha256sum "$WORK"/n1/*)
    t "a second issue to the same dir is refused" 1 "exists; nothing issued" \
        "$M" cert issue n1 --role node --out "$WORK/n1"
    check "the files are untouched" [ "$(sha256sum "$WORK"/n1/*)" = "$sums" ]
    mkdir "$WORK/foreign" && cp "$WORK/otherpki/ca.pem" "$WORK/foreign/ca.crt"
    t "a dir whose ca.crt is another CA's is refused" 1 "holds another CA's certificate" \
        "$M" cert issue f --role node --out "$WORK/foreign"
    check "nothing written there" [ "$(cd "$WORK/foreign" && echo *)" = "ca.crt" ]
    check "nothing recorded" [ "$("$M" cert list | grep -c '^f ')" = 0 ]
    t "renew into it is refused" 1 "holds another CA's certificate" "$M" cert renew c1 --out "$WORK/foreign"
    check "renew wrote nothing there" [ "$(cd "$WORK/foreign" && echo *)" = "ca.crt" ]
    t "bad --dns" 2 "--dns" "$M" cert issue z --role node --dns 'bad_name!' --out "$WORK/z"
    t "bad --ip" 2 "--ip" "$M" cert issue z --role node --ip 300.1.1.1 --out "$WORK/z"
    t "bad --days" 2 "--days" "$M" cert issue z --role node --days 0 --out "$WORK/z"
    t "--days too long" 2 "--days" "$M" cert issue z --role node --days 36501 --out "$WORK/z"
    t "bad --role" 2 "--role node|client" "$M" cert issue z --role admin --out "$WORK/z"
    check "refusals issue nothing" [ -z "$(ls "$WORK/z" 2>/dev/null)" ]
}

# ---- the CA key: sealed, and only with its KEK ------------------------------

ca_key_checks() {
    check "the database holds no PEM private key" lacks_bytes "PRIVATE KEY" "$D"/membership.db*
    check "the database does hold the CA certificate (the scan reads it)" holds "BEGIN CERTIFICATE" "$D"/membership.db*
    check "the database holds no issued key" lacks_bytes "$(sed -n 2p "$WORK/n1/n1.key")" "$D"/membership.db*
    t "a missing --ca-kek-file" 1 "key-encryption key $WORK/none.kek" \
        "$M" cert issue k --role node --out "$WORK/k" --ca-kek-file "$WORK/none.kek"
    mv "$D/ca.kek" "$WORK/ca.kek.away"
    t "without DATA-DIR/ca.kek" 1 "key-encryption key $D/ca.kek" "$M" cert issue k --role node --out "$WORK/k"
    mv "$WORK/ca.kek.away" "$D/ca.kek"
    chmod 644 "$D/ca.kek"
    t "a KEK readable by others" 1 "chmod 600 $D/ca.kek" "$M" cert issue k --role node --out "$WORK/k"
    chmod 600 "$D/ca.kek"
    "$M" ca init --trust-domain other.test --data-dir "$WORK/other" >/dev/null
    t "another bus's KEK" 1 "does not open with this key-encryption key" \
        "$M" cert issue k --role node --out "$WORK/k" --ca-kek-file "$WORK/other/ca.kek"
    check "no certificate without the KEK" [ -z "$(ls "$WORK/k")" ]
    t "with the KEK back" 0 "" "$M" cert issue k --role node --out "$WORK/k"
}

# ---- list, info, revoke, renew ----------------------------------------------

list_info_checks() {
    t "cert list" 0 "" "$M" cert list
    check "lists n1, valid" grep -Eq "^n1 +node +$N1_SERIAL +[0-9TZ:-]+ +valid$" <<<"$OUT"
    check "lists c1, valid" grep -Eq "^c1 +client +$C1_SERIAL +[0-9TZ:-]+ +valid$" <<<"$OUT"
    t "cert list --json" 0 "" "$M" cert list --json
    check "--json has n1's SPKI hash (openssl's)" \
        contains "$OUT" "\"spki_sha256\": \"$(spki_of_cert "$WORK/n1/n1.crt")\""
    check "--json status" contains "$OUT" '"status": "valid"'
    t "cert info" 0 "" "$M" cert info "$WORK/n1/n1.crt"
    check "info sha256 is openssl's" [ "$(field sha256 "$OUT")" = "$(x509_sha256 "$WORK/n1/n1.crt")" ]
    check "info spki sha256 is openssl's" [ "$(field "spki sha256" "$OUT")" = "$(spki_of_cert "$WORK/n1/n1.crt")" ]
    check "info serial" [ "$(field serial "$OUT")" = "$N1_SERIAL" ]
    check "info SANs" contains "$OUT" "URI:spiffe://$TD/node/n1"
    check "info: issued by this bus" contains "$OUT" "issued by this bus: yes"
    check "info: not revoked" contains "$OUT" "revoked: no"
    t "cert info of another CA's certificate" 0 "" "$M" cert info "$WORK/otherpki/server.pem"
    check "info: not issued by this bus" contains "$OUT" "issued by this bus: no"
    check "info sha256 of the other (openssl's)" \
        [ "$(field sha256 "$OUT")" = "$(x509_sha256 "$WORK/otherpki/server.pem")" ]
    t "cert info of no certificate" 1 "no PEM certificate" "$M" cert info "$D/ca.kek"
}

revoke_checks() {
    t "cert revoke SERIAL" 0 "" "$M" cert revoke "$C1_SERIAL"
    check "revoked by serial" contains "$OUT" "revoked certificate $C1_SERIAL of c1"
    t "cert info after revoke" 0 "" "$M" cert info "$WORK/c1/c1.crt"
    check "info: revoked" contains "$OUT" "revoked: yes"
    "$M" cert issue c2 --role client --out "$WORK/c2a" >/dev/null
    t "a second certificate of a valid name is refused" 1 "a valid certificate named c2 exists" \
        "$M" cert issue c2 --role client --out "$WORK/c2b"
    "$M" cert renew c2 --out "$WORK/c2b" >/dev/null # the old one stays valid
    t "cert revoke NAME" 0 "" "$M" cert revoke c2
    check "every valid one of the name" contains "$OUT" "revoked 2 certificates of c2"
    t "cert revoke NAME again" 1 "revoked already" "$M" cert revoke c2
    t "cert revoke nobody" 1 "no certificate named or numbered" "$M" cert revoke nobody
    t "cert list after revokes" 0 "" "$M" cert list
    check "c1 revoked" grep -Eq "^c1 +client +$C1_SERIAL .* revoked$" <<<"$OUT"
    check "both c2 revoked" [ "$(grep -Ec '^c2 .* revoked$' <<<"$OUT")" = 2 ]
    check "n1 still valid" grep -Eq "^n1 .* valid$" <<<"$OUT"
    t "cert list --json statuses" 0 "" "$M" cert list --json
    check "--json: three revoked" [ "$(grep -c '"status": "revoked"' <<<"$OUT")" = 3 ]
    t "audit" 0 "" "$M" audit
    check "revoke by serial audited" contains "$OUT" "action=cert.revoke target=cert:c1:$C1_SERIAL outcome=ok"
    check "revoke by name audited" contains "$OUT" "action=cert.revoke target=cert:c2:all(2) outcome=ok"
}

renew_checks() {
    local old_key old_spki
    old_key=$(sed -n 2p "$WORK/n1/n1.key")
    old_spki=$(spki_of_key "$WORK/n1/n1.key")
    t "cert renew" 0 "" "$M" cert renew n1 --out "$WORK/n1"
    local serial
    serial=$(field serial "$OUT")
    check "a new serial" [ "$serial" != "$N1_SERIAL" ]
    check "openssl reads the new serial" [ "$(x509_serial "$WORK/n1/n1.crt")" = "$serial" ]
    check "a new key" [ "$(spki_of_key "$WORK/n1/n1.key")" != "$old_spki" ]
    check "the new key is the new certificate's" \
        [ "$(spki_of_key "$WORK/n1/n1.key")" = "$(spki_of_cert "$WORK/n1/n1.crt")" ]
    check "the old key is gone from the dir" lacks_bytes "$old_key" "$WORK"/n1/*
    check "no leftover files" [ "$(cd "$WORK/n1" && echo *)" = "ca.crt n1.crt n1.key route-pins" ]
    check "route-pins names the renewed key" grep -qx "$(spki_of_cert "$WORK/n1/n1.crt")" "$WORK/n1/route-pins"
    check "the renewed key is private" [ "$(mode_of "$WORK/n1/n1.key")" = 600 ]
    check "the renewed certificate verifies" verifies "$WORK/n1/ca.crt" "$WORK/n1/n1.crt"
    check "with the same SANs" contains "$(x509_ext "$WORK/n1/n1.crt" subjectAltName)" \
        "DNS:n1.test, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://$TD/node/n1"
    check "renewal is audited" contains "$("$M" audit)" "action=cert.renew target=cert:n1:$serial outcome=ok"
    t "cert renew of nobody" 1 "no certificate named nobody" "$M" cert renew nobody --out "$WORK/n1"
}

# ---- a control plane on a certificate of this CA ----------------------------

start_server() {
    "$M" cert issue cp --role node --dns localhost --ip 127.0.0.1 --out "$WORK/cp" >/dev/null
    # One client address makes every request here: lift the general per-IP
    # rate.  The join rate has no flag: its burst (JOIN_BURST, 10 in
    # membershipd/http/server.h) bounds the join requests this script sends.
    "$M" serve --http-port 0 --nats-port 0 --rate 1000 --burst 1000 \
        --tls-cert "$WORK/cp/cp.crt" --tls-key "$WORK/cp/cp.key" 2>"$LOG" &
    SERVER=$!
    wait_for "$LOG" 'msg=listening'
    PORT=$(grep -o 'msg=listening.* port=[0-9]*' "$LOG" | grep -o '[0-9]*$')
    SERVER_KEY=$(grep -o 'server_key=U[A-Z2-7]*' "$LOG" | cut -d= -f2)
    URL="https://127.0.0.1:$PORT"
    CA="$WORK/cp/ca.crt"
    check "serve starts with TLS on a certificate of this CA" grep -q "msg=listening.* tls=on" "$LOG"
}

control_plane_checks() {
    t "curl --cacert ca.crt" 0 "" curl -sS --fail --cacert "$CA" "$URL/v1/health"
    check "the health answer" [ "$OUT" = '{"status":"ok"}' ]
    t "curl by the DNS name" 0 "" curl -sS --fail --cacert "$CA" --resolve "localhost:$PORT:127.0.0.1" \
        "https://localhost:$PORT/v1/health"
    run curl -sS --cacert "$WORK/otherpki/ca.pem" "$URL/v1/health"
    check "curl trusting another CA is refused (exit 60)" [ "$RC" = 60 ]
    check "the data plane is TLS too" grep -q "nats=tls://" "$LOG"
}

# ---- tokens -----------------------------------------------------------------

# new_token NAME ARGS...: a token from token create, in $WORK/NAME.token (0600).
new_token() {
    local name="$1"
    shift
    "$M" token create "$@" >"$WORK/$name.token" 2>"$WORK/$name.token.err"
    { cat "$WORK/$name.token"; token_secret "$(cat "$WORK/$name.token")"; echo; } >>"$SECRETS"
}

token_checks() {
    t "token create" 0 "keep it secret" "$M" token create --role member --name alice
    ALICE_TOKEN="$OUT"
    printf '%s\n' "$OUT" >"$WORK/alice.token"
    printf '%s\n%s\n' "$OUT" "$(token_secret "$OUT")" >>"$SECRETS"
    check "stdout is the token alone" grep -Eqx "ubj1\.$SERVER_KEY\.[A-Za-z0-9_-]{43}" <<<"$OUT"
    check "stderr is the message alone" [ "$(wc -l <<<"$ERR")" = 1 ]
    local prefix
    prefix=$(token_id_prefix "$ALICE_TOKEN")
    t "token list" 0 "" "$M" token list
    check "token list shows the id prefix, usable" grep -Eq "^$prefix member +alice .* usable +-$" <<<"$OUT"
    check "token list never shows the token" lacks "$OUT" "$(token_secret "$ALICE_TOKEN")"
    t "token list --json" 0 "" "$M" token list --json
    check "--json id prefix" contains "$OUT" "\"id\": \"$prefix\""
    check "--json never shows the token" lacks "$OUT" "$(token_secret "$ALICE_TOKEN")"
    check "the database holds no token" lacks_bytes "$(token_secret "$ALICE_TOKEN")" "$D"/membership.db*
    t "a member token needs --name" 2 "needs --name" "$M" token create --role member
    t "a bad role" 2 "--role node|member" "$M" token create --role admin --name x
    t "--ttl under a minute" 2 "--ttl 59s" "$M" token create --role member --name x --ttl 59s
    t "--ttl over 30 days" 2 "--ttl 721h" "$M" token create --role member --name x --ttl 721h
    t "--ttl 1m" 0 "" "$M" token create --role member --name x1 --ttl 1m
    echo "$OUT" >>"$SECRETS"
    t "--ttl 30d" 0 "" "$M" token create --role member --name x2 --ttl 30d
    echo "$OUT" >>"$SECRETS"
    local x2
    x2=$(token_id_prefix "$OUT")
    t "token revoke PREFIX" 0 "" "$M" token revoke "${x2:0:8}"
    t "token list after revoke" 0 "" "$M" token list
    check "the revoked token shows so" grep -Eq "^$x2 member +x2 .* revoked" <<<"$OUT"
    t "token revoke twice" 1 "revoked already" "$M" token revoke "$x2"
    t "token revoke of nothing" 1 "no token whose id starts with" "$M" token revoke 00000000
    check "token creation is audited" contains "$("$M" audit)" "action=token.create target=token:$prefix outcome=ok"
}

# ---- a member joins with unibus join ----------------------------------------

# as WHO CMD...: runs CMD as peer WHO (its own home and config directory)
# of this bus; as_bg in the background, as the process itself.
as() { local w="$WORK/$1"; shift; env HOME="$w" XDG_CONFIG_HOME="$w/config" UNIBUS_URL="$URL" UNIBUS_CA="$CA" "$@"; }
as_bg() { local w="$WORK/$1"; shift; exec env HOME="$w" XDG_CONFIG_HOME="$w/config" UNIBUS_URL="$URL" UNIBUS_CA="$CA" "$@"; }
nkey_of() { "$M" user list | awk -v n="$1" '$1 == n {print $5}'; }

member_join_checks() {
    mkdir -p "$WORK/alice" "$WORK/bob" "$WORK/boss" "$WORK/mallory"
    chmod 644 "$WORK/alice.token"
    t "a token file others can read is refused" 2 "chmod 600" \
        as alice "$U" join "$URL" --token-file "$WORK/alice.token"
    chmod 600 "$WORK/alice.token"
    t "unibus join" 0 "made a new identity" as alice "$U" join "$URL" --ca "$CA" --token-file "$WORK/alice.token"
    check "joined as alice, member" \
        grep -Eq "^joined $URL as alice \(U[A-Z2-7]{55}\), member; server key $SERVER_KEY pinned$" <<<"$OUT"
    check "the new seed is private" [ "$(mode_of "$WORK/alice/config/unibus/identity.seed")" = 600 ]
    check "the server lists alice under the key she made" contains "$OUT" "($(nkey_of alice))"
    check "the join's output holds no token" lacks "$OUT$ERR" "$(token_secret "$ALICE_TOKEN")"
    t "whoami as the joined identity" 0 "" as alice "$U" whoami
    check "alice is a member" [ "$OUT" = "alice $(nkey_of alice) member" ]
    check "the token shows used by alice" \
        grep -Eq "^$(token_id_prefix "$ALICE_TOKEN") member +alice .* used +alice$" <<<"$("$M" token list)"

    as mallory "$U" keygen >/dev/null 2>&1
    t "the same token twice" 1 "join_refused" as mallory "$U" join "$URL" --ca "$CA" --token-file "$WORK/alice.token"
    REFUSED="$ERR"
    check "the refusal holds no token" lacks "$ERR" "$(token_secret "$ALICE_TOKEN")"
    check "mallory is not allowlisted" [ -z "$(nkey_of mallory)" ]

    new_token bob --role member --name bob
    # In the environment, never in an argv.
    JOIN_TOKEN=$(cat "$WORK/bob.token")
    export JOIN_TOKEN
    t "unibus join --token-env" 0 "" as bob "$U" join "$URL" --token-env JOIN_TOKEN
    unset JOIN_TOKEN
    check "bob joined" [ -n "$(nkey_of bob)" ]
    t "--token-env of an unset variable" 2 "is not set" as bob "$U" join "$URL" --token-env NO_SUCH_VARIABLE
    mkfifo "$WORK/fifo.token"
    t "a FIFO as the token file is refused, not waited on" 2 "not a regular file" \
        timeout 20 "$U" join "$URL" --token-file "$WORK/fifo.token"
    rm -f "$WORK/fifo.token" # the leak scan reads every file here
}

member_talks_checks() {
    BOSS=$(as boss "$U" keygen 2>/dev/null)
    "$M" user add boss "$BOSS" --admin >/dev/null
    t "the admin creates an e2e room" 0 "" as boss "$U" room create plans
    t "the admin adds the member by the key the server lists" 0 "" as boss "$U" room add plans "$(nkey_of alice)"
    (as_bg boss "$U" sub plans --count 1 >"$WORK/sub.out" 2>"$WORK/sub.err") &
    SUB=$!
    wait_for "$WORK/sub.err" listening
    t "the member publishes" 0 "" as alice "$U" pub plans "hello from a joined member"
    wait_for "$WORK/sub.out" "hello from a joined member"
    kill "$SUB" 2>/dev/null # still listening: it heard nothing
    wait "$SUB"
    check "the admin's sub ends after the message" [ $? -eq 0 ]
    check "and says nothing but that it listened" [ "$(cat "$WORK/sub.err")" = "unibus: listening on plans" ]
    check "the admin hears the member" grep -Eq '^[0-9T:-]+Z alice: hello from a joined member$' "$WORK/sub.out"
    check "the room is end to end" grep -Eq " e2e .*plans$" <<<"$(as alice "$U" rooms)"
}

# ---- a node joins with membershipd join -------------------------------------

node_join_checks() {
    new_token n2 --role node --dns n2.test --ip 127.0.0.2
    chmod 644 "$WORK/n2.token"
    t "a node token file others can read is refused" 2 "chmod 600" \
        "$M" join "$URL" --ca "$CA" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d2"
    chmod 600 "$WORK/n2.token"
    t "join trusting another CA fails" 1 "cannot reach" \
        "$M" join "$URL" --ca "$WORK/otherpki/ca.pem" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d3"
    check "and writes nothing" [ -z "$(find "$WORK/d3" -type f 2>/dev/null)" ]
    # URL/ is URL, as for unibus.
    t "membershipd join" 0 "" "$M" join "$URL/" --ca "$CA" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d2"
    check "join.json has the URL" grep -q "\"url\": \"$URL\"" "$WORK/d2/join.json"
    check "the join's output holds no token" lacks "$OUT$ERR" "$(token_secret "$(cat "$WORK/n2.token")")"
    local crt="$WORK/d2/tls/n2.crt" sans
    check "openssl verifies the node's certificate" verifies "$CA" "$crt"
    sans=$(x509_ext "$crt" subjectAltName)
    check "the token's SANs and the node's URI" \
        contains "$sans" "DNS:n2.test, IP Address:127.0.0.2, URI:spiffe://$TD/node/n2"
    check "node EKU" contains "$(x509_ext "$crt" extendedKeyUsage)" \
        "TLS Web Server Authentication, TLS Web Client Authentication"
    check "for the key made on the node" [ "$(spki_of_key "$WORK/d2/tls/n2.key")" = "$(spki_of_cert "$crt")" ]
    check "the node's key is private" [ "$(mode_of "$WORK/d2/tls/n2.key")" = 600 ]
    check "route-pins holds the new node's key (what it pins while joining)" \
        grep -qx "$(spki_of_cert "$crt")" "$WORK/d2/tls/route-pins"
    check "route-pins holds only key hashes" [ -z "$(grep -Evx '[0-9a-f]{64}' "$WORK/d2/tls/route-pins")" ]
    check "the bus records it" grep -Eq "^n2 +node +$(x509_serial "$crt") .* valid$" <<<"$("$M" cert list)"
    check "the token shows used by n2" \
        grep -Eq "^$(token_id_prefix "$(cat "$WORK/n2.token")") node .* used +n2$" <<<"$("$M" token list)"
    check "join.json names the server the token names" grep -q "\"server_key\": \"$SERVER_KEY\"" "$WORK/d2/join.json"
    t "the node token twice" 1 "join_refused" \
        "$M" join "$URL" --ca "$CA" --token-file "$WORK/n2.token" --name n2 --data-dir "$WORK/d4"
    check "the second join writes no certificate" [ ! -e "$WORK/d4/tls/n2.crt" ]
}

# n2's certificate revoked, a new token for it, and the join run again over
# the old data directory: refused before the token is spent.
rejoin_checks() {
    "$M" cert revoke n2 >/dev/null
    new_token again --role node --name n2
    local sums
    sums=$(sha256sum "$WORK"/d2/tls/* "$WORK/d2/join.json")
    t "a join over an earlier join's files" 1 "holds an earlier join; nothing sent" \
        "$M" join "$URL" --ca "$CA" --token-file "$WORK/again.token" --name n2 --data-dir "$WORK/d2"
    check "the earlier files are untouched" [ "$(sha256sum "$WORK"/d2/tls/* "$WORK/d2/join.json")" = "$sums" ]
    mkdir -p "$WORK/d5/tls" && cp "$WORK/otherpki/ca.pem" "$WORK/d5/tls/ca.crt"
    t "a join beside another CA's ca.crt" 1 "holds another CA's certificate; nothing sent" \
        "$M" join "$URL" --ca "$CA" --token-file "$WORK/again.token" --name n2 --data-dir "$WORK/d5"
    check "and writes nothing there" [ "$(cd "$WORK/d5/tls" && echo *)" = "ca.crt" ]
    check "the token is not spent" \
        grep -Eq "^$(token_id_prefix "$(cat "$WORK/again.token")") node +n2 .* usable +-$" <<<"$("$M" token list)"
    check "no new certificate for n2" [ "$("$M" cert list | grep -c '^n2 ')" = 1 ]
}

# ---- every refusal reads the same; expiry by libfaketime --------------------

# refused_alike WHAT TOKEN-FILE REASON: a join with it fails as a used
# token does, and is audited with REASON.
refused_alike() {
    t "$1: refused" 1 "join_refused" as mallory "$U" join "$URL" --ca "$CA" --token-file "$2"
    check "$1: the same line as a used token" [ "$ERR" = "$REFUSED" ]
    check "$1: audited as $3" contains "$("$M" audit)" \
        "action=join.member target=token:$(token_id_prefix "$(cat "$2")"):$3 outcome=denied"
}

# Before serve: once it runs, changes go through the bus log over TLS, which
# a clock two days behind cannot verify (the certificates are newer).
make_late_token() {
    # Under ASan, libfaketime must be allowed to load first.
    env ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 FAKETIME_DONT_FAKE_MONOTONIC=1 \
        faketime -f '-2d' "$M" token create --role member --name late --ttl 1h >"$WORK/late.token" 2>/dev/null
    cat "$WORK/late.token" >>"$SECRETS"
}

refusal_checks() {
    check "a token made two days ago for an hour is expired" \
        grep -Eq "^$(token_id_prefix "$(cat "$WORK/late.token")") member +late .* expired" <<<"$("$M" token list)"
    refused_alike "an expired token" "$WORK/late.token" expired
    # A well-formed token for this server that it never made.
    local secret
    secret=$(head -c 32 /dev/urandom | base64 | tr +/ -_ | tr -d =)
    printf 'ubj1.%s.%s\n' "$SERVER_KEY" "$secret" >"$WORK/unknown.token"
    refused_alike "an unknown token" "$WORK/unknown.token" unknown
    new_token revoked --role member --name gone
    "$M" token revoke "$(token_id_prefix "$(cat "$WORK/revoked.token")")" >/dev/null
    refused_alike "a revoked token" "$WORK/revoked.token" revoked
    new_token node --role node
    refused_alike "a node token for a member" "$WORK/node.token" wrong_role
    check "none of them allowlisted anyone" [ -z "$(nkey_of late)$(nkey_of gone)$(nkey_of mallory)" ]
    check "the used token is audited as used" contains "$("$M" audit)" \
        "action=join.member target=token:$(token_id_prefix "$ALICE_TOKEN"):used outcome=denied"
}

# ---- the tokens never in a log, an output or the database -------------------

no_token_leaks() {
    kill "$SERVER"
    wait "$SERVER"
    check "serve stops cleanly" [ $? -eq 0 ]
    SERVER=""
    local leaks="" token
    for token in "$WORK"/*.token; do
        local secret
        secret=$(token_secret "$(cat "$token")")
        holds "$secret" "$LOG" "$WORK"/*.err "$D"/membership.db* && leaks="$leaks $(basename "$token")"
    done
    check "no token in the serve log, token create's stderr or the database:$leaks" [ -z "$leaks" ]
    check "the serve log was scanned" grep -q "msg=listening" "$LOG"
    check "no sanitizer report in the serve log" no_sanitizer_report "$LOG"
}

# Another CA, made by openssl alone (tests/helpers/make_test_pki.sh).
"$MAKE_TEST_PKI" "$WORK/otherpki"
ca_checks
issue_checks
issue_refusals
ca_key_checks
list_info_checks
revoke_checks
renew_checks
make_late_token
start_server
control_plane_checks
token_checks
member_join_checks
member_talks_checks
node_join_checks
rejoin_checks
refusal_checks
no_token_leaks
finish
