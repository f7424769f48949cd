/*
 * The metrics listener (--metrics-addr): GET /metrics and nothing else,
 * on its own socket, so that scraping never competes with the control
 * plane for connection slots or rate-limit tokens, and never needs a
 * signature.  Plain HTTP on loopback; off loopback (allowed by the boot
 * guard only with TLS and --bus-auth enforce) HTTPS with the control
 * plane's certificate.  See dev/metrics.md.
 */
#ifndef MEMBERSHIPD_METRICS_SERVER_H
#define MEMBERSHIPD_METRICS_SERVER_H

#include "membershipd/http/server.h"

typedef struct metrics_server metrics_server;

/* Serves on listen_fd (bound and listening; taken over), reading srv's
 * live state when scraped: srv's control plane must stay up until
 * metrics_server_stop.  With tls, over HTTPS with the files of
 * --tls-cert and --tls-key.  NULL after printing why. */
metrics_server *metrics_server_start(server *srv, int listen_fd, bool tls); /* owns listen_fd, even on failure */
/* SIGHUP: re-reads the certificate and key (checked by the caller) and
 * serves new connections with them.  0, or -1 with the old ones still in
 * use; nothing to do without TLS. */
int metrics_server_rotate(metrics_server *ms, const char *cert_pem, const char *key_pem);
void metrics_server_stop(metrics_server *ms);

#endif
