/* libmicrohttpd glue: listening, limits, TLS, and each request's life. */
#ifndef MEMBERSHIPD_HTTP_SERVER_H
#define MEMBERSHIPD_HTTP_SERVER_H

#include "membershipd/http/server.h"

struct MHD_Daemon;

#define HTTP_HEADER_LIMIT 8192
#define HTTP_IDLE_TIMEOUT_S 10
#define HTTP_REQUEST_DEADLINE_MS 30000 /* headers to end of body, however it trickles */
#define HTTP_HEADER_DEADLINE_MS 10000  /* connect (or the last request) to the end of headers */
/* Connections libmicrohttpd may hold beyond --max-conns: those cut by the
 * connection guard (membershipd/http/conn_guard.h) and not yet closed. */
#define HTTP_CLOSING_HEADROOM(max_conns) ((max_conns) / 4 + 8)
#define HTTP_THREAD_STACK (512 * 1024)

/* A libmicrohttpd daemon serving srv's routes on listen_fd (which it takes
 * over), with TLS when cert_pem is set.  NULL after logging why. */
struct MHD_Daemon *http_mhd_start(server *srv, int listen_fd, const char *cert_pem, const char *key_pem);

/* The daemons' lives (http_daemons.c).  A certificate rotation starts a
 * new daemon on the same listening socket and retires the old one: it
 * takes no new connection but keeps serving its own until they end, so
 * clients stay connected.  PEMs passed in are owned (tls_pem_free) by the
 * daemon that serves them. */

/* Starts serving on listen_fd (bound and listening; owned from here on,
 * closed on failure).  Returns 0, or -1 after printing why. */
int http_server_start(server *srv, int listen_fd, char *cert_pem, char *key_pem);
/* Serves new connections with this certificate from now on.  0, or -1 with
 * the old one still serving (the PEMs are freed either way). */
int http_server_rotate(server *srv, char *cert_pem, char *key_pem);
/* Stops retired daemons whose connections have all ended. */
void http_server_reap(server *srv);
/* Stops accepting, lets requests in flight finish for up to grace_ms, then
 * closes every connection of every daemon. */
void http_server_stop(server *srv, int grace_ms);

#endif
