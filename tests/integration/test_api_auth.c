/*
 * Signed requests against the real server: every 401 cause, replays, a
 * byte flipped anywhere the signature covers, clock skew, and the server's
 * own response signatures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <cmocka.h>
#include "fixture.h"

static int setup(void **state)
{
    static fixture f;
    *state = &f;
    return fixture_start(&f, NULL);
}

static int teardown(void **state)
{
    return fixture_stop(*state);
}

static void expect_401(fixture *f, const http_opts *o, const char *code, const char *message_part)
{
    http_result r = fixture_call_opts(f, o, "GET", "/v1/me", NULL, 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(http_error_code(&r), code);
    const char *message = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    assert_non_null(message);
    assert_non_null(strstr(message, message_part));
    /* Signed as the answer to this request once its signature verified (a
     * replay), before that as the answer to none. */
    if (strcmp(code, "replay_detected") == 0)
        assert_true(http_response_verifies(f->server_key, &r));
    else
        assert_true(http_response_verifies_unbound(f->server_key, &r));
    http_result_free(&r);
}

static void signed_request_is_answered_and_response_verifies(void **state)
{
    fixture *f = *state;
    http_result r = fixture_call(f, f->alice, "GET", "/v1/me", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "alice");
    assert_string_equal(json_string_value(json_object_get(r.json, "nkey")), f->alice_nkey);
    assert_true(http_response_verifies(f->server_key, &r));
    http_result_free(&r);
}

static void info_shows_the_server_key(void **state)
{
    fixture *f = *state;
    http_result r = fixture_call(f, NULL, "GET", "/v1/info", NULL);
    assert_int_equal(r.status, 200);
    char nkey[57];
    busauth_nkey_encode_public(f->server_key, nkey);
    assert_string_equal(json_string_value(json_object_get(r.json, "server_key")), nkey);
    assert_string_equal(json_string_value(json_object_get(r.json, "auth_mode")), "enforce");
    assert_true(json_is_false(json_object_get(r.json, "tls")));
    assert_true(http_response_verifies(f->server_key, &r)); /* unsigned request: bound to none */
    http_result_free(&r);
    assert_true(harness_log_contains(&f->server, nkey)); /* printed on start */
    r = fixture_call(f, NULL, "GET", "/v1/health", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    http_result_free(&r);
}

static void missing_headers_are_refused(void **state)
{
    fixture *f = *state;
    http_opts none = {0};
    expect_401(f, &none, "auth_failed", "headers missing");
}

static void unknown_and_revoked_keys_are_refused(void **state)
{
    fixture *f = *state;
    busauth_identity *stranger;
    busauth_identity_generate(&stranger);
    http_opts o = {.id = stranger};
    expect_401(f, &o, "auth_failed", "unknown or revoked key");
    busauth_identity_free(stranger);

    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", f->carol_nkey);
    http_result r = fixture_call(f, f->admin, "DELETE", target, NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    http_opts carol = {.id = f->carol};
    expect_401(f, &carol, "auth_failed", "unknown or revoked key");
}

static void tampering_after_signing_is_refused(void **state)
{
    fixture *f = *state;
    const tamper_kind kinds[] = {TAMPER_PATH, TAMPER_TIME, TAMPER_NONCE, TAMPER_SIGNATURE, TAMPER_KEY};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        http_opts o = {.id = f->alice, .tamper = kinds[i]};
        http_result r = fixture_call_opts(f, &o, "GET", "/v1/users/UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, 0);
        /* The path flip may make it an unknown route; anything but success. */
        assert_true(r.status == 401 || r.status == 404);
        if (kinds[i] != TAMPER_PATH)
            assert_int_equal(r.status, 401);
        http_result_free(&r);
    }
    const char body[] = "{\"name\":\"tampered\",\"mode\":\"cleartext\"}";
    http_opts o = {.id = f->alice, .tamper = TAMPER_BODY};
    http_result r = fixture_call_opts(f, &o, "POST", "/v1/rooms", body, strlen(body));
    assert_int_equal(r.status, 401);
    assert_string_equal(http_error_code(&r), "auth_failed");
    http_result_free(&r);
    r = fixture_call(f, f->alice, "GET", "/v1/rooms", NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "rooms")), 0); /* nothing was created */
    http_result_free(&r);
}

static void garbled_headers_are_refused(void **state)
{
    fixture *f = *state;
    http_opts bad_nonce = {.id = f->alice, .nonce = "not-hex"};
    expect_401(f, &bad_nonce, "auth_failed", "X-Unibus-Nonce");
    http_opts upper = {.id = f->alice, .nonce = "0123456789ABCDEF0123456789ABCDEF"};
    expect_401(f, &upper, "auth_failed", "X-Unibus-Nonce");
}

