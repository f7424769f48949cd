/* The cluster flags: route URLs and the route secret (dev/cluster.md). */
#include "membershipd/config/cluster_config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli_args.h"
#include "membershipd/pki/pki.h"

#define PASSWORD_DOMAIN "unibus-route-password-v1\n"
#define ROUTE_SCHEME "nats-route://"

bool cluster_configured(const cluster_config *c)
{
    return c->name || c->server_name || c->routes || c->secret_file || c->tls_cert || c->tls_key || c->tls_ca ||
           c->port_text || c->max_stale_text;
}

/* One "[nats-route://]HOST:PORT" of length n at text. */
static int route_parse(const char *text, size_t n, natsconf_route *out, char *why, size_t len)
{
    char item[NATSCONF_HOST_MAX + 64];
    if (n >= sizeof item) {
        snprintf(why, len, "--routes: a route is too long: %.64s...", text);
        return -1;
    }
    memcpy(item, text, n);
    item[n] = '\0';
    const char *p = strncmp(item, ROUTE_SCHEME, strlen(ROUTE_SCHEME)) == 0 ? item + strlen(ROUTE_SCHEME) : item;
    if (strchr(p, '@')) {
        snprintf(why, len, "--routes %s: a route URL may not carry a user or password; the secret comes from "
                 "--cluster-secret-file", item);
        return -1;
    }
    char *colon = strrchr(p, ':');
    bool bracketed = p[0] == '[';
    size_t host_len = colon ? (size_t)(colon - p) : 0;
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    bool shape = colon && host_len > (bracketed ? 2u : 0u) && end && !*end && colon[1] >= '0' && colon[1] <= '9' &&
                 port > 0 && port <= 65535 && (!bracketed || p[host_len - 1] == ']') &&
                 (bracketed || !memchr(p, ':', host_len));
    if (shape) {
        snprintf(out->host, sizeof out->host, "%.*s", (int)(bracketed ? host_len - 2 : host_len), p + bracketed);
        out->port = (unsigned)port;
    }
    if (!shape || !natsconf_route_host_ok(out->host)) {
        snprintf(why, len, "--routes %s: expected nats-route://HOST:PORT with an IP address or DNS name, such as "
                 "nats-route://10.0.0.2:6250", item);
        return -1;
    }
    return 0;
}

int cluster_routes_parse(const char *text, natsconf_route *out, size_t cap, size_t *n, char *why, size_t len)
{
    *n = 0;
    for (const char *p = text; p && *p;) {
        size_t item = strcspn(p, ",");
        if (*n == cap) {
            snprintf(why, len, "--routes: at most %zu routes", cap);
            return -1;
        }
        if (route_parse(p, item, &out[*n], why, len) != 0)
            return -1;
        ++*n;
        p = p[item] ? p + item + 1 : NULL;
    }
    return 0;
}

int cluster_route_password(const char *secret_file, char out[NATSCONF_ROUTE_PASSWORD_LEN + 1], char *why,
                           size_t len)
{
    char *secret = sodium_malloc(CLUSTER_SECRET_MAX + 1);
    size_t n = 0;
    int rc = secret ? cli_secret_file_read("cluster secret", secret_file, secret, CLUSTER_SECRET_MAX + 1, &n, why,
                                           len)
                    : (snprintf(why, len, "out of memory"), -1);
    while (rc == 0 && n && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
        n--;
    if (rc == 0 && (n < CLUSTER_SECRET_MIN || n >= CLUSTER_SECRET_MAX)) {
        snprintf(why, len, "the cluster secret file %s holds %zu bytes; it needs %d to %d (make one with: "
                 "head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE), the same file on every node",
                 secret_file, n, CLUSTER_SECRET_MIN, CLUSTER_SECRET_MAX - 1);
        rc = -1;
    }
    if (rc == 0) {
        uint8_t digest[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const uint8_t *)PASSWORD_DOMAIN, strlen(PASSWORD_DOMAIN));
        crypto_hash_sha256_update(&st, (const uint8_t *)secret, n);
        crypto_hash_sha256_final(&st, digest);
        sodium_bin2hex(out, NATSCONF_ROUTE_PASSWORD_LEN + 1, digest, sizeof digest);
        sodium_memzero(digest, sizeof digest);
        sodium_memzero(&st, sizeof st);
    }
    sodium_free(secret);
    return rc;
}

