/* The user allowlist. */
#include "membershipd/store/store_internal.h"

#include <stdio.h>
#include <string.h>

#define USER_COLUMNS "id, name, public_key, role, created_at, revoked_at"

static bool name_char_ok(char c, bool first)
{
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return alnum || (!first && (c == '.' || c == '_' || c == '-'));
}

bool store_user_name_valid(const char *name)
{
    size_t len = strnlen(name, STORE_USER_NAME_MAX + 1);
    if (len == 0 || len > STORE_USER_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok(name[i], i == 0))
            return false;
    uint8_t key[BUSAUTH_KEY_BYTES];
    return !busauth_nkey_is_wellformed(name) && busauth_pubkey_parse(name, key) != BUSAUTH_OK;
}

const char *store_role_name(store_role role)
{
    return role == STORE_ROLE_ADMIN ? "admin" : "member";
}

static void user_from_row(sqlite3_stmt *stmt, store_user *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(stmt, 0);
    snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(stmt, 1));
    if (sqlite3_column_bytes(stmt, 2) == BUSAUTH_KEY_BYTES)
        memcpy(out->public_key, sqlite3_column_blob(stmt, 2), BUSAUTH_KEY_BYTES);
    out->role = strcmp((const char *)sqlite3_column_text(stmt, 3), "admin") == 0
                    ? STORE_ROLE_ADMIN : STORE_ROLE_MEMBER;
    out->created_ms = sqlite3_column_int64(stmt, 4);
    out->revoked_ms = sqlite3_column_int64(stmt, 5);
}

/* Steps a single-row lookup; fills out when a row comes back. */
static store_status step_user(sqlite3_stmt *stmt, store_user *out)
{
    int rc = sqlite3_step(stmt);
    store_status status = rc == SQLITE_ROW ? STORE_OK
                        : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
    if (rc == SQLITE_ROW)
        user_from_row(stmt, out);
    return status;
}

/* Runs a prepared single-row lookup and finalizes it. */
static store_status fetch_user(sqlite3_stmt *stmt, store_user *out)
{
    store_status status = step_user(stmt, out);
    sqlite3_finalize(stmt);
    return status;
}

store_status store_user_get_by_name(store *s, const char *name, store_user *out)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(s->db, "SELECT " USER_COLUMNS " FROM users WHERE name = ?",
                                -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_from_sqlite(rc);
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    return fetch_user(stmt, out);
}

store_status store_user_get_by_key(store *s, const uint8_t public_key[BUSAUTH_KEY_BYTES],
                                   store_user *out)
{
    if (!s->user_by_key) {
        int rc = sqlite3_prepare_v3(s->db, "SELECT " USER_COLUMNS " FROM users WHERE public_key = ?", -1,
                                    SQLITE_PREPARE_PERSISTENT, &s->user_by_key, NULL);
        if (rc != SQLITE_OK)
            return store_from_sqlite(rc);
    }
    sqlite3_bind_blob(s->user_by_key, 1, public_key, BUSAUTH_KEY_BYTES, SQLITE_STATIC);
    store_status status = step_user(s->user_by_key, out);
    /* Reset at once: a statement left stepped would hold its read transaction open. */
    sqlite3_reset(s->user_by_key);
    sqlite3_clear_bindings(s->user_by_key);
    return status;
}

store_status store_user_get_by_id(store *s, int64_t id, store_user *out)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(s->db, "SELECT " USER_COLUMNS " FROM users WHERE id = ?",
                                -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_from_sqlite(rc);
    sqlite3_bind_int64(stmt, 1, id);
    return fetch_user(stmt, out);
}

/* Inside the write transaction, so the answer cannot change before the insert. */
static store_status check_unique(store *s, const char *name, const uint8_t *public_key)
{
    store_user existing;
    store_status status = store_user_get_by_name(s, name, &existing);
    if (status != STORE_NOT_FOUND)
        return status == STORE_OK ? STORE_DUPLICATE_NAME : status;
    status = store_user_get_by_key(s, public_key, &existing);
    if (status != STORE_NOT_FOUND)
        return status == STORE_OK ? STORE_DUPLICATE_KEY : status;
    return STORE_OK;
}

