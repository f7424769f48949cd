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
#include "url_list.h"

typedef struct room_state room_state;

/* One control-plane node of the bus and the key it signs with (each node
 * has its own server.seed): settled the first time the node is used. */
typedef struct {
    const char *url;           /* in the client's url_list */
    uint8_t key[BUSAUTH_KEY_BYTES];
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1]; /* "" until settled */
} client_node;
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
    url_list urls;
    client_node nodes[URL_LIST_MAX];
    client_node *node;          /* the one requests go to: the last that answered */
    char *known_servers;
    char *pinned_key;           /* only with a single URL */
    int64_t retry_bound_ms;     /* writes refused with 503 + Retry-After are retried this long */
    char *ca_file;
    busauth_identity *id;
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    CURL *curl;                 /* one handle: keep-alive across requests */
    bool first_use;
    bool learning_key;          /* GET /v1/info to a node met first: take the key it presents */
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

/* GET-like: one request to c->node alone, no other node tried and no 503
 * retried, with http_lock held; *unreachable when nothing reached it. */
unibus_status client_call_node(unibus_client *c, const char *method, const char *target, json_t **json,
                               bool *unreachable);

/* s, after every node was tried and none reached: said so when there are several. */
unibus_status client_fail_unreachable(unibus_client *c, unibus_status s);

/* Makes node the one requests go to, first learning and checking its key
 * when it has none yet (client.c): the pinned key, else the one the
 * known-servers file holds for its URL, else the one it presents, then
 * recorded.  With *unreachable set when nothing reached it. */
unibus_status client_node_settle(unibus_client *c, client_node *node, bool *unreachable);

/* Closes the data-plane connection, once nats.c is done calling back. */
void client_bus_close(unibus_client *c);

/* The caller's key of a room for an epoch (0: the current one). */
unibus_status client_room_key(unibus_client *c, const char *room_id, uint32_t epoch, uint8_t key[32],
                              uint32_t *got_epoch);

#endif
