/* Shared by the store's source files only. */
#ifndef MEMBERSHIPD_STORE_INTERNAL_H
#define MEMBERSHIPD_STORE_INTERNAL_H

#include <sqlite3.h>
#include "membershipd/store/store.h"
#include "membershipd/store/store_log.h"

struct store {
    sqlite3 *db;
    store_log_writer log;       /* append NULL: changes are committed here directly */
    sqlite3_stmt *user_by_key;  /* prepared once: every signed request looks its caller up */
};

store_status store_from_sqlite(int rc);
/* sqlite3_prepare_v2, or NULL (the error is in sqlite3_errmsg). */
sqlite3_stmt *store_prepare(store *s, const char *sql);
/* Steps a statement that returns no rows and finalizes it. */
store_status store_exec_stmt(sqlite3_stmt *stmt);
/* Steps a statement that returns one integer and finalizes it;
 * STORE_NOT_FOUND when it returns no row. */
store_status store_query_int(sqlite3_stmt *stmt, int64_t *out);
/* The same for sql with one integer parameter, bound to id. */
store_status store_query_int_of(store *s, const char *sql, int64_t id, int64_t *out);
/* Runs fn inside BEGIN IMMEDIATE ... COMMIT; rolls back when fn fails. */
typedef store_status (*store_tx_fn)(store *s, void *ctx);
store_status store_in_tx(store *s, store_tx_fn fn, void *ctx);
/* store_in_tx when a log writer is set (store_log.c). */
store_status store_log_in_tx(store *s, store_tx_fn fn, void *ctx);
/* Calls fn for each user row (USER_COLUMNS order) of stmt, then
 * finalizes it. */
store_status store_walk_users(sqlite3_stmt *stmt, store_user_fn fn, void *ctx);
/* store_room_remove_member inside the caller's transaction. */
store_status store_room_remove_in_tx(store *s, const char *room_id, int64_t user_id, const store_actor *by,
                                     int64_t *new_epoch);
/* Removes user_id from every room it is in (inside the caller's
 * transaction); *rooms says how many. */
store_status store_room_remove_everywhere(store *s, int64_t user_id, const store_actor *by, size_t *rooms);
/* Records an issued certificate and its audit entry, inside the caller's
 * transaction (store_pki.c). */
struct store_cert;
store_status store_cert_insert_in_tx(store *s, const struct store_cert *cert, const char *cert_pem,
                                     const store_actor *by, bool renewal);
/* store_user_add inside the caller's transaction. */
store_status store_user_add_in_tx(store *s, const char *name, const uint8_t public_key[BUSAUTH_KEY_BYTES],
                                  store_role role, const store_actor *by);
/* The bus log's local state (store_log.c). */
typedef struct {
    int64_t applied, base, log_id;
    bool attached;
    char cluster[STORE_LOG_CLUSTER_MAX + 1];
} store_log_state;
store_status store_log_state_read(store *s, store_log_state *st);
/* Takes the log messages first..last in one transaction with their
 * sequence, through take (which applies data and moves applied_seq to
 * last): a no-op once applied; STORE_CONFLICT out of order, or a base
 * where none may come (base) or an entry before the base (!base). */
typedef store_status (*store_log_take_fn)(store *s, int64_t last, const void *data, size_t len);
store_status store_log_take(store *s, int64_t first, int64_t last, const void *data, size_t len, bool base,
                            store_log_take_fn take);
/* Whether a table's rows travel in the log (not the node's own state). */
bool store_log_replicated(const char *table);
#endif
