#include "membershipd/metrics/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "membershipd/api/routes.h"

#define STATUS_MIN 100
#define STATUS_SLOTS 500            /* 100..599 */
#define UNROUTED ROUTE_COUNT_MAX    /* the row for requests that matched no route */

/* Every code the server sends (tests/cli/metrics_codes.sh keeps this
 * list complete); anything else would count as "other". */
static const char *const ERROR_CODES[] = {
    "auth_failed", "replay_detected", "rate_limited", "message_too_large", "headers_too_large",
    "uri_too_long", "request_timeout", "bad_request", "not_found", "method_not_allowed", "forbidden",
    "conflict", "hash_mismatch", "cleartext_forbidden", "key_pending", "dataplane_pending", "server_busy",
    "store_busy", "store_failure", "internal", "time_floor", "quota_exceeded", "join_refused", "ca_unavailable",
    "cluster_no_quorum", "cluster_stale",
};
#define ERROR_CODE_COUNT (sizeof ERROR_CODES / sizeof ERROR_CODES[0])

/* A reload is a SIGHUP plus a login check: milliseconds when healthy,
 * seconds when nats-server struggles. */
static const double RELOAD_BOUNDS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define RELOAD_BOUND_COUNT (sizeof RELOAD_BOUNDS / sizeof RELOAD_BOUNDS[0])

typedef atomic_uint_least64_t counter;

static struct {
    counter requests[ROUTE_COUNT_MAX + 1][STATUS_SLOTS];
    counter requests_aborted;
    counter errors[ERROR_CODE_COUNT + 1];      /* the last: "other" */
    counter reload_failures;
    counter reload_buckets[RELOAD_BOUND_COUNT + 1]; /* not cumulative; the last: over every bound */
    counter reload_micros;
    atomic_int_least64_t cert_not_after;
    atomic_int_least64_t cert_renew_at;
    atomic_int_least64_t start_ms;
} M;

