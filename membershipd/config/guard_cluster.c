/* Cluster mode refuses to start unless every route is closed to all but
 * the bus's own nodes: a secret and mutual TLS against the bus CA, always
 * both, on loopback too (dev/cluster.md, "Routes"). */
#include "membershipd/config/guard_cluster.h"

#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "membershipd/config/datadir.h"
#include "membershipd/config/tls_files.h"
#include "membershipd/pki/pki.h"
#include "membershipd/store/store_log.h"
#include "membershipd/store/store_pki.h"

int guard_cluster_names(const serve_config *cfg, char *why, size_t len)
{
    const cluster_config *c = &cfg->cluster;
    if (!cluster_configured(c))
        return 0;
    if (!c->name || !c->server_name)
        snprintf(why, len, "a cluster node needs both --cluster-name (the same on every node) and --server-name "
                 "(its own); %s is missing", c->name ? "--server-name" : "--cluster-name");
    else if (!natsconf_name_ok(c->name) || !natsconf_name_ok(c->server_name))
        snprintf(why, len, "--cluster-name and --server-name take 1 to %d letters, digits, '-' or '_'",
                 NATSCONF_NAME_MAX);
    else if (cfg->bus_auth != BUS_AUTH_ENFORCE)
        snprintf(why, len, "a cluster node needs --bus-auth enforce (it is %s): routes carry every account",
                 bus_auth_name(cfg->bus_auth));
    else
        return 0;
    return -1;
}

/* The certificate must be one the CA file's CA issued, usable at both
 * ends of a route (a node certificate: serverAuth and clientAuth). */
static int route_cert_from_ca(const cluster_config *c, char *why, size_t len)
{
    char err[512];
    X509 *cert = pki_cert_read(c->tls_cert, err, sizeof err), *ca = cert ? pki_cert_read(c->tls_ca, err, sizeof err) : NULL;
    int rc = -1;
    if (!ca)
        snprintf(why, len, "--route-tls-%s: %s", cert ? "ca" : "cert", err);
    else if (!pki_cert_issued_by(cert, ca))
        snprintf(why, len, "--route-tls-cert %s was not issued by the CA in --route-tls-ca %s; give this node's "
                 "certificate from the bus CA (membershipd join)", c->tls_cert, c->tls_ca);
    else if (X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) != 1 ||
             X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) != 1)
        snprintf(why, len, "--route-tls-cert %s is not a node certificate (it needs serverAuth and clientAuth); "
                 "issue one with: membershipd cert issue NAME --role node", c->tls_cert);
    else
        rc = 0;
    X509_free(cert);
    X509_free(ca);
    return rc;
}

int guard_cluster_tls(const serve_config *cfg, char *why, size_t len)
{
    const cluster_config *c = &cfg->cluster;
    if (!cluster_configured(c))
        return 0;
    if (!c->tls_cert || !c->tls_key || !c->tls_ca) {
        snprintf(why, len, "a cluster node needs route mutual TLS: give --route-tls-cert, --route-tls-key and "
                 "--route-tls-ca together (membershipd join makes them)");
        return -1;
    }
    if (!natsconf_path_ok(c->tls_cert) || !natsconf_path_ok(c->tls_key) || !natsconf_path_ok(c->tls_ca)) {
        snprintf(why, len, "the --route-tls-* paths may not hold quotes, backslashes, '$' or control characters");
        return -1;
    }
    if (tls_files_check(c->tls_cert, c->tls_key, why, len) != 0)
        return -1;
    return route_cert_from_ca(c, why, len);
}

int guard_cluster_secret(const serve_config *cfg, char *why, size_t len)
{
    const cluster_config *c = &cfg->cluster;
    if (!cluster_configured(c))
        return 0;
    if (!c->secret_file) {
        snprintf(why, len, "a cluster node needs --cluster-secret-file FILE, the same secret on every node "
                 "(make one with: head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE)");
        return -1;
    }
    char password[NATSCONF_ROUTE_PASSWORD_LEN + 1];
    int rc = cluster_route_password(c->secret_file, password, why, len);
    sodium_memzero(password, sizeof password);
    return rc;
}