static store_status insert_user(store *s, const char *name, const uint8_t *public_key,
                                store_role role)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(s->db,
        "INSERT INTO users (name, public_key, role, created_at) VALUES (?, ?, ?, ?)",
        -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_from_sqlite(rc);
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 2, public_key, BUSAUTH_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, store_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, store_now_ms());
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return store_from_sqlite(rc);
}

static void user_target(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "user:%s", name);
}

typedef struct {
    const char *name;
    const uint8_t *public_key;
    store_role role;
    const store_actor *by;
} add_args;

static store_status add_in_tx(store *s, void *ctx)
{
    add_args *a = ctx;
    char target[STORE_USER_NAME_MAX + 8];
    user_target(target, sizeof target, a->name);
    store_status status = check_unique(s, a->name, a->public_key);
    if (status == STORE_OK)
        status = insert_user(s, a->name, a->public_key, a->role);
    if (status == STORE_OK)
        status = store_audit_append(s, a->by, a->role == STORE_ROLE_ADMIN ? "user.add_admin" : "user.add",
                             target, "ok");
    return status;
}

store_status store_user_add_in_tx(store *s, const char *name, const uint8_t public_key[BUSAUTH_KEY_BYTES],
                                  store_role role, const store_actor *by)
{
    if (!store_user_name_valid(name))
        return STORE_INVALID_NAME;
    add_args a = {name, public_key, role, by};
    return add_in_tx(s, &a);
}

store_status store_user_add(store *s, const char *name,
                            const uint8_t public_key[BUSAUTH_KEY_BYTES],
                            store_role role, const store_actor *by)
{
    if (!store_user_name_valid(name))
        return STORE_INVALID_NAME;
    add_args a = {name, public_key, role, by};
    return store_in_tx(s, add_in_tx, &a);
}

static store_status mark_revoked(store *s, const store_user *user, const store_actor *by)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(s->db,
        "UPDATE users SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_from_sqlite(rc);
    sqlite3_bind_int64(stmt, 1, store_now_ms());
    sqlite3_bind_int64(stmt, 2, user->id);
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return store_from_sqlite(rc);
    char target[STORE_USER_NAME_MAX + 8];
    user_target(target, sizeof target, user->name);
    return store_audit_append(s, by, "user.revoke", target, "ok");
}

typedef struct {
    int64_t user_id;
    const store_actor *by;
    size_t *rooms;
} revoke_args;

/* Revoked and out of every room in one transaction: no moment when a
 * revoked user still holds a place (and a key to come) in a room. */
static store_status revoke_in_tx(store *s, void *ctx)
{
    revoke_args *a = ctx;
    store_user user;
    store_status status = store_user_get_by_id(s, a->user_id, &user);
    bool was_revoked = status == STORE_OK && user.revoked_ms != 0;
    if (status == STORE_OK && !was_revoked)
        status = mark_revoked(s, &user, a->by);
    if (status == STORE_OK)
        status = store_room_remove_everywhere(s, a->user_id, a->by, a->rooms);
    if (status == STORE_OK && was_revoked && *a->rooms == 0)
        status = STORE_ALREADY_REVOKED;
    return status;
}

store_status store_user_revoke(store *s, int64_t user_id, const store_actor *by, size_t *rooms)
{
    size_t ignored;
    revoke_args a = {user_id, by, rooms ? rooms : &ignored};
    return store_in_tx(s, revoke_in_tx, &a);
}

store_status store_walk_users(sqlite3_stmt *stmt, store_user_fn fn, void *ctx)
{
    store_user user;
    store_status status = STORE_OK;
    int rc = SQLITE_DONE;
    while (status == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        user_from_row(stmt, &user);
        if (fn(&user, ctx) != 0)
            status = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return status == STORE_OK ? store_from_sqlite(rc) : status;
}

store_status store_user_foreach(store *s, store_user_fn fn, void *ctx)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " USER_COLUMNS " FROM users ORDER BY id");
    return stmt ? store_walk_users(stmt, fn, ctx) : STORE_ERROR;
}
