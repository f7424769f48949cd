/*
 * Every /v1 route's happy path, and who may not call it: admins and
 * members, room owners and strangers, blobs and their readers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
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

/* Calls and checks the status; the response always verifies: as the answer
 * to this request, or (a refusal before the request was authenticated) as
 * the answer to none. */
static http_result expect(fixture *f, busauth_identity *id, const char *method, const char *target,
                          const char *body, long status)
{
    http_result r = fixture_call(f, id, method, target, body);
    if (r.status != status)
        fprintf(stderr, "%s %s -> %ld: %s\n", method, target, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, status);
    assert_true(http_response_verifies(f->server_key, &r) ||
                (status >= 400 && http_response_verifies_unbound(f->server_key, &r)));
    return r;
}

static void check(fixture *f, busauth_identity *id, const char *method, const char *target,
                  const char *body, long status, const char *code)
{
    http_result r = expect(f, id, method, target, body, status);
    if (code)
        assert_string_equal(http_error_code(&r), code);
    http_result_free(&r);
}

/* Creates an e2e room as alice and returns its id. */
static void make_room(fixture *f, busauth_identity *owner, char id[33])
{
    char sealed[128], body[256];
    fixture_fake_sealed_key(sealed);
    snprintf(body, sizeof body, "{\"name\":\"ops\",\"sealed_key\":\"%s\"}", sealed);
    http_result r = expect(f, owner, "POST", "/v1/rooms", body, 201);
    snprintf(id, 33, "%s", json_string_value(json_object_get(r.json, "id")));
    assert_string_equal(json_string_value(json_object_get(r.json, "mode")), "e2e");
    assert_int_equal(json_integer_value(json_object_get(r.json, "key_epoch")), 1);
    assert_true(json_is_true(json_object_get(r.json, "sign")));
    http_result_free(&r);
}

static void add_member(fixture *f, busauth_identity *by, const char *room, const char *nkey, long status)
{
    char sealed[128], body[256], target[64];
    fixture_fake_sealed_key(sealed);
    snprintf(body, sizeof body, "{\"public_key\":\"%s\",\"sealed_key\":\"%s\"}", nkey, sealed);
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    check(f, by, "POST", target, body, status, NULL);
}

static void expect_key_pending(fixture *f, const char *room, bool pending)
{
    char target[64];
    snprintf(target, sizeof target, "/v1/rooms/%s", room);
    http_result r = expect(f, f->alice, "GET", target, NULL, 200);
    assert_int_equal(json_is_true(json_object_get(r.json, "key_pending")), pending);
    http_result_free(&r);
}

static void admin_manages_users(void **state)
{
    fixture *f = *state;
    busauth_identity *dave;
    busauth_identity_generate(&dave);
    fixture_record_identity(dave);
    char nkey[57], body[256];
    busauth_nkey_encode_public(busauth_identity_public_key(dave), nkey);
    snprintf(body, sizeof body, "{\"name\":\"dave\",\"public_key\":\"%s\"}", nkey);
    http_result r = expect(f, f->admin, "POST", "/v1/users", body, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "member");
    http_result_free(&r);
    check(f, f->admin, "POST", "/v1/users", body, 409, "conflict");
    check(f, dave, "GET", "/v1/me", NULL, 200, NULL);

    r = expect(f, f->admin, "GET", "/v1/users", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 5);
    http_result_free(&r);

    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", nkey);
    r = expect(f, f->admin, "DELETE", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "revoked");
    http_result_free(&r);
    check(f, f->admin, "DELETE", target, NULL, 200, NULL); /* idempotent */
    check(f, dave, "GET", "/v1/me", NULL, 401, "auth_failed");
    snprintf(target, sizeof target, "/v1/users/%s", f->admin_nkey);
    check(f, f->admin, "DELETE", target, NULL, 409, "conflict"); /* not yourself */
    busauth_identity_free(dave);
}

