#include "membershipd/http/nonce_cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

/* Entries live in a ring in insertion order, so expiry always pops the
 * oldest; each is also on a hash chain for lookup.  Links hold an entry's
 * index plus one, so that 0 ends a chain and zeroed memory is a valid
 * empty table: pages are only made resident as the cache fills. */
typedef struct {
    uint8_t nonce[NONCE_BYTES];
    int64_t expires_ms;
    uint32_t next; /* hash chain link */
} entry;

struct nonce_cache {
    pthread_mutex_t lock;
    int64_t ttl_ms;
    size_t capacity, head, count; /* ring: oldest at head */
    entry *entries;
    uint32_t *chains;
    size_t nchains;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

nonce_cache *nonce_cache_new(size_t capacity, int64_t ttl_ms)
{
    nonce_cache *nc = calloc(1, sizeof *nc);
    if (!nc || capacity == 0 || capacity >= UINT32_MAX)
        return free(nc), NULL;
    /* Chains of four at capacity: lookups stay short, and the chain table
     * (touched at random, so soon resident in full) stays a tenth of the
     * entries' size. */
    nc->nchains = capacity / 4 + 1;
    nc->entries = calloc(capacity, sizeof *nc->entries);
    nc->chains = calloc(nc->nchains, sizeof *nc->chains);
    if (!nc->entries || !nc->chains) {
        nonce_cache_free(nc);
        return NULL;
    }
    pthread_mutex_init(&nc->lock, NULL);
    nc->capacity = capacity;
    nc->ttl_ms = ttl_ms;
    randombytes_buf(nc->hash_key, sizeof nc->hash_key);
    return nc;
}

void nonce_cache_free(nonce_cache *nc)
{
    if (!nc)
        return;
    if (nc->capacity)
        pthread_mutex_destroy(&nc->lock);
    free(nc->entries);
    free(nc->chains);
    free(nc);
}

static uint32_t *chain_of(nonce_cache *nc, const uint8_t nonce[NONCE_BYTES])
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, nonce, NONCE_BYTES, nc->hash_key);
    return &nc->chains[h % nc->nchains];
}

static void unlink_entry(nonce_cache *nc, uint32_t index)
{
    uint32_t *link = chain_of(nc, nc->entries[index].nonce);
    while (*link != index + 1)
        link = &nc->entries[*link - 1].next;
    *link = nc->entries[index].next;
}

static void expire(nonce_cache *nc, int64_t now_ms)
{
    while (nc->count > 0 && nc->entries[nc->head].expires_ms <= now_ms) {
        unlink_entry(nc, (uint32_t)nc->head);
        nc->head = (nc->head + 1) % nc->capacity;
        nc->count--;
    }
}

static bool contains(nonce_cache *nc, const uint8_t nonce[NONCE_BYTES])
{
    for (uint32_t link = *chain_of(nc, nonce); link; link = nc->entries[link - 1].next)
        if (memcmp(nc->entries[link - 1].nonce, nonce, NONCE_BYTES) == 0)
            return true;
    return false;
}

nonce_result nonce_cache_insert(nonce_cache *nc, const uint8_t nonce[NONCE_BYTES], int64_t now_ms)
{
    pthread_mutex_lock(&nc->lock);
    expire(nc, now_ms);
    nonce_result result = contains(nc, nonce) ? NONCE_REPLAYED
                        : nc->count == nc->capacity ? NONCE_FULL : NONCE_FRESH;
    if (result == NONCE_FRESH) {
        uint32_t index = (uint32_t)((nc->head + nc->count) % nc->capacity);
        entry *e = &nc->entries[index];
        memcpy(e->nonce, nonce, NONCE_BYTES);
        e->expires_ms = now_ms + nc->ttl_ms;
        uint32_t *chain = chain_of(nc, nonce);
        e->next = *chain;
        *chain = index + 1;
        nc->count++;
    }
    pthread_mutex_unlock(&nc->lock);
    return result;
}

size_t nonce_cache_size(nonce_cache *nc)
{
    pthread_mutex_lock(&nc->lock);
    size_t n = nc->count;
    pthread_mutex_unlock(&nc->lock);
    return n;
}
