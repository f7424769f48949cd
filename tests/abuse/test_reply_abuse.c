/*
 * Replies on the data plane, attacked by a member with a raw NATS client
 * (issue 11, finding 1, and the rest of its class): a reply subject must
 * grant nobody the right to publish anywhere; a member must not read
 * another member's answers; a worker must not be made to answer into
 * another room or onto another member's reply subject.  "Nothing lost":
 * every victim subscription below receives nothing, and request/reply
 * between honest members still works.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "busauth/seedfile.h"
#include "fixture.h"
#include "nats_peer.h"
#include "unibus.h"

static fixture F;
static char KNOWN[PATH_MAX + 32];

static int setup(void **state)
{
    (void)state;
    if (fixture_start(&F, NULL) != 0)
        return -1;
    snprintf(KNOWN, sizeof KNOWN, "%s/known_servers", F.dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static void connect_peer(nats_peer *p, busauth_identity *id)
{
    assert_int_equal(nats_peer_connect(p, F.server.nats_url, id, NULL, false), NATS_OK);
}

static unibus_client *open_as(busauth_identity *id, const char *name)
{
    char seed[PATH_MAX + 48];
    snprintf(seed, sizeof seed, "%s/%s.seed", F.dir, name);
    busauth_seedfile_create(seed, id);
    unibus_config cfg = {.url = F.server.base_url, .identity_file = seed, .known_servers = KNOWN};
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    return c;
}

static void add_member(busauth_identity *owner, const char *room, const char *nkey)
{
    assert_int_equal(fixture_add_member(&F, owner, room, nkey), 201);
}

static void hears_nothing(natsSubscription *sub, const char *subject)
{
    natsMsg *m = NULL;
    if (sub && natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
        fprintf(stderr, "%s received \"%.*s\"\n", subject, natsMsg_GetDataLength(m), natsMsg_GetData(m));
        natsMsg_Destroy(m);
        fail();
    }
}

/* The self-grant: a request in one's own room whose reply subject is the
 * target, received back as one's own echo, then a publish to the target. */
static void self_grant(nats_peer *attacker, natsSubscription *own, const char *own_subject, const char *target)
{
    assert_int_equal(natsConnection_PublishRequestString(attacker->nc, own_subject, target, "bait"), NATS_OK);
    natsMsg *echo = NULL;
    assert_int_equal(natsSubscription_NextMsg(&echo, own, 2000), NATS_OK);
    assert_string_equal(natsMsg_GetReply(echo), target);
    natsMsg_Destroy(echo);
    natsConnection_PublishString(attacker->nc, target, "INJECTED");
    natsConnection_FlushTimeout(attacker->nc, 2000);
}

/* bob makes a room of his own (any user may) and tries to publish through
 * his own echo to carol's room, carol's inbox and reply subject, and the
 * request subject of carol's workers. */
static void an_echoed_reply_subject_grants_nothing(void **state)
{
    (void)state;
    char own[33], victim[33];
    assert_int_equal(fixture_make_room(&F, F.bob, "own", own), 0);
    assert_int_equal(fixture_make_room(&F, F.carol, "victim", victim), 0);
    char own_subject[96], targets[4][160];
    snprintf(own_subject, sizeof own_subject, "unibus.room.%s.msg", own);
    snprintf(targets[0], sizeof targets[0], "unibus.room.%s.msg", victim);
    snprintf(targets[1], sizeof targets[1], "unibus.room.%s.req", victim);
    snprintf(targets[2], sizeof targets[2], "_INBOX.%s.t", F.carol_nkey);
    snprintf(targets[3], sizeof targets[3], "unibus.reply.%s.%s.t", F.carol_nkey, victim);

    nats_peer bob, carol;
    connect_peer(&bob, F.bob);
    connect_peer(&carol, F.carol);
    /* carol listens on all four; the old and the new layout each refuse
     * her one of them, and a refused subscription hears nothing. */
    natsSubscription *heard[4];
    for (int i = 0; i < 4; i++)
        heard[i] = nats_peer_subscribe(&carol, targets[i]);
    natsSubscription *own_sub = nats_peer_subscribe(&bob, own_subject);
    assert_int_equal(nats_peer_permission_errors(&bob), 0);
    for (int i = 0; i < 4; i++)
        self_grant(&bob, own_sub, own_subject, targets[i]);
    for (int i = 0; i < 4; i++) {
        hears_nothing(heard[i], targets[i]);
        natsSubscription_Destroy(heard[i]);
    }
    assert_int_equal(nats_peer_wait_permission_errors(&bob, 4, 2000), 4); /* each publish refused */
    natsSubscription_Destroy(own_sub);
    nats_peer_close(&bob);
    nats_peer_close(&carol);
}

