/* Shared by the bus log's files only. */
#ifndef MEMBERSHIPD_CTLLOG_INTERNAL_H
#define MEMBERSHIPD_CTLLOG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <nats/nats.h>
#include "embedded/node_report.h"
#include "membershipd/ctllog/ctllog.h"
#include "membershipd/store/store.h"

/* Each message's headers: which entry it is part of, and which part. */
#define CTLLOG_HEADER_ENTRY "Unibus-Entry"   /* 32 hex: random, one per entry */
#define CTLLOG_HEADER_PART "Unibus-Part"     /* "i/n", 1-based */
#define CTLLOG_HEADER_ORIGIN "Unibus-Origin" /* the node that wrote it */
#define CTLLOG_HEADER_BASE "Unibus-Base"   /* "1" on each part of the log's base (store_log_snapshot) */
#define CTLLOG_HEADER_LOG "Unibus-Log"     /* on each base part: the log's identity, once entry 1 is purged */
#define CTLLOG_GENESIS_ID "unibus-log-genesis"
/* Where each node says up to which entry its data plane runs (plain NATS
 * in CTRL, not in the stream): NODE_REPORT_PREFIX <node>, node_report.h. */
#define CTLLOG_NODES_MAX NODE_REPORT_NODES_MAX
#define CTLLOG_NODE_NAME_MAX NODE_REPORT_NAME_MAX
#define CTLLOG_SAY_EVERY_MS NODE_REPORT_EVERY_MS /* even without a change: "reachable" */
#define CTLLOG_NODE_STALE_MS NODE_REPORT_LIVE_MS /* not heard from for longer: not waited for */
#define CTLLOG_WATCH_STREAM_MS 5000 /* the stream's leader and last entry read this often */
#define CTLLOG_NODE_FORGOTTEN_MS 600000 /* not heard from for longer: its slot may go to another name */

typedef struct {
    char name[CTLLOG_NODE_NAME_MAX];
    int64_t seq, seen_ms, skew_ms;
    int64_t since_ms;           /* heard without a silence since */
    char api[NODE_REPORT_URL_MAX], nats[NODE_REPORT_URL_MAX];
} ctllog_node;

struct ctllog {
    ctllog_config cfg;          /* its strings point at the copies below */
    char url[256], ca_file[4096], db_path[4096], node[128], expected_host[256], cluster[STORE_LOG_CLUSTER_MAX + 1];
    char api_url[NODE_REPORT_URL_MAX], nats_url[NODE_REPORT_URL_MAX];
    char leader[CTLLOG_NODE_NAME_MAX];  /* the stream's, as last read */
    uint64_t leader_changes;
    char *ca_pem;
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* applied moved, or ready changed */
    int64_t applied;
    int64_t pending_first, pending_last; /* the parts of an entry not yet whole (0: none) */
    bool ready;                 /* connected, the stream exists: appends may go */
    bool diverged;              /* an entry did not apply: no more applying, no more writes */
    bool based;                 /* the store has taken the log's base: it may take writes */
    int64_t in_force;           /* this node's data plane runs every entry up to it */
    ctllog_node nodes[CTLLOG_NODES_MAX]; /* what each node said lately */
    size_t nnodes;
    natsSubscription *reports;
    int64_t listening_since_ms; /* every live node has spoken once after CTLLOG_SAY_EVERY_MS */
    int64_t started_ms;
    bool peers_closed;          /* ctllog_admits_peers said no last */
    bool stopping;
    pthread_t thread, reporter;
    bool reporter_started;
    int64_t behind_since_ms;    /* applied less than a node heard lately runs, since (0: not behind) */
    int64_t stream_first, stream_last; /* the stream's sequences, as last read */
    int64_t log_id;             /* which log this is (ctllog_apply.c log_identity) */
    int64_t compact_keep;       /* a compaction's base: what is before it is purged once every node ran it */
    bool compact_wanted;        /* due: a base goes in at the stream's end (applier only) */
    bool compact_failed_said, tampered_said; /* (applier only) */
    int64_t unavailable_since_ms; /* the stream could not be read, since (0: it can) */
    int64_t repaired_ms;        /* the last time cfg.repair was asked for */
    natsOptions *opts;
    /* Made by the applier, read through ctllog_js (under lock); nats.c
     * reconnects it, and when nats.c gives it up (closed for good) the
     * applier makes another and keeps the old ones until the log stops:
     * other threads may still hold them. */
    natsConnection *nc;
    jsCtx *js;
    struct retired_connection *retired;
    store *store;               /* the applier's own connection */
};

