/* The live data plane, when a server runs on this data dir: its own
 * identity can log in, and no revoked or unknown key is still connected
 * (asked of nats-server as its system account's user). */
#include "membershipd/doctor/doctor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "busauth/seedfile.h"
#include "embedded/nats_probe.h"
#include "embedded/nats_monitor.h"
#include "membershipd/config/server_identity.h"
#include "membershipd/store/store.h"

static const char *const LIVE_IDS[] = {"live.dataplane_login", "live.revoked_connections"};

/* The data plane's URL, as clients write it. */
void doctor_nats_url(const doctor *d, char url[128])
{
    natsconf_url(d->nats.tls, d->dataplane_host, d->nats.port, url, 128);
}

/* As membershipd logs in to its own child: the TLS server must present
 * --tls-cert itself, or it is not the server these flags describe. */
static void login(doctor *d, const busauth_identity *id)
{
    char url[128];
    doctor_nats_url(d, url);
    if (d->nats.tls && !d->cfg->tls_cert) {
        doctor_addf(d, "live.dataplane_login", DOCTOR_FAIL, "give doctor the --tls-cert the server runs with",
                    "%s has TLS, and doctor cannot tell nats-server from an impostor without its certificate", url);
        return;
    }
    const busauth_identity *as = d->nats.authorization ? id : NULL;
    nats_probe_target target = {d->dataplane_host, d->nats.port, d->nats.tls ? d->cfg->tls_cert : NULL,
                                DOCTOR_PROBE_TIMEOUT_MS};
    char why[PATH_MAX + 512];
    if (nats_auth_probe(&target, as, why, sizeof why) != 0)
        doctor_addf(d, "live.dataplane_login", DOCTOR_FAIL,
                    "look for msg=nats lines in membershipd's log and for what else listens on that port "
                    "(ss -ltnp); restarting membershipd rewrites nats.conf",
                    "%s did not take %s: %s", url, as ? "membershipd's own identity (server.seed)" : "a connection",
                    why);
    else if (as)
        doctor_addf(d, "live.dataplane_login", DOCTOR_OK, NULL, "membershipd's own identity logs in at %s", url);
    else
        doctor_addf(d, "live.dataplane_login", DOCTOR_OK, NULL, "%s takes connections (no authorization: --bus-auth off)",
                    url);
}

typedef struct {
    store *store;
    const uint8_t *internal_key, *system_key, *log_key; /* membershipd's own users */
    unsigned connections;
    json_t *revoked, *unknown; /* nkeys */
    bool failed;
} conn_scan;

static int classify(const json_t *conn, void *arg)
{
    conn_scan *scan = arg;
    const char *nkey = json_string_value(json_object_get(conn, "authorized_user"));
    uint8_t key[BUSAUTH_KEY_BYTES];
    scan->connections++;
    if (!nkey || busauth_nkey_decode_public(nkey, key) != BUSAUTH_OK) {
        json_array_append_new(scan->unknown, json_string(nkey ? nkey : "(none)"));
        return 0;
    }
    if (memcmp(key, scan->internal_key, sizeof key) == 0 || memcmp(key, scan->system_key, sizeof key) == 0 ||
        memcmp(key, scan->log_key, sizeof key) == 0)
        return 0;
    store_user user;
    store_status status = store_user_get_by_key(scan->store, key, &user);
    if (status == STORE_NOT_FOUND)
        json_array_append_new(scan->unknown, json_string(nkey));
    else if (status != STORE_OK)
        scan->failed = true;
    else if (user.revoked_ms)
        json_array_append_new(scan->revoked, json_string(nkey));
    return status == STORE_OK || status == STORE_NOT_FOUND ? 0 : -1;
}

