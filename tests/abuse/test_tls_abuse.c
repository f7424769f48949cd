/*
 * Invalid TLS records against the TLS control plane: before the handshake
 * (truncated, absurd lengths, random bytes, plain HTTP, a stalled
 * handshake) and after it (a forged application-data record).  "Nothing
 * lost": each hostile connection is closed, and a client that trusts the
 * CA is served after every one.
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
#include <sodium.h>
#include "fixture.h"
#include "raw_socket.h"
#include "tls_client.h"

static fixture F;
static char CA[PATH_MAX + 64], CERT[PATH_MAX + 64], KEY[PATH_MAX + 64];

static int setup(void **state)
{
    (void)state;
    if (fixture_make_pki(CA, CERT, KEY) != 0)
        return -1;
    const char *flags[] = {"--tls-cert", CERT, "--tls-key", KEY, NULL};
    if (fixture_start(&F, flags) != 0)
        return -1;
    F.ca_file = CA;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static void assert_still_serving(void)
{
    http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
}

static const uint8_t TRUNCATED_HELLO[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};

static void garbage_and_truncated_records_do_no_harm(void **state)
{
    (void)state;
    uint8_t junk[4096];
    randombytes_buf(junk, sizeof junk);
    /* A handshake record header promising more than arrives, then a hang-up;
     * a record with an absurd length; random bytes; nothing at all. */
    const uint8_t absurd[] = {0x16, 0x03, 0x03, 0xff, 0xff, 0x01, 0x00, 0xff, 0xfb};
    const struct { const void *data; size_t len; } sends[] = {
        {TRUNCATED_HELLO, sizeof TRUNCATED_HELLO}, {absurd, sizeof absurd}, {junk, sizeof junk}, {junk, 0},
    };
    for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
        for (int round = 0; round < 5; round++) {
            int fd = raw_connect(F.server.port, NULL);
            assert_true(fd >= 0);
            raw_send(fd, sends[i].data, sends[i].len);
            close(fd);
        }
        assert_still_serving();
    }
}

static void plain_http_on_the_tls_port_is_hung_up_on(void **state)
{
    (void)state;
    int fd = raw_connect(F.server.port, NULL);
    const char plain[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, plain, strlen(plain));
    assert_true(raw_closed(fd, 3000));
    close(fd);
    assert_still_serving();
}

/* Stalled half-way, the handshake is dropped at the header deadline. */
static void a_stalled_handshake_is_dropped(void **state)
{
    (void)state;
    int fd = raw_connect(F.server.port, NULL);
    raw_send(fd, TRUNCATED_HELLO, sizeof TRUNCATED_HELLO);
    assert_true(raw_closed(fd, 13000));
    close(fd);
    assert_still_serving();
}

/* After a real handshake, an application-data record the client did not
 * encrypt (random bytes under a valid record header) fails the server's
 * integrity check: the connection is closed, nothing is answered. */
static void a_forged_record_mid_session_closes_only_that_connection(void **state)
{
    (void)state;
    tls_client c;
    assert_int_equal(tls_client_open(&c, F.server.port, CA), 0);
    uint8_t record[5 + 64] = {0x17, 0x03, 0x03, 0x00, 64};
    randombytes_buf(record + 5, 64);
    raw_send(c.fd, record, sizeof record);
    char buf[512];
    int n = SSL_read(c.ssl, buf, sizeof buf);
    assert_true(n <= 0); /* an alert or a hang-up, never data */
    assert_true(raw_closed(c.fd, 3000));
    tls_client_close(&c);
    assert_still_serving();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(garbage_and_truncated_records_do_no_harm),
        cmocka_unit_test(plain_http_on_the_tls_port_is_hung_up_on),
        cmocka_unit_test(a_stalled_handshake_is_dropped),
        cmocka_unit_test(a_forged_record_mid_session_closes_only_that_connection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