/* carol, a member of alice's room, tries every subscription that would
 * catch alice's answers; only the room's own subjects are hers, and the
 * answer travels outside them. */
static void a_member_cannot_read_another_members_answers(void **state)
{
    (void)state;
    char room[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "shared", room), 0);
    add_member(F.alice, room, F.bob_nkey);
    add_member(F.alice, room, F.carol_nkey);
    nats_peer alice, bob, carol;
    connect_peer(&alice, F.alice);
    connect_peer(&bob, F.bob);
    connect_peer(&carol, F.carol);

    char sniffs[9][160], whole_room[96];
    snprintf(sniffs[0], sizeof sniffs[0], "unibus.reply.%s.>", F.alice_nkey);
    snprintf(sniffs[1], sizeof sniffs[1], "unibus.reply.%s.%s.t", F.alice_nkey, room);
    snprintf(sniffs[2], sizeof sniffs[2], "unibus.reply.*.%s.>", room);
    snprintf(sniffs[3], sizeof sniffs[3], "unibus.reply.>");
    snprintf(sniffs[4], sizeof sniffs[4], "unibus.*.%s.>", F.alice_nkey);
    snprintf(sniffs[5], sizeof sniffs[5], "unibus.>");
    snprintf(sniffs[6], sizeof sniffs[6], ">");
    snprintf(sniffs[7], sizeof sniffs[7], "_INBOX.>");
    snprintf(sniffs[8], sizeof sniffs[8], "_INBOX.%s.>", F.alice_nkey);
    snprintf(whole_room, sizeof whole_room, "unibus.room.%s.>", room);
    natsSubscription *room_sub = nats_peer_subscribe(&carol, whole_room);
    assert_int_equal(nats_peer_permission_errors(&carol), 0);
    natsSubscription *sniffers[9];
    for (int i = 0; i < 9; i++)
        sniffers[i] = nats_peer_subscribe(&carol, sniffs[i]);
    assert_int_equal(nats_peer_wait_permission_errors(&carol, 9, 2000), 9);

    char req[96], reply[160];
    snprintf(req, sizeof req, "unibus.room.%s.req", room);
    snprintf(reply, sizeof reply, "unibus.reply.%s.%s.t", F.alice_nkey, room);
    natsSubscription *worker = nats_peer_subscribe(&bob, req);
    natsSubscription *answers = nats_peer_subscribe(&alice, reply);
    assert_int_equal(natsConnection_PublishRequestString(alice.nc, req, reply, "ping"), NATS_OK);
    natsMsg *got = NULL;
    assert_int_equal(natsSubscription_NextMsg(&got, worker, 2000), NATS_OK);
    assert_int_equal(natsConnection_PublishString(bob.nc, natsMsg_GetReply(got), "pong"), NATS_OK);
    natsMsg_Destroy(got);
    assert_true(nats_peer_receives(answers, "pong", 2000));
    assert_int_equal(nats_peer_permission_errors(&alice) + nats_peer_permission_errors(&bob), 0);
    assert_true(nats_peer_receives(room_sub, "ping", 2000)); /* the request is the room's... */
    hears_nothing(room_sub, whole_room);                     /* ...the answer is not */

    for (int i = 0; i < 9; i++)
        natsSubscription_Destroy(sniffers[i]);
    natsSubscription_Destroy(room_sub);
    natsSubscription_Destroy(worker);
    natsSubscription_Destroy(answers);
    nats_peer_close(&alice);
    nats_peer_close(&bob);
    nats_peer_close(&carol);
}

/* A member may answer on reply subjects of its own rooms only: carol, in
 * one of alice's rooms, cannot reach alice's answers in the other, by
 * name or with wildcards in the subject. */