static void members_cannot_administer(void **state)
{
    fixture *f = *state;
    char body[256], target[80];
    snprintf(body, sizeof body, "{\"name\":\"eve\",\"public_key\":\"%s\"}", f->alice_nkey);
    check(f, f->alice, "POST", "/v1/users", body, 403, "forbidden");
    check(f, f->alice, "GET", "/v1/users", NULL, 403, "forbidden");
    snprintf(target, sizeof target, "/v1/users/%s", f->bob_nkey);
    check(f, f->alice, "DELETE", target, NULL, 403, "forbidden");
    check(f, f->bob, "GET", "/v1/me", NULL, 200, NULL);
}

static void directory_shows_only_room_mates(void **state)
{
    fixture *f = *state;
    char target[80], room[33];
    snprintf(target, sizeof target, "/v1/users/%s", f->bob_nkey);
    check(f, f->alice, "GET", target, NULL, 404, "not_found");
    make_room(f, f->alice, room);
    add_member(f, f->alice, room, f->bob_nkey, 201);
    http_result r = expect(f, f->alice, "GET", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "bob");
    http_result_free(&r);
    check(f, f->admin, "GET", target, NULL, 200, NULL);
    snprintf(target, sizeof target, "/v1/users/%s", f->alice_nkey);
    check(f, f->alice, "GET", target, NULL, 200, NULL); /* oneself */
    snprintf(target, sizeof target, "/v1/users/%s", f->carol_nkey);
    check(f, f->bob, "GET", target, NULL, 404, "not_found");
}

static void rooms_are_invisible_to_strangers(void **state)
{
    fixture *f = *state;
    char room[33], target[96];
    make_room(f, f->alice, room);
    snprintf(target, sizeof target, "/v1/rooms/%s", room);
    http_result r = expect(f, f->alice, "GET", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "owner")), f->alice_nkey);
    assert_int_equal(json_array_size(json_object_get(r.json, "members")), 1);
    http_result_free(&r);
    check(f, f->bob, "GET", target, NULL, 404, "not_found");
    check(f, f->bob, "GET", "/v1/rooms/00000000000000000000000000000000", NULL, 404, "not_found");
    snprintf(target, sizeof target, "/v1/rooms/%s/key", room);
    check(f, f->bob, "GET", target, NULL, 404, "not_found");
    add_member(f, f->bob, room, f->carol_nkey, 404);
    r = expect(f, f->bob, "GET", "/v1/rooms", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "rooms")), 0);
    http_result_free(&r);
    r = expect(f, f->alice, "GET", "/v1/rooms", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "rooms")), 1);
    http_result_free(&r);
}

