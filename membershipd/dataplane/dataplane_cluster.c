/* The cluster block from the store: whom to pin, where to route
 * (dev/cluster.md, "Routes"). */
#include "membershipd/dataplane/dataplane_render.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "membershipd/store/store_pki.h"

typedef char pin_hex[NATSCONF_PIN_LEN + 1];

/* Pins nothing: no key hashes to it.  Rendered when the bus has no valid
 * node certificate left, since an empty list would pin nothing at all. */
#define NO_KEY_PIN "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct {
    pin_hex *items;
    size_t n;
} pin_list;

typedef struct {
    pin_list valid, revoked;
    char *valid_hosts, *revoked_hosts; /* ",a,b," lowercase */
    size_t valid_len, revoked_len;
    int64_t now_ms;
    bool failed;
} node_scan;

static bool pin_listed(const pin_list *l, const char *pin)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], pin) == 0)
            return true;
    return false;
}

static void pin_add(pin_list *l, const char *pin, bool *failed)
{
    if (pin_listed(l, pin))
        return;
    pin_hex *grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (!grown) {
        *failed = true;
        return;
    }
    l->items = grown;
    snprintf(l->items[l->n++], sizeof *l->items, "%s", pin);
}

/* Appends ",name" for each comma-separated name, lowercased. */
static void hosts_add(char **hosts, size_t *len, const char *names, bool *failed)
{
    size_t add = strlen(names) + 2;
    char *grown = realloc(*hosts, *len + add + 1);
    if (!grown) {
        *failed = true;
        return;
    }
    *hosts = grown;
    int n = snprintf(grown + *len, add + 1, "%s%s,", *len ? "" : ",", names);
    for (char *p = grown + *len; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    *len += (size_t)n;
}

static int scan_cert(const store_cert *cert, void *ctx)
{
    node_scan *scan = ctx;
    if (cert->role != STORE_CERT_NODE)
        return 0;
    pin_hex pin;
    sodium_bin2hex(pin, sizeof pin, cert->spki_sha256, sizeof cert->spki_sha256);
    bool revoked = cert->revoked_ms != 0;
    if (!revoked && cert->not_after_ms <= scan->now_ms)
        return 0; /* expired: TLS refuses it already; its hosts may belong to a successor */
    pin_add(revoked ? &scan->revoked : &scan->valid, pin, &scan->failed);
    hosts_add(revoked ? &scan->revoked_hosts : &scan->valid_hosts, revoked ? &scan->revoked_len : &scan->valid_len,
              cert->dns, &scan->failed);
    hosts_add(revoked ? &scan->revoked_hosts : &scan->valid_hosts, revoked ? &scan->revoked_len : &scan->valid_len,
              cert->ip, &scan->failed);
    return scan->failed ? -1 : 0;
}

static bool host_named(const char *hosts, const char *host)
{
    char needle[NATSCONF_HOST_MAX + 3];
    snprintf(needle, sizeof needle, ",%s,", host);
    for (char *p = needle; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return hosts && strstr(hosts, needle);
}

/* A store that knows no node key is a node joining (kept_pins). */
static bool joining(const node_scan *scan)
{
    return scan->valid.n == 0 && scan->revoked.n == 0;
}

/* A route to a host only revoked nodes were issued for is dropped in the
 * same reload as their keys: otherwise every node would redial it many
 * times a second (FACTS.md, trap 3).  A node joining dials only itself:
 * its route-pins may name a node revoked since, which would learn the
 * route secret from its dial and feed it a state (the fourth adversarial
 * pass); the bus's nodes dial it, with the secret, and once it holds the
 * bus's state it dials them.  (Not no route at all: JetStream will not
 * start in a cluster without one, jetstream_cluster.go:547; a route to
 * itself is dropped at its INFO and never dialled again, route.go:504,
 * client.go:4983.) */
static natsconf_route *kept_routes(const dataplane_config *cfg, const node_scan *scan, size_t *n)
{
    const natsconf_cluster *c = cfg->cluster;
    natsconf_route *kept = calloc(c->nroutes ? c->nroutes : 1, sizeof *kept);
    *n = 0;
    if (kept && joining(scan) && cfg->self_route) {
        kept[(*n)++] = *cfg->self_route;
        return kept;
    }
    for (size_t i = 0; kept && !joining(scan) && i < c->nroutes; i++)
        if (!host_named(scan->revoked_hosts, c->routes[i].host) || host_named(scan->valid_hosts, c->routes[i].host))
            kept[(*n)++] = c->routes[i];
    return kept;
}

static pin_hex *kept_pins(const dataplane_config *cfg, node_scan *scan, size_t *n)
{
    pin_list pins = {0};
    bool failed = false;
    /* A node joining pins what its certificate came with, never nothing
     * (the join adversarial pass fed an unpinned joiner a forged state). */
    for (size_t i = 0; joining(scan) && i < cfg->njoin_pins; i++)
        pin_add(&pins, cfg->join_pins[i], &failed);
    for (size_t i = 0; i < scan->valid.n; i++)
        if (!pin_listed(&scan->revoked, scan->valid.items[i]))
            pin_add(&pins, scan->valid.items[i], &failed);
    if (cfg->self_pin && !pin_listed(&scan->revoked, cfg->self_pin))
        pin_add(&pins, cfg->self_pin, &failed);
    if (pins.n == 0)
        pin_add(&pins, NO_KEY_PIN, &failed);
    if (failed) {
        free(pins.items);
        return NULL;
    }
    *n = pins.n;
    return pins.items;
}

int dataplane_cluster_block(store *s, const dataplane_config *cfg, natsconf_cluster *out)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    node_scan scan = {.now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000};
    *out = *cfg->cluster;
    out->routes = NULL;
    out->pins = NULL;
    int rc = -1;
    if (cfg->routes_dropped) {
        /* Pinning no key closes every route, whichever side dialled it
         * (reload.go:714-762); with no route URL, none is redialled
         * until the next configuration (FACTS.md, trap 3). */
        pin_list none = {0};
        bool failed = false;
        pin_add(&none, NO_KEY_PIN, &failed);
        out->nroutes = 0;
        out->routes = calloc(1, sizeof *out->routes);
        out->pins = (const pin_hex *)none.items;
        out->npins = none.n;
        rc = out->routes && out->pins ? 0 : -1;
    } else if (store_cert_foreach(s, scan_cert, &scan) == STORE_OK && !scan.failed) {
        out->routes = kept_routes(cfg, &scan, &out->nroutes);
        out->pins = (const pin_hex *)kept_pins(cfg, &scan, &out->npins);
        rc = out->routes && out->pins ? 0 : -1;
    }
    free(scan.valid.items);
    free(scan.revoked.items);
    free(scan.valid_hosts);
    free(scan.revoked_hosts);
    if (rc != 0)
        dataplane_cluster_free(out);
    return rc;
}

void dataplane_cluster_free(natsconf_cluster *c)
{
    free((void *)c->routes);
    free((void *)c->pins);
    c->routes = NULL;
    c->pins = NULL;
}
