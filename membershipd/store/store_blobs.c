/* Blobs: opaque (client-encrypted) content addressed by its SHA-256. */
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
    const store_actor *by;
    bool *created;
} put_args;

static store_status put_in_tx(store *s, void *ctx)
{
    put_args *a = ctx;
    sqlite3_stmt *stmt = store_prepare(s,
        "INSERT INTO blobs (room_id, sha256, size, owner_id, created_at, content) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (room_id, sha256) DO NOTHING");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, a->room_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 2, a->sha256, 32, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)a->len);
    sqlite3_bind_int64(stmt, 4, a->owner_id);
    sqlite3_bind_int64(stmt, 5, store_now_ms());
    if (a->len > 0)
        sqlite3_bind_blob64(stmt, 6, a->content, a->len, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(stmt, 6, 0); /* a NULL pointer would bind SQL NULL */
    store_status status = store_exec_stmt(stmt);
    *a->created = status == STORE_OK && sqlite3_changes(s->db) > 0;
    if (status == STORE_OK && *a->created) {
        char hex[65], target[120];
        sodium_bin2hex(hex, sizeof hex, a->sha256, 32);
        snprintf(target, sizeof target, "room:%s/blob:%s", a->room_id, hex);
        status = store_audit_append(s, a->by, "blob.put", target, "ok");
    }
    return status;
}

store_status store_blob_put(store *s, const char *room_id, const uint8_t sha256[32], const uint8_t *content,
                            size_t len, int64_t owner_id, const store_actor *by, bool *created)
{
    put_args a = {room_id, sha256, content, len, owner_id, by, created};
    return store_in_tx(s, put_in_tx, &a);
}

store_status store_blob_get(store *s, const char *room_id, const uint8_t sha256[32], uint8_t **content,
                            size_t *len)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT content FROM blobs WHERE room_id = ? AND sha256 = ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 2, sha256, 32, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    store_status status = rc == SQLITE_ROW ? STORE_OK
                        : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
    if (status == STORE_OK) {
        *len = (size_t)sqlite3_column_bytes(stmt, 0);
        *content = malloc(*len ? *len : 1);
        if (!*content)
            status = STORE_ERROR;
        else if (*len > 0)
            memcpy(*content, sqlite3_column_blob(stmt, 0), *len);
    }
    sqlite3_finalize(stmt);
    return status;
}
