/*
 * A man in the middle of plain HTTP on loopback, for attack tests: what a
 * TLS-terminating proxy, or anyone holding the server's certificate, sees
 * and can do.  It records each request of a client (to replay its bytes
 * later) and relays it to the real server, unless the test answers it
 * instead.  One request at a time per connection,
 * bodies with Content-Length only (what libunibus and membershipd send).
 */
#ifndef UNIBUS_HTTP_MITM_H
#define UNIBUS_HTTP_MITM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;       /* head and body, malloc'd, NUL-terminated */
    size_t len;
    size_t head_len;  /* up to and including the blank line */
} http_message;

/* Called on the relay's thread with each request before it is relayed;
 * returns true when it filled *response (malloc'd data) itself, and the
 * request then never reaches the server. */
typedef bool (*mitm_answer_fn)(void *ctx, const http_message *request, http_message *response);

typedef struct http_mitm http_mitm;

/* Listens on an ephemeral loopback port, relaying to upstream_port. */
http_mitm *mitm_start(unsigned upstream_port, mitm_answer_fn answer, void *ctx);
unsigned mitm_port(const http_mitm *m);
/* "http://127.0.0.1:PORT", for a client to use instead of the server's. */
const char *mitm_url(const http_mitm *m);
/* A copy of the latest request whose request line starts with prefix
 * ("GET /v1/me "); false when none was seen. */
bool mitm_captured(http_mitm *m, const char *prefix, http_message *out);
void mitm_stop(http_mitm *m);

/* One message from fd: false on close, timeout or a malformed one. */
bool http_message_read(int fd, http_message *out);
void http_message_free(http_message *m);
/* A header's value (case-insensitive name), or false. */
bool http_message_header(const http_message *m, const char *name, char *out, size_t cap);
/* The status of a response, or 0. */
int http_message_status(const http_message *m);
/* Replaces a header's value by one of the same length; false when absent
 * or of another length. */
bool http_message_set_header(http_message *m, const char *name, const char *value);

/* Sends request's bytes to 127.0.0.1:port on a fresh connection and
 * reads the answer: a replay.  false when none came. */
bool http_replay(unsigned port, const http_message *request, http_message *response);

#endif
