/*
 * The data plane: the real nats-server membershipd runs, real nats.c
 * clients.  Who may connect, which subjects each may use, and how fast
 * membership changes and revocations reach live connections.  Requests
 * and replies, and members attacking them: tests/abuse/test_reply_abuse.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "fixture.h"
#include "nats_peer.h"
#include "raw_socket.h"

static fixture F;

static int setup(void **state)
{
    (void)state;
    return fixture_start(&F, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_room(busauth_identity *owner, char id[33])
{
    assert_int_equal(fixture_make_room(&F, owner, "r", id), 0);
}

static void member(const char *method, const char *room, const char *nkey, long status)
{
    char sealed[128], body[256], target[160];
    fixture_fake_sealed_key(sealed);
    snprintf(body, sizeof body, "{\"public_key\":\"%s\",\"sealed_key\":\"%s\"}", nkey, sealed);
    if (strcmp(method, "POST") == 0)
        snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    else
        snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, nkey);
    http_result r = fixture_call(&F, F.alice, method, target, strcmp(method, "POST") == 0 ? body : NULL);
    assert_int_equal(r.status, status);
    http_result_free(&r);
}


static void only_allowlisted_identities_connect(void **state)
{
    (void)state;
    nats_peer alice, anon, stranger;
    assert_int_equal(nats_peer_connect(&alice, F.server.nats_url, F.alice, NULL, false), NATS_OK);
    nats_peer_close(&alice);
    assert_int_not_equal(nats_peer_connect(&anon, F.server.nats_url, NULL, NULL, false), NATS_OK);
    nats_peer_close(&anon);
    busauth_identity *nobody;
    busauth_identity_generate(&nobody);
    assert_int_not_equal(nats_peer_connect(&stranger, F.server.nats_url, nobody, NULL, false), NATS_OK);
    nats_peer_close(&stranger);
    busauth_identity_free(nobody);

    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", F.carol_nkey);
    http_result r = fixture_call(&F, F.admin, "DELETE", target, NULL);
    http_result_free(&r);
    nats_peer carol;
    assert_int_not_equal(nats_peer_connect(&carol, F.server.nats_url, F.carol, NULL, false), NATS_OK);
    nats_peer_close(&carol);
}

static void members_use_their_rooms_and_nothing_else(void **state)
{
    (void)state;
    char room[33], other[33], subject[96], other_subject[96];
    make_room(F.alice, room);
    make_room(F.carol, other);
    member("POST", room, F.bob_nkey, 201);
    fixture_room_subject(room, subject);
    fixture_room_subject(other, other_subject);

    nats_peer alice, bob;
    assert_int_equal(nats_peer_connect(&alice, F.server.nats_url, F.alice, NULL, false), NATS_OK);
    assert_int_equal(nats_peer_connect(&bob, F.server.nats_url, F.bob, NULL, false), NATS_OK);
    natsSubscription *sub = nats_peer_subscribe(&bob, subject);
    assert_non_null(sub);
    assert_int_equal(natsConnection_PublishString(alice.nc, subject, "hello bob"), NATS_OK);
    assert_true(nats_peer_receives(sub, "hello bob", 2000));
    assert_int_equal(nats_peer_permission_errors(&bob), 0);

    natsSubscription *elsewhere = nats_peer_subscribe(&bob, other_subject);
    natsSubscription *everything = nats_peer_subscribe(&bob, ">");
    natsSubscription *system = nats_peer_subscribe(&bob, "$SYS.>");
    natsConnection_FlushTimeout(bob.nc, 2000);
    assert_true(nats_peer_wait_permission_errors(&bob, 3, 2000) >= 3);
    natsConnection_PublishString(bob.nc, other_subject, "sneaky");
    natsConnection_FlushTimeout(bob.nc, 2000);
    assert_true(nats_peer_wait_permission_errors(&bob, 4, 2000) >= 4);

    natsSubscription_Destroy(elsewhere);
    natsSubscription_Destroy(everything);
    natsSubscription_Destroy(system);
    natsSubscription_Destroy(sub);
    nats_peer_close(&alice);
    nats_peer_close(&bob);
}

static void membership_changes_reach_live_connections(void **state)
{
    (void)state;
    char room[33], subject[96];
    make_room(F.alice, room);
    fixture_room_subject(room, subject);
    nats_peer alice, carol;
    assert_int_equal(nats_peer_connect(&alice, F.server.nats_url, F.alice, NULL, false), NATS_OK);
    assert_int_equal(nats_peer_connect(&carol, F.server.nats_url, F.carol, NULL, false), NATS_OK);

    /* Added: carol may subscribe the moment the API call returns. */
    member("POST", room, F.carol_nkey, 201);
    natsSubscription *sub = nats_peer_subscribe(&carol, subject);
    assert_int_equal(nats_peer_permission_errors(&carol), 0);
    natsConnection_PublishString(alice.nc, subject, "welcome");
    assert_true(nats_peer_receives(sub, "welcome", 2000));

    /* Removed: her subscription is dropped and nothing more arrives. */
    int64_t t0 = now_ms();
    member("DELETE", room, F.carol_nkey, 200);
    int64_t api_ms = now_ms() - t0;
    natsConnection_PublishString(alice.nc, subject, "after removal");
    natsConnection_FlushTimeout(alice.nc, 2000);
    assert_false(nats_peer_receives(sub, "after removal", 500));
    fprintf(stderr, "member removal: API answered in %lld ms, delivery stopped by then\n", (long long)api_ms);
    assert_true(api_ms < 2000);
    natsSubscription_Destroy(sub);
    nats_peer_close(&alice);
    nats_peer_close(&carol);
}

