/*
 * What a man in the middle of the control plane (a TLS-terminating proxy,
 * or anyone holding the server's certificate) does with signed requests and
 * signed answers (dev/signed-requests.md): replays a captured request to
 * another server and to the same server after a restart, and hands a client
 * an answer signed for another request.  "Nothing lost" here means: no
 * replay is acted on, and libunibus takes no answer that is not the
 * server's answer to exactly what it asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <sodium.h>
#include "busauth/seedfile.h"
#include "busauth/signing.h"
#include "fixture.h"
#include "http_mitm.h"
#include "raw_socket.h"
#include "unibus.h"

static fixture A;
static char ALICE_SEED[PATH_MAX + 32], KNOWN[PATH_MAX + 32];

static int setup(void **state)
{
    (void)state;
    if (fixture_start(&A, NULL) != 0)
        return -1;
    snprintf(ALICE_SEED, sizeof ALICE_SEED, "%s/alice.seed", A.dir);
    snprintf(KNOWN, sizeof KNOWN, "%s/known_servers", A.dir);
    return busauth_seedfile_create(ALICE_SEED, A.alice) == BUSAUTH_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&A);
}

static unibus_client *open_alice(const char *url)
{
    unibus_config cfg = {.url = url, .identity_file = ALICE_SEED, .known_servers = KNOWN};
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    return c;
}

static void expect_refused(unsigned port, const http_message *captured, const char *why)
{
    http_message answer;
    assert_true(http_replay(port, captured, &answer));
    if (http_message_status(&answer) != 401 || !strstr(answer.data + answer.head_len, why))
        fprintf(stderr, "replay answered: %s\n", answer.data);
    assert_int_equal(http_message_status(&answer), 401);
    assert_non_null(strstr(answer.data + answer.head_len, why));
    http_message_free(&answer);
}

/* Server B, where A's admin key is an admin too. */
static int add_a_admin(store *s, void *ctx)
{
    (void)ctx;
    store_actor by = {"local:test", NULL, NULL};
    return store_user_add(s, "root-of-a", busauth_identity_public_key(A.admin), STORE_ROLE_ADMIN, &by) == STORE_OK
               ? 0 : -1;
}

static void a_request_for_one_server_is_refused_by_another(void **state)
{
    (void)state;
    fixture B;
    assert_int_equal(fixture_start_seeded(&B, NULL, add_a_admin, NULL), 0);
    http_mitm *m = mitm_start(A.server.port, NULL, NULL);
    busauth_identity *eve;
    busauth_identity_generate(&eve);
    char body[256], nkey[57];
    busauth_nkey_encode_public(busauth_identity_public_key(eve), nkey);
    snprintf(body, sizeof body, "{\"name\":\"eve\",\"public_key\":\"%s\",\"role\":\"admin\"}", nkey);
    http_opts admin = {.id = A.admin};
    http_result r;
    http_call(mitm_url(m), "POST", "/v1/users", body, strlen(body), &admin, &r);
    assert_int_equal(r.status, 201);
    http_result_free(&r);

    http_message captured;
    assert_true(mitm_captured(m, "POST /v1/users ", &captured));
    expect_refused(B.server.port, &captured, "signed for another server");
    assert_int_equal(fixture_db_count(&B, "SELECT count(*) FROM users WHERE name = ?", "eve"), 0);
    http_message_free(&captured);
    mitm_stop(m);
    busauth_identity_free(eve);
    assert_int_equal(fixture_stop(&B), 0);
}

/* Captured GET /v1/me requests, one with the time now and one 25 s ahead
 * (inside the 30 s skew allowed), replayed once the server has restarted:
 * refused, while libunibus itself carries on at once. */
