/* Blobs: opaque (client-encrypted) content addressed by its SHA-256, in
 * chunks of STORE_BLOB_CHUNK bytes (blob_chunks). */
#include "membershipd/store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

typedef struct {
    const char *room_id;
    const uint8_t *sha256, *content;
    size_t len;
    int64_t owner_id;
    uint64_t quota;
    const store_actor *by;
    store_blob_outcome *outcome;
} put_args;

static sqlite3_stmt *prepare_for_blob(store *s, const char *sql, const char *room_id, const uint8_t sha256[32])
{
    sqlite3_stmt *stmt = store_prepare(s, sql);
    if (stmt) {
        sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(stmt, 2, sha256, 32, SQLITE_STATIC);
    }
    return stmt;
}

static store_status stored_by(store *s, int64_t owner_id, int64_t *bytes)
{
    return store_query_int_of(s, "SELECT coalesce(sum(size), 0) FROM blobs WHERE owner_id = ?", owner_id, bytes);
}

static store_status insert_chunks(store *s, const put_args *a)
{
    sqlite3_stmt *stmt = prepare_for_blob(
        s, "INSERT INTO blob_chunks (room_id, sha256, seq, data) VALUES (?, ?, ?, ?)", a->room_id, a->sha256);
    if (!stmt)
        return STORE_ERROR;
    int rc = SQLITE_DONE;
    for (size_t off = 0, seq = 0; off < a->len && rc == SQLITE_DONE; off += STORE_BLOB_CHUNK, seq++) {
        size_t n = a->len - off < STORE_BLOB_CHUNK ? a->len - off : STORE_BLOB_CHUNK;
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)seq);
        sqlite3_bind_blob(stmt, 4, a->content + off, (int)n, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? STORE_OK : store_from_sqlite(rc);
}

static store_status insert_blob(store *s, const put_args *a)
{
    sqlite3_stmt *stmt = prepare_for_blob(
        s, "INSERT INTO blobs (room_id, sha256, size, owner_id, created_at) VALUES (?, ?, ?, ?, ?)", a->room_id,
        a->sha256);
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)a->len);
    sqlite3_bind_int64(stmt, 4, a->owner_id);
    sqlite3_bind_int64(stmt, 5, store_now_ms());
    store_status status = store_exec_stmt(stmt);
    if (status == STORE_OK)
        status = insert_chunks(s, a);
    if (status == STORE_OK) {
        char hex[65], target[120];
        sodium_bin2hex(hex, sizeof hex, a->sha256, 32);
        snprintf(target, sizeof target, "room:%s/blob:%s", a->room_id, hex);
        status = store_audit_append(s, a->by, "blob.put", target, "ok");
    }
    return status;
}

static store_status put_in_tx(store *s, void *ctx)
{
    put_args *a = ctx;
    uint64_t size;
    store_status status = store_blob_size(s, a->room_id, a->sha256, &size);
    if (status == STORE_OK) {
        *a->outcome = STORE_BLOB_EXISTED;
        return STORE_OK;
    }
    if (status != STORE_NOT_FOUND)
        return status;
    int64_t used = 0;
    status = stored_by(s, a->owner_id, &used);
    if (status != STORE_OK)
        return status;
    if ((uint64_t)used > a->quota || a->len > a->quota - (uint64_t)used) {
        *a->outcome = STORE_BLOB_OVER_QUOTA;
        return STORE_OK;
    }
    *a->outcome = STORE_BLOB_CREATED;
    return insert_blob(s, a);
}

store_status store_blob_put(store *s, const char *room_id, const uint8_t sha256[32], const uint8_t *content,
                            size_t len, int64_t owner_id, uint64_t quota, const store_actor *by,
                            store_blob_outcome *outcome)
{
    put_args a = {room_id, sha256, content, len, owner_id, quota, by, outcome};
    return store_in_tx(s, put_in_tx, &a);
}

store_status store_blob_size(store *s, const char *room_id, const uint8_t sha256[32], uint64_t *size)
{
    sqlite3_stmt *stmt = prepare_for_blob(s, "SELECT size FROM blobs WHERE room_id = ? AND sha256 = ?", room_id,
                                          sha256);
    if (!stmt)
        return STORE_ERROR;
    int64_t n = 0;
    store_status status = store_query_int(stmt, &n);
    *size = (uint64_t)n;
    return status;
}

store_status store_blob_read(store *s, const char *room_id, const uint8_t sha256[32], uint64_t offset,
                             uint8_t *buf, size_t cap, size_t *n)
{
    sqlite3_stmt *stmt = prepare_for_blob(
        s, "SELECT data FROM blob_chunks WHERE room_id = ? AND sha256 = ? AND seq = ?", room_id, sha256);
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)(offset / STORE_BLOB_CHUNK));
    int rc = sqlite3_step(stmt);
    store_status status = rc == SQLITE_ROW ? STORE_OK
                        : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
    *n = 0;
    if (status == STORE_OK) {
        size_t skip = (size_t)(offset % STORE_BLOB_CHUNK), have = (size_t)sqlite3_column_bytes(stmt, 0);
        *n = skip < have ? (have - skip < cap ? have - skip : cap) : 0;
        if (*n)
            memcpy(buf, (const uint8_t *)sqlite3_column_blob(stmt, 0) + skip, *n);
    }
    sqlite3_finalize(stmt);
    return status;
}
