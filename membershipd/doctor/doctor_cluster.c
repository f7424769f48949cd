/* The cluster's checks (dev/cluster.md): routes up, as nats-server counts
 * them; the route certificate's lifetime, the follower lag and the clocks
 * are not checked yet (issue 14, slice 9; the boot guard's cluster rules
 * check the route files). */
#include "membershipd/doctor/doctor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "busauth/seedfile.h"
#include "embedded/nats_monitor.h"
#include "membershipd/config/server_identity.h"

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

void doctor_cluster(doctor *d)
{
    static const char *const later[] = {"cluster.route_tls", "cluster.follower_lag", "cluster.clock_skew"};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        doctor_add(d, later[i], DOCTOR_SKIP, "not checked yet (issue 14, slice 9)", NULL);
    if (!d->nats_conf_read || !d->nats.cluster || !d->dataplane_answers) {
        doctor_add(d, "cluster.routes", DOCTOR_SKIP,
                   d->nats_conf_read && d->nats.cluster ? "no server running" : "no cluster configured", NULL);
        return;
    }
    busauth_identity *server = NULL, *system = NULL;
    char seed[PATH_MAX], why[PATH_MAX + 128];
    server_identity_path(d->data_dir, seed);
    busauth_status status = busauth_seedfile_load(seed, &server);
    if (status == BUSAUTH_OK && (system = server_identity_system_user(server)))
        routes_up(d, system);
    else {
        busauth_seedfile_describe_error(why, sizeof why, seed, status, errno);
        doctor_add(d, "cluster.routes", DOCTOR_FAIL, why, "check files.private");
    }
    busauth_identity_free(system);
    busauth_identity_free(server);
}
