/*
 * Abuse of the signed-request scheme, over the wire: floods of unique
 * nonces (forged and genuine), a storm of one replayed request, and header
 * bytes fuzzed at random.  "Nothing lost" here means: no forged request is
 * remembered or acted on, a replayed request acts once, and the server
 * answers every later genuine request.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "fixture.h"
#include "raw_socket.h"

static fixture F;
static const char *const UNLIMITED[] = {"--rate", "1000000", "--burst", "1000000", "--member-rate", "1000000",
                                         "--member-burst", "1000000", NULL};

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static long me_status(const http_opts *o)
{
    http_result r = fixture_call_opts(&F, o, "GET", "/v1/me", NULL, 0);
    long status = r.status;
    http_result_free(&r);
    return status;
}

/* Forged requests are refused before their nonce is remembered, so they
 * cannot fill the cache nor burn the nonces of a genuine client. */
static void forged_nonces_are_never_remembered(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, UNLIMITED), 0);
    enum { FORGED = 2000 };
    static char nonces[FORGED][BUSAUTH_NONCE_HEX_LEN + 1];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < FORGED; i++) {
        busauth_nonce_new(nonces[i]);
        http_opts forged = {.id = F.alice, .nonce = nonces[i], .tamper = TAMPER_SIGNATURE};
        assert_int_equal(me_status(&forged), 401);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Nor fill the disk: their audit rows come from the claimed key's own
     * budget (alice's: 1/s after a burst of 20); the rest are counted in
     * the log. */
    const char rows_sql[] = "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND action != ?";
    long rows = fixture_db_count(&F, rows_sql, "audit.suppressed");
    long budget = 20 + 1 * (t1.tv_sec - t0.tv_sec + 1);
    fprintf(stderr, "%d forged requests in %ld s: %ld audit rows (budget %ld)\n", FORGED, (long)(t1.tv_sec - t0.tv_sec),
            rows, budget);
    assert_true(rows >= 20 && rows <= budget);
    assert_true(harness_log_contains(&F.server, "msg=audit_suppressed"));
    for (int i = 0; i < FORGED; i += FORGED / 10) {
        http_opts genuine = {.id = F.alice, .nonce = nonces[i]};
        assert_int_equal(me_status(&genuine), 200);
    }
    /* And none goes unrecorded: after a clean stop, the rows plus the counts
     * in the "audit.suppressed" rows add up to every forged request. */
    assert_int_equal(harness_stop(&F.server), 0);
    long suppressed = fixture_db_count(
        &F, "SELECT total(CAST(substr(target, instr(target, ':') + 1) AS INTEGER)) FROM audit_log WHERE action = ?", "audit.suppressed");
    assert_int_equal(fixture_db_count(&F, rows_sql, "audit.suppressed") + suppressed, FORGED);
    assert_int_equal(fixture_restart(&F, UNLIMITED), 0); /* for the teardown */
}

/* Genuine requests with unique nonces: all answered, every nonce still
 * remembered (a replay of any is refused), memory bounded. */
static void a_unique_nonce_flood_stays_bounded(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, UNLIMITED), 0);
    enum { FLOOD = 4000 };
    static char nonces[FLOOD][BUSAUTH_NONCE_HEX_LEN + 1];
    long before = harness_rss_kib(&F.server);
    for (int i = 0; i < FLOOD; i++) {
        busauth_nonce_new(nonces[i]);
        http_opts o = {.id = F.alice, .nonce = nonces[i]};
        assert_int_equal(me_status(&o), 200);
    }
    long after = harness_rss_kib(&F.server);
    fprintf(stderr, "%d unique nonces: server RSS %ld -> %ld KiB\n", FLOOD, before, after);
#ifdef __SANITIZE_ADDRESS__
    (void)after; /* ASan keeps up to 256 MiB of freed memory in quarantine: RSS says nothing here */
#else
    assert_true(after - before < 4 * 1024);
#endif
    for (int i = 0; i < FLOOD; i += FLOOD / 10) {
        http_opts replay = {.id = F.alice, .nonce = nonces[i]};
        assert_int_equal(me_status(&replay), 401);
    }
}

typedef struct {
    int64_t time_ms;
    char nonce[BUSAUTH_NONCE_HEX_LEN + 1];
    int created, replayed, other;
    pthread_mutex_t lock;
} storm;

