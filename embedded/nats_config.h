/*
 * The nats-server configuration membershipd generates: listener, limits,
 * TLS, and an nkey allowlist whose permissions come from room membership.
 * Only validated tokens (nkeys encoded here from raw keys, 32-hex room ids,
 * IP literals, checked paths) ever reach the file, so nothing a user
 * controls can change its structure.  See dev/data-plane.md.
 */
#ifndef EMBEDDED_NATS_CONFIG_H
#define EMBEDDED_NATS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NATSCONF_ROOM_ID_LEN 32
/* Answers travel on REPLY_PREFIX <requester nkey> . <room id> . <random>
 * (dev/request-reply.md): the grants here and the subjects libunibus makes. */
#define NATSCONF_REPLY_PREFIX "unibus.reply."
/* The accounts: the peers (and membershipd's own user, with no rights) in
 * BUS; membershipd's monitoring user in the system account, which may ask
 * for the accounts' counters (server/events.go). */
#define NATSCONF_PEERS_ACCOUNT "BUS"
#define NATSCONF_SYSTEM_ACCOUNT "SYS"
#define NATSCONF_LOG_ACCOUNT "CTRL"
/* Fixed: nats-server 2.9 cannot change them on reload (FACTS.md, trap 6). */
#define NATSCONF_JETSTREAM_MAX_MEM "64M"
#define NATSCONF_JETSTREAM_MAX_FILE "8G"
#define NATSCONF_SYS_ACCOUNTS_STATZ "$SYS.REQ.ACCOUNT.PING.STATZ"

/* A route to another node: an IP literal (IPv6 without brackets) or a DNS
 * name, and a port. */
#define NATSCONF_HOST_MAX 253
typedef struct {
    char host[NATSCONF_HOST_MAX + 1];
    unsigned port;
} natsconf_route;

#define NATSCONF_NAME_MAX 64            /* cluster and server names: [A-Za-z0-9_-] */
#define NATSCONF_PIN_LEN 64             /* hex SHA-256 of a SubjectPublicKeyInfo */
#define NATSCONF_ROUTE_PASSWORD_LEN 64  /* lowercase hex */
#define NATSCONF_ROUTE_USER "unibus-route"

/* The routes between the nodes of a bus (dev/cluster.md): a shared secret
 * and mutual TLS, always both, with the peer's key pinned. */
typedef struct {
    const char *name;           /* the cluster's */
    const char *server_name;    /* this node's, unique in the cluster */
    unsigned port;              /* listens on natsconf.host */
    const natsconf_route *routes;
    size_t nroutes;
    const char *password;       /* derived from the route secret */
    const char *tls_cert, *tls_key, *tls_ca;
    /* Never empty: nats-server 2.9 reads an empty list as "pin nothing". */
    const char (*pins)[NATSCONF_PIN_LEN + 1];
    size_t npins;
} natsconf_cluster;

typedef struct {
    uint8_t public_key[32];
    char (*room_ids)[NATSCONF_ROOM_ID_LEN + 1];
    size_t nrooms;
} natsconf_user;

/* The users' blocks of the last rendering, kept for the next: a user whose
 * key and rooms are the same is written from here, not rendered again.
 * Public keys and room ids only: nothing secret.  Used by one rendering at
 * a time (the caller's lock or thread). */
typedef struct natsconf_blocks natsconf_blocks;

/* NULL when memory runs out; release with natsconf_blocks_free. */
natsconf_blocks *natsconf_blocks_new(void);
void natsconf_blocks_free(natsconf_blocks *b);

typedef struct {
    const char *host;           /* an IP literal */
    unsigned port;
    size_t max_payload;
    unsigned max_connections;
    const char *tls_cert, *tls_key; /* both NULL without TLS */
    bool authorization;         /* false only for --bus-auth off on loopback */
    uint8_t internal_key[32];   /* membershipd's own user: connect, nothing else */
    uint8_t system_key[32];     /* the system account's one user: monitoring requests only */
    /* The bus log (dev/control-log.md): JetStream in the account CTRL,
     * whose one user is this node's membershipd; NULL: no log. */
    const char *jetstream_dir;
    uint8_t log_key[32];
    const natsconf_user *users;
    size_t nusers;
    /* Users being removed: still listed, denied everything (the first of
     * a removal's two reloads, dev/cluster.md). */
    const uint8_t (*retiring)[32];
    size_t nretiring;
    const natsconf_cluster *cluster; /* NULL: a single node */
    natsconf_blocks *blocks;    /* NULL: every user's block rendered */
} natsconf;

/* True when a path can be written into the file as a quoted string. */
bool natsconf_path_ok(const char *path);

/* True for a cluster block that can be rendered (everything above holds). */
bool natsconf_cluster_valid(const natsconf_cluster *cluster);
/* True for a cluster or server name. */
bool natsconf_name_ok(const char *name);
/* True for a route host (see natsconf_route). */
bool natsconf_route_host_ok(const char *host);

/* The configuration text (malloc'd, NUL-terminated: the caller wipes it
 * before freeing, for the route password), or NULL when a value fails
 * validation or memory runs out.  size_hint: the length expected (the
 * last text's), or 0; rendering leaves no other copy behind. */
char *natsconf_render(const natsconf *conf, size_t size_hint);

/* "nats://host:port" or "tls://host:port", an IPv6 host in brackets. */
void natsconf_url(bool tls, const char *host, unsigned port, char *out, size_t len);
/* "SCHEME://host:port" ("[v6]" bracketed): the control plane's URL too. */
void natsconf_host_url(const char *scheme, const char *host, unsigned port, char *out, size_t len);

/* What a rendered configuration listens on, read back by those who did
 * not write it (membershipd doctor). */
typedef struct {
    char host[64];              /* the data plane's listen address, without brackets */
    unsigned port;
    bool tls, authorization;
    bool system_account;        /* the system account's user exists (monitoring) */
    bool log;                   /* the bus log's account exists (JetStream) */
    bool cluster;               /* routes to other nodes */
    size_t routes;              /* how many (the bus has one node more) */
    char tls_cert[4096];        /* the certificate the data plane serves, "" without TLS */
    size_t max_payload;
} natsconf_listeners;

/* 0, or -1 when text has no well-formed listen line. */
int natsconf_parse_listeners(const char *text, natsconf_listeners *out);

/* Replaces path with text atomically (temporary file, rename), 0600; not
 * durably: the text is derived state, rendered again at every start.  The
 * peers' users list goes to the file natsconf_users_path names, written
 * first, which path then includes (why: nats_config.c). */
int natsconf_write(const char *path, const char *text);
#define NATSCONF_USERS_SUFFIX ".users"
/* Where natsconf_write puts path's users list: 0, or -1 when too long. */
int natsconf_users_path(const char *path, char *out, size_t len);

#endif
