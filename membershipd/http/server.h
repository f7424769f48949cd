/*
 * The control-plane server: shared state, the request being handled, and
 * the reply a handler produces.  http_server.c drives libmicrohttpd;
 * request_auth.c authenticates; routes.c dispatches to the api_*.c
 * handlers; reply.c turns a reply into a signed HTTP response.
 */
#ifndef MEMBERSHIPD_SERVER_H
#define MEMBERSHIPD_SERVER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <sodium.h>
#include "busauth/identity.h"
#include "busauth/signing.h"
#include "membershipd/http/nonce_cache.h"
#include "membershipd/http/ratelimit.h"
#include "membershipd/http/request_floor.h"
#include "embedded/node_report.h"
#include "membershipd/config/serve_config.h"
#include "membershipd/store/store.h"

#define TARGET_MAX 1024
#define JSON_BODY_LIMIT (1024 * 1024)
/* 16 MiB of content plus what client-side encryption adds to it. */
#define BLOB_BODY_LIMIT (16 * 1024 * 1024 + 64 * 1024)
/* About 16,000 signed requests a second sustained over the replay window;
 * 33 bytes each, resident as the cache fills (1 MiB of chains at once). */
#define NONCE_CACHE_CAPACITY 1000000
#define NONCE_TTL_MS (2 * BUSAUTH_REQUEST_SKEW_MS + 1000)
#define RATELIMIT_SLOTS 65536
#define HTTP_RETIRED_MAX 8
/* Audit rows for failed authentications, server-wide (routes.c). */
#define AUDIT_FAILED_AUTH_RATE 5
#define AUDIT_FAILED_AUTH_BURST 50
#define AUDIT_SUPPRESSED_LOG_MS 60000
/* Audit rows for the refused authentications of one allowlisted key
 * (active or revoked): its own budget, which strangers cannot spend. */
#define AUDIT_KEY_RATE 1
#define AUDIT_KEY_BURST 20
/* POST /v1/join per client IP, on top of the limit every request has:
 * a token is 256 bits, but each guess costs a store lookup.  There is no
 * server-wide join limit: it let five addresses hold up every honest join
 * (dev/pki.md, "Join tokens"). */
#define JOIN_RATE 0.2
#define JOIN_BURST 10
#define JOIN_BODY_LIMIT (80 * 1024)

struct ctllog;

typedef struct server {
    serve_config cfg;
    cluster_setup cluster;      /* in cluster mode: the data plane's routes */
    struct ctllog *log;         /* the bus log (membershipd/ctllog), started by serve; NULL with --bus-auth off */
    /* A cluster node's: after a change is in force here, waits for the
     * other nodes; how many did not confirm, named in lagging. */
    size_t (*wait_in_force)(struct server *srv, char *lagging, size_t len);
    atomic_ullong cluster_unconfirmed; /* changes answered before every node confirmed */
    /* A cluster node's: how stale its state may be (ms, 0 when it is
     * current: ctllog_stale_ms), said on every answer; whether it hears
     * most nodes; whether it admits no peer now (cut off for longer than
     * --max-stale: signed requests are refused too). */
    int64_t (*stale_ms)(struct server *srv);
    bool (*quorum)(struct server *srv);
    bool (*cut_off)(struct server *srv);
    /* A cluster node's: every node heard from, as it said lately (at most
     * cap into out; how many there are), and how often the bus log's
     * leader changed. */
    size_t (*cluster_nodes)(struct server *srv, node_heard *out, size_t cap);
    uint64_t (*leader_changes)(struct server *srv);
    /* The bus log's stream leader as last read (every 5 s), "" unknown. */
    void (*log_leader)(struct server *srv, char *out, size_t len);
    busauth_identity *log_user; /* its account's user (server_identity.h) */
    store *store;
    pthread_mutex_t store_lock; /* one SQLite connection, one thread at a time */
    busauth_identity *identity;
    char identity_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_identity *system_user; /* nats-server's system account: monitoring (server_identity.h) */
    ratelimit *limits;
    ratelimit *audit_budget;    /* AUDIT_FAILED_AUTH_*: one bucket for all */
    ratelimit *join_limits;     /* JOIN_RATE, JOIN_BURST per client IP */
    ratelimit *member_limits;   /* --member-rate, --member-burst: a member's changes */
    ratelimit *key_audit;       /* AUDIT_KEY_RATE, AUDIT_KEY_BURST per allowlisted key */
    atomic_uint audit_suppressed;
    atomic_llong audit_suppressed_logged_ms;
    nonce_cache *nonces;
    request_floor floor;        /* signed-request times across restarts */
    struct http_daemon *daemon;             /* takes new connections */
    struct http_daemon *retired[HTTP_RETIRED_MAX]; /* rotated out, serving their own (http_daemons.c) */
    struct conn_guard *conns;
    struct metrics_server *metrics;         /* --metrics-addr, or NULL */
    struct dataplane *dataplane;
    struct audit_syslog *audit_syslog;
    int64_t cert_not_after, cert_renew_at; /* the control plane's certificate, Unix s (0: no TLS) */
    bool cert_renew_logged;     /* tls_cert_renew_due said once for it */
    unsigned port;
    atomic_int in_flight;
} server;

