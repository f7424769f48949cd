/* The base of a bus log: the whole replicated state as one entry, so a
 * node whose store is empty joins by applying the log from its start
 * (store_log.h, dev/control-log.md "A node joins"). */
#include "membershipd/store/store_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLES_MAX 64
#define TABLE_NAME_MAX 64

typedef struct {
    char names[TABLES_MAX][TABLE_NAME_MAX];
    int64_t rows[TABLES_MAX];
    int columns[TABLES_MAX];
    uint64_t pk[TABLES_MAX];  /* bit i: column i is in the primary key */
    size_t n;
} table_list;

/* The table's columns and which are its primary key's, as the changeset
 * of its rows records them. */
static store_status table_shape(store *s, const char *name, int *columns, uint64_t *pk)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT pk FROM pragma_table_info(?1)");
    if (!stmt)
        return store_from_sqlite(sqlite3_errcode(s->db));
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
    int rc;
    *columns = 0;
    *pk = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*columns < 64 && sqlite3_column_int(stmt, 0) > 0)
            *pk |= UINT64_C(1) << *columns;
        ++*columns;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? STORE_OK : store_from_sqlite(rc);
}

/* The replicated tables of this schema. */
static store_status list_tables(store *s, table_list *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt = store_prepare(s, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    if (!stmt)
        return store_from_sqlite(sqlite3_errcode(s->db));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        if (!store_log_replicated(name))
            continue;
        if (out->n == TABLES_MAX || strlen(name) >= TABLE_NAME_MAX) {
            rc = SQLITE_TOOBIG;
            break;
        }
        strcpy(out->names[out->n++], name);
    }
    sqlite3_finalize(stmt);
    store_status status = rc == SQLITE_DONE ? STORE_OK : store_from_sqlite(rc);
    for (size_t i = 0; status == STORE_OK && i < out->n; i++)
        status = table_shape(s, out->names[i], &out->columns[i], &out->pk[i]);
    return status;
}

#define EMPTY_SCHEMA "log_base_empty"

/* The replicated tables again, empty, in an attached in-memory database:
 * what the session extension diffs the store against. */
