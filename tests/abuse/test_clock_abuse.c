/*
 * The server's wall clock jumps an hour forward, then an hour back, while
 * it runs (libfaketime, with the monotonic clock left alone, as an NTP
 * step would).  Signed requests made by a client with the true time fail
 * with a clear skew error naming the server's time; nothing else breaks:
 * unsigned routes answer, a member's data-plane traffic flows, a client
 * whose clock agrees with the server's is served, and once the clock is
 * back, so is everyone.  Nothing is written while requests are refused
 * but the audit rows of the refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "fixture.h"
#include "nats_peer.h"
#include "testutil.h"

#define HOUR_MS (3600LL * 1000)

static fixture F;
static char CLOCK_FILE[PATH_MAX + 32];

static void set_server_clock(const char *offset)
{
    FILE *f = fopen(CLOCK_FILE, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", offset);
    fclose(f);
}

/* Only the server is started with libfaketime preloaded. */
static int setup(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    test_make_temp_dir(dir);
    snprintf(CLOCK_FILE, sizeof CLOCK_FILE, "%s/clock", dir);
    FILE *f = fopen(CLOCK_FILE, "w");
    if (!f)
        return -1;
    fprintf(f, "+0\n");
    fclose(f);
    char asan[512];
    const char *was = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "%s:verify_asan_link_order=0", was ? was : "");
    char *saved = was ? strdup(was) : NULL;
    setenv("ASAN_OPTIONS", asan, 1);
    setenv("LD_PRELOAD", getenv("UNIBUS_FAKETIME_LIB"), 1);
    setenv("FAKETIME_TIMESTAMP_FILE", CLOCK_FILE, 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    /* Else libfaketime's pthread_cond_timedwait returns at once on the
     * server's monotonic condition variables. */
    setenv("FAKETIME_FORCE_MONOTONIC_FIX", "0", 1);
    int rc = fixture_start(&F, NULL);
    unsetenv("LD_PRELOAD");
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    free(saved);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A signed GET /v1/me by a client whose clock is offset_ms off the truth. */
static http_result me_with_clock(int64_t offset_ms)
{
    http_opts o = {.id = F.alice, .time_offset_ms = offset_ms};
    return fixture_call_opts(&F, &o, "GET", "/v1/me", NULL, 0);
}

static void assert_skew_refused(int64_t server_offset_ms)
{
    http_result r = me_with_clock(0);
    assert_int_equal(r.status, 401);
    assert_string_equal(http_error_code(&r), "auth_failed");
    json_t *error = json_object_get(r.json, "error");
    const char *message = json_string_value(json_object_get(error, "message"));
    assert_non_null(strstr(message, server_offset_ms > 0 ? "behind server time" : "ahead of server time"));
    assert_non_null(strstr(message, "check the client clock"));
    int64_t server_time = json_integer_value(json_object_get(error, "server_time_ms"));
    assert_true(llabs(server_time - (now_ms() + server_offset_ms)) < 60 * 1000);
    http_result_free(&r);
}

static void assert_everything_else_works(int64_t server_offset_ms, nats_peer *peer, natsSubscription *sub,
                                         const char *subject)
{
    http_result health = fixture_call(&F, NULL, "GET", "/v1/health", NULL);
    assert_int_equal(health.status, 200);
    http_result_free(&health);
    http_result agreeing = me_with_clock(server_offset_ms);
    assert_int_equal(agreeing.status, 200);
    http_result_free(&agreeing);
    assert_true(nats_peer_echoes(peer, sub, subject, "across the jump", 3000));
}

static void clock_jumps_fail_signed_requests_clearly_and_break_nothing(void **state)
{
    (void)state;
    char room[33], subject[96];
    assert_int_equal(fixture_make_room(&F, F.alice, "steady", room), 0);
    fixture_room_subject(room, subject);
    nats_peer peer;
    assert_int_equal(nats_peer_connect(&peer, F.server.nats_url, F.alice, NULL, true), NATS_OK);
    natsSubscription *sub = nats_peer_subscribe(&peer, subject);
    long audit_rows = fixture_db_count(&F, "SELECT count(*) FROM audit_log", NULL);

    const struct { const char *file; int64_t offset_ms; } jumps[] = {{"+1h", HOUR_MS}, {"-1h", -HOUR_MS}};
    for (size_t i = 0; i < 2; i++) {
        set_server_clock(jumps[i].file);
        assert_skew_refused(jumps[i].offset_ms);
        assert_everything_else_works(jumps[i].offset_ms, &peer, sub, subject);
    }
    set_server_clock("+0");
    http_result r = me_with_clock(0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(fixture_make_room(&F, F.alice, "after", room), 0);
    assert_true(nats_peer_echoes(&peer, sub, subject, "after the jumps", 3000));
    /* Each refusal is audited as denied, the room created afterwards as ok:
     * nothing else was written. */
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM audit_log", NULL), audit_rows + 3);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE outcome = ?", "denied"), 2);
    natsSubscription_Destroy(sub);
    nats_peer_close(&peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clock_jumps_fail_signed_requests_clearly_and_break_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