static void captured_requests_are_refused_after_a_restart(void **state)
{
    (void)state;
    http_mitm *m = mitm_start(A.server.port, NULL, NULL);
    unibus_client *alice = open_alice(mitm_url(m));
    unibus_user me;
    assert_int_equal(unibus_client_whoami(alice, &me), UNIBUS_OK);
    unibus_client_close(alice);
    http_message now, ahead;
    assert_true(mitm_captured(m, "GET /v1/me ", &now));
    http_opts future = {.id = A.alice, .time_offset_ms = 25000};
    http_result r;
    http_call(mitm_url(m), "GET", "/v1/me", NULL, 0, &future, &r);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_true(mitm_captured(m, "GET /v1/me ", &ahead));
    mitm_stop(m);

    assert_int_equal(harness_stop(&A.server), 0);
    assert_int_equal(fixture_restart(&A, NULL), 0);
    expect_refused(A.server.port, &now, "floor");
    expect_refused(A.server.port, &ahead, "floor");
    http_message_free(&now);
    http_message_free(&ahead);

    /* Its first try is refused too (below the floor): it signs again above it. */
    alice = open_alice(A.server.base_url);
    assert_int_equal(unibus_client_whoami(alice, &me), UNIBUS_OK);
    assert_string_equal(me.name, "alice");
    unibus_client_close(alice);
}

/* A member (carol) signs a request as far ahead as the skew allows, timed
 * so the server's floor, rounded up to a whole second, lands ~30.7 s ahead
 * of its clock; the server restarts at once.  alice's next call must still
 * go through: her retry at floor + 1 is inside the server's window as soon
 * as the server's clock is, which she waits for (well under a second). */
static void a_floor_set_far_ahead_does_not_block_clients_after_a_restart(void **state)
{
    (void)state;
    const int64_t ahead = BUSAUTH_REQUEST_SKEW_MS - 300;
    struct timespec ts;
    do { /* floor = T rounded up to the next second: T just past one pushes it furthest */
        nanosleep(&(struct timespec){0, 5 * 1000000L}, NULL);
        clock_gettime(CLOCK_REALTIME, &ts);
    } while ((ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ahead) % 1000 > 20);
    http_opts future = {.id = A.carol, .time_offset_ms = ahead};
    http_result r;
    http_call(A.server.base_url, "GET", "/v1/me", NULL, 0, &future, &r);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(harness_stop(&A.server), 0);
    assert_int_equal(fixture_restart(&A, NULL), 0);

    unibus_client *alice = open_alice(A.server.base_url);
    unibus_user me;
    unibus_status s = unibus_client_whoami(alice, &me);
    if (s != UNIBUS_OK)
        fprintf(stderr, "whoami after the restart: %s\n", unibus_client_error(alice));
    assert_int_equal(s, UNIBUS_OK);
    assert_string_equal(me.name, "alice");
    unibus_client_close(alice);
}

/* Substitutions: alice's GET /v1/me held back, and answered with what the
 * server signed for another request carrying alice's nonce. */
typedef enum { SWAP_HEALTH, SWAP_OTHER_CALLER } swap_kind;

/* A response carrying what http_call got. */
static void answer_with(http_message *response, long status, const char *signature, const char *body)
{
    response->data = malloc(512 + strlen(body));
    response->head_len = (size_t)sprintf(response->data,
                                         "HTTP/1.1 %ld Whatever\r\nContent-Type: application/json\r\n"
                                         "X-Unibus-Server-Signature: %s\r\nContent-Length: %zu\r\n\r\n",
                                         status, signature, strlen(body));
    response->len = response->head_len + (size_t)sprintf(response->data + response->head_len, "%s", body);
}

/* The server's signed answer to an unsigned GET /v1/health carrying nonce. */
static void health_with_nonce(const char *nonce, http_message *response)
{
    char request[256];
    snprintf(request, sizeof request,
             "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Unibus-Nonce: %s\r\nConnection: close\r\n\r\n", nonce);
    http_message health = {.data = request, .len = strlen(request)};
    http_message answer;
    assert_true(http_replay(A.server.port, &health, &answer));
    *response = answer;
}

