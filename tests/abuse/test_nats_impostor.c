/*
 * A fake NATS server where the data plane should be (tests/support/fake_nats.c):
 * a local user holding the port while nats-server restarts.  Whatever
 * nonce it sends, no unibus process signs anything but a NATS-shaped
 * nonce with its identity (issue 11, finding 2): not libunibus, not
 * membershipd's readiness probe.  And nats.c 3.4.1's lost signatures
 * (a signature starting with 0x00, finding 8) are never sent sig-less:
 * the attempt stops before CONNECT and the next one, with a new nonce,
 * logs in; a real refusal is not tried again.
 */
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
#include "busauth/domain.h"
#include "busauth/seedfile.h"
#include "embedded/nats_auth.h"
#include "fake_nats.h"
#include "fixture.h"
#include "nats_peer.h"
#include "testutil.h"
#include "unibus.h"

/* What the review's attacker sent: a control-plane request's canonical
 * text (POST /v1/users making eve an admin), newlines and all. */
#define CONTROL_PLANE_TEXT                                                                                         \
    BUSAUTH_DOMAIN_REQUEST "POST\n/v1/users\n1795000000000\n0123456789abcdef0123456789abcdef\n"                   \
                           "5e1f1e7b0f6c4c3c2a8f3d2e1b0a99887766554433221100ffeeddccbbaa9988"

/* Static, so that a failed assertion (a longjmp) leaves them to teardown. */
static fixture F;
static bool F_running;
static fake_nats FAKE;
static bool FAKE_running;

static int teardown(void **state)
{
    (void)state;
    if (FAKE_running)
        FAKE_running = false;
    int rc = F_running ? fixture_stop(&F) : 0;
    F_running = false;
    return rc;
}

static void fake_start(const char *const *nonces, int count, bool refuse)
{
    fake_nats_script script = {.nonces = nonces, .nonce_count = count, .refuse = refuse};
    assert_int_equal(fake_nats_start(&FAKE, 0, &script), 0);
    FAKE_running = true;
}

static void fake_url(char url[64])
{
    snprintf(url, 64, "nats://127.0.0.1:%u", FAKE.port);
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static unsigned port_of(const char *url)
{
    return (unsigned)atoi(strrchr(url, ':') + 1);
}

/* A 15-character base64url nonce (what nats-server 2.9 sends) whose
 * signature by id starts with 0x00: the one login in 256 that nats.c
 * 3.4.1 sends without "sig". */
static void zero_lead_nonce(const busauth_identity *id, char nonce[16])
{
    uint8_t sig[BUSAUTH_SIGNATURE_BYTES];
    for (unsigned i = 0;; i++) {
        snprintf(nonce, 16, "zeroLead%07u", i);
        busauth_identity_sign(id, (const uint8_t *)nonce, strlen(nonce), sig);
        if (sig[0] == 0x00)
            return;
    }
}

static void libunibus_signs_no_control_plane_text(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, NULL), 0);
    F_running = true;
    char dir[PATH_MAX], seed[PATH_MAX + 16], known[PATH_MAX + 16];
    test_make_temp_dir(dir);
    snprintf(seed, sizeof seed, "%s/alice.seed", dir);
    snprintf(known, sizeof known, "%s/known", dir);
    assert_int_equal(busauth_seedfile_create(seed, F.alice), BUSAUTH_OK);
    unibus_config cfg = {.url = F.server.base_url, .identity_file = seed, .known_servers = known};
    unibus_client *c = NULL;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    unibus_room room;
    assert_int_equal(unibus_room_create(c, "oracle", true, false, &room), UNIBUS_OK);

    const char *nonces[] = {CONTROL_PLANE_TEXT};
    fake_nats_script script = {.nonces = nonces, .nonce_count = 1};
    assert_int_equal(fake_nats_take_over(&FAKE, &F.server, port_of(F.server.nats_url), &script), 0);
    FAKE_running = true;
    assert_int_equal(unibus_room_publish(c, room.id, "hi", 2), UNIBUS_ERR_DATA_PLANE);
    fprintf(stderr, "libunibus: %s\n", unibus_client_error(c));
    assert_non_null(strstr(unibus_client_error(c), "not a NATS login nonce"));
    assert_true(fake_nats_connections(&FAKE) >= 1);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 0);
    unibus_client_close(c);
    test_remove_tree(dir);
}

static void readiness_probe_signs_no_control_plane_text(void **state)
{
    (void)state;
    busauth_identity *id = NULL;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    const char *nonces[] = {CONTROL_PLANE_TEXT};
    fake_start(nonces, 1, false);
    char url[64];
    fake_url(url);
    assert_int_equal(nats_auth_probe(url, id, false, 2000), -1);
    assert_int_equal(fake_nats_connections(&FAKE), 1);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 0);
    busauth_identity_free(id);
}

/* The one case that is tried again at once: a new connection brings a new
 * nonce.  Nothing sig-less ever reaches the server. */
static void zero_lead_signature_is_never_sent_and_the_next_nonce_logs_in(void **state)
{
    (void)state;
    busauth_identity *id = NULL;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    char zero[16];
    zero_lead_nonce(id, zero);
    const char *nonces[] = {zero, "AbCdEfGh-_01234"};
    fake_start(nonces, 2, false);
    char url[64];
    fake_url(url);
    nats_peer p;
    assert_int_equal(nats_peer_connect(&p, url, id, NULL, false), NATS_OK);
    nats_peer_close(&p);
    assert_int_equal(fake_nats_unsigned_nkey_connects(&FAKE), 0);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 1);
    assert_int_equal(fake_nats_connections(&FAKE), 2);
    busauth_identity_free(id);
}

/* A server that refuses the key (revoked, unknown) is asked once. */
static void a_real_refusal_is_not_tried_again(void **state)
{
    (void)state;
    busauth_identity *id = NULL;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    const char *nonces[] = {"AbCdEfGh-_01234"};
    fake_start(nonces, 1, true);
    char url[64];
    fake_url(url);
    int64_t t0 = now_ms();
    nats_peer p;
    assert_int_equal(nats_peer_connect(&p, url, id, NULL, false), NATS_CONNECTION_AUTH_FAILED);
    int64_t took = now_ms() - t0;
    nats_peer_close(&p);
    fprintf(stderr, "refused login: %lld ms, %d connection(s)\n", (long long)took, fake_nats_connections(&FAKE));
    assert_int_equal(fake_nats_connections(&FAKE), 1);
    assert_true(took < 150);
    busauth_identity_free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(libunibus_signs_no_control_plane_text, teardown),
        cmocka_unit_test_teardown(readiness_probe_signs_no_control_plane_text, teardown),
        cmocka_unit_test_teardown(zero_lead_signature_is_never_sent_and_the_next_nonce_logs_in, teardown),
        cmocka_unit_test_teardown(a_real_refusal_is_not_tried_again, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
