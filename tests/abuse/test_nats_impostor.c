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
#include "embedded/nats_probe.h"
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

static void fake_start_script(const fake_nats_script *script)
{
    assert_int_equal(fake_nats_start(&FAKE, 0, script), 0);
    FAKE_running = true;
}

static void fake_start(const char *const *nonces, int count, bool refuse)
{
    fake_start_script(&(fake_nats_script){.nonces = nonces, .nonce_count = count, .refuse = refuse});
}

static void fake_stop(void)
{
    fake_nats_stop(&FAKE);
    FAKE_running = false;
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

#define PLAIN_NONCE "AbCdEfGh-_01234"

/* A new identity whose signature over PLAIN_NONCE does not start with
 * 0x00: with any identity, one run in 256 made nats.c's client stop
 * before CONNECT there too (seen in CI: the login failed). */
static busauth_identity *identity_signing_plain_nonce(void)
{
    uint8_t sig[BUSAUTH_SIGNATURE_BYTES];
    for (;;) {
        busauth_identity *id = NULL;
        assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
        busauth_identity_sign(id, (const uint8_t *)PLAIN_NONCE, strlen(PLAIN_NONCE), sig);
        if (sig[0] != 0x00)
            return id;
        busauth_identity_free(id);
    }
}

/* alice's libunibus on a running server (flags: its serve flags, ca: what
 * alice trusts) publishes after the impostor (script) took the data-plane
 * port; returns what publishing said, the error in why. */
static unibus_status publish_through_impostor(const char *const *flags, const char *ca,
                                              const fake_nats_script *script, char why[512])
{
    assert_int_equal(fixture_start(&F, flags), 0);
    F_running = true;
    char seed[PATH_MAX + 16], known[PATH_MAX + 16];
    snprintf(seed, sizeof seed, "%s/alice.seed", F.dir);
    snprintf(known, sizeof known, "%s/known", F.dir);
    assert_int_equal(busauth_seedfile_create(seed, F.alice), BUSAUTH_OK);
    unibus_config cfg = {.url = F.server.base_url, .ca_file = ca, .identity_file = seed, .known_servers = known};
    unibus_client *c = NULL;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    unibus_room room;
    assert_int_equal(unibus_room_create(c, "oracle", true, false, &room), UNIBUS_OK);
    assert_int_equal(fake_nats_take_over(&FAKE, &F.server, port_of(F.server.nats_url), script), 0);
    FAKE_running = true;
    unibus_status st = unibus_room_publish(c, room.id, "hi", 2);
    snprintf(why, 512, "%s", unibus_client_error(c));
    fprintf(stderr, "libunibus: %s\n", why);
    unibus_client_close(c);
    return st;
}

static void libunibus_signs_no_control_plane_text(void **state)
{
    (void)state;
    const char *nonces[] = {CONTROL_PLANE_TEXT};
    char why[512];
    fake_nats_script script = {.nonces = nonces, .nonce_count = 1};
    assert_int_equal(publish_through_impostor(NULL, NULL, &script, why), UNIBUS_ERR_DATA_PLANE);
    assert_non_null(strstr(why, "not a NATS login nonce"));
    assert_null(strstr(why, ".c:")); /* one line for a person, no source location */
    assert_true(fake_nats_connections(&FAKE) >= 1);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 0);
}

static void readiness_probe_signs_no_control_plane_text(void **state)
{
    (void)state;
    busauth_identity *id = NULL;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    const char *nonces[] = {CONTROL_PLANE_TEXT};
    fake_start(nonces, 1, false);
    nats_probe_target target = {"127.0.0.1", FAKE.port, NULL, 2000};
    char why[512];
    assert_int_equal(nats_auth_probe(&target, id, why, sizeof why), -1);
    assert_string_equal(why, NATS_AUTH_NONCE_REFUSED);
    assert_int_equal(fake_nats_connections(&FAKE), 1);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 0);
    busauth_identity_free(id);
}

/* A server that sends INFO a byte at a time cannot hold the probe past
 * its timeout (membershipd's readiness and doctor wait on it). */
static void readiness_probe_keeps_its_deadline(void **state)
{
    (void)state;
    const char *nonces[] = {PLAIN_NONCE};
    fake_start_script(&(fake_nats_script){.nonces = nonces, .nonce_count = 1, .trickle_ms = 50});
    nats_probe_target target = {"127.0.0.1", FAKE.port, NULL, 300};
    char why[512];
    int64_t t0 = now_ms();
    assert_int_equal(nats_auth_probe(&target, NULL, why, sizeof why), -1);
    int64_t took = now_ms() - t0;
    fprintf(stderr, "probe against a trickling server: %lld ms: %s\n", (long long)took, why);
    /* The whole INFO line would take seconds at this pace: giving up well
     * before it proves the deadline, however loaded the machine is. */
    assert_true(took >= 250 && took < 5000);
    assert_non_null(strstr(why, "within 300 ms"));
}

/* The readiness probe (and doctor) trust the certificate membershipd gave
 * nats-server, and nothing else: not another CA's certificate for the same
 * names, whatever the server does next. */
