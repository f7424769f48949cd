/* The data plane: connecting as the identity, publishing and receiving
 * envelopes, and rotating a room's key when a member leaves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "busauth/sealing.h"
#include "embedded/nats_auth.h"
#include "envelope.h"
#include "messaging.h"
#include "room_state.h"

#define REPLAY_WAYS 4
#define REPLAY_SETS 4096
#define MESSAGE_MAX (64 * 1024 * 1024)

/* The highest sequence seen per (sender, session), in a fixed table of
 * 4,096 sets of 4: a lookup reads one set, not the whole table, however
 * many senders a room has.  A session is forgotten when four newer ones
 * land in its set.  The set is chosen by a hash keyed per client, so a
 * member cannot aim sessions at one sender's set; flooding the whole
 * table (tens of thousands of fresh sessions) still forgets everyone's
 * windows, as any fixed-size table would (dev/message-envelope.md). */
typedef struct {
    uint8_t sender[32], session[16];
    uint64_t last;
    uint64_t used; /* LRU stamp; 0: free */
} replay_slot;

struct replay_table {
    replay_slot slots[REPLAY_SETS][REPLAY_WAYS];
    uint64_t clock;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

void unibus_client_on_event(unibus_client *c, unibus_event_fn fn, void *ctx)
{
    c->on_event = fn;
    c->event_ctx = ctx;
}

static void emit(unibus_client *c, unibus_event ev, const char *detail)
{
    if (c->on_event)
        c->on_event(ev, detail, c->event_ctx);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    emit(closure, UNIBUS_EVENT_DISCONNECTED, "data plane connection lost; reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    emit(closure, UNIBUS_EVENT_RECONNECTED, "data plane connection back");
}

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    unibus_client *c = closure;
    emit(c, UNIBUS_EVENT_CLOSED, "data plane connection closed (revoked, or the server refused this identity)");
    pthread_mutex_lock(&c->bus_lock);
    c->bus_closed = true;
    pthread_cond_broadcast(&c->bus_closed_cv);
    pthread_mutex_unlock(&c->bus_lock);
}

void client_bus_close(unibus_client *c)
{
    if (!c->nc)
        return;
    /* nats.c calls on_closed on its own thread, with c: wait for it. */
    natsConnection_Close(c->nc);
    pthread_mutex_lock(&c->bus_lock);
    while (!c->bus_closed)
        pthread_cond_wait(&c->bus_closed_cv, &c->bus_lock);
    pthread_mutex_unlock(&c->bus_lock);
    natsConnection_Destroy(c->nc);
    c->nc = NULL;
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)sub;
    const char *text = NULL;
    if (nc)
        natsConnection_GetLastError(nc, &text);
    bool denied = err == NATS_NOT_PERMITTED || (text && strstr(text, "Permissions Violation"));
    emit(closure, denied ? UNIBUS_EVENT_PERMISSION_DENIED : UNIBUS_EVENT_DISCONNECTED,
         text ? text : natsStatus_GetText(err));
}

static natsStatus bus_options(unibus_client *c, const char *url, natsOptions *o)
{
    natsStatus s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = nats_auth_use_identity(o, c->id);
    if (s == NATS_OK && strncmp(url, "tls://", 6) == 0 && c->ca_file)
        s = natsOptions_LoadCATrustedCertificates(o, c->ca_file);
    if (s == NATS_OK && strncmp(url, "tls://", 6) == 0)
        s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(o, 250, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, c);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, c);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, c);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_error, c);
    return s;
}

/* nats.c's last error without the "(conn.c:979): " it starts with. */
static const char *nats_error_text(natsStatus s)
{
    const char *text = nats_GetLastError(NULL);
    const char *after = text && text[0] == '(' ? strstr(text, "): ") : NULL;
    return after ? after + 3 : text ? text : natsStatus_GetText(s);
}