static void answers_stay_in_their_room(void **state)
{
    (void)state;
    char mine[33], theirs[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "with-carol", mine), 0);
    assert_int_equal(fixture_make_room(&F, F.alice, "without-carol", theirs), 0);
    add_member(F.alice, mine, F.carol_nkey);
    nats_peer alice, carol;
    connect_peer(&alice, F.alice);
    connect_peer(&carol, F.carol);
    char elsewhere[160], tries[4][160];
    snprintf(elsewhere, sizeof elsewhere, "unibus.reply.%s.%s.t", F.alice_nkey, theirs);
    snprintf(tries[0], sizeof tries[0], "%s", elsewhere);
    snprintf(tries[1], sizeof tries[1], "unibus.reply.%s.*.t", F.alice_nkey);
    snprintf(tries[2], sizeof tries[2], "unibus.reply.*.%s.t", theirs);
    snprintf(tries[3], sizeof tries[3], "unibus.reply.%s.>", F.alice_nkey);
    natsSubscription *answers = nats_peer_subscribe(&alice, elsewhere);
    assert_int_equal(nats_peer_permission_errors(&alice), 0);
    for (int i = 0; i < 4; i++)
        natsConnection_PublishString(carol.nc, tries[i], "forged answer");
    natsConnection_FlushTimeout(carol.nc, 2000);
    assert_int_equal(nats_peer_wait_permission_errors(&carol, 4, 2000), 4);
    hears_nothing(answers, elsewhere);
    natsSubscription_Destroy(answers);
    nats_peer_close(&alice);
    nats_peer_close(&carol);
}

/* carol, removed from a room while a reply subject of hers there is
 * subscribed, hears nothing more on it: reply grants are per room. */
static void a_removed_member_hears_no_more_answers(void **state)
{
    (void)state;
    char room[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "leaving", room), 0);
    add_member(F.alice, room, F.carol_nkey);
    nats_peer alice, carol;
    connect_peer(&alice, F.alice);
    connect_peer(&carol, F.carol);
    char pending[160];
    snprintf(pending, sizeof pending, "unibus.reply.%s.%s.t", F.carol_nkey, room);
    natsSubscription *answers = nats_peer_subscribe(&carol, pending);
    assert_true(nats_peer_echoes(&alice, answers, pending, "before", 2000));
    char target[160];
    snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, F.carol_nkey);
    http_result r = fixture_call(&F, F.alice, "DELETE", target, NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    natsConnection_PublishString(alice.nc, pending, "after");
    natsConnection_FlushTimeout(alice.nc, 2000);
    hears_nothing(answers, pending);
    natsSubscription_Destroy(answers);
    nats_peer_close(&alice);
    nats_peer_close(&carol);
}

static unibus_status echo(const unibus_message *request, uint8_t **reply, size_t *reply_len, void *ctx)
{
    (void)ctx;
    *reply = malloc(request->len + 6);
    if (!*reply)
        return UNIBUS_ERR_NOMEM;
    memcpy(*reply, "echo ", 5);
    memcpy(*reply + 5, request->data, request->len);
    *reply_len = request->len + 5;
    return UNIBUS_OK;
}

/* alice's worker serves a cleartext room bob is in; alice is also in a
 * room with carol.  bob's requests name carol's room, or carol's reply
 * subject there, as the reply subject: the worker, who may publish
 * there, must not be bob's deputy.  An honest reply subject is answered. */
