/* Changes as entries of the bus log: made on a known state, appended,
 * applied in order exactly once (store_log.h, dev/control-log.md). */
#include "membershipd/store/store_internal.h"

#include <stdio.h>
#include <string.h>

#define STALE_RETRIES 16

/* What stays on this node: the time floor of its own signed requests, and
 * how far it has applied the log. */
bool store_log_replicated(const char *table)
{
    return strcmp(table, "request_time_floor") != 0 && strcmp(table, "log_state") != 0 &&
           strncmp(table, "sqlite_", 7) != 0;
}

static int replicated_table(void *ctx, const char *table)
{
    (void)ctx;
    return store_log_replicated(table);
}

void store_log_set_writer(store *s, const store_log_writer *w)
{
    s->log = w ? *w : (store_log_writer){0};
}

store_status store_log_state_read(store *s, store_log_state *st)
{
    sqlite3_stmt *stmt =
        store_prepare(s, "SELECT applied_seq, attached, base_seq, log_id, cluster FROM log_state WHERE id = 1");
    if (!stmt)
        return store_from_sqlite(sqlite3_errcode(s->db));
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        st->applied = sqlite3_column_int64(stmt, 0);
        st->attached = sqlite3_column_int(stmt, 1) != 0;
        st->base = sqlite3_column_int64(stmt, 2);
        st->log_id = sqlite3_column_int64(stmt, 3);
        snprintf(st->cluster, sizeof st->cluster, "%s", (const char *)sqlite3_column_text(stmt, 4));
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? STORE_OK : store_from_sqlite(rc);
}

store_status store_log_applied(store *s, int64_t *seq)
{
    store_log_state st;
    store_status status = store_log_state_read(s, &st);
    *seq = status == STORE_OK ? st.applied : 0;
    return status;
}

store_status store_log_attached(store *s, bool *attached)
{
    store_log_state st;
    store_status status = store_log_state_read(s, &st);
    *attached = status == STORE_OK && st.attached;
    return status;
}

store_status store_log_based(store *s, bool *based)
{
    store_log_state st;
    store_status status = store_log_state_read(s, &st);
    *based = status == STORE_OK && st.base > 0;
    return status;
}

static store_status set_log(store *s, int64_t log_id, const char *cluster, bool restart)
{
    sqlite3_stmt *stmt = store_prepare(s, restart ? "UPDATE log_state SET applied_seq = 0, base_seq = 0, log_id = ?, "
                                                    "cluster = ? WHERE id = 1"
                                                  : "UPDATE log_state SET log_id = ?, cluster = ? WHERE id = 1");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, log_id);
        sqlite3_bind_text(stmt, 2, cluster, -1, SQLITE_STATIC);
    }
    return stmt ? store_exec_stmt(stmt) : store_from_sqlite(sqlite3_errcode(s->db));
}

store_status store_log_follow(store *s, int64_t log_id, const char *cluster, bool *restarted)
{
    store_log_state st = {0};
    *restarted = false;
    store_status status = store_log_state_read(s, &st);
    if (status != STORE_OK || (st.log_id == log_id && strcmp(st.cluster, cluster) == 0))
        return status;
    /* Only a store that never applied anything learns a log as it is; any
     * other (another log's, or one whose log is not known) starts again in
     * it and takes its base: positions in another log mean nothing here. */
    *restarted = st.applied != 0 || st.base != 0;
    return set_log(s, log_id, cluster, *restarted);
}

store_status store_log_cluster(store *s, int64_t *log_id, char cluster[STORE_LOG_CLUSTER_MAX + 1])
{
    store_log_state st = {0};
    store_status status = store_log_state_read(s, &st);
    *log_id = st.log_id;
    snprintf(cluster, STORE_LOG_CLUSTER_MAX + 1, "%s", st.cluster);
    return status;
}

/* fn's changes inside an open transaction, as a changeset (sqlite3_free it). */
static store_status capture(store *s, store_tx_fn fn, void *ctx, void **entry, int *len)
{
    sqlite3_session *session = NULL;
    int rc = sqlite3session_create(s->db, "main", &session);
    if (rc == SQLITE_OK) {
        sqlite3session_table_filter(session, replicated_table, NULL);
        rc = sqlite3session_attach(session, NULL);
    }
    store_status status = rc == SQLITE_OK ? fn(s, ctx) : store_from_sqlite(rc);
    *entry = NULL;
    *len = 0;
    if (status == STORE_OK)
        status = store_from_sqlite(sqlite3session_changeset(session, len, entry));
    sqlite3session_delete(session);
    return status;
}

/* The change is made on the state after entry S, inside a transaction
 * that is rolled back; the entry comes back here through the log.  Made
 * again when another entry got in first (STORE_STALE): its outcome may
 * differ (a name taken meanwhile). */
store_status store_log_in_tx(store *s, store_tx_fn fn, void *ctx)
{
    for (int attempt = 0;; attempt++) {
        store_log_state st = {0};
        void *entry = NULL;
        int len = 0;
        store_status status = store_from_sqlite(sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
        if (status == STORE_OK)
            status = store_log_state_read(s, &st);
        if (status == STORE_OK)
            status = capture(s, fn, ctx, &entry, &len);
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        if (status == STORE_OK && len > 0)
            status = s->log.append(s->log.ctx, st.applied, entry, (size_t)len);
        sqlite3_free(entry);
        if (status != STORE_STALE)
            return status;
        if (attempt == STALE_RETRIES)
            return STORE_BUSY;
    }
}

static int abort_on_conflict(void *ctx, int conflict, sqlite3_changeset_iter *iter)
{
    (void)ctx, (void)conflict, (void)iter;
    return SQLITE_CHANGESET_ABORT;
}

store_status store_log_take(store *s, int64_t first, int64_t last, const void *data, size_t len, bool base,
                            store_log_take_fn take)
{
    store_log_state st = {0};
    store_status status = store_from_sqlite(sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (status == STORE_OK)
        status = store_log_state_read(s, &st);
    bool done = status == STORE_OK && last <= st.applied;
    /* In order; and before its base a store takes nothing but a base,
     * which may lie past entries it never saw (the log was compacted:
     * store_log_base.c). */
    bool in_order = first == st.applied + 1 || (base && st.base == 0 && first > st.applied);
    if (status == STORE_OK && !done &&
        (!in_order || last < first || len > INT32_MAX || (!base && len > 0 && st.base == 0)))
        status = STORE_CONFLICT;
    if (status == STORE_OK && !done)
        status = take(s, last, data, len);
    if (status == STORE_OK)
        status = store_from_sqlite(sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL));
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}

static store_status take_entry(store *s, int64_t last, const void *entry, size_t len)
{
    if (len > 0 && sqlite3changeset_apply(s->db, (int)len, (void *)entry, NULL, abort_on_conflict, NULL) != SQLITE_OK)
        return STORE_CONFLICT;
    sqlite3_stmt *stmt = store_prepare(s, "UPDATE log_state SET applied_seq = ?, attached = 1 WHERE id = 1");
    if (stmt)
        sqlite3_bind_int64(stmt, 1, last);
    return stmt ? store_exec_stmt(stmt) : store_from_sqlite(sqlite3_errcode(s->db));
}

store_status store_log_apply(store *s, int64_t first, int64_t last, const void *entry, size_t len)
{
    return store_log_take(s, first, last, entry, len, false, take_entry);
}
