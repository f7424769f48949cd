/* Shared by the bus log's files only. */
#ifndef MEMBERSHIPD_CTLLOG_INTERNAL_H
#define MEMBERSHIPD_CTLLOG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <nats/nats.h>
#include "membershipd/ctllog/ctllog.h"
#include "membershipd/store/store.h"

/* Each message's headers: which entry it is part of, and which part. */
#define CTLLOG_HEADER_ENTRY "Unibus-Entry"   /* 32 hex: random, one per entry */
#define CTLLOG_HEADER_PART "Unibus-Part"     /* "i/n", 1-based */
#define CTLLOG_HEADER_ORIGIN "Unibus-Origin" /* the node that wrote it */
#define CTLLOG_GENESIS_ID "unibus-log-genesis"

struct ctllog {
    ctllog_config cfg;          /* its strings point at the copies below */
    char url[256], ca_file[4096], db_path[4096], node[128], expected_host[256];
    char *ca_pem;
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* applied moved, or ready changed */
    int64_t applied;
    int64_t pending_first, pending_last; /* the parts of an entry not yet whole (0: none) */
    bool ready;                 /* connected, the stream exists: appends may go */
    bool diverged;              /* an entry did not apply: no more applying, no more writes */
    bool stopping;
    pthread_t thread;
    natsOptions *opts;
    natsConnection *nc;         /* made once by the applier; nats.c reconnects it */
    jsCtx *js;
    store *store;               /* the applier's own connection */
};

/* The applier thread (ctllog_apply.c). */
void *ctllog_applier(void *arg);
/* Connects and makes the JetStream context, once; 0 or -1. */
int ctllog_connect(ctllog *log, char *err, size_t errlen);
/* The stream's last sequence, or -1 when it cannot be read. */
int64_t ctllog_last_seq(ctllog *log);
void ctllog_set_applied(ctllog *log, int64_t seq);
void ctllog_set_ready(ctllog *log, bool ready);
bool ctllog_is_ready(ctllog *log);
bool ctllog_stopping(ctllog *log);

#endif