/* This node's cluster port at the first address its certificate names (an
 * IP before a DNS name): a route to itself passes its own TLS checks. */
static void self_route(X509 *cert, unsigned port, natsconf_route *out)
{
    char sans[2048], *at = NULL;
    pki_cert_sans(cert, sans, sizeof sans);
    const char *kinds[] = {"IP:", "DNS:"};
    for (size_t i = 0; i < 2 && !at; i++)
        if ((at = strstr(sans, kinds[i])))
            at += strlen(kinds[i]);
    snprintf(out->host, sizeof out->host, "%.*s", at ? (int)strcspn(at, ", ") : 0, at ? at : "");
    if (!out->host[0])
        snprintf(out->host, sizeof out->host, "127.0.0.1");
    out->port = port;
}

int cluster_setup_load(const cluster_config *c, cluster_setup *setup, char *why, size_t len)
{
    memset(setup, 0, sizeof *setup);
    size_t nroutes = 0;
    if ((c->routes && cluster_routes_parse(c->routes, setup->routes, CLUSTER_ROUTES_MAX, &nroutes, why, len) != 0) ||
        cluster_route_password(c->secret_file, setup->password, why, len) != 0)
        return -1;
    char err[512];
    X509 *cert = pki_cert_read(c->tls_cert, err, sizeof err);
    if (!cert) {
        snprintf(why, len, "--route-tls-cert: %s", err);
        return -1;
    }
    uint8_t spki[32];
    pki_spki_sha256(cert, spki);
    self_route(cert, c->port, &setup->self_route);
    X509_free(cert);
    X509 *ca = pki_cert_read(c->tls_ca, err, sizeof err);
    if (!ca) {
        snprintf(why, len, "--route-tls-ca: %s", err);
        return -1;
    }
    pki_cert_sha256_hex(ca, setup->route_ca_sha256);
    X509_free(ca);
    sodium_bin2hex(setup->self_pin, sizeof setup->self_pin, spki, sizeof spki);
    /* Missing is the boot guard's business (cluster_pins): a node whose
     * store knows the bus's keys needs no file. */
    char ignored[512];
    if (cluster_join_pins_load(c->tls_cert, setup->join_pins, &setup->njoin_pins, ignored, sizeof ignored) != 0)
        setup->njoin_pins = 0;
    setup->block = (natsconf_cluster){
        .name = c->name, .server_name = c->server_name, .port = c->port, .routes = setup->routes,
        .nroutes = nroutes, .password = setup->password, .tls_cert = c->tls_cert, .tls_key = c->tls_key,
        .tls_ca = c->tls_ca,
    };
    return 0;
}

static bool pin_line_ok(const char *line)
{
    return strlen(line) == NATSCONF_PIN_LEN && strspn(line, "0123456789abcdef") == NATSCONF_PIN_LEN;
}

int cluster_join_pins_load(const char *cert_path, char (*pins)[NATSCONF_PIN_LEN + 1], size_t *n, char *why,
                           size_t len)
{
    char path[4096], line[128];
    const char *slash = strrchr(cert_path, '/');
    snprintf(path, sizeof path, "%.*s" CLUSTER_JOIN_PINS_FILE, slash ? (int)(slash - cert_path + 1) : 0, cert_path);
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!pin_line_ok(line) || *n == CLUSTER_PINS_MAX)
            rc = (snprintf(why, len, "%s: line %zu is not a key hash (64 lowercase hex), or there are over %d", path,
                           *n + 1, CLUSTER_PINS_MAX), -1);
        else
            snprintf(pins[(*n)++], NATSCONF_PIN_LEN + 1, "%.64s", line);
    }
    fclose(f);
    if (rc == 0 && *n == 0)
        rc = (snprintf(why, len, "%s holds no key", path), -1);
    return rc;
}

bool cluster_is_route_ca(const char *cert_pem, void *setup)
{
    const cluster_setup *cs = setup;
    X509 *cert = pki_cert_parse(cert_pem, strlen(cert_pem));
    char sha256[65] = "";
    if (cert)
        pki_cert_sha256_hex(cert, sha256);
    X509_free(cert);
    return cert && strcmp(sha256, cs->route_ca_sha256) == 0;
}

void cluster_setup_wipe(cluster_setup *setup)
{
    sodium_memzero(setup->password, sizeof setup->password);
}
