#!/bin/bash
# make cluster-demo (README, "A cluster on one machine"): the script brings
# three nodes up as one bus, says how to use them, and stops them all on
# SIGTERM; what it prints works: an admin added through n2, a room made
# through the URL list, doctor's cluster checks all ok.
# usage: cluster_demo.sh MEMBERSHIPD UNIBUS DEMO-SCRIPT
. "$(dirname "$0")/lib.sh"
U="$2"
DEMO="$3"
# A free run of 40 ports: the demo's are fixed offsets from the first.
BASE=$(python3 -c 'import random, socket
for _ in range(50):
    b = random.randrange(20000, 60000, 100)
    try:
        for p in range(b, b + 40):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
        print(b); break
    except OSError: pass')
DEMO_PORT=$BASE "$DEMO" "$M" "$U" "$WORK/demo" >"$WORK/demo.out" 2>&1 &
PID=$!
for _ in $(seq 1 600); do grep -q "three nodes up" "$WORK/demo.out" && break; sleep 0.1; done
OUT=$(cat "$WORK/demo.out")
check "the demo says the three nodes are up" contains "$OUT" "cluster-demo: three nodes up"

export HOME="$WORK/home"
mkdir -p "$HOME"
KEY=$("$U" keygen --out "$WORK/me.seed" 2>/dev/null)
t "the admin command it prints works through n2" 0 "" "$M" user add me "$KEY" --admin --data-dir "$WORK/demo/n2"
URLS=$(sed -n 's/^  export UNIBUS_URL=\([^ ]*\) .*/\1/p' "$WORK/demo.out")
check "it prints the three control-plane URLs" [ "$(echo "$URLS" | tr ',' '\n' | wc -l)" -eq 3 ]
t "a room made through the URL list" 0 "" env UNIBUS_URL="$URLS" UNIBUS_IDENTITY="$WORK/me.seed" "$U" room create lobby
DOCTOR=$(sed -n 's/^  [^ ]*membershipd doctor \(.*\)$/\1/p' "$WORK/demo.out")
# shellcheck disable=SC2086
run "$M" doctor $DOCTOR
for id in cluster.routes cluster.route_tls cluster.quorum cluster.follower_lag cluster.clock_skew; do
    check "doctor as printed: $id ok" contains "$OUT" "ok    $id "
done

kill -TERM "$PID"
wait "$PID"
check "SIGTERM stops every node" [ -z "$(pgrep -f "serve --data-dir $WORK/demo/" || true)" ]
finish
