/*
 * libunibus against a real membershipd: URL rules, pinning and trust on
 * first use, signed calls, rooms, and room keys sealed member to member.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "busauth/seedfile.h"
#include "fixture.h"
#include "unibus.h"

static fixture F;
static char ALICE_SEED[PATH_MAX + 32], BOB_SEED[PATH_MAX + 32], KNOWN[PATH_MAX + 32];

static int setup(void **state)
{
    (void)state;
    if (fixture_start(&F, NULL) != 0)
        return -1;
    snprintf(ALICE_SEED, sizeof ALICE_SEED, "%s/alice.seed", F.dir);
    snprintf(BOB_SEED, sizeof BOB_SEED, "%s/bob.seed", F.dir);
    snprintf(KNOWN, sizeof KNOWN, "%s/known_servers", F.dir);
    busauth_seedfile_create(ALICE_SEED, F.alice);
    busauth_seedfile_create(BOB_SEED, F.bob);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static unibus_config config(const char *seed)
{
    return (unibus_config){.url = F.server.base_url, .identity_file = seed, .known_servers = KNOWN};
}

static void first_use_is_recorded_then_held(void **state)
{
    (void)state;
    unibus_config cfg = config(ALICE_SEED);
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    assert_true(unibus_client_first_use(c));
    char server[57];
    busauth_nkey_encode_public(F.server_key, server);
    assert_string_equal(unibus_client_server_key(c), server);
    unibus_client_close(c);

    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    assert_false(unibus_client_first_use(c)); /* recorded: not first any more */
    unibus_user me;
    assert_int_equal(unibus_client_whoami(c, &me), UNIBUS_OK);
    assert_string_equal(me.name, "alice");
    assert_string_equal(me.nkey, F.alice_nkey);
    unibus_client_close(c);

    cfg.server_key = F.alice_nkey; /* pinned to the wrong key */
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_ERR_SERVER_KEY);
    assert_non_null(strstr(unibus_client_error(c), "refusing"));
    unibus_client_close(c);
    cfg.server_key = server;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    unibus_client_close(c);
}

static void a_changed_server_key_is_refused(void **state)
{
    (void)state;
    FILE *f = fopen(KNOWN, "w");
    fprintf(f, "%s %s\n", F.server.base_url, F.bob_nkey);
    fclose(f);
    unibus_config cfg = config(ALICE_SEED);
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_ERR_SERVER_KEY);
    assert_non_null(strstr(unibus_client_error(c), "recorded before"));
    unibus_client_close(c);
}

static void url_and_identity_rules(void **state)
{
    (void)state;
    unibus_config cfg = config(ALICE_SEED);
    cfg.ca_file = "/etc/ssl/certs/ca-certificates.crt";
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_ERR_CONFIG); /* http:// with a CA */
    assert_non_null(strstr(unibus_client_error(c), "use https://"));
    unibus_client_close(c);
    cfg = config("/nonexistent/seed");
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_ERR_IDENTITY);
    unibus_client_close(c);
    cfg = config(ALICE_SEED);
    cfg.url = "ftp://example";
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_ERR_CONFIG);
    unibus_client_close(c);
}

static void revoked_identities_are_told_so(void **state)
{
    (void)state;
    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", F.bob_nkey);
    http_result r = fixture_call(&F, F.admin, "DELETE", target, NULL);
    http_result_free(&r);
    unibus_config cfg = config(BOB_SEED);
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK); /* /v1/info is public */
    unibus_user me;
    assert_int_equal(unibus_client_whoami(c, &me), UNIBUS_ERR_AUTH);
    assert_non_null(strstr(unibus_client_error(c), "revoked"));
    unibus_client_close(c);
}

static void rooms_and_sealed_keys(void **state)
{
    (void)state;
    unibus_config a = config(ALICE_SEED), b = config(BOB_SEED);
    unibus_client *alice, *bob;
    assert_int_equal(unibus_client_open(&a, &alice), UNIBUS_OK);
    assert_int_equal(unibus_client_open(&b, &bob), UNIBUS_OK);
    unibus_room room, found;
    assert_int_equal(unibus_room_create(alice, "plans", true, true, &room), UNIBUS_OK);
    assert_true(room.e2e && room.sign);
    assert_int_equal(room.epoch, 1);
    assert_int_equal(unibus_room_find(alice, "plans", &found), UNIBUS_OK);
    assert_string_equal(found.id, room.id);
    assert_int_equal(unibus_room_find(bob, "plans", &found), UNIBUS_ERR_NOT_FOUND);
    assert_int_equal(unibus_room_add(alice, "plans", F.bob_nkey), UNIBUS_OK);
    assert_int_equal(unibus_room_find(bob, room.id, &found), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "plans", F.bob_nkey), UNIBUS_ERR_CONFLICT);
    assert_int_equal(unibus_room_add(alice, "plans", "not-a-key"), UNIBUS_ERR_INVALID_ARG);
    size_t n = 0;
    unibus_room list[4];
    assert_int_equal(unibus_rooms_list(bob, list, 4, &n), UNIBUS_OK);
    assert_int_equal(n, 1);
    unibus_room clear;
    assert_int_equal(unibus_room_create(alice, "lobby", false, false, &clear), UNIBUS_OK);
    assert_false(clear.e2e);
    assert_int_equal(unibus_room_add(alice, "lobby", F.bob_nkey), UNIBUS_OK);
    unibus_client_close(alice);
    unibus_client_close(bob);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(first_use_is_recorded_then_held),
        T(a_changed_server_key_is_refused),
        T(url_and_identity_rules),
        T(revoked_identities_are_told_so),
        T(rooms_and_sealed_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