static void readiness_probe_logs_in_only_where_its_certificate_is(void **state)
{
    (void)state;
    char ca[PATH_MAX + 64], cert[PATH_MAX + 64], key[PATH_MAX + 64], impostor[PATH_MAX + 64],
        impostor_key[PATH_MAX + 64];
    assert_int_equal(fixture_make_pki(ca, cert, key), 0);
    int dir_len = (int)(strrchr(ca, '/') - ca);
    snprintf(impostor, sizeof impostor, "%.*s/impostor.pem", dir_len, ca);
    snprintf(impostor_key, sizeof impostor_key, "%.*s/impostor.key", dir_len, ca);
    busauth_identity *id = NULL;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    const char *nonces[] = {PLAIN_NONCE};
    char why[PATH_MAX + 512];

    fake_start_script(&(fake_nats_script){.nonces = nonces, .nonce_count = 1, .tls_cert = impostor,
                                          .tls_key = impostor_key});
    nats_probe_target target = {"127.0.0.1", FAKE.port, cert, 2000};
    assert_int_equal(nats_auth_probe(&target, id, why, sizeof why), -1);
    fprintf(stderr, "probe: %s\n", why);
    assert_non_null(strstr(why, "does not present the certificate in"));
    assert_int_equal(fake_nats_connections(&FAKE), 1);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 0);
    fake_stop();

    /* A plain listener where TLS is configured is no better. */
    fake_start(nonces, 1, false);
    target.port = FAKE.port;
    assert_int_equal(nats_auth_probe(&target, id, why, sizeof why), -1);
    assert_non_null(strstr(why, "does not offer TLS"));
    assert_int_equal(fake_nats_signed_connects(&FAKE), 0);
    fake_stop();

    fake_start_script(&(fake_nats_script){.nonces = nonces, .nonce_count = 1, .tls_cert = cert, .tls_key = key});
    target.port = FAKE.port;
    assert_int_equal(nats_auth_probe(&target, id, why, sizeof why), 0);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 1);
    fake_stop();
    busauth_identity_free(id);
}

/* The one case that is tried again at once: a new connection brings a new
 * nonce.  Nothing sig-less ever reaches the server. */
static void zero_lead_signature_is_never_sent_and_the_next_nonce_logs_in(void **state)
{
    (void)state;
    busauth_identity *id = identity_signing_plain_nonce();
    char zero[16];
    zero_lead_nonce(id, zero);
    const char *nonces[] = {zero, PLAIN_NONCE};
    fake_start(nonces, 2, false);
    char url[64];
    fake_url(url);
    nats_peer p;
    assert_int_equal(nats_peer_connect(&p, url, id, NULL, false), NATS_OK);
    nats_peer_close(&p);
    assert_int_equal(fake_nats_unsigned_nkey_connects(&FAKE), 0);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 1);
    assert_int_equal(fake_nats_connections(&FAKE), 2);
    fake_stop();

    /* The probe encodes signatures itself: the same nonce logs in at once. */
    fake_start(nonces, 1, false);
    nats_probe_target target = {"127.0.0.1", FAKE.port, NULL, 2000};
    char why[512];
    assert_int_equal(nats_auth_probe(&target, id, why, sizeof why), 0);
    assert_int_equal(fake_nats_signed_connects(&FAKE), 1);
    assert_int_equal(fake_nats_connections(&FAKE), 1);
    busauth_identity_free(id);
}

/* One login as libunibus makes it, and goodbye. */
static natsStatus login_once(const char *url, const busauth_identity *id)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK)
        s = nats_auth_use_identity(opts, id);
    if (s == NATS_OK)
        s = nats_auth_connect(&nc, opts);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return s;
}

/* The real nats-server, whose nonces are random: alice logs in again and
 * again through a relay that reads each nonce, until one gives her a
 * signature starting with 0x00 (1 in 256; 3,000 logins all miss with odds
 * near 1e-5).  Every login succeeds and none goes out without "sig". */
static void real_server_login_with_a_zero_lead_nonce_succeeds(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, NULL), 0);
    F_running = true;
    fake_start_script(&(fake_nats_script){.relay_to = port_of(F.server.nats_url), .watch = F.alice});
    char url[64];
    fake_url(url);
    int logins = 0;
    int64_t t0 = now_ms();
    while (fake_nats_zero_lead_nonces(&FAKE) == 0 && logins < 3000) {
        assert_int_equal(login_once(url, F.alice), NATS_OK);
        logins++;
    }
    fprintf(stderr, "%d logins (%d connections) in %lld ms until a nonce gave a 0x00-leading signature\n", logins,
            fake_nats_connections(&FAKE), (long long)(now_ms() - t0));
    assert_int_equal(fake_nats_zero_lead_nonces(&FAKE), 1);
    assert_int_equal(fake_nats_connections(&FAKE), logins + 1);
    assert_int_equal(fake_nats_unsigned_nkey_connects(&FAKE), 0);
    assert_int_equal(fake_nats_signed_connects(&FAKE), logins);
}

/* A server that refuses the key (revoked, unknown) is asked once. */
static void a_real_refusal_is_not_tried_again(void **state)
{
    (void)state;
    busauth_identity *id = identity_signing_plain_nonce();
    const char *nonces[] = {PLAIN_NONCE};
    fake_start(nonces, 1, true);
    char url[64];
    fake_url(url);
    nats_peer p;
    assert_int_equal(nats_peer_connect(&p, url, id, NULL, false), NATS_CONNECTION_AUTH_FAILED);
    nats_peer_close(&p);
    assert_int_equal(fake_nats_connections(&FAKE), 1);
    busauth_identity_free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(libunibus_signs_no_control_plane_text, teardown),
        cmocka_unit_test_teardown(readiness_probe_signs_no_control_plane_text, teardown),
        cmocka_unit_test_teardown(readiness_probe_logs_in_only_where_its_certificate_is, teardown),
        cmocka_unit_test_teardown(readiness_probe_keeps_its_deadline, teardown),
        cmocka_unit_test_teardown(zero_lead_signature_is_never_sent_and_the_next_nonce_logs_in, teardown),
        cmocka_unit_test_teardown(real_server_login_with_a_zero_lead_nonce_succeeds, teardown),
        cmocka_unit_test_teardown(a_real_refusal_is_not_tried_again, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
