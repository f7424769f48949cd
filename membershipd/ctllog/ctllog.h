/*
 * The bus log on JetStream (dev/control-log.md): one stream, UNIBUS_LOG,
 * in the account CTRL that only this node's membershipd logs in to.  Each
 * entry is a store transaction's changeset (store_log.h), appended with
 * the expected last sequence of the state it was made on, in parts when it
 * is larger than a message; an applier thread applies entries in order to
 * this node's store.  A single node runs the same log, one replica.
 */
#ifndef MEMBERSHIPD_CTLLOG_H
#define MEMBERSHIPD_CTLLOG_H

#include <stddef.h>
#include <stdint.h>
#include "busauth/identity.h"
#include "embedded/node_report.h"
#include "membershipd/store/store_log.h"

#define CTLLOG_STREAM "UNIBUS_LOG"
#define CTLLOG_SUBJECT "unibus.log"
#define CTLLOG_PUBLISH_TIMEOUT_MS 500   /* then the outcome is unknown and the stream is read back */
#define CTLLOG_APPLY_TIMEOUT_MS 10000   /* an appended entry applied here */
#define CTLLOG_IN_FORCE_TIMEOUT_MS 5000 /* the other nodes' data planes running it */
#define CTLLOG_ELECTION_WAIT_MS 10000   /* a stream leader elected (measured 4-9 s: FACTS.md) */
#define CTLLOG_REPAIR_AFTER_MS 20000    /* twice an election's worst case */
#define CTLLOG_REPAIR_EVERY_MS 60000

typedef struct ctllog ctllog;

typedef struct {
    const char *url;                /* this node's data plane */
    const char *ca_file;            /* a TLS data plane's certificate, trusted besides the system's */
    const char *ca_pem;             /* and the bus CA's certificate (PEM text), or NULL */
    const char *expected_host;      /* the name to verify it for, when not the URL's address; or NULL */
    const busauth_identity *user;   /* the CTRL account's user; must outlive the log */
    const char *db_path;            /* the applier's own connection to the store */
    int replicas;                   /* min(3, nodes) */
    size_t nodes;                   /* the bus's nodes: a change needs most of them heard from lately */
    size_t part_max;                /* the largest message the data plane takes, less room for headers */
    const char *node;               /* this node's name, in each entry's headers */
    const char *cluster;            /* the cluster's name, "" for a single node (store_log_follow) */
    const char *api_url, *nats_url; /* where it serves, said to the others (may be NULL) */
    bool data_plane;                /* a node's membershipd (serve): says how far its data plane runs */
    void (*applied)(void *ctx);     /* after each entry applied here (may be NULL) */
    void *applied_ctx;
    /* Asked for when the stream has been unreadable for CTLLOG_REPAIR_AFTER_MS
     * while most nodes are heard (this node's JetStream is stuck: restart its
     * nats-server), at most once per CTLLOG_REPAIR_EVERY_MS; may be NULL. */
    void (*repair)(void *ctx);
    void *repair_ctx;
    /* Whether a CA certificate (PEM) is the bus's, the route CA's: in a
     * cluster only a store holding it offers a base, and only a base
     * holding it is taken (dev/control-log.md).  NULL on a single node. */
    bool (*is_bus_ca)(const char *cert_pem, void *ctx);
    void *is_bus_ca_ctx;
    /* The stream leader compacts the log once it holds this many entries
     * after its base (ctllog_compact.c); 0: never (the offline CLI). */
    unsigned compact_entries;
} ctllog_config;

/* Starts the applier (it connects, creates the stream when there is none,
 * and applies from the store's next sequence on, retrying for as long as
 * the log is out of reach).  NULL, with one line in err, when it cannot
 * start at all. */
ctllog *ctllog_start(const ctllog_config *cfg, char *err, size_t errlen);

/* A store_log_writer for this log (ctx: the ctllog). */
store_log_writer ctllog_writer(ctllog *log);

/* The last sequence applied here. */
int64_t ctllog_applied(ctllog *log);

/* Waits until the log takes appends and this store has applied all the
 * stream held when it became ready: 0, or -1 after timeout_ms. */
int ctllog_wait_ready(ctllog *log, int timeout_ms);

/* Waits until entry seq is applied here: 0, or -1 after timeout_ms. */
int ctllog_wait_applied(ctllog *log, int64_t seq, int timeout_ms);

/* This node's data plane runs every entry up to seq: said to the others
 * now, and again every second. */
void ctllog_in_force(ctllog *log, int64_t seq);

/* Waits up to timeout_ms until every node heard from in the last
 * CTLLOG_NODE_STALE_MS runs entry seq; returns how many do not, their
 * names comma-separated in lagging. */
size_t ctllog_wait_in_force(ctllog *log, int64_t seq, int timeout_ms, char *lagging, size_t len);

/* How long most of the bus's nodes have not been heard from (ms; 0 while
 * they are, and always on a single node). */
int64_t ctllog_without_quorum_ms(ctllog *log);

/* How stale this node's state may be (ms; 0 when it is not): since it last
 * heard most nodes, or since it fell behind what a node it hears runs
 * (it cannot read the log), whichever is longer. */
int64_t ctllog_stale_ms(ctllog *log);

/* Whether this node should admit peers, to its data plane and its control
 * plane (dev/cluster.md, "A node cut off"): no from its start (a cluster
 * node) and once it has been stale for longer than max_stale_ms, since the
 * others may have revoked keys it still honours; yes once it hears most
 * nodes and has caught up with the stream and with every node it hears.
 * Logs each change. */
bool ctllog_admits_peers(ctllog *log, int64_t max_stale_ms);
/* Whether most nodes are heard from now, by their reports alone (no
 * start's grace: a node just started has heard none yet). */
bool ctllog_heard_majority(ctllog *log);

/* What ctllog_admits_peers said last, without asking again. */
bool ctllog_peers_closed(ctllog *log);

/* Every node heard from since the log started (this one included), as it
 * said lately: at most cap into out; how many there are. */
size_t ctllog_nodes(ctllog *log, node_heard *out, size_t cap);

/* The stream's leader as last read (every 5 s; "" unknown). */
void ctllog_leader(ctllog *log, char *out, size_t len);

/* How many times the stream's leader changed while this node watched. */
uint64_t ctllog_leader_changes(ctllog *log);

/* What the log's connection has sent nats-server so far (its entries,
 * requests and reports), for the data plane's traffic figures. */
void ctllog_sent(ctllog *log, uint64_t *msgs, uint64_t *bytes);

void ctllog_stop(ctllog *log);

#endif
