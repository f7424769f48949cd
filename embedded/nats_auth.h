/*
 * Connecting to the data plane as a unibus identity with nats.c: the nkey
 * challenge is signed in this process (the seed never leaves it), and only
 * when it is shaped like a NATS nonce (busauth_nats_nonce_signable: the
 * server, or whoever holds its port, chooses it).  No inbox prefix: no one
 * may publish to an _INBOX subject, so nats.c's own request API has no use
 * here (libunibus's is in client/requests.c).
 */
#ifndef EMBEDDED_NATS_AUTH_H
#define EMBEDDED_NATS_AUTH_H

#include <stdbool.h>
#include <nats/nats.h>
#include "busauth/identity.h"

/* id must outlive every connection made with opts. */
natsStatus nats_auth_use_identity(natsOptions *opts, const busauth_identity *id);

/* natsConnection_Connect, tried again at once only when the attempt ended
 * because nats.c 3.4.1 would have dropped the signature (it starts with
 * 0x00: dev/data-plane.md); a refusal by the server is never tried again. */
natsStatus nats_auth_connect(natsConnection **nc, natsOptions *opts);

/* Why a login was refused before anything was signed. */
#define NATS_AUTH_NONCE_REFUSED                                                                                  \
    "refusing to sign the data-plane login: the server sent something that is not a NATS login nonce (a short " \
    "base64url string); is another program holding the data-plane port?"

#endif
