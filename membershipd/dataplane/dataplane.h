/*
 * The data plane as membershipd runs it: the generated nats-server
 * configuration kept equal to the database, through coalesced reloads.
 *
 * A reloader thread with its own SQLite connection re-renders the
 * configuration when asked (dataplane_sync, after an API change) or when
 * another process committed (PRAGMA data_version, polled every 250 ms, for
 * the offline CLI); it reloads nats-server only when the text changed.
 * Changes that arrive during a reload are all carried by the next one.
 */
#ifndef MEMBERSHIPD_DATAPLANE_H
#define MEMBERSHIPD_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "busauth/identity.h"
#include "embedded/nats_config.h"

#define DATAPLANE_DEFAULT_PORT 4250
#define DATAPLANE_DEFAULT_MAX_MSG (1024 * 1024)
#define DATAPLANE_MAX_CONNECTIONS 1024
#define DATAPLANE_POLL_MS 250
#define DATAPLANE_SYNC_TIMEOUT_MS 10000

typedef struct dataplane dataplane;

typedef struct {
    const char *binary;         /* nats-server */
    /* Changes to its environment (supervisor_start), read by
     * dataplane_start only; may be NULL. */
    const char *const *nats_env;
    const char *host;
    unsigned port;
    size_t max_payload;
    const char *tls_cert, *tls_key;
    bool authorization;         /* false only with --bus-auth off */
    const busauth_identity *system; /* the system account's user (monitoring); must outlive the data plane */
    bool count_traffic;         /* --metrics-addr: the peers' traffic is also read before each reload */
    const char *config_path;    /* DATA-DIR/nats.conf */
    const char *db_path;
    const busauth_identity *internal; /* must outlive the data plane */
    /* Routes to the other nodes (dev/cluster.md), or NULL for a single
     * node.  Its pins are ignored: the store's valid node certificates'
     * keys are pinned, and self_pin (this node's route key, hex). */
    const natsconf_cluster *cluster;
    const char *self_pin;
    /* What a node pins while its store knows no node key (joining: the
     * route-pins its certificate came with, dev/cluster.md). */
    const char (*join_pins)[NATSCONF_PIN_LEN + 1];
    size_t njoin_pins;
    /* The only route of a node joining: to itself, on an address its own
     * certificate names (dataplane_cluster.c kept_routes). */
    const natsconf_route *self_route;
    /* The bus log's JetStream directory and its account's one user
     * (dev/control-log.md); NULL: no log (--bus-auth off). */
    const char *jetstream_dir;
    const busauth_identity *log_user;
    /* Render no peer at all, only membershipd's own users: the reloader
     * sets it from the gate (dataplane_gate_peers); a cluster node starts
     * with it (its state may be stale until the gate says otherwise). */
    bool peers_closed;
    /* Render no route and pin no key, so that every route closes: the
     * first half of a route bounce (dataplane.c, "Route interest"); set
     * by the reloader only. */
    bool routes_dropped;
    /* Called after each reload with its outcome and duration (metrics); may be NULL. */
    void (*reload_done)(bool ok, double seconds);
} dataplane_config;
/* config_path, db_path and jetstream_dir are copied; the other pointers
 * must outlive the data plane. */

/* Writes the configuration, starts nats-server and returns once it takes
 * an authenticated connection from the internal identity.  NULL, after one
 * line to stderr, when it cannot. */
dataplane *dataplane_start(const dataplane_config *cfg);
/* Returns once every change committed before the call is in force in
 * nats-server: 0, or -1 after DATAPLANE_SYNC_TIMEOUT_MS.  since_ms is when
 * the change began (clock_mono_ms(); 0 when unknown), for the log's
 * change_to_sighup_ms.  Without a data plane (NULL: the API handlers run
 * in-process by tests/fuzz) there is nothing to wait for: 0. */
int dataplane_sync(dataplane *dp, int64_t since_ms);
/* A cluster's new route password (dev/operations.md, "Rotating the route
 * secret"): rendered from the next reload on (dataplane_refresh).  0, or -1
 * without a cluster or with a password of the wrong shape. */
int dataplane_set_route_password(dataplane *dp, const char *password);
/* Has nats-server start again on the configuration (the bus log found its
 * JetStream stuck).  Returns like dataplane_sync. */
int dataplane_restart_server(dataplane *dp);
/* Has nats-server reload even though its configuration text is the same:
 * the files it names (TLS certificate and key) may have changed.  Returns
 * like dataplane_sync. */
int dataplane_refresh(dataplane *dp);
/* After each time the store is in force in nats-server: fn(ctx, seq), seq
 * the last bus log entry the store held then (store_log.h).  NULL stops
 * it: no call is running or will run once this returns. */
void dataplane_on_in_force(dataplane *dp, void (*fn)(void *ctx, int64_t seq), void *ctx);
/* What membershipd's own long-lived connection (the bus log) has sent
 * nats-server: not the peers' traffic.  NULL stops it, as above. */
void dataplane_on_own_traffic(dataplane *dp, void (*fn)(void *ctx, uint64_t *msgs, uint64_t *bytes), void *ctx);
/* Asked at each poll whether peers may log in (a cluster node cut off from
 * most of the bus says no: dev/cluster.md); when the answer changes, the
 * configuration is rendered again, with or without them.  NULL stops it,
 * as above. */
void dataplane_gate_peers(dataplane *dp, bool (*admit)(void *ctx), void *ctx);
/* Whether peers are not admitted now (the gate said no, and that is in force). */
bool dataplane_peers_closed(dataplane *dp);
/* Asks for the store to be applied now, without waiting (the bus log's
 * applier, after each entry: sooner than the next poll). */
void dataplane_nudge(dataplane *dp);
void dataplane_stop(dataplane *dp);
unsigned dataplane_reloads(dataplane *dp);
/* Times nats-server died and was started again. */
unsigned dataplane_restarts(dataplane *dp);
/* Times this node found another node missing interest its clients hold
 * and bounced its routes (dev/cluster.md, "Route interest"). */
unsigned dataplane_interest_repairs(dataplane *dp);
/* Whether nats-server can be asked for its figures: not with --bus-auth
 * off, where there is no system account. */
bool dataplane_monitored(const dataplane *dp);
/* The peers' traffic: connections now; messages and payload bytes
 * received from them and delivered to them since membershipd started,
 * across nats-server's reloads and restarts. */
typedef struct {
    uint64_t connections, in_msgs, out_msgs, in_bytes, out_bytes;
    uint64_t routes;            /* to other nodes, open now */
} dataplane_traffic_totals;
/* Asked of nats-server as its system account's user (dataplane.c says how
 * its counters are added up).  0, or -1 with one line in err. */
int dataplane_traffic(dataplane *dp, dataplane_traffic_totals *out, char *err, size_t errlen);
unsigned dataplane_port(const dataplane *dp);
/* "nats://host:port" or "tls://host:port". */
void dataplane_url(const dataplane *dp, char *out, size_t len);

#endif