static void report_scan(doctor *d, conn_scan *scan)
{
    json_t *check;
    size_t bad = json_array_size(scan->revoked) + json_array_size(scan->unknown);
    if (bad)
        check = doctor_addf(d, "live.revoked_connections", DOCTOR_FAIL,
                            "nats-server runs an old allowlist: check membershipd's log for nats_reloaded ok=no "
                            "and restart membershipd",
                            "%zu of %u data-plane connections belong to revoked (%zu) or unknown (%zu) keys", bad,
                            scan->connections, json_array_size(scan->revoked), json_array_size(scan->unknown));
    else
        check = doctor_addf(d, "live.revoked_connections", DOCTOR_OK, NULL,
                            "%u data-plane connections, none from a revoked or unknown key", scan->connections);
    json_object_set_new(check, "details", json_pack("{s:i, s:O, s:O}", "connections", scan->connections,
                                                    "revoked", scan->revoked, "unknown", scan->unknown));
}

static void revoked_connections(doctor *d, const busauth_identity *id)
{
    if (!d->nats.authorization) {
        doctor_add(d, "live.revoked_connections", DOCTOR_SKIP, "--bus-auth off: connections carry no identity", NULL);
        return;
    }
    busauth_identity *system = d->nats.system_account ? server_identity_system_user(id) : NULL;
    busauth_identity *log = server_identity_log_user(id);
    if (!system || !log) {
        busauth_identity_free(log);
        doctor_add(d, "live.revoked_connections", DOCTOR_WARN,
                   "nats.conf has no system account, so doctor cannot list connections",
                   "restart membershipd: it adds one, for its own monitoring user");
        return;
    }
    char err[PATH_MAX + 256], url[128];
    doctor_nats_url(d, url);
    conn_scan scan = {.internal_key = busauth_identity_public_key(id),
                      .system_key = busauth_identity_public_key(system),
                      .log_key = busauth_identity_public_key(log), .revoked = json_array(),
                      .unknown = json_array()};
    if (store_open(d->db_path, STORE_OPEN_READONLY, &scan.store, err, sizeof err) != STORE_OK) {
        doctor_addf(d, "live.revoked_connections", DOCTOR_FAIL, "see store.integrity", "%s", err);
    } else {
        nats_monitor m = {.url = url, .system = system, .ca_file = d->ca, .timeout_ms = DOCTOR_PROBE_TIMEOUT_MS};
        if (nats_monitor_connections(&m, classify, &scan, err, sizeof err) != 0 && !scan.failed)
            doctor_addf(d, "live.revoked_connections", DOCTOR_FAIL, "restart membershipd", "%s", err);
        else if (scan.failed)
            doctor_addf(d, "live.revoked_connections", DOCTOR_FAIL, "see store.integrity",
                        "cannot look keys up in %s: %s", d->db_path, store_errmsg(scan.store));
        else
            report_scan(d, &scan);
    }
    store_close(scan.store);
    json_decref(scan.revoked);
    json_decref(scan.unknown);
    busauth_identity_free(system);
    busauth_identity_free(log);
}

void doctor_dataplane(doctor *d)
{
    char why[PATH_MAX + 128] = "";
    if (!d->nats_conf_read)
        snprintf(why, sizeof why, "no server has run on %s (no nats.conf there)", d->data_dir);
    else if (!d->dataplane_answers)
        snprintf(why, sizeof why, "no server running: nothing answers on %s port %u", d->dataplane_host, d->nats.port);
    busauth_identity *id = NULL;
    char seed[PATH_MAX];
    server_identity_path(d->data_dir, seed);
    busauth_status status = why[0] ? BUSAUTH_OK : busauth_seedfile_load(seed, &id);
    if (status != BUSAUTH_OK)
        busauth_seedfile_describe_error(why, sizeof why, seed, status, errno);
    if (why[0]) {
        for (size_t i = 0; i < sizeof LIVE_IDS / sizeof LIVE_IDS[0]; i++)
            doctor_add(d, LIVE_IDS[i], DOCTOR_SKIP, why, NULL);
    } else {
        login(d, id);
        revoked_connections(d, id);
    }
    busauth_identity_free(id);
}
