/* The pieces of the data plane that publishing, subscribing and
 * request/reply share.  Internal to libunibus. */
#ifndef UNIBUS_MESSAGING_H
#define UNIBUS_MESSAGING_H

#include "client_internal.h"
#include "envelope.h"
#include "room_state.h"

/* What an envelope is sent as, and so what a receiver takes it as: a reply
 * also names the request it answers (envelope_id). */
typedef struct {
    envelope_kind kind;
    const uint8_t *answers; /* ENVELOPE_ID_LEN bytes for a reply; NULL otherwise */
} msg_kind;
extern const msg_kind MSG_KIND_MESSAGE, MSG_KIND_REQUEST;

struct unibus_subscription {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    bool done;                 /* nats.c will call back no more */
    unibus_client *client;
    room_state *room;
    bool listening;            /* holds room_state_listen for its kind */
    natsSubscription *sub;
    unibus_message_fn on_message;
    unibus_drop_fn on_drop;
    /* Set for request handlers: gets each opened request, its reply subject
     * and its id (envelope_id: what the answer names). */
    void (*on_request)(unibus_subscription *us, const unibus_message *request, const char *reply_to,
                       const uint8_t request_id[32]);
    unibus_handler_fn handler;
    void *ctx;
};

/* A message as received and checked. */
typedef struct {
    uint8_t *plain;            /* malloc'd, the caller's; or the wire bytes when borrowed */
    size_t plain_len;
    char sender[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    char sender_name[65];
    bool verified;
    bool borrowed;
} received;

unibus_status bus_connect(unibus_client *c);
/* The bytes to put on the wire for data in rs (sealed when e2e, as kind);
 * malloc'd. */
unibus_status msg_seal(unibus_client *c, room_state *rs, const void *data, size_t len, const msg_kind *kind,
                       uint8_t **out, size_t *out_len);
/* Every check of dev/message-envelope.md, taking the envelope only as kind;
 * r->plain is set even on failure. */
/* With borrow, a cleartext message's plain points into in (no copy: the
 * caller keeps in alive and does not free plain; r->borrowed says so). */
unibus_status msg_open(unibus_client *c, room_state *rs, const uint8_t *in, size_t len, bool borrow,
                       const msg_kind *kind, received *r);
/* A new subscription with template's callbacks, to unibus.room.<id>.<kind>
 * (in a queue group when queue is given); *out is NULL on failure. */
unibus_status msg_subscription_new(unibus_client *c, const char *room, const char *kind, const char *queue,
                                   const unibus_subscription *template, unibus_subscription **out);

#endif
