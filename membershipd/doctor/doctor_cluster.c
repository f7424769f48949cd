/* The cluster's checks (dev/cluster.md): routes up, as nats-server counts
 * them; this node's route certificate (lifetime, pinned by the bus); and
 * what the nodes say on the bus log's account (dev/control-log.md): how
 * many are heard (quorum), how far each runs the log, their clocks. */
#include "membershipd/doctor/doctor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <openssl/x509.h>
#include <sodium.h>
#include "busauth/seedfile.h"
#include "embedded/nats_monitor.h"
#include "membershipd/config/cluster_config.h"
#include "membershipd/config/server_identity.h"
#include "membershipd/pki/pki.h"
#include "membershipd/store/store_pki.h"

#define LISTEN_MS (2 * NODE_REPORT_EVERY_MS + 500) /* every live node speaks twice */
#define LAG_WARN_ENTRIES 2     /* a change or two in flight is normal */
#define SKEW_WARN_MS 1000
#define SKEW_FAIL_MS 30000     /* signed requests and certificates stop agreeing */

/* Every other node in --routes has a route to this one, as nats-server's
 * VARZ says (read as its system account's user). */
static void routes_up(doctor *d, const busauth_identity *system)
{
    char url[128], err[PATH_MAX + 256];
    doctor_nats_url(d, url);
    nats_monitor m = {.url = url, .system = system, .ca_file = d->ca, .timeout_ms = DOCTOR_PROBE_TIMEOUT_MS};
    nats_monitor_counters c;
    if (nats_monitor_counters_read(&m, &c, err, sizeof err) != 0) {
        doctor_addf(d, "cluster.routes", DOCTOR_FAIL, "see live.dataplane_login", "%s", err);
        return;
    }
    json_t *check;
    if (c.routes >= d->nats.routes)
        check = doctor_addf(d, "cluster.routes", DOCTOR_OK, NULL, "%llu routes up, to all %zu other nodes",
                            (unsigned long long)c.routes, d->nats.routes);
    else
        check = doctor_addf(d, "cluster.routes", c.routes ? DOCTOR_WARN : DOCTOR_FAIL,
                            "look in the nodes' logs for \"certificate not pinned\" (a key the bus did not issue or "
                            "revoked), \"Authorization Violation\" (another route secret) or refused connections",
                            "%llu of %zu routes up", (unsigned long long)c.routes, d->nats.routes);
    json_object_set_new(check, "details", json_pack("{s:I, s:I}", "up", (json_int_t)c.routes, "configured",
                                                    (json_int_t)d->nats.routes));
}

typedef struct {
    const uint8_t *spki;
    bool found, revoked;
} pin_search;

static int find_pin(const store_cert *cert, void *ctx)
{
    pin_search *p = ctx;
    if (cert->role != STORE_CERT_NODE || memcmp(cert->spki_sha256, p->spki, 32) != 0)
        return 0;
    p->found = true;
    p->revoked |= cert->revoked_ms != 0;
    return 0;
}

/* Whether the bus pins this certificate's key: issued as a node's by its
 * CA and not revoked (dev/cluster.md, "Routes"). */
static const char *pin_problem(doctor *d, X509 *cert)
{
    uint8_t spki[32];
    pki_spki_sha256(cert, spki);
    pin_search p = {.spki = spki};
    store *s = NULL;
    char err[PATH_MAX + 256];
    if (store_open(d->db_path, STORE_OPEN_READONLY, &s, err, sizeof err) != STORE_OK ||
        store_cert_foreach(s, find_pin, &p) != STORE_OK) {
        store_close(s);
        return "the store cannot be read (see store.integrity)";
    }
    store_close(s);
    return p.revoked ? "its key was revoked: no node routes to it" : !p.found ?
           "the bus's store holds no node certificate with its key: the other nodes do not pin it" : NULL;
}

static void route_certificate(doctor *d)
{
    const char *path = d->cfg->cluster.tls_cert;
    char err[PATH_MAX + 256];
    X509 *cert = path ? pki_cert_read(path, err, sizeof err) : NULL;
    pki_lifetime life;
    if (!cert || !pki_cert_lifetime(cert, (int64_t)time(NULL), &life)) {
        doctor_addf(d, "cluster.route_tls", DOCTOR_FAIL, "see guard.cluster_tls", "%s",
                    path ? err : "no --route-tls-cert given");
        X509_free(cert);
        return;
    }
    const char *problem = pin_problem(d, cert);
    X509_free(cert);
    long days = (long)(life.seconds_left / 86400);
    json_t *check;
    if (problem)
        check = doctor_addf(d, "cluster.route_tls", DOCTOR_FAIL, "issue a new node certificate (membershipd cert "
                            "issue NAME --role node) and restart this node with it", "%s: %s", path, problem);
    else if (life.seconds_left <= 0)
        check = doctor_addf(d, "cluster.route_tls", DOCTOR_FAIL, "membershipd cert renew NAME, then restart this node",
                            "%s has expired: no route forms", path);
    else if (life.renew_due)
        check = doctor_addf(d, "cluster.route_tls", DOCTOR_WARN, "membershipd cert renew NAME, then restart this node",
                            "%s has under a third of its lifetime left (%ld days)", path, days);
    else
        check = doctor_addf(d, "cluster.route_tls", DOCTOR_OK, NULL, "%s: pinned by the bus, %ld days left", path, days);
    json_object_set_new(check, "details", json_pack("{s:I}", "days_left", (json_int_t)days));
}