/* Connects on first use, to the URL the server lists. */
unibus_status bus_connect(unibus_client *c)
{
    if (c->nc)
        return UNIBUS_OK;
    json_t *info = NULL;
    unibus_status st = client_call(c, "GET", "/v1/info", NULL, &info);
    const char *url = json_string_value(json_array_get(json_object_get(info, "nats_urls"), 0));
    if (st == UNIBUS_OK && !url)
        st = client_fail(c, UNIBUS_ERR_PROTOCOL, "the server lists no data-plane URL");
    natsOptions *o = NULL;
    natsStatus s = st == UNIBUS_OK ? natsOptions_Create(&o) : NATS_ERR;
    if (s == NATS_OK)
        s = bus_options(c, url, o);
    if (s == NATS_OK)
        s = nats_auth_connect(&c->nc, o);
    if (st == UNIBUS_OK && s != NATS_OK)
        st = client_fail(c, UNIBUS_ERR_DATA_PLANE, "cannot connect to %s as %s: %s", url, c->nkey,
                         nats_error_text(s));
    natsOptions_Destroy(o);
    json_decref(info);
    return st;
}

static void subject_of(const room_state *rs, char out[64])
{
    snprintf(out, 64, "unibus.room.%s.msg", room_state_id(rs));
}

static unibus_status seal_current(unibus_client *c, room_state *rs, const void *data, size_t len, uint8_t **out,
                                  size_t *out_len)
{
    unibus_status s = room_state_refresh(c, rs, ROOM_INFO_TTL_MS);
    uint8_t key[32];
    if (s == UNIBUS_OK) /* a new epoch nobody has keyed yet is keyed here, before sending */
        s = rotation_current_key(c, rs, key);
    if (s != UNIBUS_OK)
        return s;
    envelope_header h = {.epoch = room_state_epoch(rs), .sequence = ++c->sequence};
    memcpy(h.sender, busauth_identity_public_key(c->id), 32);
    memcpy(h.session, c->session, sizeof h.session);
    *out_len = envelope_sealed_len(len, room_state_signed(rs));
    *out = malloc(*out_len);
    if (*out)
        envelope_seal(room_state_id(rs), key, &h, room_state_signed(rs) ? c->id : NULL, data, len, *out);
    sodium_memzero(key, sizeof key);
    return *out ? UNIBUS_OK : UNIBUS_ERR_NOMEM;
}

unibus_status msg_seal(unibus_client *c, room_state *rs, const void *data, size_t len, uint8_t **out, size_t *out_len)
{
    if (room_state_e2e(rs))
        return seal_current(c, rs, data, len, out, out_len);
    *out = malloc(len ? len : 1);
    if (!*out)
        return UNIBUS_ERR_NOMEM;
    if (len)
        memcpy(*out, data, len);
    *out_len = len;
    return UNIBUS_OK;
}

unibus_status unibus_room_publish(unibus_client *c, const char *room, const void *data, size_t len)
{
    if (!room || (!data && len) || len > MESSAGE_MAX)
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "publish needs a room and at most %d bytes", MESSAGE_MAX);
    pthread_mutex_lock(&c->state_lock);
    room_state *rs;
    unibus_status s = bus_connect(c);
    if (s == UNIBUS_OK)
        s = room_state_resolve(c, room, &rs);
    uint8_t *wire = NULL;
    size_t wire_len = len;
    if (s == UNIBUS_OK && room_state_e2e(rs))
        s = seal_current(c, rs, data, len, &wire, &wire_len);
    char subject[64];
    if (s == UNIBUS_OK) {
        subject_of(rs, subject);
        natsStatus ns = natsConnection_Publish(c->nc, subject, wire ? wire : data, (int)wire_len);
        if (ns != NATS_OK)
            s = client_fail(c, UNIBUS_ERR_DATA_PLANE, "publish to %s: %s", subject, natsStatus_GetText(ns));
    }
    pthread_mutex_unlock(&c->state_lock);
    free(wire);
    return s;
}

static replay_slot *set_of(replay_table *t, const envelope_header *h)
{
    uint8_t who[32 + ENVELOPE_SESSION_LEN];
    memcpy(who, h->sender, 32);
    memcpy(who + 32, h->session, ENVELOPE_SESSION_LEN);
    uint64_t hash;
    crypto_shorthash((unsigned char *)&hash, who, sizeof who, t->hash_key);
    return t->slots[hash % REPLAY_SETS];
}