static bool swap_me(void *ctx, const http_message *request, http_message *response)
{
    swap_kind kind = *(const swap_kind *)ctx;
    char nonce[64];
    if (strncmp(request->data, "GET /v1/me ", 11) != 0 ||
        !http_message_header(request, "X-Unibus-Nonce", nonce, sizeof nonce))
        return false;
    if (kind == SWAP_HEALTH) {
        health_with_nonce(nonce, response);
        return true;
    }
    http_opts bob = {.id = A.bob, .nonce = nonce};
    http_result r = fixture_call_opts(&A, &bob, "GET", "/v1/me", NULL, 0);
    answer_with(response, r.status, r.server_signature, r.body);
    http_result_free(&r);
    return true;
}

static void substituted_answers_are_refused(void **state)
{
    (void)state;
    const swap_kind kinds[] = {SWAP_HEALTH, SWAP_OTHER_CALLER};
    for (size_t i = 0; i < 2; i++) {
        swap_kind kind = kinds[i];
        http_mitm *m = mitm_start(A.server.port, swap_me, &kind);
        unibus_client *alice = open_alice(mitm_url(m));
        unibus_user me = {0};
        unibus_status s = unibus_client_whoami(alice, &me);
        if (s != UNIBUS_ERR_SERVER_KEY)
            fprintf(stderr, "substitution %zu: status %d, name \"%s\": %s\n", i, (int)s, me.name,
                    unibus_client_error(alice));
        assert_int_equal(s, UNIBUS_ERR_SERVER_KEY);
        unibus_client_close(alice);
        mitm_stop(m);
    }
}

/* Rooms: alice owns "alpha" with carol in it; bob owns "beta" with alice
 * in it.  While alice removes carol from alpha, her GET /v1/rooms/<alpha>
 * is answered with one about beta: taken, alice would seal alpha's next
 * key to beta's members. */
typedef struct {
    char alpha[33], beta[33];
    bool resign; /* with the server's own key, bound to alice's request */
} room_swap;

/* The hash of the canonical string of a captured signed request. */
static void request_hash(const http_message *request, uint8_t out[32])
{
    char server[64], key[64], time[32], nonce[64], method[16], target[256], canonical[1024];
    assert_true(http_message_header(request, "X-Unibus-Server", server, sizeof server) &&
                http_message_header(request, "X-Unibus-Key", key, sizeof key) &&
                http_message_header(request, "X-Unibus-Time", time, sizeof time) &&
                http_message_header(request, "X-Unibus-Nonce", nonce, sizeof nonce));
    assert_int_equal(sscanf(request->data, "%15s %255s", method, target), 2);
    uint8_t body_hash[32];
    crypto_hash_sha256(body_hash, (const uint8_t *)request->data + request->head_len, request->len - request->head_len);
    busauth_request r = {.server_key = server, .key = key, .method = method, .target = target, .time_ms = time,
                         .nonce = nonce, .body_sha256 = body_hash};
    size_t n = busauth_request_canonical(canonical, sizeof canonical, &r);
    crypto_hash_sha256(out, (const uint8_t *)canonical, n);
}

/* Beta as alice sees it, signed by the server's key as the answer to
 * request. */
static void resign_beta(const room_swap *swap, const http_message *request, http_message *response)
{
    char target[64], path[PATH_MAX + 32], sig[BUSAUTH_SIG_B64_LEN + 1], canonical[256];
    snprintf(target, sizeof target, "/v1/rooms/%s", swap->beta);
    http_result r = fixture_call(&A, A.alice, "GET", target, NULL);
    assert_int_equal(r.status, 200);
    snprintf(path, sizeof path, "%s/server.seed", A.data_dir);
    busauth_identity *server;
    assert_int_equal(busauth_seedfile_load(path, &server), BUSAUTH_OK);
    uint8_t request_sha256[32], body_sha256[32];
    request_hash(request, request_sha256);
    crypto_hash_sha256(body_sha256, (const uint8_t *)r.body, r.body_len);
    size_t n = busauth_response_canonical(canonical, sizeof canonical, request_sha256, 200, body_sha256);
    busauth_sign_text(server, canonical, n, sig);
    answer_with(response, 200, sig, r.body);
    busauth_identity_free(server);
    http_result_free(&r);
}

