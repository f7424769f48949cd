/* The audit log: appended in the writer's transaction, read oldest first. */
#include "membershipd/store/store_internal.h"

#include <stdio.h>
#include <string.h>
#include "busauth/secret.h"

#define AUDIT_TARGET_MAX 2048

typedef struct {
    const store_actor *by;
    const char *action, *target, *outcome;
} audit_args;

static store_status append_in_tx(store *s, void *ctx);

/* Inside a writer's transaction, a row of it; alone, a transaction of its
 * own, so that with a log it is an entry like any change. */
store_status store_audit_append(store *s, const store_actor *by, const char *action,
                                const char *target, const char *outcome)
{
    audit_args a = {by, action, target, outcome};
    return sqlite3_get_autocommit(s->db) ? store_in_tx(s, append_in_tx, &a) : append_in_tx(s, &a);
}

static store_status append_in_tx(store *s, void *ctx)
{
    const audit_args *a = ctx;
    const store_actor *by = a->by;
    const char *action = a->action, *target = a->target, *outcome = a->outcome;
    static const char sql[] =
        "INSERT INTO audit_log (at, actor, action, target, outcome, peer_ip, request_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)";
    /* Targets can echo what a client sent (a denied request's URL): a seed
     * pasted there by mistake must not become a permanent record. */
    char clean[AUDIT_TARGET_MAX];
    snprintf(clean, sizeof clean, "%s", target);
    busauth_redact(clean);
    sqlite3_stmt *stmt = store_prepare(s, sql);
    if (!stmt)
        return store_from_sqlite(sqlite3_errcode(s->db));
    sqlite3_bind_int64(stmt, 1, store_now_ms());
    sqlite3_bind_text(stmt, 2, by->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, clean, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, outcome, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, by->peer_ip, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, by->request_id, -1, SQLITE_STATIC);
    return store_exec_stmt(stmt);
}

static void entry_from_row(sqlite3_stmt *stmt, store_audit_entry *e)
{
    e->id = sqlite3_column_int64(stmt, 0);
    e->at_ms = sqlite3_column_int64(stmt, 1);
    e->actor = (const char *)sqlite3_column_text(stmt, 2);
    e->action = (const char *)sqlite3_column_text(stmt, 3);
    e->target = (const char *)sqlite3_column_text(stmt, 4);
    e->outcome = (const char *)sqlite3_column_text(stmt, 5);
    e->peer_ip = (const char *)sqlite3_column_text(stmt, 6);
    e->request_id = (const char *)sqlite3_column_text(stmt, 7);
}

store_status store_audit_foreach(store *s, const store_audit_filter *filter, store_audit_fn fn, void *ctx)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "SELECT id, at, actor, action, target, outcome, peer_ip, request_id FROM audit_log"
        " WHERE id > ? AND at >= ? AND (?3 IS NULL OR actor = ?3) ORDER BY id");
    if (!stmt)
        return store_from_sqlite(sqlite3_errcode(s->db));
    sqlite3_bind_int64(stmt, 1, filter->after_id);
    sqlite3_bind_int64(stmt, 2, filter->since_ms);
    sqlite3_bind_text(stmt, 3, filter->actor, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        store_audit_entry e;
        entry_from_row(stmt, &e);
        if (fn(&e, ctx) != 0)
            break;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? STORE_OK : rc == SQLITE_ROW ? STORE_ERROR : store_from_sqlite(rc);
}

store_status store_audit_last_id(store *s, int64_t *id)
{
    return store_query_int(store_prepare(s, "SELECT coalesce(max(id), 0) FROM audit_log"), id);
}
