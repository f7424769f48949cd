#include "membershipd/http/request_floor.h"

store_status request_floor_load(request_floor *f, store *s)
{
    int64_t floor = 0;
    store_status status = store_request_floor_get(s, &floor);
    f->at_start = floor;
    atomic_store(&f->covered, floor);
    return status;
}

bool request_floor_admits(const request_floor *f, int64_t time_ms)
{
    return time_ms > f->at_start;
}

store_status request_floor_cover(request_floor *f, store *s, pthread_mutex_t *store_lock, int64_t time_ms)
{
    if (time_ms <= atomic_load(&f->covered))
        return STORE_OK;
    /* A whole step ahead, so requests within the same second need no write. */
    int64_t raised = time_ms - time_ms % REQUEST_FLOOR_STEP_MS + REQUEST_FLOOR_STEP_MS;
    pthread_mutex_lock(store_lock);
    store_status status = STORE_OK;
    if (time_ms > atomic_load(&f->covered)) {
        status = store_request_floor_raise(s, raised);
        if (status == STORE_OK)
            atomic_store(&f->covered, raised);
    }
    pthread_mutex_unlock(store_lock);
    return status;
}
