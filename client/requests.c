/* Request/reply in a room: requests on unibus.room.<id>.req to a queue of
 * workers, answers on unibus.reply.<requester-nkey>.<id>.<random>, which
 * only the room's members may publish to and only the requester may
 * subscribe to (dev/request-reply.md); both ways sealed like any other
 * message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "embedded/clock.h"
#include "embedded/nats_config.h"
#include "messaging.h"

#define WORKERS_QUEUE "workers"
/* NATSCONF_REPLY_PREFIX, nkey, ".", room id, ".", 24 hex digits */
#define REPLY_SUBJECT_MAX (sizeof NATSCONF_REPLY_PREFIX + BUSAUTH_NKEY_PUBLIC_LEN + 1 + 32 + 1 + 24)

void unibus_free(void *p)
{
    free(p);
}

/* Answers go only to a reply subject of this room, and in an e2e room
 * only to the sender's own: this worker may publish in all its rooms, and
 * a requester must not make it a deputy that writes into another room or
 * onto another member's reply subject.  (In an unsigned room the sender
 * is only claimed; any member may publish there anyway.) */
static bool reply_subject_ok(const unibus_subscription *us, const unibus_message *request, const char *reply_to)
{
    if (!reply_to || strncmp(reply_to, NATSCONF_REPLY_PREFIX, strlen(NATSCONF_REPLY_PREFIX)) != 0)
        return false;
    const char *requester = reply_to + strlen(NATSCONF_REPLY_PREFIX);
    const char *dot = strchr(requester, '.');
    if (!dot)
        return false;
    const char *room = dot + 1;
    size_t requester_len = (size_t)(dot - requester), room_len = strlen(request->room_id);
    if (room_state_e2e(us->room) &&
        (requester_len != strlen(request->sender_nkey) || strncmp(requester, request->sender_nkey, requester_len) != 0))
        return false;
    return strncmp(room, request->room_id, room_len) == 0 && room[room_len] == '.' && room[room_len + 1] != '\0';
}

static void answer(unibus_subscription *us, const unibus_message *request, const char *reply_to,
                   const uint8_t request_id[ENVELOPE_ID_LEN])
{
    uint8_t *reply = NULL, *wire = NULL;
    size_t reply_len = 0, wire_len = 0;
    if (!reply_subject_ok(us, request, reply_to) || us->handler(request, &reply, &reply_len, us->ctx) != UNIBUS_OK) {
        free(reply);
        return;
    }
    unibus_client *c = us->client;
    pthread_mutex_lock(&c->state_lock);
    msg_kind bound = {ENVELOPE_REPLY, request_id};
    unibus_status s = msg_seal(c, us->room, reply, reply_len, &bound, &wire, &wire_len);
    pthread_mutex_unlock(&c->state_lock);
    if (s == UNIBUS_OK)
        natsConnection_Publish(c->nc, reply_to, wire, (int)wire_len);
    free(wire);
    free(reply);
}

unibus_status unibus_room_serve(unibus_client *c, const char *room, unibus_handler_fn fn, void *ctx,
                                unibus_subscription **out)
{
    *out = NULL;
    if (!room || !fn)
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "serve needs a room and a handler");
    unibus_subscription template = {.on_request = answer, .handler = fn, .ctx = ctx};
    return msg_subscription_new(c, room, "req", WORKERS_QUEUE, &template, out);
}

/* A fresh reply subject of this identity's in the room. */
static void new_reply_subject(const unibus_client *c, const room_state *rs, char out[REPLY_SUBJECT_MAX])
{
    uint8_t raw[12];
    char hex[25];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    snprintf(out, REPLY_SUBJECT_MAX, NATSCONF_REPLY_PREFIX "%s.%s.%s", c->nkey, room_state_id(rs), hex);
}

/* What await_reply saw that was not the answer, for the error it ends with. */
typedef struct {
    int dropped;
    unibus_status last_drop;
    bool no_responders;
} reply_wait;

static unibus_status no_answer(unibus_client *c, int timeout_ms, const reply_wait *w)
{
    char dropped[160] = "";
    if (w->dropped)
        snprintf(dropped, sizeof dropped, "; dropped %d message%s that %s not its answer (last: %s)", w->dropped,
                 w->dropped == 1 ? "" : "s", w->dropped == 1 ? "was" : "were", unibus_strerror(w->last_drop));
    return client_fail(c, UNIBUS_ERR_TIMEOUT, "no answer within %d ms: %s%s", timeout_ms,
                       w->no_responders ? "no worker answered (the data plane said none is serving the room)"
                                        : "is a worker serving the room?",
                       dropped);
}