static void owner_adds_and_removes_members_with_key_rotation(void **state)
{
    fixture *f = *state;
    char room[33], target[160], sealed[128], body[1024];
    make_room(f, f->alice, room);
    add_member(f, f->alice, room, f->bob_nkey, 201);
    add_member(f, f->alice, room, f->bob_nkey, 409);
    add_member(f, f->bob, room, f->carol_nkey, 403); /* a member, not the owner */
    add_member(f, f->alice, room, f->carol_nkey, 201);

    snprintf(target, sizeof target, "/v1/rooms/%s/key", room);
    http_result r = expect(f, f->bob, "GET", target, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "epoch")), 1);
    assert_non_null(json_string_value(json_object_get(r.json, "sealed_key")));
    http_result_free(&r);

    snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, f->carol_nkey);
    check(f, f->bob, "DELETE", target, NULL, 403, "forbidden");
    r = expect(f, f->alice, "DELETE", target, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "key_epoch")), 2);
    assert_int_equal(json_array_size(json_object_get(r.json, "members")), 2);
    http_result_free(&r);
    snprintf(target, sizeof target, "/v1/rooms/%s", room);
    check(f, f->carol, "GET", target, NULL, 404, "not_found"); /* removed: sees nothing */

    snprintf(target, sizeof target, "/v1/rooms/%s/key", room);
    check(f, f->bob, "GET", target, NULL, 404, "key_pending");
    expect_key_pending(f, room, true);
    add_member(f, f->alice, room, f->carol_nkey, 409); /* its key would be epoch 2's only one */
    fixture_fake_sealed_key(sealed);
    snprintf(target, sizeof target, "/v1/rooms/%s/keys", room);
    snprintf(body, sizeof body, "{\"epoch\":2,\"keys\":{\"%s\":\"%s\"}}", f->alice_nkey, sealed);
    check(f, f->alice, "PUT", target, body, 409, "conflict"); /* bob would have no key */
    snprintf(body, sizeof body, "{\"epoch\":2,\"keys\":{\"%s\":\"%s\",\"%s\":\"%s\",\"%s\":\"%s\"}}",
             f->alice_nkey, sealed, f->bob_nkey, sealed, f->carol_nkey, sealed);
    check(f, f->alice, "PUT", target, body, 409, "conflict"); /* carol is not a member any more */
    snprintf(body, sizeof body, "{\"epoch\":2,\"keys\":{\"%s\":\"%s\",\"%s\":\"%s\"}}", f->alice_nkey, sealed,
             f->bob_nkey, sealed);
    check(f, f->admin, "PUT", target, body, 403, "forbidden"); /* not a member: would know the key */
    check(f, f->carol, "PUT", target, body, 404, "not_found");
    check(f, f->bob, "PUT", target, body, 200, NULL); /* any member keys a new epoch */
    check(f, f->alice, "PUT", target, body, 409, "conflict"); /* once: a second rotator loses */
    expect_key_pending(f, room, false);
    snprintf(body, sizeof body, "{\"epoch\":1,\"keys\":{}}");
    check(f, f->alice, "PUT", target, body, 409, "conflict"); /* old epoch */
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    snprintf(body, sizeof body, "{\"public_key\":\"%s\",\"sealed_key\":\"%s\",\"epoch\":1}", f->carol_nkey, sealed);
    check(f, f->alice, "POST", target, body, 409, "conflict"); /* sealed from a superseded key */

    snprintf(target, sizeof target, "/v1/rooms/%s/key", room);
    r = expect(f, f->bob, "GET", target, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "epoch")), 2);
    http_result_free(&r);
    snprintf(target, sizeof target, "/v1/rooms/%s/key?epoch=1", room);
    check(f, f->bob, "GET", target, NULL, 200, NULL);
    snprintf(target, sizeof target, "/v1/rooms/%s/key?epoch=3", room);
    check(f, f->bob, "GET", target, NULL, 400, "bad_request");

    snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, f->alice_nkey);
    check(f, f->admin, "DELETE", target, NULL, 409, "conflict"); /* the owner stays */
    snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, f->bob_nkey);
    check(f, f->bob, "DELETE", target, NULL, 200, NULL); /* a member may leave */
}

static size_t member_count(fixture *f, const char *room)
{
    char target[64];
    snprintf(target, sizeof target, "/v1/rooms/%s", room);
    http_result r = expect(f, f->alice, "GET", target, NULL, 200);
    size_t n = json_array_size(json_object_get(r.json, "members"));
    http_result_free(&r);
    return n;
}

/* Finding 4: an admin outside an e2e room added itself (or a throw-away
 * user) with a sealed key the server cannot check, then, a member, keyed
 * the next epoch and read the room.  An admin outside the room may remove
 * members but never add anyone, itself included; the owner still adds. */
