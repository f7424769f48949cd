/*
 * Peers on a TLS deployment (enforce, TLS on both planes, a CA made for the
 * run): they chat end to end; a peer without the CA is refused by its own
 * library, never downgraded; with several control URLs, a node whose
 * certificate does not verify fails the open rather than being passed over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <nats/nats.h>
#include "busauth/seedfile.h"
#include "fixture.h"
#include "testutil.h"
#include "unibus.h"

static fixture F;
static char CA[PATH_MAX + 64], KNOWN[PATH_MAX + 64];

static int setup(void **state)
{
    (void)state;
    static char cert[PATH_MAX + 64], key[PATH_MAX + 64];
    if (fixture_make_pki(CA, cert, key) != 0)
        return -1;
    const char *flags[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    if (fixture_start(&F, flags) != 0)
        return -1;
    snprintf(KNOWN, sizeof KNOWN, "%s/known", F.dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static unibus_status open_as(busauth_identity *id, const char *name, const char *ca, unibus_client **c)
{
    char seed[PATH_MAX + 48];
    snprintf(seed, sizeof seed, "%s/%s.seed", F.dir, name);
    busauth_seedfile_create(seed, id);
    unibus_config cfg = {.url = F.server.base_url, .ca_file = ca, .identity_file = seed, .known_servers = KNOWN};
    return unibus_client_open(&cfg, c);
}

typedef struct {
    pthread_mutex_t lock;
    char text[64];
} box;

static void on_message(const unibus_message *m, void *ctx)
{
    box *b = ctx;
    pthread_mutex_lock(&b->lock);
    snprintf(b->text, sizeof b->text, "%.*s", (int)m->len, (const char *)m->data);
    pthread_mutex_unlock(&b->lock);
}

static void peers_chat_over_tls(void **state)
{
    (void)state;
    assert_int_equal(strncmp(F.server.base_url, "https://", 8), 0);
    unibus_client *alice, *bob;
    assert_int_equal(open_as(F.alice, "alice", CA, &alice), UNIBUS_OK);
    assert_int_equal(open_as(F.bob, "bob", CA, &bob), UNIBUS_OK);
    unibus_room room;
    assert_int_equal(unibus_room_create(alice, "tls", true, true, &room), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "tls", F.bob_nkey), UNIBUS_OK);
    box b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    unibus_subscription *sub;
    assert_int_equal(unibus_room_subscribe(bob, "tls", on_message, NULL, &b, &sub), UNIBUS_OK);
    assert_int_equal(unibus_room_publish(alice, "tls", "over tls", 8), UNIBUS_OK);
    bool got = false;
    for (int i = 0; i < 300 && !got; i++) {
        pthread_mutex_lock(&b.lock);
        got = strcmp(b.text, "over tls") == 0;
        pthread_mutex_unlock(&b.lock);
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    assert_true(got);
    unibus_subscription_close(sub);
    unibus_client_close(alice);
    unibus_client_close(bob);
}

static void a_peer_without_the_ca_is_refused(void **state)
{
    (void)state;
    unibus_client *c;
    assert_int_equal(open_as(F.carol, "carol", NULL, &c), UNIBUS_ERR_TLS);
    assert_non_null(strstr(unibus_client_error(c), "cannot reach"));
    unibus_client_close(c);
}

/* Another server, its certificate from another CA, listed first: the
 * library must not go on to the node it could verify. */
static void a_node_failing_tls_is_not_passed_over(void **state)
{
    (void)state;
    static fixture other;
    char other_ca[PATH_MAX + 64], cert[PATH_MAX + 64], key[PATH_MAX + 64], seed[PATH_MAX + 48], urls[160];
    const char *flags[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    assert_int_equal(fixture_make_pki(other_ca, cert, key), 0);
    assert_int_equal(fixture_start(&other, flags), 0);
    snprintf(urls, sizeof urls, "%s,%s", other.server.base_url, F.server.base_url);
    snprintf(seed, sizeof seed, "%s/alice-list.seed", F.dir);
    busauth_seedfile_create(seed, F.alice);
    unibus_config cfg = {.url = urls, .ca_file = CA, .identity_file = seed, .known_servers = KNOWN};
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_ERR_TLS);
    assert_non_null(strstr(unibus_client_error(c), other.server.base_url));
    unibus_client_close(c);
    cfg.url = F.server.base_url;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK); /* the second alone: it did verify */
    unibus_client_close(c);
    assert_int_equal(fixture_stop(&other), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(peers_chat_over_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(a_peer_without_the_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_node_failing_tls_is_not_passed_over, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_CloseAndWait(5000); /* nats.c threads done before OpenSSL cleans up at exit */
    return rc;
}
