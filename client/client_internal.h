/* Shared by libunibus's source files only. */
#ifndef UNIBUS_CLIENT_INTERNAL_H
#define UNIBUS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdio.h>
#include <curl/curl.h>
#include <jansson.h>
#include <nats/nats.h>
#include "busauth/identity.h"
#include "unibus.h"

typedef struct room_state room_state;
typedef struct replay_store replay_store;

struct unibus_client {
    pthread_mutex_t http_lock;  /* the curl handle: user thread and nats.c callbacks share it */
    pthread_mutex_t state_lock; /* rooms, replay record, sequence, clock */
    room_state *rooms;
    replay_store *replays;      /* opened with the data plane */
    char *replay_path;
    uint8_t session[16];        /* this client's sender session */
    uint64_t sequence;
    uint64_t last_time_ms;      /* sender times never go backwards within the session */
    natsConnection *nc;         /* the data plane, connected on first use */
    pthread_mutex_t bus_lock;
    pthread_cond_t bus_closed_cv;
    bool bus_closed;            /* nats.c's closed callback has run */
    bool bus_closing;           /* client_bus_close began: the close is ours, not the server's */
    unibus_event_fn on_event;
    void *event_ctx;
    char *url;
    char *ca_file;
    busauth_identity *id;
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    CURL *curl;                 /* one handle: keep-alive across requests */
    uint8_t server_key[BUSAUTH_KEY_BYTES];
    char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    bool first_use;
    bool learning_key;          /* GET /v1/info at open: take the key it presents */
    char error[512];
};

/* Sets c->error from a format and returns status. */
unibus_status client_fail(unibus_client *c, unibus_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What a request carries: JSON text, or a file of file_len bytes; sha256
 * is the body's hash either way. */
typedef struct {
    const char *text;
    FILE *file;
    size_t file_len;
    uint8_t sha256[32];
} call_body;

/* A signed request to the control plane whose response must carry a valid
 * server signature.  body may be NULL.  On UNIBUS_OK *json is the parsed
 * response (the caller's), or NULL for an empty or non-JSON one. */
unibus_status client_call(unibus_client *c, const char *method, const char *target, const char *body,
                          json_t **json);

/* As client_call, with a raw body and, when sink is given, the response
 * body written to sink (and verified against the server's signature). */
unibus_status client_call_raw(unibus_client *c, const char *method, const char *target, const call_body *body,
                              FILE *sink, json_t **json);

/* s, or when s is UNIBUS_OK and the answer's field is not expected (an
 * answer about another thing than the one asked for), a refusal. */
unibus_status client_answer_about(unibus_client *c, unibus_status s, const json_t *answer, const char *field,
                                  const char *expected, const char *what);

/* Closes the data-plane connection, once nats.c is done calling back. */
void client_bus_close(unibus_client *c);

/* The caller's key of a room for an epoch (0: the current one). */
unibus_status client_room_key(unibus_client *c, const char *room_id, uint32_t epoch, uint8_t key[32],
                              uint32_t *got_epoch);

#endif
