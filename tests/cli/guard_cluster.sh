#!/bin/bash
# The boot guard in cluster mode: every route must be closed to all but the
# bus's own nodes, so each shape that would leave one open exits 78 naming
# its rule, before anything listens (dev/cluster.md, "Routes").
# usage: guard_cluster.sh MEMBERSHIPD
. "$(dirname "$0")/lib.sh"
umask 077
D="$WORK/data"
C="$WORK/certs"
mkdir -m 700 "$D" "$WORK/other" "$C"
"$M" ca init --trust-domain guard.test --data-dir "$D" >/dev/null
for n in n1 n2; do "$M" cert issue "$n" --role node --ip 127.0.0.1 --out "$C/$n" --data-dir "$D" >/dev/null; done
"$M" cert issue c1 --role client --out "$C/c1" --data-dir "$D" >/dev/null
"$M" ca init --trust-domain other.test --data-dir "$WORK/other" >/dev/null
"$M" cert issue n1 --role node --ip 127.0.0.1 --out "$C/foreign" --data-dir "$WORK/other" >/dev/null
head -c 48 /dev/urandom | base64 >"$WORK/secret"
head -c 31 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 31 >"$WORK/short"
: >"$WORK/empty"
cp "$WORK/secret" "$WORK/shared" && chmod 640 "$WORK/shared"
mkfifo "$WORK/fifo"

NODE="--cluster-name bus --server-name n1 --cluster-port 16999 --cluster-secret-file $WORK/secret"
RTLS="--route-tls-cert $C/n1/n1.crt --route-tls-key $C/n1/n1.key --route-tls-ca $C/n1/ca.crt"

refused() { # refused NAME RULE-SUBSTRING FLAGS...
    local name="$1" rule="$2"
    shift 2
    t "refused: $name" 78 "$rule" "$M" check-config --data-dir "$D" "$@"
    check "refused: $name names the refusal" contains "$ERR" "membershipd: refusing to start: "
}

# shellcheck disable=SC2086
{
t "accepted: a whole cluster node" 0 "" "$M" check-config --data-dir "$D" $NODE $RTLS --routes nats-route://127.0.0.1:16998
check "accepted: says so" contains "$OUT" "configuration ok"
refused "routes without a cluster name" "--cluster-name is missing" --routes nats-route://127.0.0.1:16998
refused "no server name" "--server-name is missing" --cluster-name bus $RTLS
refused "a name with a space" "letters, digits" --cluster-name "b us" --server-name n1 $RTLS
refused "a name with a quote" "letters, digits" --cluster-name bus --server-name 'n"1' $RTLS
refused "soft bus auth" "needs --bus-auth enforce (it is soft)" $NODE $RTLS --bus-auth soft
refused "no route TLS" "needs route mutual TLS" $NODE
refused "route TLS without the CA" "needs route mutual TLS" $NODE --route-tls-cert "$C/n1/n1.crt" --route-tls-key "$C/n1/n1.key"
refused "route TLS without the key" "needs route mutual TLS" $NODE --route-tls-cert "$C/n1/n1.crt" --route-tls-ca "$C/n1/ca.crt"
refused "a certificate of another CA" "was not issued by the CA" $NODE --route-tls-cert "$C/foreign/n1.crt" \
    --route-tls-key "$C/foreign/n1.key" --route-tls-ca "$C/n1/ca.crt"
refused "a client certificate" "is not a node certificate" $NODE --route-tls-cert "$C/c1/c1.crt" \
    --route-tls-key "$C/c1/c1.key" --route-tls-ca "$C/n1/ca.crt"
refused "a key that does not match" "does not match" $NODE --route-tls-cert "$C/n1/n1.crt" \
    --route-tls-key "$C/n2/n2.key" --route-tls-ca "$C/n1/ca.crt"
chmod 644 "$C/n2/n2.key"
refused "a key others may read" "accessible to group or others" $NODE --route-tls-cert "$C/n2/n2.crt" \
    --route-tls-key "$C/n2/n2.key" --route-tls-ca "$C/n1/ca.crt"
chmod 600 "$C/n2/n2.key"
refused "a route path with a quote" "may not hold quotes" $NODE --route-tls-cert "$C/n1/n1\".crt" \
    --route-tls-key "$C/n1/n1.key" --route-tls-ca "$C/n1/ca.crt"
refused "no secret" "needs --cluster-secret-file" --cluster-name bus --server-name n1 $RTLS
refused "a secret the group may read" "must be yours alone" --cluster-name bus --server-name n1 $RTLS \
    --cluster-secret-file "$WORK/shared"
refused "a short secret" "holds 31 bytes" --cluster-name bus --server-name n1 $RTLS --cluster-secret-file "$WORK/short"
refused "an empty secret" "holds 0 bytes" --cluster-name bus --server-name n1 $RTLS --cluster-secret-file "$WORK/empty"
refused "a FIFO as the secret" "not a regular file" --cluster-name bus --server-name n1 $RTLS \
    --cluster-secret-file "$WORK/fifo"
refused "a missing secret" "No such file" --cluster-name bus --server-name n1 $RTLS --cluster-secret-file "$WORK/none"
refused "a password in a route URL" "may not carry a user or password" $NODE $RTLS \
    --routes nats-route://u:p@127.0.0.1:16998
refused "a route without a port" "expected nats-route://HOST:PORT" $NODE $RTLS --routes nats-route://127.0.0.1
refused "a route to port 0" "expected nats-route://HOST:PORT" $NODE $RTLS --routes 127.0.0.1:0
refused "a route host with a quote" "expected nats-route://HOST:PORT" $NODE $RTLS --routes 'a"b:16998'
refused "an unbracketed IPv6 route" "expected nats-route://HOST:PORT" $NODE $RTLS --routes ::1:16998
refused "a route to this node itself" "lists this node itself (127.0.0.1:16999" $NODE $RTLS \
    --routes nats-route://127.0.0.1:16998,nats-route://127.0.0.1:16999
refused "a route to this node by name" "lists this node itself (localhost:16999" $NODE $RTLS --routes localhost:16999
refused "a route listed twice" "lists 127.0.0.1:16998 twice" $NODE $RTLS \
    --routes nats-route://127.0.0.1:16998,127.0.0.1:16998
refused "the cluster port twice" "--nats-port and --cluster-port are both 16999" $NODE $RTLS --nats-port 16999
t "a cluster port out of range" 2 "--cluster-port 70000" "$M" check-config --data-dir "$D" --cluster-name bus \
    --server-name n1 --cluster-port 70000
t "a max-stale of 0" 2 "--max-stale" "$M" check-config --data-dir "$D" $NODE $RTLS --max-stale 0
t "a max-stale that is not a number" 2 "--max-stale" "$M" check-config --data-dir "$D" $NODE $RTLS --max-stale 30s
t "a max-stale over a day" 2 "--max-stale" "$M" check-config --data-dir "$D" $NODE $RTLS --max-stale 86401
refused "a max-stale without a cluster" "--cluster-name is missing" --max-stale 30
t "accepted: a max-stale of 5 s" 0 "" "$M" check-config --data-dir "$D" $NODE $RTLS --max-stale 5
}
t "accepted: IPv6 and DNS routes" 0 "" "$M" check-config --data-dir "$D" $NODE $RTLS \
    --routes "nats-route://[::1]:16998,node-2.example:6250"
"$M" cert revoke n1 --data-dir "$D" >/dev/null
refused "a revoked route certificate" "was revoked by this bus" $NODE $RTLS
finish
