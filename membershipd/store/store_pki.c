/* The bus PKI's records: the CA, issued certificates (dev/pki.md). */
#include "membershipd/store/store_pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "membershipd/store/store_internal.h"

const char *store_cert_role_name(store_cert_role role)
{
    return role == STORE_CERT_NODE ? "node" : "client";
}

bool store_cert_role_parse(const char *text, store_cert_role *out)
{
    if (strcmp(text, "node") == 0)
        *out = STORE_CERT_NODE;
    else if (strcmp(text, "client") == 0)
        *out = STORE_CERT_CLIENT;
    else
        return false;
    return true;
}

static char *column_dup(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return strdup(text ? text : "");
}

typedef struct {
    const char *trust_domain, *cert_pem;
    const uint8_t *sealed;
    size_t sealed_len;
    const store_actor *by;
} ca_put_args;

static store_status ca_put_in_tx(store *s, void *ctx)
{
    ca_put_args *a = ctx;
    int64_t existing;
    store_status status = store_query_int(store_prepare(s, "SELECT count(*) FROM ca"), &existing);
    if (status == STORE_OK && existing)
        return STORE_CONFLICT;
    sqlite3_stmt *stmt = store_prepare(s, "INSERT INTO ca (id, trust_domain, cert_pem, key_sealed, created_at) "
                                          "VALUES (1, ?, ?, ?, ?)");
    if (stmt) {
        sqlite3_bind_text(stmt, 1, a->trust_domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, a->cert_pem, -1, SQLITE_STATIC);
        sqlite3_bind_blob(stmt, 3, a->sealed, (int)a->sealed_len, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, store_now_ms());
    }
    status = store_exec_stmt(stmt);
    char target[STORE_TRUST_DOMAIN_MAX + 16];
    snprintf(target, sizeof target, "ca:%s", a->trust_domain);
    return status == STORE_OK ? store_audit_append(s, a->by, "ca.init", target, "ok") : status;
}

store_status store_ca_put(store *s, const char *trust_domain, const char *cert_pem, const uint8_t *key_sealed,
                          size_t key_sealed_len, const store_actor *by)
{
    ca_put_args a = {trust_domain, cert_pem, key_sealed, key_sealed_len, by};
    return store_in_tx(s, ca_put_in_tx, &a);
}

store_status store_ca_get(store *s, store_ca *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt = store_prepare(s, "SELECT trust_domain, cert_pem, key_sealed, created_at FROM ca");
    if (!stmt)
        return STORE_ERROR;
    int rc = sqlite3_step(stmt);
    store_status status = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
    if (rc == SQLITE_ROW) {
        snprintf(out->trust_domain, sizeof out->trust_domain, "%s", (const char *)sqlite3_column_text(stmt, 0));
        out->cert_pem = column_dup(stmt, 1);
        out->key_sealed_len = (size_t)sqlite3_column_bytes(stmt, 2);
        out->key_sealed = malloc(out->key_sealed_len ? out->key_sealed_len : 1);
        if (out->key_sealed)
            memcpy(out->key_sealed, sqlite3_column_blob(stmt, 2), out->key_sealed_len);
        out->created_ms = sqlite3_column_int64(stmt, 3);
        if (!out->cert_pem || !out->key_sealed)
            status = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    if (status != STORE_OK)
        store_ca_free(out);
    return status;
}

void store_ca_free(store_ca *ca)
{
    free(ca->cert_pem);
    free(ca->key_sealed);
    ca->cert_pem = NULL;
    ca->key_sealed = NULL;
}

#define CERT_COLUMNS "serial, name, role, dns, ip, not_before, not_after, spki_sha256, issued_at, revoked_at"

static void cert_from_row(sqlite3_stmt *stmt, store_cert *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->serial, sizeof out->serial, "%s", (const char *)sqlite3_column_text(stmt, 0));
    snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(stmt, 1));
    store_cert_role_parse((const char *)sqlite3_column_text(stmt, 2), &out->role);
    snprintf(out->dns, sizeof out->dns, "%s", (const char *)sqlite3_column_text(stmt, 3));
    snprintf(out->ip, sizeof out->ip, "%s", (const char *)sqlite3_column_text(stmt, 4));
    out->not_before_ms = sqlite3_column_int64(stmt, 5);
    out->not_after_ms = sqlite3_column_int64(stmt, 6);
    if (sqlite3_column_bytes(stmt, 7) == (int)sizeof out->spki_sha256)
        memcpy(out->spki_sha256, sqlite3_column_blob(stmt, 7), sizeof out->spki_sha256);
    out->issued_ms = sqlite3_column_int64(stmt, 8);
    out->revoked_ms = sqlite3_column_int64(stmt, 9);
}

