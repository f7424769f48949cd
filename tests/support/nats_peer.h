/*
 * A data-plane peer for tests: a real nats.c connection authenticated with
 * a unibus identity, recording what the server tells it (permission
 * violations, disconnects, reconnects, close).
 */
#ifndef UNIBUS_NATS_PEER_H
#define UNIBUS_NATS_PEER_H

#include <pthread.h>
#include <stdbool.h>
#include <nats/nats.h>
#include "busauth/identity.h"

typedef struct {
    natsConnection *nc;
    natsOptions *opts;
    pthread_mutex_t lock;
    int permission_errors;
    int reconnects;
    bool closed;
    char last_error[256];
} nats_peer;

/* id NULL connects anonymously.  Returns the natsStatus of the connect,
 * made as libunibus makes it (nats_auth_connect). */
natsStatus nats_peer_connect(nats_peer *p, const char *url, const busauth_identity *id, const char *ca_file,
                             bool reconnect);
void nats_peer_close(nats_peer *p);

int nats_peer_permission_errors(nats_peer *p);
/* Errors reach their handler on nats.c's own thread: waits up to
 * timeout_ms for at least n permission errors; returns the count. */
int nats_peer_wait_permission_errors(nats_peer *p, int n, int timeout_ms);
bool nats_peer_wait_closed(nats_peer *p, int timeout_ms);
/* Subscribes and flushes, so a refusal has arrived when it returns. */
natsSubscription *nats_peer_subscribe(nats_peer *p, const char *subject);
/* True when a message with the given payload arrives within timeout_ms. */
bool nats_peer_receives(natsSubscription *sub, const char *payload, int timeout_ms);

/* Publishes payload on subject until sub receives it (the server may be
 * restarting); true when it did within timeout_ms. */
bool nats_peer_echoes(nats_peer *p, natsSubscription *sub, const char *subject, const char *payload,
                      int timeout_ms);

#endif
