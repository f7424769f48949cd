/*
 * --bus-auth soft and off (loopback only): soft verifies, logs what fails
 * and lets the request through as the claimed user; off checks nothing.
 * Neither makes an unknown key anybody.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "fixture.h"
#include "nats_peer.h"

static fixture F;

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static long status_of(const http_opts *o)
{
    http_result r = fixture_call_opts(&F, o, "GET", "/v1/me", NULL, 0);
    long status = r.status;
    if (status == 200)
        assert_string_equal(json_string_value(json_object_get(r.json, "name")), "alice");
    http_result_free(&r);
    return status;
}

static void soft_logs_failures_and_lets_requests_through(void **state)
{
    (void)state;
    const char *flags[] = {"--bus-auth", "soft", NULL};
    assert_int_equal(fixture_start(&F, flags), 0);
    http_opts bad_sig = {.id = F.alice, .tamper = TAMPER_SIGNATURE};
    assert_int_equal(status_of(&bad_sig), 200);
    assert_true(harness_log_contains(&F.server, "msg=auth_soft_failure"));
    assert_true(harness_log_contains(&F.server, "reason=\"signature does not verify\""));
    http_opts skewed = {.id = F.alice, .time_offset_ms = 120000};
    assert_int_equal(status_of(&skewed), 200);
    assert_true(harness_log_contains(&F.server, "check the client clock"));
    http_opts replay = {.id = F.alice, .nonce = "ffeeddccbbaa99887766554433221100"};
    assert_int_equal(status_of(&replay), 200);
    assert_int_equal(status_of(&replay), 200);
    assert_true(harness_log_contains(&F.server, "code=replay_detected"));
    busauth_identity *stranger;
    busauth_identity_generate(&stranger);
    http_opts unknown = {.id = stranger};
    assert_int_equal(status_of(&unknown), 401); /* soft never makes a stranger a user */
    busauth_identity_free(stranger);
    http_opts none = {0};
    assert_int_equal(status_of(&none), 401);
}

static void off_takes_the_key_at_its_word(void **state)
{
    (void)state;
    const char *flags[] = {"--bus-auth", "off", NULL};
    assert_int_equal(fixture_start(&F, flags), 0);
    http_opts key_only = {.id = F.alice, .key_only = true};
    assert_int_equal(status_of(&key_only), 200);
    http_opts none = {0};
    assert_int_equal(status_of(&none), 401);
    http_result r = fixture_call(&F, NULL, "GET", "/v1/info", NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "auth_mode")), "off");
    http_result_free(&r);
    /* The data plane runs without authorization too (loopback development). */
    nats_peer anon;
    assert_int_equal(nats_peer_connect(&anon, F.server.nats_url, NULL, NULL, false), NATS_OK);
    nats_peer_close(&anon);
}

static void soft_still_guards_the_data_plane(void **state)
{
    (void)state;
    const char *flags[] = {"--bus-auth", "soft", NULL};
    assert_int_equal(fixture_start(&F, flags), 0);
    nats_peer anon;
    assert_int_not_equal(nats_peer_connect(&anon, F.server.nats_url, NULL, NULL, false), NATS_OK);
    nats_peer_close(&anon);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(soft_logs_failures_and_lets_requests_through, teardown),
        cmocka_unit_test_teardown(off_takes_the_key_at_its_word, teardown),
        cmocka_unit_test_teardown(soft_still_guards_the_data_plane, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_CloseAndWait(5000); /* nats.c threads done before OpenSSL cleans up at exit */
    return rc;
}
