/* The data plane: connecting as the identity, publishing and receiving
 * envelopes, and rotating a room's key when a member leaves. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "busauth/sealing.h"
#include "embedded/clock.h"
#include "embedded/nats_auth.h"
#include "envelope.h"
#include "messaging.h"
#include "replay_store.h"
#include "room_state.h"

#define MESSAGE_MAX (64 * 1024 * 1024)

const msg_kind MSG_KIND_MESSAGE = {ENVELOPE_MESSAGE, NULL}, MSG_KIND_REQUEST = {ENVELOPE_REQUEST, NULL};

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

/* Whether the client is closing its connection itself (nats.c then calls
 * on_disconnected and on_closed too). */
static bool closing_ours(unibus_client *c)
{
    pthread_mutex_lock(&c->bus_lock);
    bool ours = c->bus_closing;
    pthread_mutex_unlock(&c->bus_lock);
    return ours;
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    if (!closing_ours(closure))
        emit(closure, UNIBUS_EVENT_DISCONNECTED, "data plane connection lost; reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    emit(closure, UNIBUS_EVENT_RECONNECTED, "data plane connection back");
}

/* Said only when the close is not ours: a caller's normal exit must not
 * look like a revocation. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    unibus_client *c = closure;
    if (!closing_ours(c))
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
    pthread_mutex_lock(&c->bus_lock);
    c->bus_closing = true;
    pthread_mutex_unlock(&c->bus_lock);
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

static bool is_tls(const char *url)
{
    return strncmp(url, "tls://", 6) == 0;
}

/* Every data-plane URL the node lists; nats.c learns the others from the
 * servers' INFO and reconnects to any of them (verifying TLS as it does
 * for the first). */
static natsStatus bus_options(unibus_client *c, const char **urls, int n, natsOptions *o)
{
    bool tls = is_tls(urls[0]);
    natsStatus s = natsOptions_SetServers(o, urls, n);
    if (s == NATS_OK)
        s = nats_auth_use_identity(o, c->id);
    if (s == NATS_OK && tls && c->ca_file)
        s = natsOptions_LoadCATrustedCertificates(o, c->ca_file);
    if (s == NATS_OK && tls)
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

/* Before the first message: what this identity's processes received lately. */
static unibus_status open_replay_record(unibus_client *c)
{
    char why[PATH_MAX + 256];
    unibus_status s = c->replays ? UNIBUS_OK : replay_store_open(c->replay_path, clock_wall_ms(), &c->replays, why, sizeof why);
    if (s == UNIBUS_ERR_CONFIG)
        return client_fail(c, s, "%s (or set replay_file to another place)", why);
    return s;
}

#define DATA_PLANE_URLS_MAX 16

/* The data-plane URLs /v1/info lists (strings inside info), one scheme:
 * how many, or 0 when there is none or they mix tls:// with another. */
static int data_plane_urls(json_t *info, const char *urls[DATA_PLANE_URLS_MAX])
{
    json_t *list = json_object_get(info, "nats_urls"), *item;
    size_t i;
    int n = 0;
    json_array_foreach(list, i, item) {
        const char *url = json_string_value(item);
        if (!url || n == DATA_PLANE_URLS_MAX || (n && is_tls(url) != is_tls(urls[0])))
            return 0;
        urls[n++] = url;
    }
    return n;
}

/* Connects on first use, to the URLs the server lists. */
unibus_status bus_connect(unibus_client *c)
{
    if (c->nc)
        return UNIBUS_OK;
    unibus_status st = open_replay_record(c);
    if (st != UNIBUS_OK)
        return st;
    json_t *info = NULL;
    const char *urls[DATA_PLANE_URLS_MAX];
    st = client_call(c, "GET", "/v1/info", NULL, &info);
    int n = st == UNIBUS_OK ? data_plane_urls(info, urls) : 0;
    if (st == UNIBUS_OK && !n)
        st = client_fail(c, UNIBUS_ERR_PROTOCOL, "%s lists no data-plane URL, or mixes tls:// with another scheme",
                         unibus_client_url(c));
    natsOptions *o = NULL;
    natsStatus s = st == UNIBUS_OK ? natsOptions_Create(&o) : NATS_ERR;
    if (s == NATS_OK)
        s = bus_options(c, urls, n, o);
    if (s == NATS_OK)
        s = nats_auth_connect(&c->nc, o);
    if (st == UNIBUS_OK && s != NATS_OK)
        st = client_fail(c, UNIBUS_ERR_DATA_PLANE, "cannot connect to %s as %s: %s", urls[0], c->nkey,
                         nats_error_text(s));
    natsOptions_Destroy(o);
    json_decref(info);
    return st;
}

/* The sender time of the next envelope: never earlier than the last one,
 * so a session's times rise with its sequence (what the replay record's
 * expiry relies on) even when the wall clock steps back. */
static uint64_t next_time(unibus_client *c)
{
    int64_t now = clock_wall_ms();
    if (now > 0 && (uint64_t)now > c->last_time_ms)
        c->last_time_ms = (uint64_t)now;
    return c->last_time_ms;
}

static unibus_status seal_current(unibus_client *c, room_state *rs, const void *data, size_t len,
                                  const msg_kind *kind, uint8_t **out, size_t *out_len)
{
    unibus_status s = room_state_refresh(c, rs, ROOM_INFO_TTL_MS);
    uint8_t key[32];
    if (s == UNIBUS_OK) /* a new epoch nobody has keyed yet is keyed here, before sending */
        s = rotation_current_key(c, rs, key);
    if (s != UNIBUS_OK)
        return s;
    envelope_header h = {.kind = kind->kind, .epoch = room_state_epoch(rs), .sequence = ++c->sequence,
                         .time_ms = next_time(c)};
    memcpy(h.sender, busauth_identity_public_key(c->id), 32);
    memcpy(h.session, c->session, sizeof h.session);
    if (kind->answers)
        memcpy(h.answers, kind->answers, ENVELOPE_ID_LEN);
    *out_len = envelope_sealed_len(len, room_state_signed(rs));
    *out = malloc(*out_len);
    s = *out ? envelope_seal(room_state_id(rs), key, &h, room_state_signed(rs) ? c->id : NULL, data, len, *out)
             : UNIBUS_ERR_NOMEM;
    sodium_memzero(key, sizeof key);
    if (s != UNIBUS_OK) {
        free(*out);
        *out = NULL;
    }
    return s;
}

unibus_status msg_seal(unibus_client *c, room_state *rs, const void *data, size_t len, const msg_kind *kind,
                       uint8_t **out, size_t *out_len)
{
    if (room_state_e2e(rs))
        return seal_current(c, rs, data, len, kind, out, out_len);
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
        s = seal_current(c, rs, data, len, &MSG_KIND_MESSAGE, &wire, &wire_len);
    if (s == UNIBUS_OK) {
        natsStatus ns = natsConnection_Publish(c->nc, room_state_subject(rs), wire ? wire : data, (int)wire_len);
        if (ns != NATS_OK)
            s = client_fail(c, UNIBUS_ERR_DATA_PLANE, "publish to %s: %s", room_state_subject(rs),
                            natsStatus_GetText(ns));
    }
    pthread_mutex_unlock(&c->state_lock);
    free(wire);
    return s;
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
    memcpy(name, member, strlen(member) + 1); /* copied: a refresh below frees the list (names fit: 65) */
    if (is_signed && envelope_verify(in, len) != UNIBUS_OK)
        return UNIBUS_ERR_BAD_SIGNATURE;
    /* Only the current epoch is accepted: a message under a superseded key
     * could come from a removed member.  What is current is re-read at most
     * once a second, and soon when the next epoch shows up.  A failed
     * re-read leaves the epoch as it was: the message is dropped. */
    room_state_refresh_for(c, rs, h->epoch);
    /* A re-read may have dropped the sender (removed or revoked since the
     * list above was read): a message of the new epoch, or one relayed
     * after the sender left, comes from members only. */
    if (!room_state_member(rs, h->sender))
        return UNIBUS_ERR_NOT_MEMBER;
    return h->epoch == room_state_epoch(rs) ? UNIBUS_OK : UNIBUS_ERR_UNKNOWN_EPOCH;
}

/* An authentic envelope is taken once, fresh, and only as what it was sent
 * as: a message on the room, a request by the workers, a reply as the
 * answer to the very request it names. */
static unibus_status admit(unibus_client *c, const room_state *rs, const envelope_header *h, const msg_kind *kind)
{
    static const uint8_t NONE[ENVELOPE_ID_LEN];
    if (h->kind != kind->kind ||
        sodium_memcmp(h->answers, kind->answers ? kind->answers : NONE, ENVELOPE_ID_LEN) != 0)
        return UNIBUS_ERR_REPLAY;
    replay_key key = {.kind = (uint8_t)h->kind};
    memcpy(key.room, room_state_id_bin(rs), sizeof key.room);
    memcpy(key.answers, h->answers, sizeof key.answers);
    memcpy(key.sender, h->sender, sizeof key.sender);
    memcpy(key.session, h->session, sizeof key.session);
    return replay_store_admit(c->replays, &key, h->sequence, h->time_ms, clock_wall_ms());
}

static unibus_status open_envelope(unibus_client *c, room_state *rs, const uint8_t *in, size_t len,
                                   const msg_kind *kind, uint8_t *out, size_t *out_len, envelope_header *h,
                                   char name[65])
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
    /* Only authentic envelopes move the replay record. */
    return s == UNIBUS_OK ? admit(c, rs, h, kind) : s;
}

unibus_status msg_open(unibus_client *c, room_state *rs, const uint8_t *in, size_t len, bool borrow,
                       const msg_kind *kind, received *out)
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
    unibus_status s = open_envelope(c, rs, in, len, kind, out->plain, &out->plain_len, &h, out->sender_name);
    const char *member_nkey = s == UNIBUS_OK ? room_state_member_nkey(rs, h.sender) : NULL;
    if (member_nkey) /* made when the members were read, not per message */
        memcpy(out->sender, member_nkey, sizeof out->sender);
    pthread_mutex_unlock(&c->state_lock);
    if (!member_nkey && len >= ENVELOPE_HEADER_LEN)
        busauth_nkey_encode_public(h.sender, out->sender);
    out->verified = s == UNIBUS_OK && (h.flags & ENVELOPE_FLAG_SIGNED);
    return s;
}