/* True (and remembered) when sequence is new for the sender's session. */
static bool fresh_sequence(replay_table *t, const envelope_header *h)
{
    replay_slot *set = set_of(t, h), *match = NULL, *victim = &set[0];
    for (size_t i = 0; i < REPLAY_WAYS && !match; i++) {
        replay_slot *s = &set[i];
        if (s->used && memcmp(s->sender, h->sender, 32) == 0 && memcmp(s->session, h->session, 16) == 0)
            match = s;
        else if (s->used < victim->used)
            victim = s;
    }
    if (match && h->sequence <= match->last)
        return false;
    if (!match) {
        match = victim;
        memcpy(match->sender, h->sender, 32);
        memcpy(match->session, h->session, 16);
    }
    match->last = h->sequence;
    match->used = ++t->clock;
    return true;
}

/* Everything a message must pass before decryption, in order; fills name.
 * The signature is checked before anything a sender can make us fetch. */
static unibus_status check_envelope(unibus_client *c, room_state *rs, const envelope_header *h,
                                    const uint8_t *in, size_t len, char name[65])
{
    bool is_signed = h->flags & ENVELOPE_FLAG_SIGNED;
    if (room_state_signed(rs) && !is_signed)
        return UNIBUS_ERR_BAD_SIGNATURE;
    const char *member = room_state_member(rs, h->sender);
    if (!member && room_state_refresh(c, rs, ROOM_MISS_REFRESH_MS) == UNIBUS_OK)
        member = room_state_member(rs, h->sender);
    if (!member)
        return UNIBUS_ERR_NOT_MEMBER;
    snprintf(name, 65, "%s", member); /* copied: a refresh below frees the list */
    if (is_signed && envelope_verify(in, len) != UNIBUS_OK)
        return UNIBUS_ERR_BAD_SIGNATURE;
    /* Only the current epoch is accepted: a message under a superseded key
     * could come from a removed member.  What is current is re-read at most
     * once a second, and at once when a newer epoch shows up. */
    room_state_refresh(c, rs, h->epoch > room_state_epoch(rs) ? 0 : ROOM_INFO_TTL_MS);
    /* A re-read may have dropped the sender (removed or revoked since the
     * list above was read): a message of the new epoch, or one relayed
     * after the sender left, comes from members only. */
    if (!room_state_member(rs, h->sender))
        return UNIBUS_ERR_NOT_MEMBER;
    return h->epoch == room_state_epoch(rs) ? UNIBUS_OK : UNIBUS_ERR_UNKNOWN_EPOCH;
}

static unibus_status open_envelope(unibus_client *c, room_state *rs, const uint8_t *in, size_t len,
                                   uint8_t *out, size_t *out_len, envelope_header *h, char name[65])
{
    unibus_status s = envelope_peek(in, len, h);
    if (s == UNIBUS_OK)
        s = check_envelope(c, rs, h, in, len, name);
    uint8_t key[32];
    if (s == UNIBUS_OK && room_state_key(c, rs, h->epoch, key) != UNIBUS_OK)
        s = UNIBUS_ERR_UNKNOWN_EPOCH;
    if (s == UNIBUS_OK)
        s = envelope_decrypt(room_state_id(rs), key, in, len, out, out_len); /* signature checked above */
    sodium_memzero(key, sizeof key);
    /* Only authentic envelopes move the replay window. */
    if (s == UNIBUS_OK && !fresh_sequence(c->replays, h))
        s = UNIBUS_ERR_REPLAY;
    return s;
}

unibus_status msg_open(unibus_client *c, room_state *rs, const uint8_t *in, size_t len, bool borrow,
                       received *out)
{
    memset(out, 0, sizeof *out);
    if (borrow && !room_state_e2e(rs)) {
        out->plain = (uint8_t *)in;
        out->plain_len = len;
        out->borrowed = true;
        return UNIBUS_OK;
    }
    out->plain = malloc(len ? len : 1);
    if (!out->plain)
        return UNIBUS_ERR_NOMEM;
    if (!room_state_e2e(rs)) {
        if (len)
            memcpy(out->plain, in, len);
        out->plain_len = len;
        return UNIBUS_OK;
    }
    envelope_header h = {0};
    pthread_mutex_lock(&c->state_lock);
    unibus_status s = open_envelope(c, rs, in, len, out->plain, &out->plain_len, &h, out->sender_name);
    pthread_mutex_unlock(&c->state_lock);
    if (len >= ENVELOPE_HEADER_LEN)
        busauth_nkey_encode_public(h.sender, out->sender);
    out->verified = s == UNIBUS_OK && (h.flags & ENVELOPE_FLAG_SIGNED);
    return s;
}

