/*
 * Connecting to the data plane as a unibus identity with nats.c: the nkey
 * challenge is signed in this process (the seed never leaves it).  No
 * inbox prefix: no one may publish to an _INBOX subject, so nats.c's own
 * request API has no use here (libunibus's is in client/requests.c).
 */
#ifndef EMBEDDED_NATS_AUTH_H
#define EMBEDDED_NATS_AUTH_H

#include <stdbool.h>
#include <nats/nats.h>
#include "busauth/identity.h"

/* id must outlive every connection made with opts. */
natsStatus nats_auth_use_identity(natsOptions *opts, const busauth_identity *id);

/* natsConnection_Connect, with a refused login tried three times in all
 * (150 ms apart): nats-server 2.9 now and then refuses an allowlisted key
 * once (dev/data-plane.md). */
natsStatus nats_auth_connect(natsConnection **nc, natsOptions *opts);

/* Connects once to url as id (NULL: anonymously, for a server without
 * authorization); 0 on success.  For membershipd's readiness
 * check of its own child only: with tls it does not verify the chain. */
int nats_auth_probe(const char *url, const busauth_identity *id, bool tls, int timeout_ms);

#endif