/* One message on the reply subject, taken only if it is the answer. */
static unibus_status open_answer(unibus_client *c, room_state *rs, natsMsg *msg,
                                 const uint8_t request_id[ENVELOPE_ID_LEN], unibus_answer *out)
{
    received r;
    unibus_status s = msg_open(c, rs, (const uint8_t *)natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), false,
                               &(msg_kind){ENVELOPE_REPLY, request_id}, &r);
    natsMsg_Destroy(msg);
    if (s != UNIBUS_OK) {
        free(r.plain);
        return s;
    }
    out->data = r.plain;
    out->len = r.plain_len;
    memcpy(out->answerer, r.sender, sizeof out->answerer);
    out->verified = r.verified;
    return UNIBUS_OK;
}

/* The answer to the request whose id is request_id, and to no other.  Any
 * member may publish on the reply subject, so nothing else that arrives
 * there ends the wait: not a message that fails to open, and not a "no
 * responders" status, which is a plain header a member can send too
 * (nats-server formats it in client.go, processMsgResults); only the
 * deadline does. */
static unibus_status await_reply(unibus_client *c, room_state *rs, natsSubscription *sub, int timeout_ms,
                                 const uint8_t request_id[ENVELOPE_ID_LEN], unibus_answer *out)
{
    reply_wait w = {0};
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (int64_t left = timeout_ms; left > 0; left = deadline - clock_mono_ms()) {
        natsMsg *msg = NULL;
        natsStatus ns = natsSubscription_NextMsg(&msg, sub, left);
        if (ns == NATS_TIMEOUT)
            break;
        if (ns == NATS_NO_RESPONDERS) {
            w.no_responders = true;
            continue;
        }
        if (ns != NATS_OK)
            return client_fail(c, UNIBUS_ERR_DATA_PLANE, "waiting for the answer: %s", natsStatus_GetText(ns));
        unibus_status s = open_answer(c, rs, msg, request_id, out);
        if (s == UNIBUS_OK || s == UNIBUS_ERR_NOMEM)
            return s;
        w.dropped++;
        w.last_drop = s;
    }
    return no_answer(c, timeout_ms, &w);
}

unibus_status unibus_room_ask(unibus_client *c, const char *room, const void *data, size_t len, int timeout_ms,
                              unibus_answer *out)
{
    memset(out, 0, sizeof *out);
    if (!room || (!data && len) || timeout_ms <= 0)
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "request needs a room, data and a timeout");
    room_state *rs = NULL;
    uint8_t *wire = NULL;
    size_t wire_len = 0;
    pthread_mutex_lock(&c->state_lock);
    unibus_status s = bus_connect(c);
    if (s == UNIBUS_OK)
        s = room_state_resolve(c, room, &rs);
    if (s == UNIBUS_OK)
        s = msg_seal(c, rs, data, len, &MSG_KIND_REQUEST, &wire, &wire_len);
    pthread_mutex_unlock(&c->state_lock);
    char reply_to[REPLY_SUBJECT_MAX], subject[64];
    natsSubscription *sub = NULL;
    uint8_t request_id[ENVELOPE_ID_LEN];
    if (s == UNIBUS_OK) {
        envelope_id(wire, wire_len, request_id);
        new_reply_subject(c, rs, reply_to);
        snprintf(subject, sizeof subject, "unibus.room.%s.req", room_state_id(rs));
        natsStatus ns = natsConnection_SubscribeSync(&sub, c->nc, reply_to);
        if (ns == NATS_OK)
            ns = natsConnection_PublishRequest(c->nc, subject, reply_to, wire, (int)wire_len);
        if (ns != NATS_OK)
            s = client_fail(c, UNIBUS_ERR_DATA_PLANE, "request to %s: %s", subject, natsStatus_GetText(ns));
    }
    if (s == UNIBUS_OK)
        s = await_reply(c, rs, sub, timeout_ms, request_id, out);
    natsSubscription_Destroy(sub);
    free(wire);
    return s;
}

unibus_status unibus_room_request(unibus_client *c, const char *room, const void *data, size_t len,
                                  int timeout_ms, uint8_t **reply, size_t *reply_len)
{
    unibus_answer answer;
    unibus_status s = unibus_room_ask(c, room, data, len, timeout_ms, &answer);
    *reply = answer.data;
    *reply_len = answer.len;
    return s;
}
