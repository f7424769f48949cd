/* The nonce cache and the rate limiter: bounded whatever clients send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <sodium.h>
#include "membershipd/http/nonce_cache.h"
#include "membershipd/http/ratelimit.h"

static void nonce(uint8_t out[NONCE_BYTES], uint32_t i)
{
    memset(out, 0, NONCE_BYTES);
    memcpy(out, &i, sizeof i);
}

static void detects_replays_within_the_window(void **state)
{
    (void)state;
    nonce_cache *nc = nonce_cache_new(100, 61000);
    uint8_t n[NONCE_BYTES];
    nonce(n, 1);
    assert_int_equal(nonce_cache_insert(nc, n, 0), NONCE_FRESH);
    assert_int_equal(nonce_cache_insert(nc, n, 30000), NONCE_REPLAYED);
    assert_int_equal(nonce_cache_insert(nc, n, 60999), NONCE_REPLAYED);
    assert_int_equal(nonce_cache_insert(nc, n, 61000), NONCE_FRESH); /* expired, then seen anew */
    nonce_cache_free(nc);
}

static void stays_bounded_under_a_flood_of_unique_nonces(void **state)
{
    (void)state;
    enum { CAP = 1000 };
    nonce_cache *nc = nonce_cache_new(CAP, 61000);
    uint8_t n[NONCE_BYTES];
    int full = 0;
    for (uint32_t i = 0; i < 50000; i++) {
        nonce(n, i);
        full += nonce_cache_insert(nc, n, i / 100) == NONCE_FULL;
        assert_true(nonce_cache_size(nc) <= CAP);
    }
    assert_int_equal(full, 50000 - CAP);
    /* Refusing, not forgetting: the first nonces are still known. */
    nonce(n, 0);
    assert_int_equal(nonce_cache_insert(nc, n, 600), NONCE_REPLAYED);
    /* Once they expire, room comes back. */
    nonce(n, 999999);
    assert_int_equal(nonce_cache_insert(nc, n, 61000 + 600), NONCE_FRESH);
    assert_true(nonce_cache_size(nc) <= CAP);
    nonce_cache_free(nc);
}

static void expiry_keeps_the_ring_consistent(void **state)
{
    (void)state;
    nonce_cache *nc = nonce_cache_new(64, 100);
    uint8_t n[NONCE_BYTES];
    for (uint32_t i = 0; i < 10000; i++) {
        nonce(n, i);
        assert_int_equal(nonce_cache_insert(nc, n, (int64_t)i * 10), NONCE_FRESH);
        if (i > 0) {
            nonce(n, i - 1);
            assert_int_equal(nonce_cache_insert(nc, n, (int64_t)i * 10), NONCE_REPLAYED);
        }
    }
    assert_true(nonce_cache_size(nc) <= 11);
    nonce_cache_free(nc);
}

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static void buckets_refill_at_the_rate(void **state)
{
    (void)state;
    ratelimit *rl = ratelimit_new(2.0, 4, 64);
    struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
    unsigned retry = 0;
    for (int i = 0; i < 4; i++)
        assert_true(ratelimit_take(rl, (struct sockaddr *)&a, 1000, &retry));
    assert_false(ratelimit_take(rl, (struct sockaddr *)&a, 1000, &retry));
    assert_int_equal(retry, 1);
    assert_true(ratelimit_take(rl, (struct sockaddr *)&b, 1000, &retry)); /* others unaffected */
    assert_true(ratelimit_take(rl, (struct sockaddr *)&a, 1500, &retry)); /* one token per 500 ms */
    assert_false(ratelimit_take(rl, (struct sockaddr *)&a, 1500, &retry));
    ratelimit_free(rl);
}

static void ipv6_clients_are_keyed_by_their_64(void **state)
{
    (void)state;
    ratelimit *rl = ratelimit_new(1.0, 2, 64);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6}, b = a;
    inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &b.sin6_addr);
    unsigned retry;
    assert_true(ratelimit_take(rl, (struct sockaddr *)&a, 0, &retry));
    assert_true(ratelimit_take(rl, (struct sockaddr *)&b, 0, &retry));
    assert_false(ratelimit_take(rl, (struct sockaddr *)&a, 0, &retry)); /* same /64, one bucket */
    ratelimit_free(rl);
}

static void a_full_table_makes_way_for_new_ips(void **state)
{
    (void)state;
    ratelimit *rl = ratelimit_new(1.0, 1, 256);
    unsigned retry;
    for (uint32_t i = 0; i < 100000; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000 + i)};
        assert_true(ratelimit_take(rl, (struct sockaddr *)&a, i, &retry));
    }
    ratelimit_free(rl);
}

/* A member's bucket: a token given back (a change the server failed) can
 * be taken again, never past the burst, and one for a key no longer in the
 * table changes nothing. */
static void a_token_given_back_is_there_again(void **state)
{
    (void)state;
    ratelimit *rl = ratelimit_new(0.01, 2, 4);
    uint8_t alice[16] = {1}, bob[16] = {2};
    unsigned retry;
    assert_true(ratelimit_take_key(rl, alice, 1000, &retry));
    assert_true(ratelimit_take_key(rl, alice, 1000, &retry));
    assert_false(ratelimit_take_key(rl, alice, 1000, &retry));
    ratelimit_give_back_key(rl, alice);
    assert_true(ratelimit_take_key(rl, alice, 1000, &retry));
    assert_false(ratelimit_take_key(rl, alice, 1000, &retry));
    for (int i = 0; i < 5; i++)
        ratelimit_give_back_key(rl, alice);
    assert_true(ratelimit_take_key(rl, alice, 1000, &retry));
    assert_true(ratelimit_take_key(rl, alice, 1000, &retry));
    assert_false(ratelimit_take_key(rl, alice, 1000, &retry)); /* the burst, not 5 */
    ratelimit_give_back_key(rl, bob); /* never seen */
    assert_true(ratelimit_take_key(rl, bob, 1000, &retry));
    ratelimit_free(rl);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(detects_replays_within_the_window),
        cmocka_unit_test(stays_bounded_under_a_flood_of_unique_nonces),
        cmocka_unit_test(expiry_keeps_the_ring_consistent),
        cmocka_unit_test(buckets_refill_at_the_rate),
        cmocka_unit_test(ipv6_clients_are_keyed_by_their_64),
        cmocka_unit_test(a_full_table_makes_way_for_new_ips),
        cmocka_unit_test(a_token_given_back_is_there_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
