#!/bin/sh
# make cluster-demo: three membershipd nodes as one bus on this machine, on
# loopback, with everything a cluster needs (dev/cluster.md): a bus CA and
# a node certificate each, one route secret, route mutual TLS.  n1 holds
# the CA; n2 and n3 start empty and join by taking the bus log's base.
# Ctrl-C stops all three; the data stays in DIR for the next run.
# usage: cluster-demo.sh MEMBERSHIPD UNIBUS DIR   (env DEMO_PORT: first port, default 8471)
set -eu
M=$1
U=$2
DIR=$3
P=${DEMO_PORT:-8471}
umask 077
mkdir -p "$DIR"
chmod 700 "$DIR"

http() { echo $((P + $1 - 1)); }
nats() { echo $((P + 10 + $1 - 1)); }
route() { echo $((P + 20 + $1 - 1)); }
metrics() { echo $((P + 30 + $1 - 1)); }

if [ ! -f "$DIR/route.secret" ]; then
    mkdir -p "$DIR/n1" "$DIR/n2" "$DIR/n3" "$DIR/certs"
    "$M" ca init --trust-domain demo.unibus --data-dir "$DIR/n1" >/dev/null
    for n in n1 n2 n3; do
        "$M" cert issue "$n" --role node --ip 127.0.0.1 --out "$DIR/certs/$n" --data-dir "$DIR/n1" >/dev/null
    done
    # Three nodes joining at once pin each other: the last route-pins holds all.
    for n in n1 n2; do cp "$DIR/certs/n3/route-pins" "$DIR/certs/$n/route-pins"; done
    head -c 48 /dev/urandom | base64 >"$DIR/route.secret"
fi

# The flags of node i (1-3): serve's, and doctor's for the same node.
flags() {
    i=$1
    others=""
    for j in 1 2 3; do
        [ "$j" = "$i" ] || others="$others${others:+,}nats-route://127.0.0.1:$(route "$j")"
    done
    echo "--data-dir $DIR/n$i --http-port $(http "$i") --nats-port $(nats "$i")" \
        "--metrics-addr 127.0.0.1:$(metrics "$i") --cluster-name demo --server-name n$i" \
        "--cluster-port $(route "$i") --routes $others --cluster-secret-file $DIR/route.secret" \
        "--route-tls-cert $DIR/certs/n$i/n$i.crt --route-tls-key $DIR/certs/n$i/n$i.key" \
        "--route-tls-ca $DIR/certs/n$i/ca.crt"
}

PIDS=""
stop() {
    trap - INT TERM EXIT
    [ -z "$PIDS" ] || kill $PIDS 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

for i in 1 2 3; do
    # shellcheck disable=SC2046
    "$M" serve $(flags "$i") >"$DIR/n$i.log" 2>&1 &
    PIDS="$PIDS $!"
done
# Up: listening, and admitting peers (a node does once it hears most of
# the others and has caught up with the bus log).
for i in 1 2 3; do
    tries=0
    until grep -q "msg=cluster_peers_open " "$DIR/n$i.log"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 600 ]; then
            echo "cluster-demo: n$i did not start; its log is $DIR/n$i.log" >&2
            exit 1
        fi
        sleep 0.1
    done
done

URLS="http://127.0.0.1:$(http 1),http://127.0.0.1:$(http 2),http://127.0.0.1:$(http 3)"
cat <<MSG
cluster-demo: three nodes up (logs: $DIR/n1.log, n2.log, n3.log; Ctrl-C stops them).
In another terminal, make yourself an identity and an admin, through any node:
  $U keygen --out me.seed
  $M user add me <the nkey it printed> --admin --data-dir $DIR/n2
Then use the bus through all three control planes (libunibus fails over):
  export UNIBUS_URL=$URLS UNIBUS_IDENTITY=me.seed
  $U room create lobby
Check the cluster from a node's host:
  $M doctor $(flags 2)
  curl -s http://127.0.0.1:$(metrics 1)/metrics | grep unibus_cluster_
MSG
wait
