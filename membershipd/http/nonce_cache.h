/*
 * Nonces of signed requests seen within the replay window.  Bounded: at
 * most `capacity` nonces are remembered; each for `ttl_ms` after it was
 * first seen, which covers the whole ±skew window of the request's own
 * timestamp.  When every slot holds an unexpired nonce, new nonces are
 * refused (NONCE_FULL) rather than older ones forgotten: forgetting would
 * reopen the window for replays.  Only nonces of requests whose signature
 * verified are ever inserted, so a flood of forged requests cannot fill it.
 * Thread-safe.
 */
#ifndef MEMBERSHIPD_NONCE_CACHE_H
#define MEMBERSHIPD_NONCE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define NONCE_BYTES 16

typedef struct nonce_cache nonce_cache;
typedef enum { NONCE_FRESH, NONCE_REPLAYED, NONCE_FULL } nonce_result;

nonce_cache *nonce_cache_new(size_t capacity, int64_t ttl_ms);
void nonce_cache_free(nonce_cache *nc);

/* Records nonce at now_ms (a monotonic clock) unless already present. */
nonce_result nonce_cache_insert(nonce_cache *nc, const uint8_t nonce[NONCE_BYTES], int64_t now_ms);
size_t nonce_cache_size(nonce_cache *nc);

#endif
