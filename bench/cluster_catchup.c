/* Case 6, a new node's catch-up: a bus of three nodes whose first store
 * holds the users, and a fourth node with an empty data dir joining it
 * (its certificate issued with the others, and every node's --routes
 * naming it, as after dev/operations.md's "Add a node").  Beside it: the
 * same base applied to an empty store in-process (no network, no
 * JetStream, no data plane), and the same node restarted once it holds
 * everything: a joiner does the one, then the other. */
#include <math.h>
#include <stdio.h>
#include "case_cluster.h"
#include "membershipd/store/store_log.h"
#include "report.h"

#define JOIN_TIMEOUT_S 120.0
#define JOINER 3   /* n4 */

/* The base the first node will offer, made from its store (snapshot_s),
 * then applied to an empty store after entry 1 as a joiner does (the
 * returned seconds: the joiner's own work, with no network in it). */
static double base_in_process(fixture *f, size_t *bytes, double *snapshot_s)
{
    char db[PATH_MAX + 64], scratch[PATH_MAX + 64], err[256];
    snprintf(db, sizeof db, "%s/membership.db", f->data_dir);
    snprintf(scratch, sizeof scratch, "%s/base-copy.db", f->dir);
    store *from = NULL, *to = NULL;
    void *base = NULL;
    *bytes = 0;
    double t0 = bench_now();
    if (store_open(db, STORE_OPEN_EXISTING, &from, err, sizeof err) != STORE_OK ||
        store_log_snapshot(from, &base, bytes) != STORE_OK)
        cluster_die("cannot make the base from the first node's store");
    store_close(from);
    *snapshot_s = bench_now() - t0;
    t0 = bench_now();
    bool ok = store_open(scratch, STORE_OPEN_CREATE, &to, err, sizeof err) == STORE_OK &&
              store_log_apply(to, 1, 1, NULL, 0) == STORE_OK && store_log_apply_base(to, 2, 2, base, *bytes) == STORE_OK;
    double took = bench_now() - t0;
    store_log_free(base);
    if (to)
        store_close(to);
    if (!ok)
        cluster_die("the base did not apply to an empty store in-process");
    return took;
}

/* Launches node i and times it, from its start, to the base applied (when
 * based is not NULL) and to admitting peers. */
static void time_start(bench_cluster *bus, size_t i, double *based, double *open)
{
    double t0 = bench_now();
    if (based)
        *based = NAN;
    *open = NAN;
    if (cluster_launch(bus, i) != 0)
        cluster_die("the joining node did not start");
    while (isnan(*open) && bench_now() - t0 < JOIN_TIMEOUT_S) {
        if (based && isnan(*based) && harness_log_contains(&bus->node[i].f.server, "msg=bus_log_based"))
            *based = bench_now() - t0;
        if (cluster_open(bus, i))
            *open = bench_now() - t0;
        bench_sleep_ms(10);
    }
    if (isnan(*open) || cluster_await(bus, i, 1000) != 0)
        cluster_die("the joining node did not open");
    if (based && isnan(*based))
        *based = *open; /* both showed up between two looks */
}

void cluster_catch_up(cluster_figures *fig)
{
    static cluster_setup s;
    cluster_setup_make(&s, fig->catch_up_users, JOINER + 1);
    fig->base_s = base_in_process(&s.first, &fig->base_bytes, &fig->snapshot_s);
    cluster_start_nodes(&s.bus, 0, JOINER);
    time_start(&s.bus, JOINER, &fig->based_s, &fig->open_s);
    if (cluster_stop_node(&s.bus, JOINER) != 0)
        report_note("cluster: the joined node did not stop cleanly");
    time_start(&s.bus, JOINER, NULL, &fig->restart_open_s);
    cluster_setup_end(&s);
}