static store_status attach_empty_copy(store *s, const table_list *tables)
{
    store_status status = store_from_sqlite(sqlite3_exec(s->db, "ATTACH ':memory:' AS " EMPTY_SCHEMA, NULL, NULL, NULL));
    sqlite3_stmt *stmt = status == STORE_OK ? store_prepare(s, "SELECT sql FROM main.sqlite_schema WHERE type = "
                                                                "'table' AND name = ?") : NULL;
    if (status == STORE_OK && !stmt)
        status = store_from_sqlite(sqlite3_errcode(s->db));
    for (size_t i = 0; i < tables->n && status == STORE_OK; i++) {
        sqlite3_reset(stmt);
        sqlite3_bind_text(stmt, 1, tables->names[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        /* SQLite keeps each table's text as "CREATE TABLE name ...". */
        const char *sql = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
        const char *prefix = "CREATE TABLE ";
        if (!sql || strncmp(sql, prefix, strlen(prefix)) != 0) {
            status = rc == SQLITE_ROW ? STORE_ERROR : store_from_sqlite(rc);
            break;
        }
        char *copy = sqlite3_mprintf("%s" EMPTY_SCHEMA ".%s", prefix, sql + strlen(prefix));
        status = copy ? store_from_sqlite(sqlite3_exec(s->db, copy, NULL, NULL, NULL)) : store_from_sqlite(SQLITE_NOMEM);
        sqlite3_free(copy);
    }
    sqlite3_finalize(stmt);
    return status;
}

/* Inside a read transaction, so the tables are read at one moment. */
static store_status diff_tables(store *s, const table_list *tables, void **base, int *len)
{
    sqlite3_session *session = NULL;
    int rc = sqlite3session_create(s->db, "main", &session);
    for (size_t i = 0; i < tables->n && rc == SQLITE_OK; i++) {
        rc = sqlite3session_attach(session, tables->names[i]);
        if (rc == SQLITE_OK)
            rc = sqlite3session_diff(session, EMPTY_SCHEMA, tables->names[i], NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3session_changeset(session, len, base);
    sqlite3session_delete(session);
    return store_from_sqlite(rc);
}

/* The session extension's diff against the same tables empty: the inserts
 * that make this state. */
store_status store_log_snapshot(store *s, void **base, size_t *len)
{
    table_list tables;
    int blen = 0;
    *base = NULL;
    *len = 0;
    store_status status = list_tables(s, &tables);
    if (status == STORE_OK)
        status = attach_empty_copy(s, &tables);
    if (status == STORE_OK)
        status = store_from_sqlite(sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL));
    if (status == STORE_OK)
        status = diff_tables(s, &tables, base, &blen);
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(s->db, "DETACH " EMPTY_SCHEMA, NULL, NULL, NULL);
    if (status != STORE_OK) {
        sqlite3_free(*base);
        *base = NULL;
    }
    *len = status == STORE_OK ? (size_t)blen : 0;
    return status;
}

void store_log_free(void *base)
{
    sqlite3_free(base);
}

static bool same_value(sqlite3_value *a, sqlite3_value *b)
{
    if (!a || !b)
        return false;
    int type = sqlite3_value_type(a);
    if (type != sqlite3_value_type(b))
        return false;
    if (type == SQLITE_NULL)
        return true;
    if (type == SQLITE_INTEGER)
        return sqlite3_value_int64(a) == sqlite3_value_int64(b);
    if (type == SQLITE_FLOAT)
        return sqlite3_value_double(a) == sqlite3_value_double(b);
    int n = sqlite3_value_bytes(a);
    const void *pa = type == SQLITE_TEXT ? (const void *)sqlite3_value_text(a) : sqlite3_value_blob(a);
    const void *pb = type == SQLITE_TEXT ? (const void *)sqlite3_value_text(b) : sqlite3_value_blob(b);
    return n == sqlite3_value_bytes(b) && (n == 0 || memcmp(pa, pb, (size_t)n) == 0);
}

/* A row the store holds already is passed over when it equals the base's;
 * anything else stops the base (this store is not the bus's). */
static int equal_or_abort(void *ctx, int conflict, sqlite3_changeset_iter *iter)
{
    (void)ctx;
    const char *table;
    int ncol, op, indirect;
    if (conflict != SQLITE_CHANGESET_CONFLICT || sqlite3changeset_op(iter, &table, &ncol, &op, &indirect) != SQLITE_OK)
        return SQLITE_CHANGESET_ABORT;
    for (int i = 0; i < ncol; i++) {
        sqlite3_value *held = NULL, *wanted = NULL;
        if (sqlite3changeset_conflict(iter, i, &held) != SQLITE_OK || sqlite3changeset_new(iter, i, &wanted) != SQLITE_OK ||
            !same_value(held, wanted))
            return SQLITE_CHANGESET_ABORT;
    }
    return SQLITE_CHANGESET_OMIT;
}

/* Whether the row records the table as this schema has it: every column,
 * the same primary key.  SQLite applies a changeset that records fewer
 * columns, the rest taking their defaults: a base without users.revoked_at
 * passed every check and made a later joiner's revoked users active again
 * (the sixth adversarial pass). */
static bool same_shape(sqlite3_changeset_iter *iter, int ncol, const table_list *tables, size_t i)
{
    unsigned char *pk = NULL;
    int n = 0;
    if (ncol != tables->columns[i] || ncol > 64 || sqlite3changeset_pk(iter, &pk, &n) != SQLITE_OK || n != ncol)
        return false;
    for (int c = 0; c < n; c++)
        if ((pk[c] != 0) != ((tables->pk[i] >> c) & 1))
            return false;
    return true;
}

/* How many rows the base holds for each table, each of its shape. */
static store_status count_base_rows(const void *base, size_t len, table_list *tables)
{
    sqlite3_changeset_iter *iter = NULL;
    int rc = sqlite3changeset_start(&iter, (int)len, (void *)base);
    while (rc == SQLITE_OK && sqlite3changeset_next(iter) == SQLITE_ROW) {
        const char *table;
        int ncol, op, indirect;
        rc = sqlite3changeset_op(iter, &table, &ncol, &op, &indirect);
        size_t i = 0;
        while (rc == SQLITE_OK && i < tables->n && strcmp(tables->names[i], table) != 0)
            i++;
        if (rc == SQLITE_OK && (op != SQLITE_INSERT || i == tables->n || !same_shape(iter, ncol, tables, i)))
            rc = SQLITE_MISMATCH; /* a base inserts, only into tables this schema replicates, every column */
        if (rc == SQLITE_OK)
            tables->rows[i]++;
    }
    int done = sqlite3changeset_finalize(iter);
    return store_from_sqlite(rc == SQLITE_OK ? done : rc);
}

/* Whether each replicated table holds exactly the base's rows. */
static store_status same_row_counts(store *s, const table_list *tables)
{
    for (size_t i = 0; i < tables->n; i++) {
        char sql[TABLE_NAME_MAX + 32];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", tables->names[i]);
        sqlite3_stmt *stmt = store_prepare(s, sql);
        if (!stmt)
            return store_from_sqlite(sqlite3_errcode(s->db));
        int rc = sqlite3_step(stmt);
        bool same = rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) == tables->rows[i];
        sqlite3_finalize(stmt);
        if (rc != SQLITE_ROW)
            return store_from_sqlite(rc);
        if (!same)
            return STORE_CONFLICT;
    }
    return STORE_OK;
}

/* Whether this store holds exactly the base's rows, made so where it
 * lacks them: rows it lacks are inserted, rows it holds must be equal,
 * and it may hold none the base lacks.  In the caller's transaction. */
static store_status match_base(store *s, const void *base, size_t len)
{
    table_list tables;
    store_status status = list_tables(s, &tables);
    if (status == STORE_OK && len > 0)
        status = count_base_rows(base, len, &tables) == STORE_OK ? STORE_OK : STORE_CONFLICT;
    if (status == STORE_OK && len > 0 &&
        sqlite3changeset_apply(s->db, (int)len, (void *)base, NULL, equal_or_abort, NULL) != SQLITE_OK)
        status = STORE_CONFLICT;
    return status == STORE_OK ? same_row_counts(s, &tables) : status;
}

/* A store's first base makes it based; a later one, written when the log
 * was compacted, holds the state the store has already (it is matched
 * all the same, row by row: the fifth adversarial pass had every node
 * take a forged one whose row counts agreed). */
static store_status take_base(store *s, int64_t last, const void *base, size_t len)
{
    bool based = false;
    store_status status = store_log_based(s, &based);
    if (status == STORE_OK)
        status = match_base(s, base, len);
    if (status == STORE_OK) {
        sqlite3_stmt *stmt = store_prepare(s, based ? "UPDATE log_state SET applied_seq = ?1 WHERE id = 1"
                                                    : "UPDATE log_state SET applied_seq = ?1, base_seq = ?1, "
                                                      "attached = 1 WHERE id = 1");
        if (stmt)
            sqlite3_bind_int64(stmt, 1, last);
        status = stmt ? store_exec_stmt(stmt) : store_from_sqlite(sqlite3_errcode(s->db));
    }
    return status;
}

#define CA_TABLE "ca"
#define CA_CERT_COLUMN 2 /* schema.c: id, trust_domain, cert_pem, ... */

/* The cert_pem the iterator's insert into ca holds, copied; NULL if none. */
static char *inserted_ca_pem(sqlite3_changeset_iter *iter)
{
    const char *table;
    int ncol, op, indirect;
    sqlite3_value *pem = NULL;
    if (sqlite3changeset_op(iter, &table, &ncol, &op, &indirect) != SQLITE_OK || strcmp(table, CA_TABLE) != 0 ||
        op != SQLITE_INSERT || ncol <= CA_CERT_COLUMN ||
        sqlite3changeset_new(iter, CA_CERT_COLUMN, &pem) != SQLITE_OK || !pem ||
        sqlite3_value_type(pem) != SQLITE_TEXT)
        return NULL;
    return strdup((const char *)sqlite3_value_text(pem));
}

store_status store_log_base_ca(const void *base, size_t len, char **cert_pem)
{
    *cert_pem = NULL;
    if (len == 0)
        return STORE_NOT_FOUND;
    if (len > INT32_MAX)
        return STORE_CONFLICT;
    sqlite3_changeset_iter *iter = NULL;
    int rc = sqlite3changeset_start(&iter, (int)len, (void *)base);
    while (rc == SQLITE_OK && !*cert_pem && (rc = sqlite3changeset_next(iter)) == SQLITE_ROW) {
        *cert_pem = inserted_ca_pem(iter);
        rc = SQLITE_OK;
    }
    int done = sqlite3changeset_finalize(iter);
    if (*cert_pem)
        return STORE_OK;
    return (rc == SQLITE_DONE || rc == SQLITE_OK) && done == SQLITE_OK ? STORE_NOT_FOUND : STORE_CONFLICT;
}

store_status store_log_apply_base(store *s, int64_t first, int64_t last, const void *base, size_t len)
{
    return store_log_take(s, first, last, base, len, true, take_base);
}