static void on_nats_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    unibus_subscription *us = closure;
    received r;
    unibus_status s = msg_open(us->client, us->room, (const uint8_t *)natsMsg_GetData(msg),
                               (size_t)natsMsg_GetDataLength(msg), true, &r);
    unibus_message m = {room_state_id(us->room), r.sender, r.sender_name, r.plain, r.plain_len, r.verified};
    if (s == UNIBUS_OK && us->on_request)
        us->on_request(us, &m, natsMsg_GetReply(msg));
    else if (s == UNIBUS_OK)
        us->on_message(&m, us->ctx);
    else if (us->on_drop)
        us->on_drop(room_state_id(us->room), s, r.sender, us->ctx);
    if (!r.borrowed)
        free(r.plain);
    natsMsg_Destroy(msg);
}

static void on_complete(void *closure)
{
    unibus_subscription *us = closure;
    pthread_mutex_lock(&us->lock);
    us->done = true;
    pthread_cond_broadcast(&us->done_cv);
    pthread_mutex_unlock(&us->lock);
}

static unibus_status msg_subscribe(unibus_client *c, const char *room, const char *kind, const char *queue,
                                   unibus_subscription *us)
{
    us->client = c;
    pthread_mutex_init(&us->lock, NULL);
    pthread_cond_init(&us->done_cv, NULL);
    pthread_mutex_lock(&c->state_lock);
    unibus_status s = bus_connect(c);
    if (s == UNIBUS_OK)
        s = room_state_resolve(c, room, &us->room);
    pthread_mutex_unlock(&c->state_lock);
    if (s != UNIBUS_OK)
        return s;
    char subject[64];
    snprintf(subject, sizeof subject, "unibus.room.%s.%s", room_state_id(us->room), kind);
    natsStatus ns = queue ? natsConnection_QueueSubscribe(&us->sub, c->nc, subject, queue, on_nats_message, us)
                          : natsConnection_Subscribe(&us->sub, c->nc, subject, on_nats_message, us);
    if (ns == NATS_OK)
        ns = natsSubscription_SetOnCompleteCB(us->sub, on_complete, us);
    if (ns == NATS_OK)
        ns = natsConnection_FlushTimeout(c->nc, 5000);
    return ns == NATS_OK ? UNIBUS_OK
                         : client_fail(c, UNIBUS_ERR_DATA_PLANE, "subscribe to %s: %s", subject, natsStatus_GetText(ns));
}

unibus_status msg_subscription_new(unibus_client *c, const char *room, const char *kind, const char *queue,
                                   const unibus_subscription *template, unibus_subscription **out)
{
    *out = NULL;
    unibus_subscription *us = calloc(1, sizeof *us);
    if (!us)
        return UNIBUS_ERR_NOMEM;
    *us = *template;
    unibus_status s = msg_subscribe(c, room, kind, queue, us);
    if (s != UNIBUS_OK)
        unibus_subscription_close(us);
    else
        *out = us;
    return s;
}

unibus_status unibus_room_subscribe(unibus_client *c, const char *room, unibus_message_fn on_message,
                                    unibus_drop_fn on_drop, void *ctx, unibus_subscription **out)
{
    *out = NULL;
    if (!room || !on_message)
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "subscribe needs a room and a message callback");
    unibus_subscription template = {.on_message = on_message, .on_drop = on_drop, .ctx = ctx};
    return msg_subscription_new(c, room, "msg", NULL, &template, out);
}

void unibus_subscription_close(unibus_subscription *us)
{
    if (!us)
        return;
    /* Freed only once nats.c says the callback will not run again. */
    if (us->sub && natsSubscription_Unsubscribe(us->sub) == NATS_OK) {
        pthread_mutex_lock(&us->lock);
        while (!us->done)
            pthread_cond_wait(&us->done_cv, &us->lock);
        pthread_mutex_unlock(&us->lock);
    }
    natsSubscription_Destroy(us->sub);
    pthread_cond_destroy(&us->done_cv);
    pthread_mutex_destroy(&us->lock);
    free(us);
}

replay_table *replay_table_new(void)
{
    replay_table *t = calloc(1, sizeof(replay_table));
    if (t)
        randombytes_buf(t->hash_key, sizeof t->hash_key);
    return t;
}