static store_status fetch_cert(sqlite3_stmt *stmt, store_cert *out)
{
    if (!stmt)
        return STORE_ERROR;
    int rc = sqlite3_step(stmt);
    store_status status = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
    if (rc == SQLITE_ROW)
        cert_from_row(stmt, out);
    sqlite3_finalize(stmt);
    return status;
}

/* A name is one identity (spiffe://TD/ROLE/NAME): while a certificate of
 * it is valid, only `cert renew` makes another. */
static store_status name_free(store *s, const char *name)
{
    int64_t valid;
    /* Case-blind: GW1 and gw1 would read as one node to a person. */
    sqlite3_stmt *stmt = store_prepare(s, "SELECT count(*) FROM certs WHERE lower(name) = lower(?) "
                                          "AND revoked_at IS NULL AND not_after > ?");
    if (stmt) {
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, store_now_ms());
    }
    store_status status = store_query_int(stmt, &valid);
    return status == STORE_OK && valid ? STORE_DUPLICATE_NAME : status;
}

/* Inserts the row and its audit entry, inside the caller's transaction. */
store_status store_cert_insert_in_tx(store *s, const store_cert *cert, const char *cert_pem, const store_actor *by,
                                     bool renewal)
{
    store_status status = renewal ? STORE_OK : name_free(s, cert->name);
    if (status != STORE_OK)
        return status;
    sqlite3_stmt *stmt = store_prepare(s, "INSERT INTO certs (" CERT_COLUMNS ", cert_pem) "
                                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)");
    if (stmt) {
        sqlite3_bind_text(stmt, 1, cert->serial, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, cert->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, store_cert_role_name(cert->role), -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, cert->dns, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, cert->ip, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 6, cert->not_before_ms);
        sqlite3_bind_int64(stmt, 7, cert->not_after_ms);
        sqlite3_bind_blob(stmt, 8, cert->spki_sha256, sizeof cert->spki_sha256, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 9, store_now_ms());
        sqlite3_bind_text(stmt, 10, cert_pem, -1, SQLITE_STATIC);
    }
    status = store_exec_stmt(stmt);
    char target[STORE_USER_NAME_MAX + STORE_CERT_SERIAL_LEN + 16];
    snprintf(target, sizeof target, "cert:%s:%s", cert->name, cert->serial);
    return status == STORE_OK ? store_audit_append(s, by, renewal ? "cert.renew" : "cert.issue", target, "ok")
                              : status;
}

typedef struct {
    const store_cert *cert;
    const char *pem;
    const store_actor *by;
    bool renewal;
} cert_add_args;

static store_status cert_add_in_tx(store *s, void *ctx)
{
    cert_add_args *a = ctx;
    return store_cert_insert_in_tx(s, a->cert, a->pem, a->by, a->renewal);
}

store_status store_cert_add(store *s, const store_cert *cert, const char *cert_pem, bool renewal,
                            const store_actor *by)
{
    cert_add_args a = {cert, cert_pem, by, renewal};
    return store_in_tx(s, cert_add_in_tx, &a);
}

store_status store_cert_get_latest(store *s, const char *name, bool valid_only, store_cert *out)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " CERT_COLUMNS " FROM certs WHERE name = ? "
                                          "AND (revoked_at IS NULL OR NOT ?) ORDER BY issued_at DESC, rowid DESC LIMIT 1");
    if (stmt) {
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 2, valid_only);
    }
    return fetch_cert(stmt, out);
}

/* The stored form of a serial: 32 lowercase hex digits. */
static bool normalize_serial(const char *serial, char out[STORE_CERT_SERIAL_LEN + 1])
{
    size_t len = strlen(serial);
    if (len == 0 || len > STORE_CERT_SERIAL_LEN || strspn(serial, "0123456789abcdefABCDEF") != len)
        return false;
    memset(out, '0', STORE_CERT_SERIAL_LEN - len);
    for (size_t i = 0; i < len; i++)
        out[STORE_CERT_SERIAL_LEN - len + i] = (char)(serial[i] >= 'A' && serial[i] <= 'F' ? serial[i] + 32 : serial[i]);
    out[STORE_CERT_SERIAL_LEN] = '\0';
    return true;
}