static envelope_kind subscription_kind(const unibus_subscription *us)
{
    return us->on_request ? ENVELOPE_REQUEST : ENVELOPE_MESSAGE;
}

/* The bytes a delivered message came in, and their id once asked for. */
struct unibus_message_wire {
    const uint8_t *bytes;
    size_t len;
    bool hashed;
    uint8_t id[ENVELOPE_ID_LEN];
    char id_hex[2 * ENVELOPE_ID_LEN + 1];
};

static const uint8_t *wire_id(struct unibus_message_wire *w)
{
    if (!w->hashed) {
        envelope_id(w->bytes, w->len, w->id);
        sodium_bin2hex(w->id_hex, sizeof w->id_hex, w->id, sizeof w->id);
        w->hashed = true;
    }
    return w->id;
}

const char *unibus_message_id(const unibus_message *m)
{
    wire_id(m->wire);
    return m->wire->id_hex;
}

/* A message that passed every check (dropped ones are never hashed). */
static void deliver(unibus_subscription *us, const received *r, const uint8_t *data, size_t len, const char *reply)
{
    struct unibus_message_wire w = {.bytes = data, .len = len};
    unibus_message m = {room_state_id(us->room), r->sender, r->sender_name, r->plain, r->plain_len, r->verified, &w};
    if (us->on_request)
        us->on_request(us, &m, reply, wire_id(&w));
    else
        us->on_message(&m, us->ctx);
}

static void on_nats_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    unibus_subscription *us = closure;
    received r;
    const uint8_t *data = (const uint8_t *)natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    const msg_kind *kind = subscription_kind(us) == ENVELOPE_REQUEST ? &MSG_KIND_REQUEST : &MSG_KIND_MESSAGE;
    unibus_status s = msg_open(us->client, us->room, data, len, true, kind, &r);
    if (s == UNIBUS_OK)
        deliver(us, &r, data, len, natsMsg_GetReply(msg));
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
    us->listening = s == UNIBUS_OK && room_state_listen(us->room, subscription_kind(us));
    if (s == UNIBUS_OK && !us->listening)
        s = client_fail(c, UNIBUS_ERR_INVALID_ARG,
                        "this client already has a subscription to room %s (%s): a client takes one per room; "
                        "close it first or dispatch from its callback",
                        room, kind);
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
    if (us->listening) {
        pthread_mutex_lock(&us->client->state_lock);
        room_state_unlisten(us->room, subscription_kind(us));
        pthread_mutex_unlock(&us->client->state_lock);
    }
    pthread_cond_destroy(&us->done_cv);
    pthread_mutex_destroy(&us->lock);
    free(us);
}