static void a_worker_is_not_a_deputy_into_other_rooms(void **state)
{
    (void)state;
    unibus_client *alice = open_as(F.alice, "alice-deputy");
    unibus_room jobs, board;
    assert_int_equal(unibus_room_create(alice, "jobs", false, false, &jobs), UNIBUS_OK);
    assert_int_equal(unibus_room_create(alice, "board", false, false, &board), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "jobs", F.bob_nkey), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "board", F.carol_nkey), UNIBUS_OK);
    unibus_subscription *worker;
    assert_int_equal(unibus_room_serve(alice, "jobs", echo, NULL, &worker), UNIBUS_OK);

    nats_peer bob, carol;
    connect_peer(&bob, F.bob);
    connect_peer(&carol, F.carol);
    char req[96], victims[2][160], honest[160];
    snprintf(req, sizeof req, "unibus.room.%s.req", jobs.id);
    snprintf(victims[0], sizeof victims[0], "unibus.room.%s.msg", board.id);
    snprintf(victims[1], sizeof victims[1], "unibus.reply.%s.%s.t", F.carol_nkey, board.id);
    snprintf(honest, sizeof honest, "unibus.reply.%s.%s.t", F.bob_nkey, jobs.id);
    natsSubscription *heard[2] = {nats_peer_subscribe(&carol, victims[0]), nats_peer_subscribe(&carol, victims[1])};
    natsSubscription *answers = nats_peer_subscribe(&bob, honest);
    for (int i = 0; i < 2; i++)
        assert_int_equal(natsConnection_PublishRequestString(bob.nc, req, victims[i], "INJECTED"), NATS_OK);
    for (int i = 0; i < 2; i++) {
        hears_nothing(heard[i], victims[i]);
        natsSubscription_Destroy(heard[i]);
    }
    assert_int_equal(natsConnection_PublishRequestString(bob.nc, req, honest, "hi"), NATS_OK);
    assert_true(nats_peer_receives(answers, "echo hi", 3000));
    natsSubscription_Destroy(answers);
    nats_peer_close(&bob);
    nats_peer_close(&carol);
    unibus_subscription_close(worker);
    unibus_client_close(alice);
}

/* In an e2e room the worker knows who asked: bob replays his own sealed
 * request (one the worker never saw) with carol's reply subject in the
 * room; it is not answered there.  Another of his requests, replayed with
 * the reply subject it was sent with, is answered: the refusal is about
 * the subject. */
static void an_e2e_answer_goes_only_to_the_requester(void **state)
{
    (void)state;
    unibus_client *alice = open_as(F.alice, "alice-e2e"), *bob = open_as(F.bob, "bob-e2e");
    unibus_room room;
    assert_int_equal(unibus_room_create(alice, "sealed-jobs", true, true, &room), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "sealed-jobs", F.bob_nkey), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "sealed-jobs", F.carol_nkey), UNIBUS_OK);
    nats_peer raw_bob, carol;
    connect_peer(&raw_bob, F.bob);
    connect_peer(&carol, F.carol);
    char req[96], carols[160];
    snprintf(req, sizeof req, "unibus.room.%s.req", room.id);
    snprintf(carols, sizeof carols, "unibus.reply.%s.%s.t", F.carol_nkey, room.id);

    /* Two sealed requests from bob, caught before any worker runs. */
    natsSubscription *catcher = nats_peer_subscribe(&raw_bob, req);
    natsMsg *sealed[2];
    for (int i = 0; i < 2; i++) {
        uint8_t *reply = NULL;
        size_t len = 0;
        assert_int_equal(unibus_room_request(bob, "sealed-jobs", "job", 3, 200, &reply, &len), UNIBUS_ERR_TIMEOUT);
        assert_int_equal(natsSubscription_NextMsg(&sealed[i], catcher, 2000), NATS_OK);
    }
    unibus_subscription *worker;
    assert_int_equal(unibus_room_serve(alice, "sealed-jobs", echo, NULL, &worker), UNIBUS_OK);
    natsSubscription *heard = nats_peer_subscribe(&carol, carols);
    const char *own = natsMsg_GetReply(sealed[1]);
    natsSubscription *answers = nats_peer_subscribe(&raw_bob, own);
    assert_int_equal(nats_peer_permission_errors(&carol) + nats_peer_permission_errors(&raw_bob), 0);
    const char *reply_to[2] = {carols, own};
    for (int i = 0; i < 2; i++)
        assert_int_equal(natsConnection_PublishRequest(raw_bob.nc, req, reply_to[i], natsMsg_GetData(sealed[i]),
                                                       natsMsg_GetDataLength(sealed[i])),
                         NATS_OK);
    natsMsg *answer = NULL;
    assert_int_equal(natsSubscription_NextMsg(&answer, answers, 3000), NATS_OK);
    natsMsg_Destroy(answer);
    hears_nothing(heard, carols);

    for (int i = 0; i < 2; i++)
        natsMsg_Destroy(sealed[i]);
    natsSubscription_Destroy(catcher);
    natsSubscription_Destroy(heard);
    natsSubscription_Destroy(answers);
    nats_peer_close(&raw_bob);
    nats_peer_close(&carol);
    unibus_subscription_close(worker);
    unibus_client_close(bob);
    unibus_client_close(alice);
}

