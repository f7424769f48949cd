/*
 * A fake NATS server for tests: what a local user holding the data-plane
 * port (while nats-server restarts, say) can do.  It listens on loopback,
 * sends an INFO line with a nonce of its choosing (any text: it is
 * JSON-escaped), optionally over TLS with a certificate of its choosing,
 * and records every CONNECT it gets back.  A CONNECT whose signature
 * verifies over the nonce under its nkey gets PONG, anything else
 * -ERR 'Authorization Violation', as nats-server answers.
 *
 * As a relay (relay_to), it passes plain NATS between each client and the
 * real nats-server unchanged, reading the nonces and recording CONNECTs on
 * the way: how a test sees which real nonces gave a 0x00-leading signature.
 */
#ifndef UNIBUS_FAKE_NATS_H
#define UNIBUS_FAKE_NATS_H

#include <pthread.h>
#include <stdbool.h>
#include <openssl/ssl.h>
#include "busauth/identity.h"
#include "harness.h"

#define FAKE_NATS_MAX_CONNECTS 16

typedef struct {
    /* The nonce sent to the i-th connection; the last one for every later
     * connection.  NULL entries: no nonce at all. */
    const char *const *nonces;
    int nonce_count;
    const char *tls_cert, *tls_key; /* both NULL: plain TCP */
    bool refuse;                    /* -ERR for every login, as for a revoked key */
    bool tls_first;                 /* the handshake before INFO: any TLS server's behaviour */
    int trickle_ms;                 /* INFO one byte every trickle_ms: stalling the client */
    unsigned relay_to;              /* a real nats-server's loopback port: relay, do not answer */
    const busauth_identity *watch;  /* relaying: count nonces whose signature by watch starts with 0x00 */
} fake_nats_script;

typedef struct {
    fake_nats_script script;
    unsigned port;
    int listen_fd;
    SSL_CTX *tls;
    pthread_t thread;
    pthread_mutex_t lock;
    bool stopping;
    int connections;          /* accepted */
    int connect_count;        /* CONNECT lines kept (the first FAKE_NATS_MAX_CONNECTS) */
    int signed_connects;      /* of all CONNECTs seen: with "sig" */
    int unsigned_nkey_connects; /* with "nkey" but no "sig" */
    int zero_lead_nonces;     /* relayed nonces whose signature by script.watch starts with 0x00 */
    char connects[FAKE_NATS_MAX_CONNECTS][2048];
} fake_nats;

/* Listens on 127.0.0.1:port (0: an ephemeral port), retrying the bind for
 * up to 3 s (the port may still be held by a process being killed). */
int fake_nats_start(fake_nats *f, unsigned port, const fake_nats_script *script);
/* The impostor's move: membershipd (h) is frozen, its nats-server killed,
 * the port taken, membershipd thawed (its restarts of nats-server now fail
 * to bind).  port is the data plane's. */
int fake_nats_take_over(fake_nats *f, const harness_server *h, unsigned port, const fake_nats_script *script);
void fake_nats_stop(fake_nats *f);
int fake_nats_connections(fake_nats *f);
/* How many CONNECTs carried a "sig" field. */
int fake_nats_signed_connects(fake_nats *f);
/* CONNECTs that carried an "nkey" but no "sig": what nats.c 3.4.1 sends
 * when the signature starts with 0x00. */
int fake_nats_unsigned_nkey_connects(fake_nats *f);
int fake_nats_zero_lead_nonces(fake_nats *f);
/* The i-th CONNECT's JSON (after "CONNECT "), copied into out; false when
 * there is none. */
bool fake_nats_connect_json(fake_nats *f, int i, char *out, size_t len);

#endif
