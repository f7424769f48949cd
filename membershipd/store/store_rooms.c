/* Rooms, their members and their sealed keys. */
#include "membershipd/store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

/* The last column: an e2e room whose current epoch has no key yet (a
 * member left, was removed or revoked, and nobody has keyed the epoch). */
#define ROOM_COLUMNS                                                                                 \
    "rooms.id, rooms.name, rooms.mode, rooms.signed, rooms.key_epoch, rooms.owner_id, rooms.created_at," \
    " rooms.mode = 'e2e' AND NOT EXISTS (SELECT 1 FROM room_keys k"                                \
    " WHERE k.room_id = rooms.id AND k.epoch = rooms.key_epoch)"

bool store_room_id_valid(const char *id)
{
    if (strnlen(id, STORE_ROOM_ID_LEN + 1) != STORE_ROOM_ID_LEN)
        return false;
    for (size_t i = 0; i < STORE_ROOM_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

const char *store_room_mode_name(store_room_mode mode)
{
    return mode == STORE_ROOM_CLEARTEXT ? "cleartext" : "e2e";
}

static void room_from_row(sqlite3_stmt *stmt, store_room *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", (const char *)sqlite3_column_text(stmt, 0));
    snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(stmt, 1));
    out->mode = strcmp((const char *)sqlite3_column_text(stmt, 2), "cleartext") == 0
                    ? STORE_ROOM_CLEARTEXT : STORE_ROOM_E2E;
    out->signed_messages = sqlite3_column_int(stmt, 3) != 0;
    out->key_epoch = sqlite3_column_int64(stmt, 4);
    out->owner_id = sqlite3_column_int64(stmt, 5);
    out->created_ms = sqlite3_column_int64(stmt, 6);
    out->key_pending = sqlite3_column_int(stmt, 7) != 0;
}

static void room_target(char *buf, size_t len, const char *room_id)
{
    snprintf(buf, len, "room:%s", room_id);
}

static store_status audit_member(store *s, const store_actor *by, const char *action,
                                 const char *room_id, int64_t user_id)
{
    store_user user;
    store_status status = store_user_get_by_id(s, user_id, &user);
    if (status != STORE_OK)
        return status;
    char target[STORE_ROOM_ID_LEN + STORE_USER_NAME_MAX + 16];
    snprintf(target, sizeof target, "room:%s/user:%s", room_id, user.name);
    return store_audit_append(s, by, action, target, "ok");
}

store_status store_room_get(store *s, const char *room_id, store_room *out)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " ROOM_COLUMNS " FROM rooms WHERE id = ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        room_from_row(stmt, out);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
}

store_status store_room_is_member(store *s, const char *room_id, int64_t user_id, bool *member)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, user_id);
    int64_t one;
    store_status status = store_query_int(stmt, &one);
    *member = status == STORE_OK;
    return status == STORE_NOT_FOUND ? STORE_OK : status;
}

static store_status insert_member(store *s, const char *room_id, int64_t user_id)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "INSERT INTO room_members (room_id, user_id, added_at) VALUES (?, ?, ?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, user_id);
    sqlite3_bind_int64(stmt, 3, store_now_ms());
    return store_exec_stmt(stmt);
}

static store_status insert_key(store *s, const char *room_id, int64_t epoch, const store_sealed_key *k)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "INSERT INTO room_keys (room_id, epoch, user_id, sealed_key, created_at) VALUES (?, ?, ?, ?, ?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, epoch);
    sqlite3_bind_int64(stmt, 3, k->user_id);
    sqlite3_bind_blob(stmt, 4, k->sealed, (int)k->sealed_len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, store_now_ms());
    return store_exec_stmt(stmt);
}

typedef struct {
    const char *name;
    store_room_mode mode;
    bool signed_messages;
    store_sealed_key owner_key;
    unsigned max_owned;
    const store_actor *by;
    store_room *out;
} create_args;

