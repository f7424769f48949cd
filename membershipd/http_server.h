/* libmicrohttpd glue: listening, limits, TLS, and each request's life. */
#ifndef MEMBERSHIPD_HTTP_SERVER_H
#define MEMBERSHIPD_HTTP_SERVER_H

#include "membershipd/server.h"

#define HTTP_HEADER_LIMIT 8192
#define HTTP_IDLE_TIMEOUT_S 10
#define HTTP_REQUEST_DEADLINE_MS 30000 /* headers to end of body, however it trickles */
#define HTTP_HEADER_DEADLINE_MS 10000  /* connect (or the last request) to the end of headers */
/* Connections libmicrohttpd may hold beyond --max-conns: those cut by the
 * connection guard (membershipd/conn_guard.h) and not yet closed. */
#define HTTP_CLOSING_HEADROOM(max_conns) ((max_conns) / 4 + 8)
#define HTTP_THREAD_STACK (512 * 1024)

/* Starts serving on listen_fd (bound and listening; MHD takes it over).
 * cert_pem and key_pem are NULL without TLS.  Returns 0, or -1 after
 * printing why. */
int http_server_start(server *srv, int listen_fd, const char *cert_pem, const char *key_pem);
/* The GnuTLS priority string for --tls-min 12 or 13: shared with the
 * metrics listener. */
const char *http_tls_priorities(int tls_min);
/* Stops accepting, lets requests in flight finish for up to grace_ms, then
 * closes every connection. */
void http_server_stop(server *srv, int grace_ms);

#endif
