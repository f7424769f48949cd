#!/bin/bash
# The boot guard, as a table: every refused shape exits 78 naming its rule;
# the accepted shapes exit 0.  Also: serve refuses before touching anything.
# usage: guard.sh MEMBERSHIPD MAKE_TEST_PKI
. "$(dirname "$0")/lib.sh"
P="$WORK/pki"
sh "$2" "$P"
TLS="--tls-cert $P/server.pem --tls-key $P/server.key"
D="$WORK/data"
mkdir -m 700 "$D"

refused() { # refused NAME RULE-SUBSTRING FLAGS...
    local name="$1" rule="$2"
    shift 2
    t "refused: $name" 78 "$rule" "$M" check-config --data-dir "$D" "$@"
    check "refused: $name names the refusal" contains "$ERR" "membershipd: refusing to start: "
}
accepted() {
    local name="$1"
    shift
    t "accepted: $name" 0 "" "$M" check-config --data-dir "$D" "$@"
    check "accepted: $name says so" contains "$OUT" "configuration ok"
}

# shellcheck disable=SC2086
{
refused "public, no TLS" "is not loopback and TLS is off" --bind 0.0.0.0
refused "public IPv6, no TLS" "is not loopback and TLS is off" --bind ::
refused "public, soft" "must be enforce (it is soft)" --bind 0.0.0.0 --bus-auth soft $TLS
refused "public, off" "must be enforce (it is off)" --bind 192.0.2.1 --bus-auth off $TLS
refused "public, off, no TLS" "must be enforce (it is off)" --bind 10.1.2.3 --bus-auth off
refused "cert without key" "go together" --tls-cert "$P/server.pem"
refused "key without cert" "go together" --tls-key "$P/server.key"
refused "TLS with soft" "TLS is configured, so --bus-auth must be enforce" --bus-auth soft $TLS
refused "TLS with off" "TLS is configured, so --bus-auth must be enforce" --bus-auth off $TLS
refused "missing key file" "No such file" --tls-cert "$P/server.pem" --tls-key "$P/none.key"
refused "missing cert file" "No such file" --tls-cert "$P/none.pem" --tls-key "$P/server.key"
refused "cert is not a cert" "is not a PEM certificate" --tls-cert "$P/server.key" --tls-key "$P/server.key"
refused "expired certificate" "has expired" --tls-cert "$P/expired.pem" --tls-key "$P/expired.key"
refused "key does not match" "does not match certificate" --tls-cert "$P/server.pem" --tls-key "$P/other.key"
openssl x509 -in "$P/server.pem" -out "$WORK/leaf.pem" # without the root the file held
refused "a certificate whose root is nowhere" "does not verify against its own chain, the bus CA or the system" \
    --tls-cert "$WORK/leaf.pem" --tls-key "$P/server.key"
refused "public metrics, no TLS" "--metrics-addr 0.0.0.0:9470 is not loopback, so it needs TLS" \
    --metrics-addr 0.0.0.0:9470
refused "public IPv6 metrics, no TLS" "or give --metrics-addr 127.0.0.1:PORT" --metrics-addr [::]:9470
refused "metrics on the control-plane port" "--http-port and --metrics-addr are both 8470" \
    --metrics-addr 127.0.0.1:8470
refused "metrics on the data-plane port" "--nats-port and --metrics-addr are both 4250" \
    --metrics-addr 127.0.0.1:4250
}
cp "$P/server.pem" "$P/ca.key.pem"; chmod 600 "$P/ca.key.pem"
t "refused: cert given as key" 78 "not an unencrypted PEM private key" \
    "$M" check-config --data-dir "$D" --tls-cert "$P/server.pem" --tls-key "$P/ca.key.pem"
openssl pkey -in "$P/server.key" -aes256 -passout pass:secret -out "$P/encrypted.key" 2>/dev/null
chmod 600 "$P/encrypted.key"
t "refused: encrypted key" 78 "not an unencrypted PEM private key" \
    "$M" check-config --data-dir "$D" --tls-cert "$P/server.pem" --tls-key "$P/encrypted.key"
