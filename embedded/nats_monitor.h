/*
 * Asking nats-server who is connected and how much the peers send, over
 * NATS as the system account's user (nats-server's $SYS requests,
 * server/events.go), never over an HTTP monitor: nats-server 2.9's has no
 * authentication (dev/data-plane.md, "Monitoring").  Used by membershipd
 * doctor (who is connected) and the metrics listener (traffic).
 */
#ifndef EMBEDDED_NATS_MONITOR_H
#define EMBEDDED_NATS_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "busauth/identity.h"
#include "embedded/node_report.h"

typedef struct {
    const char *url;                /* the data plane: nats://host:port or tls://host:port */
    const busauth_identity *system; /* the system account's user (server_identity_system_user) */
    const char *ca_file;            /* tls://: the CA to verify nats-server against; NULL: the system's */
    int timeout_ms;                 /* for the login and for each answer */
    const char *login_name;         /* who system is, for errors; NULL: "its system account's user" */
} nats_monitor;

/* nats-server's counters, as they are read: none of them alone is the
 * peers' traffic (dev/metrics.md).  The server's own (VARZ) start again
 * only when it restarts but count every client, the monitoring's requests
 * too; the accounts' (STATZ) start again with every configuration applied
 * (server/reload.go rebuilds the accounts without their counters), and an
 * account's received messages miss those of connections older than the
 * last reload (server/client.go readLoop keeps the account it started
 * with).  The epochs tell the resets apart: the server's id, and its
 * config_load_time. */
typedef struct {
    char server_id[64], config_load_time[64];
    /* At one instant, before this reading's own requests: */
    uint64_t server_in_msgs, server_in_bytes;   /* VARZ: from every client */
    uint64_t system_in_msgs, system_in_bytes;   /* from the system account's clients (monitoring) */
    uint64_t peers_out_msgs, peers_out_bytes;   /* delivered in the peers' account */
    uint64_t peers_connections;
    uint64_t routes;                            /* VARZ: routes to other servers open now */
    /* This reading's own requests, counted in both "in" counters after it. */
    uint64_t own_msgs, own_bytes;
} nats_monitor_counters;

/* 0, or -1 with one line in err. */
int nats_monitor_counters_read(const nats_monitor *m, nats_monitor_counters *out, char *err, size_t errlen);

/* Calls fn with each client connection nats-server lists (its CONNZ, with
 * authorized_user), page by page; a non-zero return from fn stops the
 * walk and is returned.  0, or -1 with one line in err. */
typedef int (*nats_monitor_conn_fn)(const json_t *conn, void *ctx);
int nats_monitor_connections(const nats_monitor *m, nats_monitor_conn_fn fn, void *ctx, char *err,
                             size_t errlen);

/* Listens listen_ms to what the bus's nodes say (node_report.h), logged
 * in as m->system = the bus log's user (its account is where they say
 * it); the latest of each node, at most cap, into out, how many in *n.
 * 0, or -1 with one line in err. */
int nats_monitor_node_reports(const nats_monitor *m, int listen_ms, node_heard *out, size_t cap, size_t *n,
                              char *err, size_t errlen);
/* Route interest lost (dev/cluster.md, "Route interest"): the
 * subscriptions this server's clients hold in the named accounts that
 * another server of the cluster does not hold for it (that server's
 * ROUTEZ: the route from this one), each a key "SERVER ACCOUNT
 * SUBJECT[ QUEUE] cid=N sid=S" of *missing (a new JSON object, the
 * caller's to json_decref), SERVER the other's name, N and S the
 * subscription's connection and id on this server; *servers gets how
 * many other servers were compared (those this one has a route to).  Read
 * at one pass, so a subscription made during it may be listed: confirm
 * with a second pass.  0, or -1 with one line in err. */
int nats_monitor_interest_missing(const nats_monitor *m, const char *const *accounts, size_t naccounts,
                                  json_t **missing, size_t *servers, char *err, size_t errlen);

/* A connection whose request timed out is kept open for a while before it
 * is destroyed (nats.c 3.4.1 can crash destroying one that is still
 * receiving: nats_monitor.c).  Destroys those still kept: once, at exit,
 * before nats_CloseAndWait, when no nats-server answers any more. */
void nats_monitor_release(void);

#endif
