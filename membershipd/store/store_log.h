/*
 * The store's side of the bus log (dev/control-log.md).  Every change to
 * the bus's state is one entry of a replicated log: the SQLite changeset
 * (the session extension's own format) of one store transaction, made on
 * the state at the last applied entry and appended only if no entry came
 * in between.  Every node applies the entries in order, each in one
 * transaction with its sequence number, so each is applied exactly once.
 * Local tables (request_time_floor, log_state) are never in an entry.
 */
#ifndef MEMBERSHIPD_STORE_LOG_H
#define MEMBERSHIPD_STORE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "membershipd/store/store.h"

/* Appends an entry made on the state after entry `at`: returns STORE_OK
 * once it is in the log and applied to this store, STORE_STALE when the
 * log holds an entry after `at` (the store makes the change again once it
 * has applied that one: the writer waits for it before answering),
 * STORE_NO_QUORUM when the log cannot take it, STORE_ERROR otherwise. */
typedef struct {
    store_status (*append)(void *ctx, int64_t at, const void *entry, size_t len);
    void *ctx;
} store_log_writer;

/* From now on every transaction of s is an entry of the log, through w
 * (copied); NULL: committed here directly again. */
void store_log_set_writer(store *s, const store_log_writer *w);

/* The sequence of the last entry applied here (0: none). */
store_status store_log_applied(store *s, int64_t *seq);

/* Applies the entry held by log messages first..last (one message, or an
 * entry cut in parts) in one transaction with its last sequence: a no-op
 * for an entry applied already; STORE_CONFLICT when first is not the next
 * sequence or the entry does not apply cleanly (this store has diverged
 * from the log: nothing is written).  len 0 only moves the sequence on
 * (messages that hold no change). */
store_status store_log_apply(store *s, int64_t first, int64_t last, const void *entry, size_t len);

/* Whether this database has been the state of a log (a log was created
 * for it or it applied an entry): from then on, only the log writes it. */
store_status store_log_attached(store *s, bool *attached);

#define STORE_LOG_CLUSTER_MAX 64

/* The stream found is the log log_id (entry 1's time: ctllog) of cluster
 * ("" for a single node): a store that never applied anything learns it;
 * any other that did not follow it (a backup restored, a single node become
 * a cluster's first, another log) starts again in it (*restarted): its
 * entries counted from 0, and it takes the log's base. */
store_status store_log_follow(store *s, int64_t log_id, const char *cluster, bool *restarted);

/* The log and cluster this store last followed (0 and "": none). */
store_status store_log_cluster(store *s, int64_t *log_id, char cluster[STORE_LOG_CLUSTER_MAX + 1]);

/* The base of a log (dev/control-log.md, "A node joins"): the whole
 * replicated state as one entry, so that a node with an empty store can
 * join by applying the log from its start. */

/* Every row of every replicated table, as a changeset of inserts
 * (released with store_log_free); *len 0 for an empty store.  STORE_OK,
 * or the store's error. */
store_status store_log_snapshot(store *s, void **base, size_t *len);
void store_log_free(void *base);

/* Takes the base held by log messages first..last: in one transaction,
 * its rows are inserted where this store has none, rows it holds already
 * must be equal, and this store may hold no row the base lacks; then the
 * sequence moves to last and the store counts as based.  A store not yet
 * based takes it even past entries it never saw (a compacted log starts at
 * a base).  A based store takes a later base (a compaction's checkpoint)
 * as the next entry, writing nothing but its sequence, when its row counts
 * agree.  STORE_CONFLICT (nothing written) when it is out of order or the
 * store differs from the base. */
store_status store_log_apply_base(store *s, int64_t first, int64_t last, const void *base, size_t len);

/* The bus CA's certificate (PEM) a base holds, for the caller to free():
 * a cluster takes only a base whose CA is its route CA's (ctllog_apply.c).
 * STORE_NOT_FOUND when it holds none; STORE_CONFLICT when it is not a
 * changeset. */
store_status store_log_base_ca(const void *base, size_t len, char **cert_pem);

/* Whether this store has taken a base: only then may it apply entries
 * that are not one, and take writes. */
store_status store_log_based(store *s, bool *based);

#endif