static bool swap_room(void *ctx, const http_message *request, http_message *response)
{
    const room_swap *swap = ctx;
    char line[64], nonce[64], target[64];
    snprintf(line, sizeof line, "GET /v1/rooms/%s ", swap->alpha);
    if (strncmp(request->data, line, strlen(line)) != 0 ||
        !http_message_header(request, "X-Unibus-Nonce", nonce, sizeof nonce))
        return false;
    if (swap->resign) {
        resign_beta(swap, request, response);
        return true;
    }
    snprintf(target, sizeof target, "/v1/rooms/%s", swap->beta);
    http_opts bob = {.id = A.bob, .nonce = nonce};
    http_result r = fixture_call_opts(&A, &bob, "GET", target, NULL, 0);
    answer_with(response, r.status, r.server_signature, r.body);
    http_result_free(&r);
    return true;
}

static void add_member(busauth_identity *owner, const char *room, const char *nkey)
{
    assert_int_equal(fixture_add_member(&A, owner, room, nkey), 201);
}

static void an_answer_about_another_room_is_refused(void **state)
{
    (void)state;
    room_swap swap = {0};
    unibus_client *alice = open_alice(A.server.base_url);
    unibus_room alpha;
    assert_int_equal(unibus_room_create(alice, "alpha", true, true, &alpha), UNIBUS_OK);
    unibus_client_close(alice);
    snprintf(swap.alpha, sizeof swap.alpha, "%s", alpha.id);
    add_member(A.alice, swap.alpha, A.carol_nkey);
    assert_int_equal(fixture_make_room(&A, A.bob, "beta", swap.beta), 0);
    add_member(A.bob, swap.beta, A.alice_nkey);

    for (int resign = 0; resign < 2; resign++) {
        swap.resign = resign;
        http_mitm *m = mitm_start(A.server.port, swap_room, &swap);
        alice = open_alice(mitm_url(m));
        unibus_status s = unibus_room_remove(alice, swap.alpha, A.carol_nkey);
        if (s == UNIBUS_OK)
            fprintf(stderr, "room swap %d: removal went ahead\n", resign);
        assert_int_not_equal(s, UNIBUS_OK);
        assert_non_null(strstr(unibus_client_error(alice), resign ? "another room" : "not signed by server key"));
        unibus_client_close(alice);
        mitm_stop(m);
        assert_int_equal(fixture_db_count(&A, "SELECT count(*) FROM room_members WHERE room_id = ?", swap.alpha), 2);
    }
}

/* Alice's POST /v1/rooms sent on twice, and the answer to the second
 * handed back: the room is made once, and libunibus says the request may
 * have been done rather than blaming her identity. */
static bool send_twice(void *ctx, const http_message *request, http_message *response)
{
    (void)ctx;
    if (strncmp(request->data, "POST /v1/rooms ", 15) != 0)
        return false;
    http_message first;
    assert_true(http_replay(A.server.port, request, &first));
    assert_int_equal(http_message_status(&first), 201);
    http_message_free(&first);
    assert_true(http_replay(A.server.port, request, response));
    return true;
}

static void a_request_sent_twice_acts_once_and_says_so(void **state)
{
    (void)state;
    http_mitm *m = mitm_start(A.server.port, send_twice, NULL);
    unibus_client *alice = open_alice(mitm_url(m));
    unibus_room room;
    assert_int_equal(unibus_room_create(alice, "twice", true, true, &room), UNIBUS_ERR_AUTH);
    assert_non_null(strstr(unibus_client_error(alice), "may have been done"));
    unibus_client_close(alice);
    mitm_stop(m);
    assert_int_equal(fixture_db_count(&A, "SELECT count(*) FROM rooms WHERE name = ?", "twice"), 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_request_for_one_server_is_refused_by_another),
        T(captured_requests_are_refused_after_a_restart),
        T(a_floor_set_far_ahead_does_not_block_clients_after_a_restart),
        T(substituted_answers_are_refused),
        T(an_answer_about_another_room_is_refused),
        T(a_request_sent_twice_acts_once_and_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