chmod 640 "$P/server.key"
t "refused: readable TLS key" 78 "chmod 600 $P/server.key" "$M" check-config --data-dir "$D" $TLS
chmod 600 "$P/server.key"
chmod 755 "$D"
t "refused: open data dir" 78 "chmod 700 $D" "$M" check-config --data-dir "$D"
chmod 700 "$D"
"$M" keygen --out "$D/server.seed" >/dev/null 2>&1
chmod 644 "$D/server.seed"
t "refused: readable server identity" 78 "chmod 600 $D/server.seed" "$M" check-config --data-dir "$D"
rm -f "$D/server.seed"
printf 'garbage\n' > "$D/server.seed"; chmod 600 "$D/server.seed"
t "refused: unparseable server identity" 78 "holds no valid user seed" "$M" check-config --data-dir "$D"
rm -f "$D/server.seed"

# Owners (issue 11, finding 6): whoever owns a file could have planted it.
# Needs root to give files away; ctest runs as root.
if [ "$(id -u)" = 0 ]; then
    ME=$(id -u)
    chown 65534 "$D"
    t "refused: data dir owned by another user" 78 "chown -R $ME $D" "$M" check-config --data-dir "$D"
    check "the refusal says whose" contains "$ERR" "owned by uid 65534"
    t "serve refuses a data dir owned by another user" 78 "owned by uid 65534" \
        timeout 20 "$M" serve --data-dir "$D" --http-port 0 --nats-port 0
    chown "$ME" "$D"
    "$M" keygen --out "$D/server.seed" >/dev/null 2>&1
    chown 65534 "$D/server.seed"
    t "refused: server identity owned by another user" 78 "chown" "$M" check-config --data-dir "$D"
    check "the seed refusal names the file" contains "$ERR" "$D/server.seed"
    rm -f "$D/server.seed"
    chown 65534 "$P/server.key"
    t "refused: TLS key owned by another user" 78 "chown" "$M" check-config --data-dir "$D" $TLS
    check "the key refusal names the file" contains "$ERR" "$P/server.key"
    chown "$ME" "$P/server.key"
    "$M" user add owned "$("$M" keygen --out "$WORK/owned.seed" 2>/dev/null | awk '$1 == "nkey" {print $2}')" \
        --db "$WORK/owned.db" >/dev/null
    chown 65534 "$WORK/owned.db"
    t "refused: database owned by another user" 78 "chown" "$M" check-config --data-dir "$D" --db "$WORK/owned.db"
    check "the database refusal names the file" contains "$ERR" "$WORK/owned.db"
    # A parent others may write without the sticky bit lets them swap the data dir.
    mkdir -m 777 "$WORK/shared"
    mkdir -m 700 "$WORK/shared/data"
    t "refused: data dir in a directory others may write" 78 "chmod go-w $WORK/shared" \
        "$M" check-config --data-dir "$WORK/shared/data"
    t "serve refuses a new data dir in a directory others may write" 78 "chmod go-w $WORK/shared" \
        timeout 20 "$M" serve --data-dir "$WORK/shared/new" --http-port 0 --nats-port 0
    check "the refused serve made no data dir there" [ ! -e "$WORK/shared/new" ]
    chmod 1777 "$WORK/shared"
    t "accepted: data dir in a sticky shared directory" 0 "" "$M" check-config --data-dir "$WORK/shared/data"
    mkdir -m 755 "$WORK/theirs"
    mkdir -m 700 "$WORK/theirs/data"
    chown 65534 "$WORK/theirs"
    t "refused: data dir in another user's directory" 78 "inside $WORK/theirs, owned by uid 65534" \
        "$M" check-config --data-dir "$WORK/theirs/data"
else
    echo "ok - owner checks skipped: not root # SKIP"
fi

# The data plane's rules.
t "refused: same port twice" 78 "--http-port and --nats-port are both 4999" \
    "$M" check-config --data-dir "$D" --http-port 4999 --nats-port 4999
t "refused: missing nats-server" 78 "install it with: apt-get install nats-server" \
    "$M" check-config --data-dir "$D" --nats-server /nonexistent/nats-server
t "refused: nats-server not on PATH" 78 "nats-server not found (looked for nats-server on PATH)" \
    env PATH=/nonexistent "$M" check-config --data-dir "$D"
BUSY=$((20000 + RANDOM % 12000)) # below the ephemeral range other tests use
nats-server -a 127.0.0.1 -p "$BUSY" >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$BUSY) 2>/dev/null && break; sleep 0.05; done
t "refused: data-plane port in use" 78 "--nats-port $BUSY on 127.0.0.1 is not available" \
    "$M" check-config --data-dir "$D" --nats-port "$BUSY"