static store_status create_in_tx(store *s, void *ctx)
{
    create_args *a = ctx;
    int64_t owned = 0;
    store_status quota = a->max_owned ? store_query_int_of(s, "SELECT count(*) FROM rooms WHERE owner_id = ?",
                                                           a->owner_key.user_id, &owned)
                                      : STORE_OK;
    if (quota != STORE_OK)
        return quota;
    if (a->max_owned && owned >= a->max_owned)
        return STORE_QUOTA;
    uint8_t raw[STORE_ROOM_ID_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    char id[STORE_ROOM_ID_LEN + 1];
    sodium_bin2hex(id, sizeof id, raw, sizeof raw);
    sqlite3_stmt *stmt = store_prepare(s,
        "INSERT INTO rooms (id, name, mode, signed, key_epoch, owner_id, created_at)"
        " VALUES (?, ?, ?, ?, 1, ?, ?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, store_room_mode_name(a->mode), -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, a->signed_messages);
    sqlite3_bind_int64(stmt, 5, a->owner_key.user_id);
    sqlite3_bind_int64(stmt, 6, store_now_ms());
    store_status status = store_exec_stmt(stmt);
    if (status == STORE_OK)
        status = insert_member(s, id, a->owner_key.user_id);
    if (status == STORE_OK && a->owner_key.sealed)
        status = insert_key(s, id, 1, &a->owner_key);
    char target[48];
    room_target(target, sizeof target, id);
    if (status == STORE_OK)
        status = store_audit_append(s, a->by, "room.create", target, "ok");
    if (status == STORE_OK)
        status = store_room_get(s, id, a->out);
    return status;
}

store_status store_room_create(store *s, const char *name, store_room_mode mode, bool signed_messages,
                               int64_t owner_id, unsigned max_owned, const uint8_t *sealed, size_t sealed_len,
                               const store_actor *by, store_room *out)
{
    create_args a = {name, mode, signed_messages, {owner_id, sealed, sealed_len}, max_owned, by, out};
    return store_in_tx(s, create_in_tx, &a);
}

store_status store_room_foreach_of_user(store *s, int64_t user_id, store_room_fn fn, void *ctx)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "SELECT " ROOM_COLUMNS " FROM rooms JOIN room_members m ON m.room_id = rooms.id"
        " WHERE m.user_id = ? ORDER BY rooms.created_at, rooms.id");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, user_id);
    store_status status = STORE_OK;
    store_room room;
    int rc;
    while (status == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        room_from_row(stmt, &room);
        if (fn(&room, ctx) != 0)
            status = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return status == STORE_OK ? store_from_sqlite(rc) : status;
}

store_status store_room_foreach_member(store *s, const char *room_id, store_user_fn fn, void *ctx)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "SELECT u.id, u.name, u.public_key, u.role, u.created_at, u.revoked_at"
        " FROM users u JOIN room_members m ON m.user_id = u.id"
        " WHERE m.room_id = ? ORDER BY m.added_at, u.id");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    return store_walk_users(stmt, fn, ctx);
}

typedef struct {
    const char *room_id;
    const store_sealed_key *key;
    int64_t epoch;
    const store_actor *by;
} add_args;

static store_status add_in_tx(store *s, void *ctx)
{
    add_args *a = ctx;
    store_room room;
    bool member = false;
    store_status status = store_room_get(s, a->room_id, &room);
    /* The new member's key is sealed from the current one: refused while
     * that epoch has no key (it would become the epoch's only key), or
     * when the sealer read another epoch. */
    if (status == STORE_OK && (room.key_pending || (a->epoch && a->epoch != room.key_epoch)))
        status = STORE_CONFLICT;
    if (status == STORE_OK)
        status = store_room_is_member(s, a->room_id, a->key->user_id, &member);
    if (status == STORE_OK && member)
        status = STORE_DUPLICATE_KEY;
    if (status == STORE_OK)
        status = insert_member(s, a->room_id, a->key->user_id);
    if (status == STORE_OK && a->key->sealed)
        status = insert_key(s, a->room_id, room.key_epoch, a->key);
    if (status == STORE_OK)
        status = audit_member(s, a->by, "room.member_add", a->room_id, a->key->user_id);
    return status;
}