static json_t *nodes_json(const node_heard *h, size_t n)
{
    json_t *nodes = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(nodes, json_pack("{s:s, s:I, s:I}", "name", h[i].name, "applied",
                                               (json_int_t)h[i].report.seq, "skew_ms", (json_int_t)h[i].skew_ms));
    return nodes;
}

static void quorum(doctor *d, size_t heard)
{
    size_t nodes = d->nats.routes + 1;
    json_t *check;
    if (heard > nodes / 2)
        check = doctor_addf(d, "cluster.quorum", heard == nodes ? DOCTOR_OK : DOCTOR_WARN,
                            heard == nodes ? NULL : "see cluster.routes and the silent nodes' logs",
                            "%zu of %zu nodes heard: changes are taken", heard, nodes);
    else
        check = doctor_addf(d, "cluster.quorum", DOCTOR_FAIL, "bring most nodes back (dev/operations.md, \"Losing "
                            "nodes\")", "%zu of %zu nodes heard: no quorum, every change answers 503", heard, nodes);
    json_object_set_new(check, "details", json_pack("{s:I, s:I}", "heard", (json_int_t)heard, "nodes",
                                                    (json_int_t)nodes));
}

static void lag(doctor *d, const node_heard *h, size_t n)
{
    int64_t most = 0;
    for (size_t i = 0; i < n; i++)
        most = h[i].report.seq > most ? h[i].report.seq : most;
    char behind[512] = "";
    int64_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t gap = most - h[i].report.seq;
        worst = gap > worst ? gap : worst;
        size_t used = strlen(behind);
        if (gap > LAG_WARN_ENTRIES)
            snprintf(behind + used, sizeof behind - used, "%s%.64s (%lld behind)", used ? ", " : "", h[i].name,
                     (long long)gap);
    }
    json_t *check = behind[0]
        ? doctor_addf(d, "cluster.follower_lag", DOCTOR_WARN, "look in those nodes' logs for bus_log_ lines",
                      "nodes behind the bus log: %s", behind)
        : doctor_addf(d, "cluster.follower_lag", DOCTOR_OK, NULL, "every node heard runs the bus log up to entry "
                      "%lld (at most %lld behind)", (long long)most, (long long)worst);
    json_object_set_new(check, "details", json_pack("{s:o}", "nodes", nodes_json(h, n)));
}

static void clock_skew(doctor *d, const node_heard *h, size_t n)
{
    int64_t worst = 0;
    const char *who = "";
    for (size_t i = 0; i < n; i++)
        if (llabs(h[i].skew_ms) > worst) {
            worst = llabs(h[i].skew_ms);
            who = h[i].name;
        }
    doctor_verdict v = worst > SKEW_FAIL_MS ? DOCTOR_FAIL : worst > SKEW_WARN_MS ? DOCTOR_WARN : DOCTOR_OK;
    json_t *check = v == DOCTOR_OK
        ? doctor_addf(d, "cluster.clock_skew", v, NULL, "every node's clock within %lld ms of this one's",
                      (long long)worst)
        : doctor_addf(d, "cluster.clock_skew", v, "run an NTP client (systemd-timesyncd, chrony) on every node",
                      "%s's clock is %lld ms off this one's", who, (long long)worst);
    json_object_set_new(check, "details", json_pack("{s:I}", "max_skew_ms", (json_int_t)worst));
}

/* What the nodes say on the bus log's account, heard as this node's log user. */
static void reports(doctor *d, const busauth_identity *server)
{
    static const char *const ids[] = {"cluster.quorum", "cluster.follower_lag", "cluster.clock_skew"};
    busauth_identity *log_user = server_identity_log_user(server);
    char url[128], err[PATH_MAX + 256];
    doctor_nats_url(d, url);
    nats_monitor m = {.url = url, .system = log_user, .ca_file = d->ca, .timeout_ms = DOCTOR_PROBE_TIMEOUT_MS,
                      .login_name = "the bus log's user"};
    node_heard heard[NODE_REPORT_NODES_MAX];
    size_t n = 0;
    if (!log_user || nats_monitor_node_reports(&m, LISTEN_MS, heard, NODE_REPORT_NODES_MAX, &n, err, sizeof err)) {
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            doctor_addf(d, ids[i], DOCTOR_FAIL, "see live.dataplane_login", "%s", log_user ? err : "out of memory");
    } else {
        quorum(d, n);
        lag(d, heard, n);
        clock_skew(d, heard, n);
    }
    busauth_identity_free(log_user);
}

