/* The persisted floor of signed-request times (dev/signed-requests.md). */
#include "membershipd/store/store_internal.h"

store_status store_request_floor_get(store *s, int64_t *time_ms)
{
    return store_query_int(store_prepare(s, "SELECT time_ms FROM request_time_floor WHERE id = 1"), time_ms);
}

store_status store_request_floor_raise(store *s, int64_t time_ms)
{
    sqlite3_stmt *stmt = store_prepare(s, "UPDATE request_time_floor SET time_ms = max(time_ms, ?) WHERE id = 1");
    if (stmt)
        sqlite3_bind_int64(stmt, 1, time_ms);
    return store_exec_stmt(stmt);
}
