/* Join tokens: only the public half of their key, spent once (dev/pki.md). */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "membershipd/store/store_internal.h"
#include "membershipd/store/store_pki.h"

#define TOKEN_COLUMNS "token_key, role, name, dns, ip, created_at, expires_at, used_at, used_by, revoked_at"

const char *store_token_role_name(store_token_role role)
{
    return role == STORE_TOKEN_NODE ? "node" : "member";
}

bool store_token_role_parse(const char *text, store_token_role *out)
{
    if (strcmp(text, "node") == 0)
        *out = STORE_TOKEN_NODE;
    else if (strcmp(text, "member") == 0)
        *out = STORE_TOKEN_MEMBER;
    else
        return false;
    return true;
}

const char *store_redeem_outcome_name(store_redeem_outcome outcome)
{
    static const char *const names[] = {"ok", "unknown", "used", "expired", "revoked", "wrong_role", "taken"};
    return names[outcome];
}

static const char *text_at(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text ? text : "";
}

static void token_from_row(sqlite3_stmt *stmt, store_token *out)
{
    memset(out, 0, sizeof *out);
    if (sqlite3_column_bytes(stmt, 0) == (int)sizeof out->key)
        memcpy(out->key, sqlite3_column_blob(stmt, 0), sizeof out->key);
    store_token_role_parse(text_at(stmt, 1), &out->role);
    snprintf(out->name, sizeof out->name, "%s", text_at(stmt, 2));
    snprintf(out->dns, sizeof out->dns, "%s", text_at(stmt, 3));
    snprintf(out->ip, sizeof out->ip, "%s", text_at(stmt, 4));
    out->created_ms = sqlite3_column_int64(stmt, 5);
    out->expires_ms = sqlite3_column_int64(stmt, 6);
    out->used_ms = sqlite3_column_int64(stmt, 7);
    snprintf(out->used_by, sizeof out->used_by, "%s", text_at(stmt, 8));
    out->revoked_ms = sqlite3_column_int64(stmt, 9);
}

/* "token:<first 16 hex of the token key>": enough to tell tokens apart in
 * the audit log, nothing towards the token itself. */
static void token_target(const uint8_t key[32], char out[32])
{
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, key, 32);
    snprintf(out, 32, "token:%.16s", hex);
}

typedef struct {
    const store_token *token;
    const store_actor *by;
} token_add_args;

static store_status token_add_in_tx(store *s, void *ctx)
{
    token_add_args *a = ctx;
    const store_token *t = a->token;
    sqlite3_stmt *stmt = store_prepare(s, "INSERT INTO join_tokens (token_key, role, name, dns, ip, created_at, expires_at) "
                                          "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (stmt) {
        sqlite3_bind_blob(stmt, 1, t->key, sizeof t->key, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, store_token_role_name(t->role), -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, t->dns, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, t->ip, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 6, t->created_ms);
        sqlite3_bind_int64(stmt, 7, t->expires_ms);
    }
    store_status status = store_exec_stmt(stmt);
    char target[32];
    token_target(t->key, target);
    return status == STORE_OK ? store_audit_append(s, a->by, "token.create", target, "ok") : status;
}

store_status store_token_add(store *s, const store_token *token, const store_actor *by)
{
    token_add_args a = {token, by};
    return store_in_tx(s, token_add_in_tx, &a);
}

store_status store_token_get(store *s, const uint8_t key[32], store_token *out)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " TOKEN_COLUMNS " FROM join_tokens WHERE token_key = ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_blob(stmt, 1, key, 32, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    store_status status = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
    if (rc == SQLITE_ROW)
        token_from_row(stmt, out);
    sqlite3_finalize(stmt);
    /* The lookup went by an index; the comparison that decides is constant-time. */
    if (status == STORE_OK && sodium_memcmp(out->key, key, 32) != 0)
        status = STORE_NOT_FOUND;
    return status;
}

store_status store_token_foreach(store *s, store_token_fn fn, void *ctx)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " TOKEN_COLUMNS " FROM join_tokens ORDER BY created_at, token_key");
    if (!stmt)
        return STORE_ERROR;
    store_token token;
    store_status status = STORE_OK;
    int rc = SQLITE_DONE;
    while (status == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        token_from_row(stmt, &token);
        if (fn(&token, ctx) != 0)
            status = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return status == STORE_OK ? store_from_sqlite(rc) : status;
}

typedef struct {
    const char *prefix;
    const store_actor *by;
} token_revoke_args;

