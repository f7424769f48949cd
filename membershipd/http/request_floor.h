/*
 * Signed requests across restarts (dev/signed-requests.md, "Restarts"): the
 * nonce cache lives in memory, so a restart would let a request captured
 * in the last 30 s (or signed up to 30 s ahead) be accepted again.  The
 * store keeps a time C at or above every request time ever accepted; a
 * server refuses request times at or below the C it loaded at start.  C is
 * raised to the next whole second above a request's time, durably, before
 * that request is accepted: about one write a second under load.
 */
#ifndef MEMBERSHIPD_REQUEST_FLOOR_H
#define MEMBERSHIPD_REQUEST_FLOOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "membershipd/store/store.h"

#define REQUEST_FLOOR_STEP_MS 1000

typedef struct {
    int64_t at_start;     /* request times <= this are refused */
    atomic_llong covered; /* durable: no accepted request time is above it */
} request_floor;

store_status request_floor_load(request_floor *f, store *s);
bool request_floor_admits(const request_floor *f, int64_t time_ms);
/* Raises the stored floor over time_ms when it is not already (taking
 * store_lock to write); the request may be accepted once this returns
 * STORE_OK. */
store_status request_floor_cover(request_floor *f, store *s, pthread_mutex_t *store_lock, int64_t time_ms);

#endif
