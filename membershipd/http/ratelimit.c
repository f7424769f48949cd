#include "membershipd/http/ratelimit.h"

#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define WAYS 4

typedef struct {
    uint8_t key[16];
    bool used;
    double tokens;
    int64_t last_ms;
} bucket;

struct ratelimit {
    pthread_mutex_t lock;
    double rate;
    double burst;
    unsigned sets;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    bucket *buckets; /* sets * WAYS */
};

ratelimit *ratelimit_new(double rate, unsigned burst, unsigned slots)
{
    ratelimit *rl = calloc(1, sizeof *rl);
    unsigned sets = slots / WAYS ? slots / WAYS : 1;
    if (!rl || !(rl->buckets = calloc((size_t)sets * WAYS, sizeof *rl->buckets))) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->lock, NULL);
    rl->rate = rate;
    rl->burst = burst;
    rl->sets = sets;
    /* A keyed hash, so clients cannot aim their IPs at one set. */
    randombytes_buf(rl->hash_key, sizeof rl->hash_key);
    return rl;
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->buckets);
    free(rl);
}

static void client_key(const struct sockaddr *addr, uint8_t key[16])
{
    memset(key, 0, 16);
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            memcpy(key, in6->sin6_addr.s6_addr + 12, 4);
        else
            memcpy(key + 8, in6->sin6_addr.s6_addr, 8); /* the /64 */
    } else {
        memcpy(key, &((const struct sockaddr_in *)addr)->sin_addr, 4);
    }
}

static bucket *set_of(const ratelimit *rl, const uint8_t key[16])
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, key, 16, rl->hash_key);
    return rl->buckets + (size_t)(h % rl->sets) * WAYS;
}

static bucket *find_in(bucket *set, const uint8_t key[16])
{
    for (int i = 0; i < WAYS; i++)
        if (set[i].used && memcmp(set[i].key, key, 16) == 0)
            return &set[i];
    return NULL;
}

static bucket *find_or_evict(ratelimit *rl, const uint8_t key[16], int64_t now_ms)
{
    bucket *set = set_of(rl, key), *found = find_in(set, key), *victim = set;
    if (found)
        return found;
    for (int i = 0; i < WAYS; i++)
        if (!set[i].used || set[i].last_ms < victim->last_ms)
            victim = &set[i];
    memcpy(victim->key, key, 16);
    victim->used = true;
    victim->tokens = rl->burst;
    victim->last_ms = now_ms;
    return victim;
}

bool ratelimit_take(ratelimit *rl, const struct sockaddr *addr, int64_t now_ms,
                    unsigned *retry_after_s)
{
    uint8_t key[16];
    client_key(addr, key);
    return ratelimit_take_key(rl, key, now_ms, retry_after_s);
}

void ratelimit_give_back_key(ratelimit *rl, const uint8_t key[16])
{
    pthread_mutex_lock(&rl->lock);
    bucket *b = find_in(set_of(rl, key), key); /* evicted meanwhile: it starts full anyway */
    if (b)
        b->tokens = fmin(rl->burst, b->tokens + 1.0);
    pthread_mutex_unlock(&rl->lock);
}

bool ratelimit_take_key(ratelimit *rl, const uint8_t key[16], int64_t now_ms, unsigned *retry_after_s)
{
    pthread_mutex_lock(&rl->lock);
    bucket *b = find_or_evict(rl, key, now_ms);
    double elapsed = (double)(now_ms - b->last_ms) / 1000.0;
    b->tokens = fmin(rl->burst, b->tokens + (elapsed > 0 ? elapsed * rl->rate : 0));
    b->last_ms = now_ms;
    bool allowed = b->tokens >= 1.0;
    if (allowed)
        b->tokens -= 1.0;
    else
        *retry_after_s = (unsigned)ceil((1.0 - b->tokens) / rl->rate);
    pthread_mutex_unlock(&rl->lock);
    return allowed;
}