static void replays_are_detected(void **state)
{
    fixture *f = *state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    http_opts o = {.id = f->alice, .nonce = "00112233445566778899aabbccddeeff",
                   .time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    http_result first = fixture_call_opts(f, &o, "GET", "/v1/me", NULL, 0);
    assert_int_equal(first.status, 200);
    http_result_free(&first);
    /* The very same request, byte for byte. */
    expect_401(f, &o, "replay_detected", "nonce was already used");
    /* A fresh signature does not make an old nonce new. */
    o.time_ms = 0;
    expect_401(f, &o, "replay_detected", "nonce was already used");
}

static void clock_skew_is_reported(void **state)
{
    fixture *f = *state;
    const int64_t offsets[] = {-31000, 31000, -3600 * 1000, 3600 * 1000};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        http_opts o = {.id = f->alice, .time_offset_ms = offsets[i]};
        http_result r = fixture_call_opts(f, &o, "GET", "/v1/me", NULL, 0);
        assert_int_equal(r.status, 401);
        assert_string_equal(http_error_code(&r), "auth_failed");
        json_t *err = json_object_get(r.json, "error");
        assert_true(json_integer_value(json_object_get(err, "server_time_ms")) > 1700000000000LL);
        assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "check the client clock"));
        http_result_free(&r);
    }
    const int64_t fine[] = {-25000, 25000};
    for (size_t i = 0; i < 2; i++) {
        http_opts o = {.id = f->alice, .time_offset_ms = fine[i]};
        http_result r = fixture_call_opts(f, &o, "GET", "/v1/me", NULL, 0);
        assert_int_equal(r.status, 200);
        http_result_free(&r);
    }
}

static void tampered_responses_fail_verification(void **state)
{
    fixture *f = *state;
    http_result r = fixture_call(f, f->alice, "GET", "/v1/me", NULL);
    assert_true(http_response_verifies(f->server_key, &r));
    r.body[5] ^= 1;
    assert_false(http_response_verifies(f->server_key, &r));
    r.body[5] ^= 1;
    r.status = 201;
    assert_false(http_response_verifies(f->server_key, &r));
    r.status = 200;
    r.request_sha256[0] ^= 1; /* a response replayed to another request */
    assert_false(http_response_verifies(f->server_key, &r));
    http_result_free(&r);
}

static void denials_are_audited(void **state)
{
    fixture *f = *state;
    http_opts o = {.id = f->alice, .tamper = TAMPER_SIGNATURE};
    http_result r = fixture_call_opts(f, &o, "GET", "/v1/me", NULL, 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    assert_int_equal(fixture_db_count(f, "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND actor = ?"
                                         " AND action = 'GET /v1/me' AND peer_ip = '127.0.0.1'", f->alice_nkey), 1);
}

typedef struct {
    fixture *f;
    http_opts opts;
    http_result result;
} slow_call;

static void *post_slowly(void *arg)
{
    slow_call *c = arg;
    /* Large enough for curl's throttle to bite: it sends in 64 KiB pieces. */
    enum { SIZE = 320 * 1024 };
    char *body = malloc(SIZE);
    memset(body, ' ', SIZE);
    memcpy(body, "{\"name\":\"slow\"}", 15);
    c->result = fixture_call_opts(c->f, &c->opts, "POST", "/v1/rooms", body, SIZE);
    free(body);
    return NULL;
}

/* A body dragged out after a revocation: the request is judged again when
 * the body is in, and refused. */
static void a_revocation_reaches_a_request_in_flight(void **state)
{
    fixture *f = *state;
    slow_call c = {.f = f, .opts = {.id = f->alice, .send_bytes_per_s = 128 * 1024}};
    pthread_t t;
    pthread_create(&t, NULL, post_slowly, &c);
    struct timespec pause = {0, 600 * 1000000L};
    nanosleep(&pause, NULL);
    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", f->alice_nkey);
    http_result r = fixture_call(f, f->admin, "DELETE", target, NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    pthread_join(t, NULL);
    assert_int_equal(c.result.status, 401);
    assert_string_equal(http_error_code(&c.result), "auth_failed");
    http_result_free(&c.result);
    assert_int_equal(fixture_db_count(f, "SELECT count(*) FROM rooms", NULL), 0);
}

/* Headers inside the window, body trickling out of it: refused, so a
 * captured request cannot be stretched past the nonce's memory. */
static void a_body_that_outlasts_the_window_is_refused(void **state)
{
    fixture *f = *state;
    slow_call c = {.f = f, .opts = {.id = f->alice, .time_offset_ms = -26000, .send_bytes_per_s = 48 * 1024}};
    post_slowly(&c); /* over 5 s of body: the signed time ends up more than 31 s old */
    assert_int_equal(c.result.status, 401);
    assert_non_null(json_object_get(json_object_get(c.result.json, "error"), "server_time_ms"));
    http_result_free(&c.result);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(signed_request_is_answered_and_response_verifies),
        T(info_shows_the_server_key),
        T(missing_headers_are_refused),
        T(unknown_and_revoked_keys_are_refused),
        T(tampering_after_signing_is_refused),
        T(garbled_headers_are_refused),
        T(replays_are_detected),
        T(clock_skew_is_reported),
        T(tampered_responses_fail_verification),
        T(denials_are_audited),
        T(a_revocation_reaches_a_request_in_flight),
        T(a_body_that_outlasts_the_window_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