static const char STORM_BODY[] = "{\"name\":\"stormy\",\"mode\":\"cleartext\"}";

static void *replay_one(void *arg)
{
    storm *s = arg;
    for (int i = 0; i < 4; i++) {
        http_opts o = {.id = F.alice, .nonce = s->nonce, .time_ms = s->time_ms};
        http_result r = fixture_call_opts(&F, &o, "POST", "/v1/rooms", STORM_BODY, strlen(STORM_BODY));
        pthread_mutex_lock(&s->lock);
        if (r.status == 201)
            s->created++;
        else if (r.status == 401 && strcmp(http_error_code(&r), "replay_detected") == 0)
            s->replayed++;
        else
            s->other++;
        pthread_mutex_unlock(&s->lock);
        http_result_free(&r);
    }
    return NULL;
}

/* One signed request sent 64 times at once, byte for byte the same: it
 * acts once; every copy is either that one answer or replay_detected. */
static void a_replay_storm_acts_once(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, UNLIMITED), 0);
    storm s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s.time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    busauth_nonce_new(s.nonce);
    pthread_t threads[16];
    for (int i = 0; i < 16; i++)
        pthread_create(&threads[i], NULL, replay_one, &s);
    for (int i = 0; i < 16; i++)
        pthread_join(threads[i], NULL);
    fprintf(stderr, "replay storm: %d created, %d replay_detected, %d other\n", s.created, s.replayed, s.other);
    assert_int_equal(s.created, 1);
    assert_int_equal(s.replayed, 63);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms WHERE name = ?", "stormy"), 1);
}

/* Replaces one byte of one of the four signature header values: every
 * such change alters what the signature covers or its encoding.  (Bytes
 * elsewhere can be harmless: header names are case-insensitive.) */
static uint32_t mutate_value(char *headers)
{
    static const char specials[] = {'\0', '\r', '\n', ' ', ':', '\t', '\x7f', '\xff', 'A', '-', '_', '='};
    uint32_t positions[1024], count = 0;
    for (char *line = headers; *line; line = strstr(line, "\r\n") + 2)
        for (char *v = strstr(line, ": ") + 2; *v != '\r'; v++)
            positions[count++] = (uint32_t)(v - headers);
    uint32_t at = positions[randombytes_uniform(count)];
    char replacement = randombytes_uniform(2) ? specials[randombytes_uniform(sizeof specials)]
                                              : (char)(0x21 + randombytes_uniform(0x5e));
    headers[at] = headers[at] == replacement ? (char)(replacement ^ 1) : replacement;
    return at;
}

static int status_of(const char *answer)
{
    int status = 0;
    return sscanf(answer, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

/* 500 signed requests, each with one signature header byte changed: each is refused
 * with a 4xx or dropped, never served and never a server error. */
static void fuzzed_signature_headers_are_refused(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, UNLIMITED), 0);
    int refused = 0, dropped = 0;
    for (int i = 0; i < 500; i++) {
        char headers[1024], request[2048], answer[4096];
        int len = http_signed_headers(F.alice, F.server_nkey, "GET", "/v1/me", "", 0, headers, sizeof headers, NULL);
        uint32_t at = mutate_value(headers);
        int n = snprintf(request, sizeof request, "GET /v1/me HTTP/1.1\r\nHost: t\r\n");
        memcpy(request + n, headers, (size_t)len);
        memcpy(request + n + len, "\r\n", 2);
        int fd = raw_connect(F.server.port, NULL);
        raw_send(fd, request, (size_t)n + (size_t)len + 2);
        ssize_t got = raw_read(fd, answer, sizeof answer, 3000);
        close(fd);
        int status = got > 0 ? status_of(answer) : 0;
        if (status == 0)
            dropped++;
        else if (status >= 400 && status < 500)
            refused++;
        else
            fail_msg("a header changed at byte %u got status %d", at, status);
    }
    fprintf(stderr, "header fuzz: %d refused with 4xx, %d dropped by libmicrohttpd\n", refused, dropped);
    assert_int_equal(refused + dropped, 500);
    http_opts ok = {.id = F.alice};
    assert_int_equal(me_status(&ok), 200);
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
    const struct CMUnitTest tests[] = {
        T(forged_nonces_are_never_remembered),
        T(a_unique_nonce_flood_stays_bounded),
        T(a_replay_storm_acts_once),
        T(fuzzed_signature_headers_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