struct route;

#define ROUTE_MAX_PARAMS 2
#define ROUTE_PARAM_MAX 64

typedef struct request {
    char id[17];
    char target[TARGET_MAX + 1];
    bool target_too_long;
    const char *method;
    const char *query;          /* after '?' in target, or "" */
    char ip[INET6_ADDRSTRLEN];
    struct sockaddr_storage peer;
    int64_t started_ms;         /* monotonic */
    const struct route *route;
    char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX + 1];
    size_t body_limit;
    uint8_t *body;
    size_t body_len, body_cap;
    crypto_hash_sha256_state hash;
    uint8_t body_sha256[BUSAUTH_SHA256_BYTES];
    char nonce[BUSAUTH_NONCE_HEX_LEN + 1]; /* the request's, once well-formed */
    char claimed_key[BUSAUTH_NKEY_PUBLIC_LEN + 1]; /* X-Unibus-Key, once well-formed */
    uint8_t claimed_public_key[BUSAUTH_KEY_BYTES];
    char signed_time[BUSAUTH_TIME_MAX_LEN + 1];     /* set once every header is well-formed */
    char signature[BUSAUTH_SIG_B64_LEN + 1];
    bool verified;              /* the signature verified: the answer is signed over request_sha256 */
    uint8_t request_sha256[BUSAUTH_SHA256_BYTES]; /* of the request's canonical string */
    bool has_caller;            /* caller holds an active user */
    store_user caller;          /* id 0: the key is on no allowlist row, active or revoked */
    bool change_charged;        /* a token of the member's --member-rate budget paid for it */
    bool started, responded;
    unsigned status;
    const char *error_code;
} request;

/* A body read piece by piece while it is sent (application/octet-stream),
 * so a slow reader costs one buffer, not the body.  Its SHA-256 is known
 * beforehand: the response signature covers it. */
typedef struct {
    uint64_t size;
    uint8_t sha256[BUSAUTH_SHA256_BYTES];
    /* Copies up to max bytes from pos on into buf: how many (at least 1),
     * or -1 when the content is gone (the connection is then dropped). */
    ssize_t (*read)(void *ctx, uint64_t pos, char *buf, size_t max);
    void (*release)(void *ctx);
    void *ctx;                  /* owned: given to release */
} reply_stream;

typedef struct {
    unsigned status;
    json_t *json;               /* owned */
    reply_stream stream;        /* the body instead of json, when stream.read is set */
    const char *error_code;
    bool denied;                /* an authorization refusal, to audit */
    unsigned retry_after_s;
    char unconfirmed[256];      /* nodes that did not confirm the change in time (X-Unibus-Unconfirmed-Nodes) */
} reply;

/* Fills out with {"error": {"code", "message"}}. */
void reply_error(reply *out, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Takes ownership of json. */
void reply_json(reply *out, unsigned status, json_t *json);
/* A 404 for something the caller may not know exists, audited as denied. */
void reply_hidden(reply *out, const char *what);
/* 500 store_failure, for a store error the caller cannot fix. */
void reply_store_failure(reply *out, store_status status);

/* The actor for audit entries about this request. */
store_actor request_actor(const request *req);

#endif