store_status store_room_add_member(store *s, const char *room_id, const store_sealed_key *key, int64_t epoch,
                                   const store_actor *by)
{
    add_args a = {room_id, key, epoch, by};
    return store_in_tx(s, add_in_tx, &a);
}

store_status store_room_remove_in_tx(store *s, const char *room_id, int64_t user_id, const store_actor *by,
                                     int64_t *new_epoch)
{
    sqlite3_stmt *stmt = store_prepare(s, "DELETE FROM room_members WHERE room_id = ? AND user_id = ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, user_id);
    store_status status = store_exec_stmt(stmt);
    if (status == STORE_OK && sqlite3_changes(s->db) == 0)
        status = STORE_NOT_FOUND;
    if (status == STORE_OK) {
        stmt = store_prepare(s, "UPDATE rooms SET key_epoch = key_epoch + 1 WHERE id = ?"
                                " RETURNING key_epoch");
        if (stmt)
            sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
        status = store_query_int(stmt, new_epoch);
    }
    if (status == STORE_OK)
        status = audit_member(s, by, "room.member_remove", room_id, user_id);
    return status;
}

typedef struct {
    const char *room_id;
    int64_t user_id;
    const store_actor *by;
    int64_t *new_epoch;
} remove_args;

static store_status remove_in_tx(store *s, void *ctx)
{
    remove_args *a = ctx;
    return store_room_remove_in_tx(s, a->room_id, a->user_id, a->by, a->new_epoch);
}

store_status store_room_remove_member(store *s, const char *room_id, int64_t user_id,
                                      const store_actor *by, int64_t *new_epoch)
{
    remove_args a = {room_id, user_id, by, new_epoch};
    return store_in_tx(s, remove_in_tx, &a);
}

/* One room at a time, until none is left: each removal changes the rows a
 * cursor would walk. */
store_status store_room_remove_everywhere(store *s, int64_t user_id, const store_actor *by, size_t *rooms)
{
    *rooms = 0;
    for (;;) {
        sqlite3_stmt *stmt = store_prepare(s, "SELECT room_id FROM room_members WHERE user_id = ? LIMIT 1");
        if (!stmt)
            return STORE_ERROR;
        sqlite3_bind_int64(stmt, 1, user_id);
        int rc = sqlite3_step(stmt);
        char room_id[STORE_ROOM_ID_LEN + 1] = "";
        if (rc == SQLITE_ROW)
            snprintf(room_id, sizeof room_id, "%s", (const char *)sqlite3_column_text(stmt, 0));
        sqlite3_finalize(stmt);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? STORE_OK : store_from_sqlite(rc);
        int64_t epoch;
        store_status status = store_room_remove_in_tx(s, room_id, user_id, by, &epoch);
        if (status != STORE_OK)
            return status;
        (*rooms)++;
    }
}

typedef struct {
    const char *room_id;
    int64_t epoch;
    const store_sealed_key *keys;
    size_t n;
    const store_actor *by;
} put_args;

static store_status put_one_key(store *s, const put_args *a, const store_sealed_key *k)
{
    bool member = false;
    store_user user;
    store_status status = store_room_is_member(s, a->room_id, k->user_id, &member);
    if (status == STORE_OK && member)
        status = store_user_get_by_id(s, k->user_id, &user);
    if (status == STORE_OK && (!member || user.revoked_ms != 0))
        return STORE_CONFLICT; /* keys go to active members only */
    if (status == STORE_OK)
        status = insert_key(s, a->room_id, a->epoch, k);
    /* The same member twice (as nkey and hex, say). */
    return status == STORE_ERROR && sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_PRIMARYKEY
               ? STORE_CONFLICT : status;
}

static store_status count_active_members(store *s, const char *room_id, int64_t *n)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "SELECT count(*) FROM room_members m JOIN users u ON u.id = m.user_id"
        " WHERE m.room_id = ? AND u.revoked_at IS NULL");
    if (stmt)
        sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    return store_query_int(stmt, n);
}

