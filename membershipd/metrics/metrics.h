/*
 * The process's Prometheus metrics (dev/metrics.md): counters bumped on
 * the hot paths with relaxed atomics (no lock, no allocation), and the
 * text exposition format (0.0.4) rendered when scraped, with the values
 * only the caller can read at that moment (metrics_live).
 *
 * Labels are drawn from fixed sets only: route patterns, HTTP statuses,
 * the server's own error codes.  Never a key, a user, an IP or a path as
 * the client wrote it.
 */
#ifndef MEMBERSHIPD_METRICS_H
#define MEMBERSHIPD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membershipd/http/conn_guard.h"

struct route;

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A control-plane request ended: matched NULL when it matched none; status
 * 0 when no response was sent (the client went away, out of memory);
 * error_code NULL unless the reply was an error. */
void metrics_request_done(const struct route *matched, unsigned status, const char *error_code);
/* A data-plane reload (SIGHUP to nats-server and the login check after
 * it) ended after seconds. */
void metrics_reload_done(bool ok, double seconds);
/* The control-plane certificate in use expires at not_after and should be
 * renewed from renew_at on (Unix seconds); 0: no TLS.  Called again when a
 * certificate is reloaded. */
void metrics_set_cert_lifetime(int64_t not_after, int64_t renew_at);
/* Records now as the process start time. */
void metrics_mark_start(void);

/* What the scrape reads from the running server itself. */
typedef struct {
    unsigned requests_in_flight;
    conn_guard_stats conns;
    size_t nonce_cache_entries;
    unsigned nats_restarts;
    bool dataplane_monitored;       /* a system account to ask exists (not with --bus-auth off) */
    bool dataplane_up;              /* nats-server answered it; the rest only then */
    uint64_t dataplane_connections, dataplane_in_msgs, dataplane_out_msgs;
    uint64_t dataplane_in_bytes, dataplane_out_bytes;
    bool cluster;                   /* a cluster node: its routes are counted */
    uint64_t cluster_routes;
    uint64_t cluster_unconfirmed;
    uint64_t cluster_stale_ms;
    bool cluster_quorum;
    bool cluster_peers_closed;
    uint64_t cluster_nodes_live;        /* heard from lately, this one included */
    uint64_t cluster_lagging_nodes;     /* live ones that run fewer entries than the furthest */
    uint64_t cluster_max_lag;           /* entries between the furthest live node and the last */
    uint64_t cluster_max_skew_ms;       /* the largest clock difference to a live node */
    uint64_t cluster_leader_changes;
    unsigned cluster_interest_repairs; /* route bounces for lost interest (dataplane.c) */
} metrics_live;

/* The whole exposition: malloc'd, NUL-terminated; NULL when out of
 * memory. */
char *metrics_render(const metrics_live *live);

#endif
