/*
 * libunibus: a peer of a unibus message bus.
 *
 * Every call returns a unibus_status; unibus_strerror() names it and
 * unibus_client_error() gives the last failure's detail in one line.
 * Ownership: objects returned through an out-pointer belong to the caller,
 * who releases them with the matching _close/_free.  Strings passed in are
 * copied.  Thread-safety: a unibus_client may be used from one thread at a
 * time; distinct clients are independent.  The library keeps no global
 * state beyond what libsodium, libcurl and nats.c keep.
 */
#ifndef UNIBUS_H
#define UNIBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNIBUS_API __attribute__((visibility("default")))

typedef enum {
    UNIBUS_OK = 0,
    UNIBUS_ERR_INVALID_ARG,   /* a NULL, an empty or malformed argument */
    UNIBUS_ERR_CONFIG,        /* e.g. an http:// control URL together with a CA file */
    UNIBUS_ERR_IDENTITY,      /* the seed file is missing, exposed or not a seed */
    UNIBUS_ERR_NETWORK,       /* the control plane cannot be reached */
    UNIBUS_ERR_TLS,           /* the server's certificate does not verify */
    UNIBUS_ERR_SERVER_KEY,    /* a response not signed by the pinned server key as the answer to this request */
    UNIBUS_ERR_AUTH,          /* the server does not know this key (or revoked it) */
    UNIBUS_ERR_CLOCK_SKEW,    /* this machine's clock is too far from the server's */
    UNIBUS_ERR_FORBIDDEN,
    UNIBUS_ERR_NOT_FOUND,
    UNIBUS_ERR_CONFLICT,
    UNIBUS_ERR_RATE_LIMITED,
    UNIBUS_ERR_SERVER,        /* the server failed (5xx) */
    UNIBUS_ERR_PROTOCOL,      /* an answer that does not follow the API */
    UNIBUS_ERR_CRYPTO,        /* a sealed room key that does not open for us */
    UNIBUS_ERR_MALFORMED,     /* a message that is not an envelope */
    UNIBUS_ERR_UNKNOWN_EPOCH, /* sealed under a key epoch we do not hold, or a superseded one */
    UNIBUS_ERR_BAD_SIGNATURE, /* a signed envelope whose signature fails, or an unsigned one in a signed room */
    UNIBUS_ERR_DECRYPT,       /* authentication tag does not verify */
    UNIBUS_ERR_NOT_MEMBER,    /* sent by someone not in the room */
    UNIBUS_ERR_REPLAY,        /* seen before by this identity, or moved to another subject or request */
    UNIBUS_ERR_DATA_PLANE,    /* the NATS connection failed or refused an operation */
    UNIBUS_ERR_TIMEOUT,
    UNIBUS_ERR_NOMEM,
    UNIBUS_ERR_STALE          /* sent over 30 s ago, or by a clock over 5 s ahead of ours */
} unibus_status;

UNIBUS_API const char *unibus_strerror(unibus_status status);
/* The library's version, "MAJOR.MINOR.PATCH" (static storage). */
UNIBUS_API const char *unibus_version_string(void);

/* Creates a new identity: a seed file at path (0600, never overwriting)
 * whose public key, as a NATS user nkey, goes to nkey.  The seed is never
 * returned. */
UNIBUS_API unibus_status unibus_identity_create(const char *path, char nkey[57]);

/* How long, by default, a request refused with 503 and Retry-After (the
 * bus log has no quorum or elects a leader: 4-9 s) is retried. */
#define UNIBUS_RETRY_SECONDS_DEFAULT 15

typedef struct {
    /* The control plane: one URL, e.g. https://bus.example.org:8470, or the
     * nodes of one bus separated by commas (at most 16, one scheme, each
     * once): https://a:8470,https://b:8470.  Requests go to the first that
     * answers and stay with the one that last answered; one that cannot be
     * reached is passed for the next (a certificate or key that does not
     * verify is not: that fails).  Each node's key is its own: pinned or
     * recorded per URL. */
    const char *url;
    const char *ca_file;       /* PEM trust for the control and data planes; NULL: system trust */
    const char *identity_file; /* the peer's seed file (mode 0600) */
    const char *server_key;    /* the server's nkey to pin, or NULL; with a single URL only */
    const char *known_servers; /* trust-on-first-use file when server_key is NULL, or NULL */
    /* What this identity received in the last 35 s, shared by all its
     * processes so none takes a message twice: a file of yours (0600, made
     * if missing) in a directory only you can write.  NULL: identity_file
     * followed by ".replay". */
    const char *replay_file;
    /* How long a request refused with 503 and Retry-After is tried again
     * (after the wait the server asks, on the next node); 0: the default,
     * UNIBUS_RETRY_SECONDS_DEFAULT.  No try starts after it, but one under
     * way runs its course (the server may hold it up to 10 s).  A change
     * refused for lack of quorum may still take effect: a retry answered
     * 404 or 409 says so in its error. */
    unsigned retry_seconds;
} unibus_config;