typedef struct {
    int64_t since_ms;
    char names[256];
} revoked_after;

static int note_revoked_node(const store_cert *cert, void *ctx)
{
    revoked_after *r = ctx;
    size_t used = strlen(r->names);
    if (cert->role == STORE_CERT_NODE && cert->revoked_ms > r->since_ms && used + strlen(cert->name) + 2 < sizeof r->names)
        snprintf(r->names + used, sizeof r->names - used, "%s%s", used ? "," : "", cert->name);
    return 0;
}

/* Whether the nats.conf membershipd runs holds the password the secret
 * file gives now: a secret written but not loaded (no SIGHUP yet) is not
 * rotated. */
static bool secret_loaded(doctor *d, const char *path)
{
    static char head[DOCTOR_NATS_CONF_HEAD + 1];
    char password[NATSCONF_ROUTE_PASSWORD_LEN + 1], why[512];
    bool loaded = doctor_read_nats_conf(d, head) == 0 &&
                  cluster_route_password(path, password, why, sizeof why) == 0 && strstr(head, password);
    sodium_memzero(password, sizeof password);
    sodium_memzero(head, sizeof head);
    return loaded;
}

/* A node revoked after the route secret last changed still knows it, and
 * a node joining with route-pins from before the revocation still pins it
 * (dev/threat-model.md): the secret is rotated on every node revocation.
 * When it changed is the file's mtime: a `touch` fools this check. */
static void secret_rotated(doctor *d)
{
    const char *path = d->cfg->cluster.secret_file;
    struct stat st;
    revoked_after r = {0};
    store *s = NULL;
    char err[PATH_MAX + 256];
    if (path && stat(path, &st) == 0 && !secret_loaded(d, path)) {
        doctor_add(d, "cluster.secret_rotated", DOCTOR_FAIL, "the route secret file holds a secret the running "
                   "nats-server does not use", "kill -HUP this node's membershipd (dev/operations.md, \"Route secret\")");
        return;
    }
    if (!path || stat(path, &st) != 0) {
        doctor_add(d, "cluster.secret_rotated", DOCTOR_FAIL, "the route secret file cannot be read",
                   "see guard.cluster_secret");
        return;
    }
    r.since_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (store_open(d->db_path, STORE_OPEN_READONLY, &s, err, sizeof err) != STORE_OK ||
        store_cert_foreach(s, note_revoked_node, &r) != STORE_OK)
        doctor_add(d, "cluster.secret_rotated", DOCTOR_FAIL, "the store cannot be read", "see store.integrity");
    else if (r.names[0])
        doctor_addf(d, "cluster.secret_rotated", DOCTOR_FAIL, "rotate the route secret on every node (dev/operations.md, "
                    "\"Route secret\")", "node %s was revoked after %s last changed: it still knows the secret", r.names,
                    path);
    else
        doctor_add(d, "cluster.secret_rotated", DOCTOR_OK, "no node was revoked since the route secret changed", NULL);
    store_close(s);
}

void doctor_cluster(doctor *d)
{
    static const char *const ids[] = {"cluster.routes", "cluster.route_tls", "cluster.secret_rotated",
                                      "cluster.quorum", "cluster.follower_lag", "cluster.clock_skew"};
    if (!d->nats_conf_read || !d->nats.cluster || !d->dataplane_answers) {
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            doctor_add(d, ids[i], DOCTOR_SKIP,
                       d->nats_conf_read && d->nats.cluster ? "no server running" : "no cluster configured", NULL);
        return;
    }
    route_certificate(d);
    secret_rotated(d);
    busauth_identity *server = NULL, *system = NULL;
    char seed[PATH_MAX], why[PATH_MAX + 128];
    server_identity_path(d->data_dir, seed);
    busauth_status status = busauth_seedfile_load(seed, &server);
    if (status == BUSAUTH_OK && (system = server_identity_system_user(server))) {
        routes_up(d, system);
        reports(d, server);
    } else {
        busauth_seedfile_describe_error(why, sizeof why, seed, status, errno);
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            if (strcmp(ids[i], "cluster.route_tls") != 0 && strcmp(ids[i], "cluster.secret_rotated") != 0)
                doctor_add(d, ids[i], DOCTOR_FAIL, why, "check files.private");
    }
    busauth_identity_free(system);
    busauth_identity_free(server);
}
