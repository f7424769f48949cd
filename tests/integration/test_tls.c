/*
 * The control plane over TLS, with a CA made for this run: clients that
 * trust it are served; clients that do not, plaintext clients, old
 * protocol versions and weak ciphers are refused.  (Garbage and truncated
 * TLS records: tests/abuse/test_tls_abuse.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>
#include "fixture.h"
#include "raw_socket.h"
#include "testutil.h"

static fixture F;
static char CA[PATH_MAX + 64], CERT[PATH_MAX + 64], KEY[PATH_MAX + 64];

static void start_bound(const char *tls_min, const char *bind)
{
    assert_int_equal(fixture_make_pki(CA, CERT, KEY), 0);
    const char *flags[] = {"--tls-cert", CERT, "--tls-key", KEY, "--tls-min", tls_min, "--bind", bind, NULL};
    assert_int_equal(fixture_start(&F, flags), 0);
    assert_int_equal(strncmp(F.server.base_url, "https://", 8), 0);
}

static void start(const char *tls_min)
{
    start_bound(tls_min, "127.0.0.1");
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static long call_status(const http_opts *o)
{
    http_result r = fixture_call_opts(&F, o, "GET", "/v1/me", NULL, 0);
    long status = r.status;
    if (status == 200)
        assert_true(http_response_verifies(F.server_key, &r));
    http_result_free(&r);
    return status;
}

static void clients_trusting_the_ca_are_served(void **state)
{
    (void)state;
    start("1.2");
    http_opts ok = {.id = F.alice, .ca_file = CA};
    assert_int_equal(call_status(&ok), 200);
    http_result r = fixture_call_opts(&F, &ok, "GET", "/v1/info", NULL, 0);
    assert_true(json_is_true(json_object_get(r.json, "tls")));
    http_result_free(&r);
    http_opts untrusting = {.id = F.alice};
    assert_int_equal(call_status(&untrusting), 0);
    char self_signed[PATH_MAX + 64];
    snprintf(self_signed, sizeof self_signed, "%.*s/selfsigned.pem", (int)(strrchr(CA, '/') - CA), CA);
    http_opts wrong_ca = {.id = F.alice, .ca_file = self_signed};
    assert_int_equal(call_status(&wrong_ca), 0);
}

static void plaintext_clients_are_refused(void **state)
{
    (void)state;
    start("1.2");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", F.server.port);
    http_result r;
    http_opts o = {.id = F.alice, .server_nkey = F.server_nkey};
    http_call(url, "GET", "/v1/me", NULL, 0, &o, &r);
    assert_true(r.status == 0 || r.status >= 400);
    assert_true(r.status != 200);
    http_result_free(&r);
}

static void old_versions_and_weak_ciphers_are_refused(void **state)
{
    (void)state;
    start("1.2");
    /* SECLEVEL=0: this client is willing; only the server can refuse. */
    http_opts tls11 = {.id = F.alice, .ca_file = CA, .ciphers = "DEFAULT:@SECLEVEL=0",
                       .tls_version = CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1};
    assert_int_equal(call_status(&tls11), 0);
    http_opts tls12 = {.id = F.alice, .ca_file = CA,
                       .tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2};
    assert_int_equal(call_status(&tls12), 200);
    http_opts cbc = {.id = F.alice, .ca_file = CA, .ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0",
                     .tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2};
    assert_int_equal(call_status(&cbc), 0);
}

static void tls13_floor_refuses_tls12(void **state)
{
    (void)state;
    start("1.3");
    http_opts tls12 = {.id = F.alice, .ca_file = CA,
                       .tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2};
    assert_int_equal(call_status(&tls12), 0);
    http_opts tls13 = {.id = F.alice, .ca_file = CA, .tls_version = CURL_SSLVERSION_TLSv1_3};
    assert_int_equal(call_status(&tls13), 200);
}

/* A deployment that is not on loopback (all interfaces; reached here over
 * loopback only) has no cleartext rooms. */
static void public_deployments_refuse_cleartext_rooms(void **state)
{
    (void)state;
    start_bound("1.2", "0.0.0.0");
    http_opts o = {.id = F.alice, .ca_file = CA};
    const char body[] = "{\"name\":\"lobby\",\"mode\":\"cleartext\"}";
    http_result r = fixture_call_opts(&F, &o, "POST", "/v1/rooms", body, strlen(body));
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "cleartext_forbidden");
    http_result_free(&r);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms", NULL), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
    const struct CMUnitTest tests[] = {
        T(clients_trusting_the_ca_are_served),
        T(plaintext_clients_are_refused),
        T(old_versions_and_weak_ciphers_are_refused),
        T(tls13_floor_refuses_tls12),
        T(public_deployments_refuse_cleartext_rooms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