typedef struct unibus_client unibus_client;

/* What happens to the data-plane connection, for the caller to surface. */
typedef enum {
    UNIBUS_EVENT_DISCONNECTED,
    UNIBUS_EVENT_RECONNECTED,
    UNIBUS_EVENT_CLOSED,            /* for good, by the server: e.g. the identity was revoked */
    UNIBUS_EVENT_PERMISSION_DENIED  /* the server refused a subject */
} unibus_event;
typedef void (*unibus_event_fn)(unibus_event event, const char *detail, void *ctx);

/* Loads the identity, reaches the control plane (the first URL that
 * answers) and establishes which server key to trust: the pinned one, the
 * one known_servers recorded for this URL, or (first use) the one the
 * server presents, which is then recorded; another node met later is
 * settled the same way when requests first go to it.  Refuses an http://
 * URL when ca_file is given, and a pinned key with several URLs.  Like
 * sqlite3_open, *out is set even on failure (unless memory ran out), so
 * unibus_client_error() can say why; close it either way. */
UNIBUS_API unibus_status unibus_client_open(const unibus_config *cfg, unibus_client **out);
UNIBUS_API void unibus_client_close(unibus_client *c); /* NULL is accepted */
/* One line about the last failure of a call on c; "" when none. */
UNIBUS_API const char *unibus_client_error(const unibus_client *c);

/* The control-plane URL requests go to now (one of the list), its server
 * key as an nkey, and whether this client recorded a key for the first
 * time (the caller should say so on screen). */
UNIBUS_API const char *unibus_client_url(const unibus_client *c);
UNIBUS_API const char *unibus_client_server_key(const unibus_client *c);
UNIBUS_API bool unibus_client_first_use(const unibus_client *c);

typedef struct {
    char name[65];
    char nkey[57];
    bool admin;
    bool revoked;
} unibus_user;

UNIBUS_API unibus_status unibus_client_whoami(unibus_client *c, unibus_user *out);

/* Joins the bus with a member join token (membershipd token create --role
 * member): the server allowlists this client's identity under the name
 * the token was made for, and out says who that is.  The token never
 * leaves this process: its key signs a proof for this server and this
 * identity only (dev/pki.md).  The token names its server: open c with
 * that key pinned (unibus_join_token_server_key); another server is
 * refused.  The library wipes its copies; the caller wipes its own. */
UNIBUS_API unibus_status unibus_client_join(unibus_client *c, const char *token, unibus_user *out);
/* The server key (an nkey) a join token is for. */
UNIBUS_API unibus_status unibus_join_token_server_key(const char *token, char nkey[57]);

typedef struct {
    char id[33];
    char name[129];
    bool e2e;          /* false: cleartext (loopback deployments only) */
    bool sign;         /* false: members can impersonate each other */
    uint32_t epoch;
} unibus_room;

/* Up to cap rooms the caller belongs to; *n is how many there are. */
UNIBUS_API unibus_status unibus_rooms_list(unibus_client *c, unibus_room *rooms, size_t cap, size_t *n);
/* Finds a room of the caller's by id or, failing that, by name. */
UNIBUS_API unibus_status unibus_room_find(unibus_client *c, const char *room, unibus_room *out);

/* Creates a room.  An e2e room gets a fresh 32-byte key for epoch 1,
 * sealed to the caller; sign=false trades sender authenticity among
 * members for speed: any member can then impersonate any other. */
UNIBUS_API unibus_status unibus_room_create(unibus_client *c, const char *name, bool e2e, bool sign, unibus_room *out);
/* Adds the user with public key nkey, sealing the current room key to it. */
UNIBUS_API unibus_status unibus_room_add(unibus_client *c, const char *room, const char *nkey);
/* Removes a member (or, with the caller's own key, leaves).  In an e2e
 * room this opens a new key epoch: a fresh key is sealed to each remaining
 * member and uploaded, so the removed member cannot read what follows. */
UNIBUS_API unibus_status unibus_room_remove(unibus_client *c, const char *room, const char *nkey);

typedef struct {
    char name[65];
    char nkey[57];
    bool owner;
} unibus_member;

/* Up to cap members of room (a name or id, one of the caller's rooms); *n
 * is how many there are.  Every member may see who reads the room. */
UNIBUS_API unibus_status unibus_room_members(unibus_client *c, const char *room, unibus_member *members, size_t cap,
                                             size_t *n);

/* Called on nats.c's threads; set before the first publish or subscribe. */
UNIBUS_API void unibus_client_on_event(unibus_client *c, unibus_event_fn fn, void *ctx);

/* Sends data to a room: sealed and (unless the room is unsigned) signed in
 * an e2e room, as is in a cleartext one. */