static bool loopback_name(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

/* This node's own route address: its --bind, or any loopback name when it
 * listens on loopback or everywhere. */
static bool is_self(const serve_config *cfg, const natsconf_route *r)
{
    bool wildcard = strcmp(cfg->bind, "0.0.0.0") == 0 || strcmp(cfg->bind, "::") == 0;
    return r->port == cfg->cluster.port &&
           (strcasecmp(r->host, cfg->bind) == 0 || ((cfg->bind_is_loopback || wildcard) && loopback_name(r->host)));
}

/* Each node once, and not this one: the bus's size is the routes plus one,
 * and a majority of it is what takes a change (dev/control-log.md). */
int guard_cluster_routes(const serve_config *cfg, char *why, size_t len)
{
    natsconf_route routes[CLUSTER_ROUTES_MAX];
    size_t n;
    if (!cluster_configured(&cfg->cluster) || !cfg->cluster.routes)
        return 0;
    if (cluster_routes_parse(cfg->cluster.routes, routes, CLUSTER_ROUTES_MAX, &n, why, len) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (is_self(cfg, &routes[i])) {
            snprintf(why, len, "--routes lists this node itself (%s:%u is its own --cluster-port): list every other "
                     "node, once", routes[i].host, routes[i].port);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (routes[j].port == routes[i].port && strcasecmp(routes[j].host, routes[i].host) == 0) {
                snprintf(why, len, "--routes lists %s:%u twice: list every other node, once", routes[i].host,
                         routes[i].port);
                return -1;
            }
    }
    return 0;
}

/* A node whose store knows no node key yet (joining) pins the keys its
 * certificate came with: without them it would pin nothing, and any
 * holder of a bus certificate and the secret could feed it a forged state
 * (the join adversarial pass did). */
int guard_cluster_pins(const serve_config *cfg, char *why, size_t len)
{
    char db[4096], err[4200], pins[CLUSTER_PINS_MAX][STORE_PIN_HEX_LEN + 1];
    size_t known = 0, carried = 0;
    store *s = NULL;
    if (!cluster_configured(&cfg->cluster) || !cfg->cluster.tls_cert)
        return 0;
    if (cli_db_file(&cfg->store, db) && store_open(db, STORE_OPEN_EXISTING, &s, err, sizeof err) == STORE_OK)
        store_cert_node_pins(s, (int64_t)time(NULL) * 1000, pins, CLUSTER_PINS_MAX, &known);
    store_close(s);
    if (known || cluster_join_pins_load(cfg->cluster.tls_cert, pins, &carried, err, sizeof err) == 0)
        return 0;
    snprintf(why, len, "this node's store knows no node key yet (it is joining), so it pins the keys its certificate "
             "came with, but %s: run membershipd join again, or copy the route-pins that cert issue wrote", err);
    return -1;
}

/* A store that followed a cluster's log is that cluster's node: started
 * alone it would be a second bus, taking changes the cluster never sees
 * and honouring keys it revoked (the join adversarial pass did both). */
int guard_store_cluster(const serve_config *cfg, char *why, size_t len)
{
    char db[4096], err[512], cluster[STORE_LOG_CLUSTER_MAX + 1] = "";
    int64_t id = 0;
    store *s = NULL;
    if (cluster_configured(&cfg->cluster) || !cli_db_file(&cfg->store, db) ||
        store_open(db, STORE_OPEN_EXISTING, &s, err, sizeof err) != STORE_OK)
        return 0;
    store_log_cluster(s, &id, cluster);
    store_close(s);
    if (!cluster[0])
        return 0;
    snprintf(why, len, "this store is a node of cluster %s: start it with that cluster's flags (--cluster-name %s "
             "...), or move its membership.db away to make a new single-node bus", cluster, cluster);
    return -1;
}

/* A node this bus revoked must not route: the others refuse its key
 * anyway (pinning), and it must not believe it is part of the bus. */
int guard_cluster_cert_revoked(const serve_config *cfg, char *why, size_t len)
{
    char db[4096], err[512], serial[80];
    store *s = NULL;
    store_cert record;
    if (!cluster_configured(&cfg->cluster) || !cli_db_file(&cfg->store, db) ||
        store_open(db, STORE_OPEN_EXISTING, &s, err, sizeof err) != STORE_OK)
        return 0; /* no database yet: nothing revoked */
    X509 *cert = pki_cert_read(cfg->cluster.tls_cert, err, sizeof err);
    int rc = 0;
    if (cert) {
        pki_cert_serial_hex(cert, serial, sizeof serial);
        if (store_cert_get_by_serial(s, serial, &record) == STORE_OK && record.revoked_ms) {
            snprintf(why, len, "--route-tls-cert %s (serial %s) was revoked by this bus; a revoked node cannot "
                     "rejoin with it: join again with a new token (membershipd join)", cfg->cluster.tls_cert, serial);
            rc = -1;
        }
    }
    X509_free(cert);
    store_close(s);
    return rc;
}