/* Puts an entry made on the state after expect into the stream, in
 * parts, marked as the log's base when base: STORE_OK with the last
 * part's sequence in *seq, STORE_STALE when another entry got in first,
 * STORE_NO_QUORUM when the log cannot take it (ctllog_append.c). */
/* What an entry made on the state after `at` expects as the stream's last
 * sequence: parts of an entry that will never complete may follow `at`
 * (ctllog_apply.c passes over them), and the entry goes after them. */
int64_t ctllog_expected_last(ctllog *log, int64_t at);
store_status ctllog_put_entry(ctllog *log, int64_t expect, const void *entry, size_t len, bool base, int64_t *seq);
/* The applier thread (ctllog_apply.c). */
void *ctllog_applier(void *arg);
/* Connects and makes the JetStream context (again when nats.c closed the
 * last connection for good); 0 or -1. */
int ctllog_connect(ctllog *log, char *err, size_t errlen);
/* The connection's JetStream context now (NULL before the first). */
jsCtx *ctllog_js(ctllog *log);
/* The stream's message at seq (the stream leader answers), waiting up to
 * wait_ms; *msg is the caller's to natsMsg_Destroy. */
natsStatus ctllog_read(ctllog *log, int64_t seq, int wait_ms, natsMsg **msg, jsErrCode *jerr);
/* The stream's last sequence, or -1 when it cannot be read. */
int64_t ctllog_last_seq(ctllog *log);
typedef struct {
    int64_t first, last;
    uint64_t msgs;
    bool tampered;              /* sealed, or limits membershipd never sets (ctllog_stream_state) */
} ctllog_stream;
/* The stream's first and last sequences and how many messages it holds:
 * 0, or -1 when it cannot be read. */
int ctllog_stream_state(ctllog *log, ctllog_stream *out);
/* Whether the store has taken the log's base. */
bool ctllog_is_based(ctllog *log);
/* The applier asks every CTLLOG_WATCH_STREAM_MS whether a compaction is
 * due (and purges what a base written earlier made redundant), and writes
 * its base when it next reaches the stream's end (ctllog_compact.c). */
void ctllog_compact_if_due(ctllog *log);
void ctllog_compact_at_end(ctllog *log);
void ctllog_set_applied(ctllog *log, int64_t seq);
/* Waits until everything up to last is applied but a last entry that is
 * not whole: 0, or -1 after timeout_ms. */
int ctllog_wait_caught_up(ctllog *log, int64_t last, int timeout_ms);
void ctllog_set_ready(ctllog *log, bool ready);
bool ctllog_is_ready(ctllog *log);
bool ctllog_stopping(ctllog *log);
/* ctllog_in_force.c: listens to the nodes' reports; says this node's. */
int ctllog_listen_in_force(ctllog *log);
void ctllog_say_in_force(ctllog *log);
/* The reporter thread: says where this node is every CTLLOG_SAY_EVERY_MS,
 * whatever the applier is doing (a stream without a leader stalls it, and
 * a node that goes quiet counts as gone), and notes whether it is behind. */
void *ctllog_reporter(void *arg);
/* The applier could (not) read the stream: for ctllog_unavailable_ms. */
void ctllog_note_available(ctllog *log, bool available);
/* Whether most of the bus's nodes were heard from lately (this one's own
 * reports included): otherwise a change is refused at once. */
bool ctllog_quorum(ctllog *log);
/* The furthest entry any node heard from lately runs. */
int64_t ctllog_reported_seq(ctllog *log);
/* The furthest entry most of the bus's nodes say they run (0 when fewer
 * are heard): what one node says, forged or not, does not move it. */
int64_t ctllog_majority_seq(ctllog *log);
/* Caught up with the stream as it is read now, and with what most nodes
 * run: right after a partition heals, the stream can be answered by this
 * node's own replica, which still believes it leads, while the nodes that
 * applied an entry already say they run it. */
bool ctllog_caught_up_now(ctllog *log);

#endif