/* carol, a member, watches the room's requests and gets onto alice's
 * reply subject first: with a forged "no responders" status (a header-only
 * message with status 503, what nats-server sends when nobody listens), or
 * with garbage and alice's own request echoed back.  bob's worker answers
 * only once she has. */
typedef struct {
    nats_peer carol;
    bool forge_status;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool sent;
} interloper;

/* On nats.c's thread: no cmocka asserts here; the request's outcome tells. */
static void publish_no_responders(natsConnection *nc, const char *subject)
{
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, subject, NULL, NULL, 0) == NATS_OK && natsMsgHeader_Set(m, "Status", "503") == NATS_OK)
        natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
}

static void get_in_first(natsConnection *nc, natsSubscription *sub, natsMsg *request, void *closure)
{
    (void)sub;
    interloper *in = closure;
    const char *reply_to = natsMsg_GetReply(request);
    if (in->forge_status) {
        publish_no_responders(nc, reply_to);
    } else {
        natsConnection_PublishString(nc, reply_to, "x");
        natsConnection_Publish(nc, reply_to, natsMsg_GetData(request), natsMsg_GetDataLength(request));
    }
    natsConnection_FlushTimeout(nc, 2000);
    natsMsg_Destroy(request);
    pthread_mutex_lock(&in->lock);
    in->sent = true;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->lock);
}

static unibus_status echo_after_interloper(const unibus_message *request, uint8_t **reply, size_t *reply_len,
                                           void *ctx)
{
    interloper *in = ctx;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    pthread_mutex_lock(&in->lock);
    while (!in->sent && pthread_cond_timedwait(&in->cv, &in->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&in->lock);
    return echo(request, reply, reply_len, NULL);
}

static void an_interloper_does_not_end_the_wait(bool forge_status)
{
    unibus_client *alice = open_as(F.alice, "alice-asks"), *bob = open_as(F.bob, "bob-works");
    unibus_room room;
    assert_int_equal(unibus_room_create(alice, "contested", true, true, &room), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "contested", F.bob_nkey), UNIBUS_OK);
    assert_int_equal(unibus_room_add(alice, "contested", F.carol_nkey), UNIBUS_OK);
    interloper in = {.forge_status = forge_status, .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    connect_peer(&in.carol, F.carol);
    char req[96];
    snprintf(req, sizeof req, "unibus.room.%s.req", room.id);
    natsSubscription *watch = NULL;
    assert_int_equal(natsConnection_Subscribe(&watch, in.carol.nc, req, get_in_first, &in), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(in.carol.nc, 2000), NATS_OK);
    unibus_subscription *worker;
    assert_int_equal(unibus_room_serve(bob, "contested", echo_after_interloper, &in, &worker), UNIBUS_OK);

    uint8_t *reply = NULL;
    size_t len = 0;
    unibus_status s = unibus_room_request(alice, "contested", "ping", 4, 5000, &reply, &len);
    if (s != UNIBUS_OK)
        fprintf(stderr, "request failed: %s\n", unibus_client_error(alice));
    assert_int_equal(s, UNIBUS_OK);
    assert_true(in.sent); /* carol was there first */
    assert_int_equal(len, 9);
    assert_memory_equal(reply, "echo ping", 9);
    assert_int_equal(nats_peer_permission_errors(&in.carol), 0);

    unibus_free(reply);
    natsSubscription_Unsubscribe(watch);
    natsSubscription_Destroy(watch);
    nats_peer_close(&in.carol);
    unibus_subscription_close(worker);
    unibus_client_close(bob);
    unibus_client_close(alice);
}

static void a_forged_no_responders_status_does_not_fail_a_request(void **state)
{
    (void)state;
    an_interloper_does_not_end_the_wait(true);
}

static void garbage_on_the_reply_subject_does_not_fail_a_request(void **state)
{
    (void)state;
    an_interloper_does_not_end_the_wait(false);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(an_echoed_reply_subject_grants_nothing),
        T(a_member_cannot_read_another_members_answers),
        T(answers_stay_in_their_room),
        T(a_removed_member_hears_no_more_answers),
        T(a_worker_is_not_a_deputy_into_other_rooms),
        T(an_e2e_answer_goes_only_to_the_requester),
        T(a_forged_no_responders_status_does_not_fail_a_request),
        T(garbage_on_the_reply_subject_does_not_fail_a_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