static void bump(counter *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t read_counter(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static size_t error_index(const char *code)
{
    size_t i = 0;
    while (i < ERROR_CODE_COUNT && strcmp(ERROR_CODES[i], code) != 0)
        i++;
    return i;
}

void metrics_request_done(const struct route *matched, unsigned status, const char *error_code)
{
    if (error_code)
        bump(&M.errors[error_index(error_code)]);
    if (status < STATUS_MIN || status >= STATUS_MIN + STATUS_SLOTS) {
        bump(&M.requests_aborted);
        return;
    }
    bump(&M.requests[matched ? route_index(matched) : UNROUTED][status - STATUS_MIN]);
}

void metrics_reload_done(bool ok, double seconds)
{
    if (!ok)
        bump(&M.reload_failures);
    size_t b = 0;
    while (b < RELOAD_BOUND_COUNT && seconds > RELOAD_BOUNDS[b])
        b++;
    bump(&M.reload_buckets[b]);
    atomic_fetch_add_explicit(&M.reload_micros, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

void metrics_set_cert_lifetime(int64_t not_after, int64_t renew_at)
{
    atomic_store(&M.cert_not_after, not_after);
    atomic_store(&M.cert_renew_at, renew_at);
}

void metrics_mark_start(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    atomic_store(&M.start_ms, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
}

/* The text, grown as it is written; a failed allocation sticks. */
typedef struct {
    char *text;
    size_t len, cap;
    bool failed;
} out_buf;

__attribute__((format(printf, 2, 3))) static void put(out_buf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->text ? b->text + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
        } else if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        } else {
            size_t cap = (b->cap + (size_t)n + 1) * 2;
            char *grown = realloc(b->text, cap);
            b->failed = !grown;
            b->text = grown ? grown : b->text;
            b->cap = grown ? cap : b->cap;
        }
    }
}

static void family(out_buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(out_buf *b, const char *name, const char *type, const char *help, uint64_t value)
{
    family(b, name, type, help);
    put(b, "%s %llu\n", name, (unsigned long long)value);
}

static void render_requests(out_buf *b)
{
    family(b, "unibus_http_requests_total", "counter",
           "Control-plane requests answered, by route pattern, method and HTTP status.");
    for (size_t r = 0; r <= route_count(); r++) {
        size_t row = r < route_count() ? r : UNROUTED;
        const char *method = r < route_count() ? route_at(r)->method : "none";
        const char *pattern = r < route_count() ? route_at(r)->pattern : "none";
        for (unsigned s = 0; s < STATUS_SLOTS; s++) {
            uint64_t n = read_counter(&M.requests[row][s]);
            if (n)
                put(b, "unibus_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n", pattern,
                    method, s + STATUS_MIN, (unsigned long long)n);
        }
    }
    scalar(b, "unibus_http_requests_aborted_total", "counter",
           "Control-plane requests that ended without a response (client gone, out of memory).",
           read_counter(&M.requests_aborted));
    /* Every known code from the start, so increase() sees the first one. */
    family(b, "unibus_http_errors_total", "counter",
           "Control-plane error replies by error code (auth_failed, replay_detected, rate_limited, ...).");
    for (size_t i = 0; i <= ERROR_CODE_COUNT; i++)
        put(b, "unibus_http_errors_total{code=\"%s\"} %llu\n", i < ERROR_CODE_COUNT ? ERROR_CODES[i] : "other",
            (unsigned long long)read_counter(&M.errors[i]));
}

static void render_connections(out_buf *b, const metrics_live *live)
{
    scalar(b, "unibus_http_requests_in_flight", "gauge", "Control-plane requests being handled now.",
           live->requests_in_flight);
    scalar(b, "unibus_http_connections_open", "gauge", "Control-plane connections holding a slot.",
           live->conns.open);
    scalar(b, "unibus_http_connections_evicted_total", "counter",
           "Idle control-plane connections shut down to make room for a newcomer.", live->conns.evicted);
    scalar(b, "unibus_http_connections_refused_total", "counter",
           "New control-plane connections shut down because every slot was in a request.", live->conns.refused);
    scalar(b, "unibus_http_connections_overdue_total", "counter",
           "Control-plane connections shut down for sending headers past the header deadline.",
           live->conns.overdue);
    scalar(b, "unibus_nonce_cache_entries", "gauge", "Request nonces remembered to refuse replays.",
           live->nonce_cache_entries);
}

static void render_reloads(out_buf *b)
{
    uint64_t counts[RELOAD_BOUND_COUNT + 1], total = 0;
    for (size_t i = 0; i <= RELOAD_BOUND_COUNT; i++)
        total += counts[i] = read_counter(&M.reload_buckets[i]);
    scalar(b, "unibus_dataplane_reloads_total", "counter", "Reloads of nats-server's configuration.", total);
    scalar(b, "unibus_dataplane_reload_failures_total", "counter",
           "Reloads nats-server did not confirm, or after which the internal login failed.",
           read_counter(&M.reload_failures));
    family(b, "unibus_dataplane_reload_duration_seconds", "histogram",
           "Time from SIGHUP to nats-server taking logins under the new configuration.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < RELOAD_BOUND_COUNT; i++) {
        cumulative += counts[i];
        put(b, "unibus_dataplane_reload_duration_seconds_bucket{le=\"%g\"} %llu\n", RELOAD_BOUNDS[i],
            (unsigned long long)cumulative);
    }
    put(b, "unibus_dataplane_reload_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)total);
    put(b, "unibus_dataplane_reload_duration_seconds_sum %.6f\n", (double)read_counter(&M.reload_micros) / 1e6);
    put(b, "unibus_dataplane_reload_duration_seconds_count %llu\n", (unsigned long long)total);
}

static void render_dataplane(out_buf *b, const metrics_live *live)
{
    scalar(b, "unibus_nats_restarts_total", "counter", "Times the supervisor restarted nats-server after it died.",
           live->nats_restarts);
    if (!live->dataplane_monitored)
        return;
    scalar(b, "unibus_dataplane_monitor_up", "gauge",
           "1 when nats-server answered this scrape's request from its system account, else 0.", live->dataplane_up);
    if (!live->dataplane_up)
        return;
    /* nats-server's counters for the peers' account, added up across its
     * reloads and restarts (dataplane.c): they start from 0 with
     * membershipd. */
    scalar(b, "unibus_dataplane_connections", "gauge", "Peer connections open on nats-server.",
           live->dataplane_connections);
    scalar(b, "unibus_dataplane_in_msgs_total", "counter", "Messages nats-server received from peers.",
           live->dataplane_in_msgs);
    scalar(b, "unibus_dataplane_out_msgs_total", "counter", "Messages nats-server delivered to peers.",
           live->dataplane_out_msgs);
    scalar(b, "unibus_dataplane_in_bytes_total", "counter", "Payload bytes nats-server received from peers.",
           live->dataplane_in_bytes);
    scalar(b, "unibus_dataplane_out_bytes_total", "counter", "Payload bytes nats-server delivered to peers.",
           live->dataplane_out_bytes);
    if (live->cluster)
        scalar(b, "unibus_cluster_routes", "gauge", "Routes to other nodes open on nats-server.", live->cluster_routes);
}

static void render_cluster(out_buf *b, const metrics_live *live)
{
    if (!live->cluster)
        return;
    scalar(b, "unibus_cluster_unconfirmed_total", "counter",
           "Changes answered before every reachable node confirmed them in force (named in the answer).",
           live->cluster_unconfirmed);
    scalar(b, "unibus_cluster_quorum", "gauge", "1 while most of the bus's nodes are heard from, else 0.",
           live->cluster_quorum);
    scalar(b, "unibus_cluster_stale_seconds", "gauge",
           "How stale this node's state may be: cut off from most nodes, or behind what they run, this long.",
           live->cluster_stale_ms / 1000);
    scalar(b, "unibus_cluster_peers_closed", "gauge",
           "1 while this node admits no peer: without quorum for longer than --max-stale.", live->cluster_peers_closed);
    scalar(b, "unibus_cluster_nodes_live", "gauge", "Nodes heard from in the last 3 s, this one included.",
           live->cluster_nodes_live);
    scalar(b, "unibus_cluster_lagging_nodes", "gauge",
           "Live nodes whose data plane runs fewer bus log entries than the furthest one.", live->cluster_lagging_nodes);
    scalar(b, "unibus_cluster_max_lag_entries", "gauge",
           "Bus log entries between the furthest live node and the last one.", live->cluster_max_lag);
    scalar(b, "unibus_cluster_max_clock_skew_ms", "gauge",
           "The largest difference between this node's clock and a live node's (transit included).",
           live->cluster_max_skew_ms);
    scalar(b, "unibus_cluster_leader_changes_total", "counter",
           "Times the bus log's stream leader changed while this node watched.", live->cluster_leader_changes);
    scalar(b, "unibus_cluster_interest_repairs_total", "counter",
           "Times another node missed interest this node's clients hold (nats-server 2.9.10 reload race) and this "
           "node bounced its routes.",
           live->cluster_interest_repairs);
}

static void render_process(out_buf *b)
{
    int64_t not_after = atomic_load(&M.cert_not_after);
    if (not_after) {
        scalar(b, "unibus_tls_cert_not_after_timestamp_seconds", "gauge",
               "When the control plane's TLS certificate expires (Unix seconds).", (uint64_t)not_after);
        scalar(b, "unibus_tls_cert_renew_due", "gauge",
               "1 once under a third of the control plane's certificate lifetime is left: renew it.",
               time(NULL) >= atomic_load(&M.cert_renew_at));
    }
    family(b, "unibus_build_info", "gauge", "Always 1; the version is in the label.");
    put(b, "unibus_build_info{version=\"%s\"} 1\n", UNIBUS_VERSION);
    family(b, "unibus_process_start_time_seconds", "gauge", "When membershipd started (Unix seconds).");
    put(b, "unibus_process_start_time_seconds %.3f\n", (double)atomic_load(&M.start_ms) / 1e3);
}

char *metrics_render(const metrics_live *live)
{
    out_buf b = {0};
    render_requests(&b);
    render_cluster(&b, live);
    render_connections(&b, live);
    render_reloads(&b);
    render_dataplane(&b, live);
    render_process(&b);
    if (!b.failed)
        return b.text;
    free(b.text);
    return NULL;
}