store_status store_cert_get_by_serial(store *s, const char *serial, store_cert *out)
{
    char norm[STORE_CERT_SERIAL_LEN + 1];
    if (!normalize_serial(serial, norm))
        return STORE_NOT_FOUND;
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " CERT_COLUMNS " FROM certs WHERE serial = ?");
    if (stmt)
        sqlite3_bind_text(stmt, 1, norm, -1, SQLITE_TRANSIENT);
    return fetch_cert(stmt, out);
}

typedef struct {
    const char *serial;
    const store_actor *by;
} cert_revoke_args;

static store_status cert_revoke_in_tx(store *s, void *ctx)
{
    cert_revoke_args *a = ctx;
    store_cert cert;
    store_status status = store_cert_get_by_serial(s, a->serial, &cert);
    if (status != STORE_OK)
        return status;
    if (cert.revoked_ms)
        return STORE_ALREADY_REVOKED;
    sqlite3_stmt *stmt = store_prepare(s, "UPDATE certs SET revoked_at = ? WHERE serial = ?");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, store_now_ms());
        sqlite3_bind_text(stmt, 2, cert.serial, -1, SQLITE_STATIC);
    }
    status = store_exec_stmt(stmt);
    char target[STORE_USER_NAME_MAX + STORE_CERT_SERIAL_LEN + 16];
    snprintf(target, sizeof target, "cert:%s:%s", cert.name, cert.serial);
    return status == STORE_OK ? store_audit_append(s, a->by, "cert.revoke", target, "ok") : status;
}

store_status store_cert_revoke(store *s, const char *serial, const store_actor *by)
{
    cert_revoke_args a = {serial, by};
    return store_in_tx(s, cert_revoke_in_tx, &a);
}

typedef struct {
    const char *name;
    const store_actor *by;
    int *count;
} name_revoke_args;

static store_status name_revoke_in_tx(store *s, void *ctx)
{
    name_revoke_args *a = ctx;
    store_cert latest;
    store_status status = store_cert_get_latest(s, a->name, false, &latest);
    if (status != STORE_OK)
        return status;
    sqlite3_stmt *stmt = store_prepare(s, "UPDATE certs SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, store_now_ms());
        sqlite3_bind_text(stmt, 2, a->name, -1, SQLITE_STATIC);
    }
    status = store_exec_stmt(stmt);
    *a->count = status == STORE_OK ? sqlite3_changes(s->db) : 0;
    if (status == STORE_OK && *a->count == 0)
        return STORE_ALREADY_REVOKED;
    char target[STORE_USER_NAME_MAX + 32];
    snprintf(target, sizeof target, "cert:%s:all(%d)", a->name, *a->count);
    return status == STORE_OK ? store_audit_append(s, a->by, "cert.revoke", target, "ok") : status;
}

store_status store_cert_revoke_name(store *s, const char *name, const store_actor *by, int *count)
{
    name_revoke_args a = {name, by, count};
    return store_in_tx(s, name_revoke_in_tx, &a);
}

store_status store_cert_foreach(store *s, store_cert_fn fn, void *ctx)
{
    sqlite3_stmt *stmt = store_prepare(s, "SELECT " CERT_COLUMNS " FROM certs ORDER BY issued_at, rowid");
    if (!stmt)
        return STORE_ERROR;
    store_cert cert;
    store_status status = STORE_OK;
    int rc = SQLITE_DONE;
    while (status == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        cert_from_row(stmt, &cert);
        if (fn(&cert, ctx) != 0)
            status = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return status == STORE_OK ? store_from_sqlite(rc) : status;
}

typedef struct {
    int64_t now_ms;
    char (*out)[STORE_PIN_HEX_LEN + 1];
    size_t cap, n;
} pin_walk;

static int add_node_pin(const store_cert *cert, void *ctx)
{
    pin_walk *w = ctx;
    if (cert->role != STORE_CERT_NODE || cert->revoked_ms || cert->not_after_ms <= w->now_ms || w->n == w->cap)
        return 0;
    for (size_t i = 0; i < sizeof cert->spki_sha256; i++)
        snprintf(w->out[w->n] + 2 * i, 3, "%02x", cert->spki_sha256[i]);
    w->n++;
    return 0;
}

store_status store_cert_node_pins(store *s, int64_t now_ms, char (*out)[STORE_PIN_HEX_LEN + 1], size_t cap,
                                  size_t *n)
{
    pin_walk w = {now_ms, out, cap, 0};
    store_status status = store_cert_foreach(s, add_node_pin, &w);
    *n = w.n;
    return status;
}
