/*
 * membershipd's own login to the data plane it runs (readiness, reloads)
 * or that nats.conf names (doctor): one CONNECT as the server identity,
 * answered by PONG.  It speaks the NATS protocol itself rather than through
 * nats.c because it must check that the TLS server is nats-server holding
 * membershipd's certificate, and nats.c 3.4.1 can only trust CAs: it can
 * neither pin a certificate nor accept a chain that ends below a root
 * (dev/data-plane.md, "Who answers on the port").
 */
#ifndef EMBEDDED_NATS_PROBE_H
#define EMBEDDED_NATS_PROBE_H

#include <stddef.h>
#include "busauth/identity.h"

typedef struct {
    const char *host;     /* an address or name to connect to */
    unsigned port;
    /* The certificate file nats-server was given: the server must present
     * its first certificate, exactly.  NULL: the data plane has no TLS. */
    const char *tls_cert;
    int timeout_ms;       /* for the whole login, connecting included */
} nats_probe_target;

/* Logs in as id (NULL: anonymously, for a server without authorization)
 * and waits for PONG.  0, or -1 with one line in err saying what went
 * wrong.  Signs nothing but a NATS-shaped nonce, like every login. */
int nats_auth_probe(const nats_probe_target *t, const busauth_identity *id, char *err, size_t errlen);

#endif
