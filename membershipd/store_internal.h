/* Shared by the store's source files only. */
#ifndef MEMBERSHIPD_STORE_INTERNAL_H
#define MEMBERSHIPD_STORE_INTERNAL_H

#include <sqlite3.h>
#include "membershipd/store.h"

struct store {
    sqlite3 *db;
};

store_status store_from_sqlite(int rc);
store_status store_tx_begin(store *s);
store_status store_tx_commit(store *s);
void store_tx_rollback(store *s);
/* Appends an audit entry inside the caller's transaction. */
store_status store_audit(store *s, const store_actor *by, const char *action,
                         const char *target, const char *outcome);

#endif