static void admin_outside_an_e2e_room_cannot_join_it(void **state)
{
    fixture *f = *state;
    char room[33], target[160], sealed[128], body[512];
    make_room(f, f->alice, room);
    add_member(f, f->alice, room, f->bob_nkey, 201);
    fixture_fake_sealed_key(sealed);
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    snprintf(body, sizeof body, "{\"public_key\":\"%s\",\"sealed_key\":\"%s\"}", f->admin_nkey, sealed);
    http_result r = expect(f, f->admin, "POST", target, body, 403);
    assert_string_equal(http_error_code(&r), "forbidden");
    assert_non_null(strstr(r.body, "admin outside"));
    http_result_free(&r);
    add_member(f, f->admin, room, f->carol_nkey, 403); /* a throw-away user neither */
    assert_int_equal(member_count(f, room), 2);
    assert_int_equal(fixture_db_count(f, "SELECT count(*) FROM audit_log WHERE outcome = 'denied'"
                                         " AND action = 'POST /v1/rooms/{room}/members' AND actor = ?", f->admin_nkey), 2);

    snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, f->bob_nkey);
    check(f, f->admin, "DELETE", target, NULL, 200, NULL); /* removing stays allowed */
    snprintf(target, sizeof target, "/v1/rooms/%s/keys", room);
    snprintf(body, sizeof body, "{\"epoch\":2,\"keys\":{\"%s\":\"%s\"}}", f->alice_nkey, sealed);
    check(f, f->alice, "PUT", target, body, 200, NULL);
    add_member(f, f->admin, room, f->admin_nkey, 403);
    add_member(f, f->alice, room, f->bob_nkey, 201); /* the owner still adds */
    add_member(f, f->alice, room, f->admin_nkey, 201); /* and may let an admin in */
    add_member(f, f->admin, room, f->carol_nkey, 201); /* who, holding the key, adds too */
    assert_int_equal(member_count(f, room), 4);
}

static void cleartext_rooms_on_loopback(void **state)
{
    fixture *f = *state;
    http_result r = expect(f, f->alice, "POST", "/v1/rooms", "{\"name\":\"lobby\",\"mode\":\"cleartext\"}", 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "mode")), "cleartext");
    char room[33], target[96];
    snprintf(room, sizeof room, "%s", json_string_value(json_object_get(r.json, "id")));
    http_result_free(&r);
    char body[256];
    snprintf(body, sizeof body, "{\"public_key\":\"%s\"}", f->bob_nkey);
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    check(f, f->alice, "POST", target, body, 201, NULL);
    snprintf(body, sizeof body, "{\"public_key\":\"%s\"}", f->admin_nkey);
    check(f, f->admin, "POST", target, body, 201, NULL); /* nothing to read that the server cannot */
    check(f, f->alice, "POST", "/v1/rooms", "{\"name\":\"x\",\"mode\":\"cleartext\",\"sealed_key\":\"AAAA\"}", 400, "bad_request");
    check(f, f->alice, "POST", "/v1/rooms", "{\"name\":\"x\"}", 400, "bad_request"); /* e2e needs a key */
    check(f, f->alice, "POST", "/v1/rooms", "{\"name\":\"x\",\"mode\":\"e2e\",\"sign\":false,\"sealed_key\":\"AAAA\"}",
          400, "bad_request"); /* too short to be sealed */
}

/* Blobs belong to a room: its members put and get them, nobody else,
 * however else they are related to the uploader. */