t "refused: control-plane port in use" 78 "--http-port $BUSY on 127.0.0.1 is not available" \
    "$M" check-config --data-dir "$D" --http-port "$BUSY"
t "refused: metrics port in use" 78 "--metrics-addr $BUSY on 127.0.0.1 is not available" \
    "$M" check-config --data-dir "$D" --metrics-addr "127.0.0.1:$BUSY"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
cp "$P/server.pem" "$P/quo\"te.pem"
t "refused: TLS path that cannot be quoted" 78 "may not hold quotes" \
    "$M" check-config --data-dir "$D" --tls-cert "$P/quo\"te.pem" --tls-key "$P/server.key"

# shellcheck disable=SC2086
{
accepted "loopback default"
accepted "loopback soft" --bus-auth soft
accepted "loopback off" --bus-auth off
accepted "IPv6 loopback off" --bind ::1 --bus-auth off
accepted "localhost" --bind localhost
accepted "loopback with TLS" $TLS
accepted "public with enforce and TLS" --bind 0.0.0.0 $TLS
accepted "public IPv6 with enforce and TLS" --bind :: --bus-auth enforce $TLS --tls-min 1.3
accepted "loopback metrics" --metrics-addr 127.0.0.1:9470
accepted "IPv6 loopback metrics" --metrics-addr [::1]:9470
accepted "public metrics with enforce and TLS" $TLS --metrics-addr 0.0.0.0:9470
}

# Malformed values are usage errors, not configuration refusals.
t "usage: bus-auth value" 2 "--bus-auth maybe: expected enforce, soft or off" "$M" check-config --bus-auth maybe
t "usage: TLS 1.1" 2 "--tls-min 1.1: expected 1.2 or 1.3" "$M" check-config --tls-min 1.1
t "usage: port" 2 "--http-port 70000" "$M" check-config --http-port 70000
t "usage: rate" 2 "--rate 0" "$M" check-config --rate 0
t "usage: member rate" 2 "--member-rate 0" "$M" check-config --member-rate 0
t "usage: member burst" 2 "--member-burst 0" "$M" check-config --member-burst 0
t "usage: member rooms" 2 "--member-rooms x" "$M" check-config --member-rooms x
t "usage: host name" 2 "expected an IP address" "$M" check-config --bind example.com
for bad in 9470 ::1:9470 example.com:9470 127.0.0.1: [::1 "[::1]9470"; do
    t "usage: --metrics-addr $bad" 2 "--metrics-addr $bad: expected HOST:PORT" "$M" check-config --metrics-addr "$bad"
done
t "usage: --metrics-addr port" 2 "--metrics-addr port 70000" "$M" check-config --metrics-addr 127.0.0.1:70000
for bad in 96 96MB 1.5GiB -1GiB 16MiB 2048GiB 99999999999999999999GiB lots; do
    t "usage: --nats-memory-limit '$bad'" 2 "--nats-memory-limit $bad: expected a size from 32MiB to 1024GiB" \
        "$M" check-config --data-dir "$D" --nats-memory-limit "$bad"
done
for good in off 96MiB 1GiB 33554432 65536KiB; do
    accepted "--nats-memory-limit $good" --nats-memory-limit "$good"
done

# serve runs the same guard before it creates, opens or listens on anything.
FRESH="$WORK/fresh"
t "serve refuses a public open start" 78 "refusing to start" "$M" serve --bind 0.0.0.0 --data-dir "$FRESH"
check "the refused serve created nothing" [ ! -e "$FRESH" ]
t "serve refuses public metrics without TLS" 78 "--metrics-addr 0.0.0.0:9470 is not loopback" \
    "$M" serve --metrics-addr 0.0.0.0:9470 --data-dir "$FRESH"
check "the refused metrics serve created nothing" [ ! -e "$FRESH" ]
t "serve refuses a malformed memory limit" 2 "--nats-memory-limit 1.5GiB: expected a size" \
    "$M" serve --nats-memory-limit 1.5GiB --data-dir "$FRESH"
check "the refused memory-limit serve created nothing" [ ! -e "$FRESH" ]
finish
