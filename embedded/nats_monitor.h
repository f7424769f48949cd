/*
 * Reading nats-server's HTTP monitoring endpoint (loopback, plain HTTP):
 * /varz, /connz and friends as JSON.  Used by membershipd doctor (who is
 * connected) and meant for metrics (connection and message counts).
 */
#ifndef EMBEDDED_NATS_MONITOR_H
#define EMBEDDED_NATS_MONITOR_H

#include <stddef.h>
#include <jansson.h>

#define NATS_MONITOR_BODY_MAX (16 * 1024 * 1024)

typedef struct {
    const char *host;           /* an IP literal, normally NATSCONF_MONITOR_HOST */
    unsigned port;
    long timeout_ms;            /* for the whole request */
} nats_monitor;

/* GETs path ("/varz", "/connz?auth=true") and parses the JSON body into
 * *out (the caller's to json_decref).  0, or -1 with one line in err. */
int nats_monitor_get(const nats_monitor *m, const char *path, json_t **out, char *err, size_t errlen);

/* Calls fn with each client connection /connz lists (with its
 * authorized_user), page by page; a non-zero return from fn stops the walk
 * and is returned.  0, or -1 with one line in err. */
typedef int (*nats_monitor_conn_fn)(const json_t *conn, void *ctx);
int nats_monitor_connections(const nats_monitor *m, nats_monitor_conn_fn fn, void *ctx, char *err,
                             size_t errlen);

#endif