static store_status token_revoke_in_tx(store *s, void *ctx)
{
    token_revoke_args *a = ctx;
    size_t len = strlen(a->prefix);
    if (len < 8 || len > 64 || strspn(a->prefix, "0123456789abcdef") != len)
        return STORE_NOT_FOUND;
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " TOKEN_COLUMNS " FROM join_tokens WHERE substr(lower(hex(token_key)), 1, ?) = ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int(stmt, 1, (int)len);
    sqlite3_bind_text(stmt, 2, a->prefix, -1, SQLITE_STATIC);
    store_token token;
    int rows = 0, rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && ++rows == 1)
        token_from_row(stmt, &token);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_from_sqlite(rc);
    if (rows != 1)
        return rows == 0 ? STORE_NOT_FOUND : STORE_CONFLICT;
    if (token.revoked_ms)
        return STORE_ALREADY_REVOKED;
    stmt = store_prepare(s, "UPDATE join_tokens SET revoked_at = ? WHERE token_key = ?");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, store_now_ms());
        sqlite3_bind_blob(stmt, 2, token.key, sizeof token.key, SQLITE_STATIC);
    }
    store_status status = store_exec_stmt(stmt);
    char target[32];
    token_target(token.key, target);
    return status == STORE_OK ? store_audit_append(s, a->by, "token.revoke", target, "ok") : status;
}

store_status store_token_revoke(store *s, const char *id_prefix, const store_actor *by)
{
    token_revoke_args a = {id_prefix, by};
    return store_in_tx(s, token_revoke_in_tx, &a);
}

static store_redeem_outcome judge(store_status found, const store_token *t, store_token_role role, int64_t now)
{
    if (found == STORE_NOT_FOUND)
        return STORE_REDEEM_UNKNOWN;
    if (t->revoked_ms)
        return STORE_REDEEM_REVOKED;
    if (t->used_ms)
        return STORE_REDEEM_USED;
    if (now >= t->expires_ms)
        return STORE_REDEEM_EXPIRED;
    return t->role == role ? STORE_REDEEM_OK : STORE_REDEEM_WRONG_ROLE;
}

store_status store_token_check(store *s, const uint8_t key[32], store_token_role role, store_token *out,
                               store_redeem_outcome *outcome)
{
    store_status status = store_token_get(s, key, out);
    if (status != STORE_OK && status != STORE_NOT_FOUND)
        return status;
    *outcome = judge(status, out, role, store_now_ms());
    return STORE_OK;
}

static store_status spend(store *s, const uint8_t key[32], const char *used_by, const store_actor *by)
{
    sqlite3_stmt *stmt = store_prepare(s, "UPDATE join_tokens SET used_at = ?, used_by = ? WHERE token_key = ?");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, store_now_ms());
        sqlite3_bind_text(stmt, 2, used_by, -1, SQLITE_STATIC);
        sqlite3_bind_blob(stmt, 3, key, 32, SQLITE_STATIC);
    }
    store_status status = store_exec_stmt(stmt);
    char target[32];
    token_target(key, target);
    return status == STORE_OK ? store_audit_append(s, by, "token.use", target, "ok") : status;
}

typedef struct {
    const uint8_t *key;
    store_token_role role;
    const uint8_t *public_key;
    const store_cert *cert;
    const char *cert_pem;
    const store_actor *by;
    store_redeem_outcome *outcome;
} redeem_args;

/* Judged again inside the write transaction: of two joins racing for one
 * token, the second sees it spent. */
static store_status redeem_in_tx(store *s, void *ctx)
{
    redeem_args *a = ctx;
    store_token token;
    store_status status = store_token_check(s, a->key, a->role, &token, a->outcome);
    if (status != STORE_OK || *a->outcome != STORE_REDEEM_OK)
        return status;
    const char *name = a->role == STORE_TOKEN_MEMBER ? token.name : a->cert->name;
    status = spend(s, a->key, name, a->by);
    if (status == STORE_OK && a->role == STORE_TOKEN_MEMBER)
        status = store_user_add_in_tx(s, name, a->public_key, STORE_ROLE_MEMBER, a->by);
    if (status == STORE_OK && a->role == STORE_TOKEN_NODE)
        status = store_cert_insert_in_tx(s, a->cert, a->cert_pem, a->by, false);
    if (status == STORE_DUPLICATE_NAME || status == STORE_DUPLICATE_KEY || status == STORE_INVALID_NAME) {
        *a->outcome = STORE_REDEEM_TAKEN;
        return STORE_CONFLICT; /* rolls the spend back */
    }
    return status;
}

static store_status redeem(redeem_args *a, store *s)
{
    store_status status = store_in_tx(s, redeem_in_tx, a);
    return status == STORE_CONFLICT && *a->outcome == STORE_REDEEM_TAKEN ? STORE_OK : status;
}

store_status store_token_redeem_member(store *s, const uint8_t key[32], const uint8_t public_key[BUSAUTH_KEY_BYTES],
                                       const store_actor *by, store_redeem_outcome *outcome)
{
    redeem_args a = {.key = key, .role = STORE_TOKEN_MEMBER, .public_key = public_key, .by = by,
                     .outcome = outcome};
    return redeem(&a, s);
}

store_status store_token_redeem_node(store *s, const uint8_t key[32], const store_cert *cert,
                                     const char *cert_pem, const store_actor *by, store_redeem_outcome *outcome)
{
    redeem_args a = {.key = key, .role = STORE_TOKEN_NODE, .cert = cert, .cert_pem = cert_pem, .by = by,
                     .outcome = outcome};
    return redeem(&a, s);
}
