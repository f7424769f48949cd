/*
 * Token buckets per client IP, checked when a request starts (before its
 * body is read or its signature verified), or per key (a member's
 * changes, once her signature is).  Memory is fixed at creation:
 * a set-associative table whose least recently seen entry makes way for a
 * new IP.  IPv6 clients are keyed by their /64, since one host owns a
 * whole /64.  Thread-safe.
 */
#ifndef MEMBERSHIPD_RATELIMIT_H
#define MEMBERSHIPD_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct ratelimit ratelimit;

/* rate: tokens per second; burst: bucket size; slots: IPs tracked at once. */
ratelimit *ratelimit_new(double rate, unsigned burst, unsigned slots);
void ratelimit_free(ratelimit *rl);

/* Takes one token for addr at now_ms (a monotonic clock).  When the bucket
 * is empty returns false and sets *retry_after_s to when one will be back. */
bool ratelimit_take(ratelimit *rl, const struct sockaddr *addr, int64_t now_ms,
                    unsigned *retry_after_s);
/* The same for a bucket named by 16 bytes of the caller's choosing (the
 * first half of a user's public key: a member cannot aim hers at
 * another's). */
bool ratelimit_take_key(ratelimit *rl, const uint8_t key[16], int64_t now_ms, unsigned *retry_after_s);
/* Returns a token taken for key (the request it paid for did nothing). */
void ratelimit_give_back_key(ratelimit *rl, const uint8_t key[16]);

#endif