static void blobs_belong_to_a_room(void **state)
{
    fixture *f = *state;
    char room[33], strangers_room[33];
    make_room(f, f->alice, room);
    add_member(f, f->alice, room, f->bob_nkey, 201);
    make_room(f, f->carol, strangers_room); /* carol will pull alice into her own room */
    add_member(f, f->carol, strangers_room, f->alice_nkey, 201);
    const size_t sizes[] = {0, 1, 100000};
    for (size_t i = 0; i < 3; i++) {
        uint8_t *content = malloc(sizes[i] + 1), hash[32];
        randombytes_buf(content, sizes[i]);
        crypto_hash_sha256(hash, content, sizes[i]);
        char hex[65], target[160], elsewhere[160], bare[96];
        sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
        snprintf(target, sizeof target, "/v1/blobs/%s?room=%s", hex, room);
        snprintf(elsewhere, sizeof elsewhere, "/v1/blobs/%s?room=%s", hex, strangers_room);
        snprintf(bare, sizeof bare, "/v1/blobs/%s", hex);
        http_opts o = {.id = f->alice};
        http_result r = fixture_call_opts(f, &o, "PUT", target, content, sizes[i]);
        assert_int_equal(r.status, 201);
        http_result_free(&r);
        r = fixture_call_opts(f, &o, "PUT", target, content, sizes[i]);
        assert_int_equal(r.status, 200); /* already there */
        http_result_free(&r);
        r = expect(f, f->bob, "GET", target, NULL, 200); /* a member of the room */
        assert_int_equal(r.body_len, sizes[i]);
        if (sizes[i])
            assert_memory_equal(r.body, content, sizes[i]);
        http_result_free(&r);
        check(f, f->carol, "GET", target, NULL, 404, "not_found");    /* not in the room */
        check(f, f->carol, "GET", elsewhere, NULL, 404, "not_found"); /* sharing another room is no way in */
        check(f, f->alice, "GET", bare, NULL, 400, "bad_request");
        free(content);
    }
    uint8_t one = 0x42;
    char target[160];
    snprintf(target, sizeof target, "/v1/blobs/0000000000000000000000000000000000000000000000000000000000000000?room=%s",
             room);
    http_opts o = {.id = f->alice};
    http_result r = fixture_call_opts(f, &o, "PUT", target, &one, 1);
    assert_int_equal(r.status, 400);
    assert_string_equal(http_error_code(&r), "hash_mismatch");
    http_result_free(&r);
    http_opts carol = {.id = f->carol};
    r = fixture_call_opts(f, &carol, "PUT", target, &one, 1);
    assert_int_equal(r.status, 404); /* cannot put into a room one is not in */
    http_result_free(&r);
}

static long users_in_db(fixture *f)
{
    return fixture_db_count(f, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM rooms)", NULL);
}

static void bad_input_is_refused_and_writes_nothing(void **state)
{
    fixture *f = *state;
    long before = users_in_db(f);
    const char *bodies[] = {
        "{", "[]", "\"x\"", "{\"name\":\"x\",\"public_key\":\"k\",\"extra\":1}",
        "{\"name\":5,\"public_key\":\"k\"}", "{\"name\":\"x\"}",
        "{\"name\":\"x\",\"name\":\"y\",\"public_key\":\"k\"}",
        "{\"name\":\"\xff\xfe\",\"public_key\":\"k\"}",
        "{\"name\":\"a\\u0000b\",\"public_key\":\"k\"}",
        "{\"name\":\"ok\",\"public_key\":\"UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
        "{\"name\":\"-bad\",\"public_key\":\"UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK\"}",
        "{\"name\":\"ok\",\"public_key\":\"UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK\",\"role\":\"root\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        http_result r = expect(f, f->admin, "POST", "/v1/users", bodies[i], 400);
        assert_string_equal(http_error_code(&r), "bad_request");
        const char *message = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
        assert_true(message && strlen(message) > 10);
        http_result_free(&r);
    }
    char long_name[400];
    memset(long_name, 'a', sizeof long_name);
    snprintf(long_name + 200, 100, "\"}");
    char body[512];
    snprintf(body, sizeof body, "{\"name\":\"%.*s\"}", 200, long_name);
    check(f, f->alice, "POST", "/v1/rooms", body, 400, "bad_request");
    assert_int_equal(users_in_db(f), before);
}

static void unknown_routes_and_methods(void **state)
{
    fixture *f = *state;
    check(f, f->alice, "GET", "/v1/nothing", NULL, 404, "not_found");
    check(f, f->alice, "PATCH", "/v1/rooms", NULL, 405, "method_not_allowed");
    check(f, f->alice, "GET", "/v1/rooms/NOT-A-ROOM", NULL, 404, "not_found");
    check(f, f->alice, "GET", "/v1/rooms?x=%41", NULL, 400, "bad_request");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(admin_manages_users),
        T(members_cannot_administer),
        T(directory_shows_only_room_mates),
        T(rooms_are_invisible_to_strangers),
        T(owner_adds_and_removes_members_with_key_rotation),
        T(admin_outside_an_e2e_room_cannot_join_it),
        T(cleartext_rooms_on_loopback),
        T(blobs_belong_to_a_room),
        T(bad_input_is_refused_and_writes_nothing),
        T(unknown_routes_and_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
