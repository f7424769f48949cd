#include "membershipd/metrics/metrics_server.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>
#include "common/cli_args.h"
#include "membershipd/http/conn_guard.h"
#include "membershipd/dataplane/dataplane.h"
#include "common/log.h"
#include "membershipd/metrics/metrics.h"
#include "membershipd/config/tls_files.h"

/* Prometheus scrapes one at a time; a few spare for an operator's curl. */
#define METRICS_CONNECTION_LIMIT 16
#define METRICS_IDLE_TIMEOUT_S 10

struct metrics_server {
    server *srv;
    struct MHD_Daemon *daemon;
    int listen_fd;              /* the daemon's: closed when it stops */
    char *cert_pem, *key_pem;   /* NULL without TLS */
};

/* The peers' traffic, asked of nats-server as its system account's user
 * (nothing to ask with --bus-auth off: no system account there). */
static void read_dataplane(dataplane *dp, metrics_live *live)
{
    dataplane_traffic_totals traffic;
    char err[512];
    if (!(live->dataplane_monitored = dataplane_monitored(dp)))
        return;
    if (dataplane_traffic(dp, &traffic, err, sizeof err) != 0) {
        log_event(LOG_WARN, "metrics_dataplane", "detail=\"%s\"", err);
        return;
    }
    live->dataplane_up = true;
    live->dataplane_connections = traffic.connections;
    live->dataplane_in_msgs = traffic.in_msgs;
    live->dataplane_out_msgs = traffic.out_msgs;
    live->dataplane_in_bytes = traffic.in_bytes;
    live->dataplane_out_bytes = traffic.out_bytes;
    live->cluster_routes = traffic.routes;
}

/* The other nodes as this one heard them lately (dev/metrics.md). */
static void read_cluster(server *srv, metrics_live *live)
{
    if (!srv->cluster_nodes)
        return;
    node_heard heard[NODE_REPORT_NODES_MAX];
    size_t n = srv->cluster_nodes(srv, heard, NODE_REPORT_NODES_MAX);
    int64_t most = 0, least = INT64_MAX;
    for (size_t i = 0; i < n && i < NODE_REPORT_NODES_MAX; i++) {
        if (heard[i].heard_ms_ago > NODE_REPORT_LIVE_MS)
            continue;
        int64_t seq = heard[i].report.seq, skew = llabs(heard[i].skew_ms);
        live->cluster_nodes_live++;
        most = seq > most ? seq : most;
        least = seq < least ? seq : least;
        live->cluster_max_skew_ms = (uint64_t)skew > live->cluster_max_skew_ms ? (uint64_t)skew : live->cluster_max_skew_ms;
    }
    for (size_t i = 0; i < n && i < NODE_REPORT_NODES_MAX; i++)
        live->cluster_lagging_nodes += heard[i].heard_ms_ago <= NODE_REPORT_LIVE_MS && heard[i].report.seq < most;
    live->cluster_max_lag = live->cluster_nodes_live ? (uint64_t)(most - least) : 0;
    live->cluster_leader_changes = srv->leader_changes(srv);
}

static char *scrape(server *srv)
{
    metrics_live live = {
        .requests_in_flight = (unsigned)atomic_load(&srv->in_flight),
        .conns = conn_guard_stats_get(srv->conns),
        .nonce_cache_entries = nonce_cache_size(srv->nonces),
        .nats_restarts = dataplane_restarts(srv->dataplane),
        .cluster = cluster_configured(&srv->cfg.cluster),
        .cluster_unconfirmed = atomic_load(&srv->cluster_unconfirmed),
        .cluster_stale_ms = srv->stale_ms ? (uint64_t)srv->stale_ms(srv) : 0,
        .cluster_quorum = srv->quorum && srv->quorum(srv),
        .cluster_peers_closed = dataplane_peers_closed(srv->dataplane),
        .cluster_interest_repairs = dataplane_interest_repairs(srv->dataplane),
    };
    read_dataplane(srv->dataplane, &live);
    read_cluster(srv, &live);
    return metrics_render(&live);
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, char *body, const char *type)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version, (void)upload_data, (void)con_cls;
    metrics_server *ms = cls;
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is never wanted: dropped */
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return answer(conn, MHD_HTTP_NOT_FOUND, strdup("only /metrics is served here\n"), "text/plain");
    if (strcmp(method, "GET") != 0)
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("GET /metrics\n"), "text/plain");
    char *text = scrape(ms->srv);
    if (!text)
        return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, strdup("out of memory\n"), "text/plain");
    return answer(conn, MHD_HTTP_OK, text, METRICS_CONTENT_TYPE);
}