/* One upload keys an epoch, for every active member at once: the first of
 * two racing rotators wins, and no member is ever left without a key. */
static store_status put_in_tx(store *s, void *ctx)
{
    put_args *a = ctx;
    store_room room;
    int64_t members = 0;
    store_status status = store_room_get(s, a->room_id, &room);
    if (status == STORE_OK && (room.key_epoch != a->epoch || !room.key_pending))
        status = STORE_CONFLICT;
    if (status == STORE_OK)
        status = count_active_members(s, a->room_id, &members);
    if (status == STORE_OK && (int64_t)a->n != members)
        status = STORE_CONFLICT;
    for (size_t i = 0; status == STORE_OK && i < a->n; i++)
        status = put_one_key(s, a, &a->keys[i]);
    char target[64];
    snprintf(target, sizeof target, "room:%s/epoch:%lld", a->room_id, (long long)a->epoch);
    if (status == STORE_OK)
        status = store_audit_append(s, a->by, "room.keys_put", target, "ok");
    return status;
}

store_status store_room_put_keys(store *s, const char *room_id, int64_t epoch,
                                 const store_sealed_key *keys, size_t n, const store_actor *by)
{
    put_args a = {room_id, epoch, keys, n, by};
    return store_in_tx(s, put_in_tx, &a);
}

store_status store_room_get_key(store *s, const char *room_id, int64_t epoch, int64_t user_id,
                                uint8_t *out, size_t cap, size_t *len)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "SELECT sealed_key FROM room_keys WHERE room_id = ? AND epoch = ? AND user_id = ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, room_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, epoch);
    sqlite3_bind_int64(stmt, 3, user_id);
    int rc = sqlite3_step(stmt);
    store_status status = rc == SQLITE_ROW ? STORE_OK
                        : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
    if (status == STORE_OK) {
        size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
        status = n <= cap ? STORE_OK : STORE_ERROR;
        if (status == STORE_OK) {
            memcpy(out, sqlite3_column_blob(stmt, 0), n);
            *len = n;
        }
    }
    sqlite3_finalize(stmt);
    return status;
}

store_status store_users_share_room(store *s, int64_t a, int64_t b, bool *share)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "SELECT 1 FROM room_members x JOIN room_members y ON x.room_id = y.room_id"
        " WHERE x.user_id = ? AND y.user_id = ? LIMIT 1");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, a);
    sqlite3_bind_int64(stmt, 2, b);
    int64_t one;
    store_status status = store_query_int(stmt, &one);
    *share = status == STORE_OK;
    return status == STORE_NOT_FOUND ? STORE_OK : status;
}

int64_t store_data_version(store *s)
{
    int64_t version = -1;
    store_query_int(store_prepare(s, "PRAGMA data_version"), &version);
    return version;
}

store_status store_active_memberships(store *s, store_member_fn fn, void *ctx)
{
    sqlite3_stmt *stmt = store_prepare(s,
        "SELECT u.public_key, m.room_id FROM users u LEFT JOIN room_members m ON m.user_id = u.id"
        " WHERE u.revoked_at IS NULL ORDER BY u.id, m.room_id");
    if (!stmt)
        return STORE_ERROR;
    store_status status = STORE_OK;
    int rc = SQLITE_DONE;
    while (status == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(stmt, 0) != BUSAUTH_KEY_BYTES)
            continue;
        if (fn(sqlite3_column_blob(stmt, 0), (const char *)sqlite3_column_text(stmt, 1), ctx) != 0)
            status = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return status == STORE_OK ? store_from_sqlite(rc) : status;
}
