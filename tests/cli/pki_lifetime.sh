#!/bin/bash
# A control-plane certificate from the bus CA with under a third of its
# lifetime left: serve logs it, /metrics says so, doctor warns; after
# `cert renew` and SIGHUP the gauge is back to 0 (dev/pki.md, "Renewal").
# usage: pki_lifetime.sh MEMBERSHIPD FAKETIME_LIB
. "$(dirname "$0")/lib.sh"
FAKETIME_LIB="$2"
D="$WORK/data"
TLS="$WORK/tls"
LOG="$WORK/serve.log"
SERVER=""
trap 'stop_server; rm -rf "$WORK"' EXIT

# Only the issuing command runs 700 days in the past.
issue_in_the_past() {
    env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="-700d" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
        "$M" cert issue cp --role node --ip 127.0.0.1 --days 900 --out "$TLS" --data-dir "$D"
}

start_server() {
    : >"$LOG"
    "$M" serve --http-port 0 --nats-port 0 --metrics-addr 127.0.0.1:0 --data-dir "$D" \
        --tls-cert "$TLS/cp.crt" --tls-key "$TLS/cp.key" 2>"$LOG" &
    SERVER=$!
    for _ in $(seq 200); do grep -q 'msg=listening' "$LOG" && break; sleep 0.05; done
    PORT=$(grep -o 'msg=listening.* port=[0-9]*' "$LOG" | grep -o '[0-9]*$')
    METRICS=$(grep -o 'msg=metrics_listening.* port=[0-9]*' "$LOG" | grep -o '[0-9]*$')
}

stop_server() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    SERVER=""
}

# Loopback metrics are plain HTTP (dev/metrics.md).
gauge() {
    curl -s "http://127.0.0.1:$METRICS/metrics" | grep "^unibus_tls_cert_renew_due " |
        awk '{print $2}'
}

# The log line comes from the once-a-second tick.
wait_for_log() {
    for _ in $(seq 100); do grep -q "$1" "$LOG" && return 0; sleep 0.05; done
    return 1
}

"$M" ca init --trust-domain lifetime.test --data-dir "$D" >/dev/null 2>&1
t "a certificate issued 700 days ago for 900" 0 "" issue_in_the_past
LEFT=$("$M" cert info "$TLS/cp.crt" --data-dir "$D" | grep '^days left')
check "cert info says renew it" contains "$LEFT" "under a third of its lifetime: renew it"
start_server
check "serve logs that it is due" wait_for_log 'msg=tls_cert_renew_due cert=.*cp.crt days_left=19[0-9]'
check "/metrics counts it" [ "$(gauge)" = 1 ]
run "$M" doctor --json --data-dir "$D" --tls-cert "$TLS/cp.crt" --tls-key "$TLS/cp.key" --metrics-addr 127.0.0.1:0
EXPIRY=$(python3 -c 'import json,sys; print(json.dumps([c for c in json.load(sys.stdin)["checks"] if c["id"] == "tls.expiry"], separators=(",", ":")))' <<<"$OUT")
check "doctor warns with the renewal" contains "$EXPIRY" '"verdict":"warn"'
check "doctor names the third" contains "$EXPIRY" "under a third of its lifetime left"

t "cert renew replaces the files" 0 "" "$M" cert renew cp --out "$TLS" --data-dir "$D"
kill -HUP "$SERVER"
check "the reload took the new certificate" wait_for_log 'msg=reloaded tls=rotated'
check "/metrics is back to 0" [ "$(gauge)" = 0 ]
LOGGED=$(grep -c 'msg=tls_cert_renew_due' "$LOG")
check "a fresh certificate is not logged as due" [ "$LOGGED" = 1 ]
stop_server

finish