/* A daemon on listen_fd (taken over), with TLS when cert is set. */
static struct MHD_Daemon *daemon_on(metrics_server *ms, int listen_fd, char *cert, char *key)
{
    /* One thread polls every connection: a scrape is short, and a slow
     * client cannot hold more than one of the few slots. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | (cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities(ms->srv->cfg.tls_min)},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, ms,
                            MHD_OPTION_LISTEN_SOCKET, listen_fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTION_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_IDLE_TIMEOUT_S,
                            MHD_OPTION_ARRAY, cert ? tls : tls + 3,
                            MHD_OPTION_END);
}

/* Kept while a daemon serves with them, wiped after. */
static void free_pems(metrics_server *ms)
{
    tls_pem_free(ms->cert_pem);
    tls_pem_free(ms->key_pem);
}

metrics_server *metrics_server_start(server *srv, int listen_fd, bool tls)
{
    metrics_server *ms = calloc(1, sizeof *ms);
    if (!ms) {
        cli_error("out of memory for the metrics listener");
        close(listen_fd);
        return NULL;
    }
    ms->srv = srv;
    if (tls && !tls_pem_read_pair(srv->cfg.tls_cert, srv->cfg.tls_key, &ms->cert_pem, &ms->key_pem)) {
        cli_error("cannot read the TLS files %s and %s for the metrics listener", srv->cfg.tls_cert, srv->cfg.tls_key);
        close(listen_fd);
        free(ms);
        return NULL;
    }
    ms->listen_fd = listen_fd;
    ms->daemon = daemon_on(ms, listen_fd, ms->cert_pem, ms->key_pem); /* closes listen_fd if it fails */
    if (!ms->daemon) {
        cli_error("cannot start the metrics listener on %s; check --metrics-addr", srv->cfg.metrics_addr);
        free_pems(ms);
        free(ms);
        return NULL;
    }
    return ms;
}

/* A new daemon on a duplicate of the socket, then the old one stops: a
 * scrape in progress may be cut, the next one is served. */
int metrics_server_rotate(metrics_server *ms, const char *cert_pem, const char *key_pem)
{
    if (!ms || !ms->cert_pem)
        return 0;
    char *cert = tls_pem_copy(cert_pem), *key = tls_pem_copy(key_pem);
    int fd = cert && key ? dup(ms->listen_fd) : -1;
    if (fd < 0) {
        tls_pem_free(cert);
        tls_pem_free(key);
        return -1;
    }
    struct MHD_Daemon *next = daemon_on(ms, fd, cert, key); /* closes fd if it fails */
    if (!next) {
        tls_pem_free(cert);
        tls_pem_free(key);
        return -1;
    }
    /* Quiesced first: stopping a daemon that still owns its socket shuts
     * the socket down, the duplicate's too.  Its descriptor is closed only
     * once it has stopped: its thread may be about to call accept() on it. */
    int old_fd = MHD_quiesce_daemon(ms->daemon);
    MHD_stop_daemon(ms->daemon);
    if (old_fd >= 0)
        close(old_fd);
    free_pems(ms);
    ms->daemon = next;
    ms->listen_fd = fd;
    ms->cert_pem = cert;
    ms->key_pem = key;
    return 0;
}

void metrics_server_stop(metrics_server *ms)
{
    if (!ms)
        return;
    MHD_stop_daemon(ms->daemon);
    free_pems(ms);
    free(ms);
}