UNIBUS_API unibus_status unibus_room_publish(unibus_client *c, const char *room, const void *data, size_t len);

typedef struct {
    const char *room_id;
    const char *sender_nkey;  /* as the envelope claims: proven only when verified */
    const char *sender_name;  /* "" when unknown (cleartext rooms) */
    const uint8_t *data;
    size_t len;
    bool verified;            /* signed e2e room: the sender is proven */
    struct unibus_message_wire *wire; /* the library's: unibus_message_id reads it */
} unibus_message;

/* The message's id: 64 hex, BLAKE2b-256 of the bytes as received (a
 * replayed copy has the same).  Hashed on the first call only, since the
 * hash costs as much as a whole cleartext delivery; valid as long as m. */
UNIBUS_API const char *unibus_message_id(const unibus_message *m);

/* A delivered message; valid only during the call.  Called on nats.c's
 * threads, one message at a time per subscription. */
typedef void (*unibus_message_fn)(const unibus_message *m, void *ctx);
/* A message dropped and why (tampered, replayed, from a non-member, under
 * an old key...); claimed_sender may be "". */
typedef void (*unibus_drop_fn)(const char *room_id, unibus_status why, const char *claimed_sender, void *ctx);

typedef struct unibus_subscription unibus_subscription;

/* Delivers the room's messages to on_message until closed; on_drop may be
 * NULL.  The subscription must be closed before its client.  A client has
 * at most one subscription per room (UNIBUS_ERR_INVALID_ARG otherwise):
 * dispatch from one callback. */
UNIBUS_API unibus_status unibus_room_subscribe(unibus_client *c, const char *room, unibus_message_fn on_message,
                                               unibus_drop_fn on_drop, void *ctx, unibus_subscription **out);
UNIBUS_API void unibus_subscription_close(unibus_subscription *s); /* NULL is accepted */

/* Sends a request to the room's workers (one of them answers) and waits up
 * to timeout_ms for the answer, which is checked like any message (e2e:
 * sealed, signed, from a member, fresh) and must name this very request.
 * Anything else on the reply subject (any member may publish there) is
 * dropped and the wait goes on; with no answer by the deadline,
 * UNIBUS_ERR_TIMEOUT, whose error names what was dropped.  *reply is the
 * caller's: unibus_free. */
UNIBUS_API unibus_status unibus_room_request(unibus_client *c, const char *room, const void *data, size_t len,
                                             int timeout_ms, uint8_t **reply, size_t *reply_len);

/* An answer, and who gave it: any member may answer a request, so a
 * requester that expects a given worker checks answerer. */
typedef struct {
    uint8_t *data;            /* the caller's: unibus_free */
    size_t len;
    char answerer[57];        /* the answering member's nkey, as the envelope claims */
    bool verified;            /* signed e2e room: the answerer is proven */
} unibus_answer;

/* unibus_room_request, telling who answered. */
UNIBUS_API unibus_status unibus_room_ask(unibus_client *c, const char *room, const void *data, size_t len,
                                         int timeout_ms, unibus_answer *out);

/* A worker's answer to one request: set *reply (malloc'd; the library frees
 * it) and *reply_len, and return UNIBUS_OK; anything else sends no reply. */
typedef unibus_status (*unibus_handler_fn)(const unibus_message *request, uint8_t **reply, size_t *reply_len,
                                           void *ctx);

/* Answers the room's requests with fn, one at a time, sharing them with
 * other workers of the room (other clients; one per room in a client).  A
 * request is run at least once: a member can replay one within the 30 s
 * window to another worker, which has not seen it (dev/request-reply.md);
 * a handler whose effect must happen once remembers unibus_message_id(request) for 35 s.
 * Close with unibus_subscription_close. */
UNIBUS_API unibus_status unibus_room_serve(unibus_client *c, const char *room, unibus_handler_fn fn, void *ctx,
                                           unibus_subscription **out);

/* A blob reference: "blob:" room-id ":" sha256-hex ":" key-base64url.  It
 * holds the blob's key: share it only inside the room (a message there is
 * sealed like any other). */
#define UNIBUS_BLOB_REF_MAX 160

/* Encrypts the file at path with a fresh key (crypto_secretstream, 64 KiB
 * chunks, through a private temporary file, so memory stays small), uploads
 * the ciphertext to the room by its SHA-256 and fills ref. */
UNIBUS_API unibus_status unibus_blob_put(unibus_client *c, const char *room, const char *path,
                                         char ref[UNIBUS_BLOB_REF_MAX]);
/* Downloads the blob ref names, checks its SHA-256, decrypts it to a new
 * file at path (0600, never overwriting). */
UNIBUS_API unibus_status unibus_blob_get(unibus_client *c, const char *ref, const char *path);

/* Frees what the library returned through an out-pointer. */
UNIBUS_API void unibus_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
