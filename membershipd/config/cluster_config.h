/*
 * The cluster flags of `membershipd serve` (dev/cluster.md): checked by the
 * boot guard (guard_cluster.c) before anything listens, then turned into
 * the data plane's cluster block.
 */
#ifndef MEMBERSHIPD_CLUSTER_CONFIG_H
#define MEMBERSHIPD_CLUSTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "embedded/nats_config.h"

#define CLUSTER_DEFAULT_PORT 6250
#define CLUSTER_ROUTES_MAX 32
#define CLUSTER_PINS_MAX 64
#define CLUSTER_JOIN_PINS_FILE "route-pins" /* beside --route-tls-cert: membershipd join / cert issue write it */
#define CLUSTER_SECRET_MIN 32      /* bytes, after a trailing newline is dropped */
#define CLUSTER_SECRET_MAX 4096
#define CLUSTER_DEFAULT_MAX_STALE_S 30 /* without quorum for longer: no peers admitted (dev/cluster.md) */
#define CLUSTER_MAX_STALE_MAX_S 86400

/* The flags as typed (NULL when not given); port is parsed. */
typedef struct {
    const char *name, *server_name, *routes, *secret_file;
    const char *tls_cert, *tls_key, *tls_ca;
    const char *port_text, *max_stale_text;
    unsigned port, max_stale_s;
} cluster_config;

/* Whether any cluster flag was given: then the node is in cluster mode
 * and every rule of guard_cluster.c applies. */
bool cluster_configured(const cluster_config *c);

/* --routes: "[nats-route://]HOST:PORT[,...]", HOST an IP literal ([v6]
 * bracketed) or a DNS name; never a user or password.  0, or -1 with one
 * line in why. */
int cluster_routes_parse(const char *text, natsconf_route *out, size_t cap, size_t *n, char *why, size_t len);

/* The route password every node derives from the same secret file: hex of
 * SHA-256("unibus-route-password-v1\n" || secret), so no byte of the
 * secret has to be quoted into nats-server's file or a route URL.  The
 * file must be a regular file of this user's, mode 0600 or stricter, and
 * hold CLUSTER_SECRET_MIN bytes at least.  0, or -1 with one line in why. */
int cluster_route_password(const char *secret_file, char out[NATSCONF_ROUTE_PASSWORD_LEN + 1], char *why,
                           size_t len);

/* What the data plane is given for routes: the cluster block (pins left
 * to the store, dev/cluster.md), its routes and password, and this node's
 * own route key.  Lives as long as the data plane. */
typedef struct {
    natsconf_cluster block;
    natsconf_route routes[CLUSTER_ROUTES_MAX];
    char password[NATSCONF_ROUTE_PASSWORD_LEN + 1];
    char self_pin[NATSCONF_PIN_LEN + 1];
    /* The route keys the bus pinned when this node's certificate was
     * issued: pinned until its store knows the bus's own. */
    char join_pins[CLUSTER_PINS_MAX][NATSCONF_PIN_LEN + 1];
    size_t njoin_pins;
    char route_ca_sha256[65]; /* the bus CA: --route-tls-ca's certificate */
    natsconf_route self_route; /* the cluster port on an address --route-tls-cert names */
} cluster_setup;

/* Fills setup from a configuration the boot guard accepted (cluster mode).
 * 0, or -1 with one line in why. */
int cluster_setup_load(const cluster_config *c, cluster_setup *setup, char *why, size_t len);
/* The route-pins file beside cert_path: at most CLUSTER_PINS_MAX lines of
 * 64 lowercase hex.  0, or -1 with one line in why (missing, unreadable,
 * a bad line). */
int cluster_join_pins_load(const char *cert_path, char (*pins)[NATSCONF_PIN_LEN + 1], size_t *n, char *why,
                           size_t len);

/* Whether cert_pem is the certificate in --route-tls-ca (setup: the
 * cluster_setup): the bus's CA, whose store alone is the bus's. */
bool cluster_is_route_ca(const char *cert_pem, void *setup);

/* Wipes the password. */
void cluster_setup_wipe(cluster_setup *setup);

#endif
