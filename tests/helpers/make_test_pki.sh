#!/bin/sh
# make_test_pki.sh DIR: a throwaway PKI for TLS tests, made fresh each run.
#   ca.pem                  test CA certificate (what clients trust)
#   server.pem server.key   server certificate for 127.0.0.1/localhost, signed by the CA,
#                           followed by the CA (a chain up to its root: membershipd's own
#                           nats.c clients verify nats-server with it, dev/control-log.md)
#   other.key               a key that matches nothing
#   expired.pem expired.key a certificate that expired yesterday
#   selfsigned.pem          a certificate for server.key no client trusts
#   impostor.pem .key       another key's certificate for 127.0.0.1/localhost,
#                           from another CA (impostor-ca.pem)
set -eu
D="$1"
mkdir -p "$D"
cd "$D"
umask 077
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 100 \
    -subj "/CN=unibus test CA" -keyout ca.key -out ca.pem
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out server.pem
cat ca.pem >> server.pem
q openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out other.key
q openssl req -x509 -key server.key -subj "/CN=127.0.0.1" -days 2 -out selfsigned.pem
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=expired" -keyout expired.key -out expired.csr
q openssl x509 -req -in expired.csr -signkey expired.key -days -1 -out expired.pem
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=impostor CA" -keyout impostor-ca.key -out impostor-ca.pem
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=127.0.0.1" -keyout impostor.key -out impostor.csr
q openssl x509 -req -in impostor.csr -CA impostor-ca.pem -CAkey impostor-ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out impostor.pem
chmod 644 ca.pem server.pem selfsigned.pem expired.pem impostor-ca.pem impostor.pem