static void revocation_closes_live_connections(void **state)
{
    (void)state;
    nats_peer bob, carol;
    assert_int_equal(nats_peer_connect(&bob, F.server.nats_url, F.bob, NULL, false), NATS_OK);
    assert_int_equal(nats_peer_connect(&carol, F.server.nats_url, F.carol, NULL, false), NATS_OK);

    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", F.bob_nkey);
    int64_t t0 = now_ms();
    http_result r = fixture_call(&F, F.admin, "DELETE", target, NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_true(nats_peer_wait_closed(&bob, 2000));
    int64_t api_ms = now_ms() - t0;

    /* The offline CLI, with the server running: picked up by polling. */
    const char *args[] = {"user", "revoke", "carol", "--data-dir", F.data_dir, NULL};
    t0 = now_ms();
    assert_int_equal(harness_run(args, NULL, 0), 0);
    assert_true(nats_peer_wait_closed(&carol, 3000));
    int64_t cli_ms = now_ms() - t0;
    fprintf(stderr, "revocation closed the live connection: via API %lld ms, via CLI %lld ms\n",
            (long long)api_ms, (long long)cli_ms);
    nats_peer_close(&bob);
    nats_peer_close(&carol);
}

static void nats_server_comes_back_after_kill_9(void **state)
{
    (void)state;
    char room[33], subject[96];
    make_room(F.alice, room);
    fixture_room_subject(room, subject);
    nats_peer alice;
    assert_int_equal(nats_peer_connect(&alice, F.server.nats_url, F.alice, NULL, true), NATS_OK);
    natsSubscription *sub = nats_peer_subscribe(&alice, subject);
    for (int round = 0; round < 3; round++) {
        pid_t child = harness_nats_pid(&F.server);
        assert_true(child > 0);
        int64_t t0 = now_ms();
        kill(child, SIGKILL);
        bool resumed = nats_peer_echoes(&alice, sub, subject, "still here", 10000);
        fprintf(stderr, "kill -9 of nats-server %d: traffic resumed after %lld ms\n", (int)child,
                (long long)(now_ms() - t0));
        assert_true(resumed);
    }
    natsSubscription_Destroy(sub);
    nats_peer_close(&alice);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(only_allowlisted_identities_connect),
        T(members_use_their_rooms_and_nothing_else),
        T(membership_changes_reach_live_connections),
        T(revocation_closes_live_connections),
        T(nats_server_comes_back_after_kill_9),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_CloseAndWait(5000); /* nats.c threads done before OpenSSL cleans up at exit */
    return rc;
}
