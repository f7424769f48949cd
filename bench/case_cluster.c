/* Case 6: a bus of three membershipd nodes on this machine, each figure
 * beside a ceiling measured in the same run (dev/bench.md, "The cluster
 * case"). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "case_cluster.h"
#include "report.h"

cluster_running cluster_live;

void cluster_setup_make(cluster_setup *s, size_t users, size_t nodes)
{
    memset(s, 0, sizeof *s);
    population_init(&s->p, users);
    if (fixture_prepare(&s->first, population_seed, &s->p) != 0)
        cluster_die("cannot seed the first node's store");
    cluster_live.setup = s;
    if (cluster_prepare(&s->bus, &s->first, nodes) != 0)
        cluster_die("cannot make the bus's PKI");
}

void cluster_setup_end(cluster_setup *s)
{
    if (cluster_stop(&s->bus) != 0)
        report_note("cluster: a node did not stop cleanly (its log is in the bench's work directory)");
    if (s->first.server.pid > 0)
        harness_stop(&s->first.server);
    fixture_release(&s->first);
    population_free(&s->p);
    cluster_live.setup = NULL;
}

static void clean_up(void)
{
    if (cluster_live.raw)
        raw_cluster_stop(cluster_live.raw);
    if (cluster_live.setup)
        cluster_setup_end(cluster_live.setup);
}

void cluster_die(const char *what)
{
    fprintf(stderr, "bench: cluster case: %s\n", what);
    exit(1); /* clean_up runs at exit */
}

/* The bus of three on a store of fig->users users, each owning a room:
 * first served alone, then the bus's first node. */
static void three_nodes(const bench_opts *o, cluster_figures *fig)
{
    static cluster_setup s;
    cluster_setup_make(&s, fig->users, CLUSTER_CASE_NODES);
    cluster_single_node(&s.first, o, fig);
    cluster_raw_ceilings(&s.bus, o, fig);
    cluster_start_nodes(&s.bus, 0, CLUSTER_CASE_NODES);
    cluster_bus_figures(&s.bus, o, fig);
    cluster_setup_end(&s);
}

static void add(bench_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(bench_row *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    report_add(r);
}

static void report_flow(const cluster_figures *fig)
{
    const flow_result *raw = &fig->raw_flow, *bus = &fig->bus_flow;
    bench_row r = row_make(6, "raw nats-server cluster, n1 -> n2, 128 B", raw->msgs_per_s, "msg/s", NAN, NULL);
    add(&r, "%.1f MB/s, %lu delivered; 3 servers, TLS+pinned+password routes, JetStream on, no authorization",
        raw->mb_per_s, raw->delivered);
    r = row_make(6, "cross-node room, nats.c n1 -> n2, 128 B", bus->msgs_per_s, "msg/s", raw->msgs_per_s,
                 "raw cluster msg/s");
    row_target_ratio(&r, 0.90);
    add(&r, "%.1f MB/s, %lu delivered; alice publishes on n1, bob (a member) receives on n2", bus->mb_per_s,
        bus->delivered);
}

static void report_changes(const cluster_figures *fig)
{
    const change_stats *s = &fig->single, *b = &fig->bus;
    size_t users = fig->users;
    bench_row r = row_make(6, report_name("user add, single node, ", users, " users"), s->add_p99, "ms", NAN, NULL);
    add(&r, "p99 shown; p50 %.1f ms; %zu trials; the same store before it joined the bus", s->add_p50, s->trials);
    r = row_make(6, report_name("user add through the bus log, 3 nodes, ", users, " users"), b->add_p99, "ms",
                 s->add_p99, "single node p99");
    row_target_over_ceiling(&r, 100);
    add(&r, "p99 shown; p50 %.1f ms; %zu trials; answered once in force on every node", b->add_p50, b->trials);
    r = row_make(6, report_name("revoke -> closed, single node, ", users, " users"), s->revoke_p99, "ms", NAN, NULL);
    add(&r, "p99 shown; p50 %.1f ms; %zu trials", s->revoke_p50, s->trials);
    r = row_make(6, report_name("revoke -> closed on all 3 nodes, ", users, " users"), b->revoke_p99, "ms",
                 s->revoke_p99, "single node p99");
    row_target_over_ceiling(&r, 100);
    add(&r, "p99 shown; p50 %.1f ms; %zu trials; the user connected to every node", b->revoke_p50, b->trials);
}

static void report_gap(const cluster_figures *fig)
{
    const gap_result *raw = &fig->raw_gap, *bus = &fig->bus_gap;
    bench_row r = row_make(6, "raw JetStream R3 write gap, leader killed", raw->gap_s, "s", NAN, NULL);
    add(&r, "%u acked, %u failed after the kill; publishes to a surviving server%s", raw->ok, raw->failed,
        raw->recovered ? "" : "; NOT recovered within the limit");
    r = row_make(6, "bus write gap, log leader node killed", bus->gap_s, "s", raw->gap_s, "raw JetStream gap");
    row_target_below(&r, 10);
    add(&r, "%u user adds answered 201, %u not, after the kill; API of a surviving node%s", bus->ok, bus->failed,
        bus->recovered ? "" : "; NOT recovered within the limit");
}

static void report_catch_up(const cluster_figures *fig)
{
    size_t users = fig->catch_up_users;
    double floor_s = fig->base_s + fig->restart_open_s;
    bench_row r = row_make(6, report_name("base applied in-process, ", users, " users"), fig->base_s, "s", NAN, NULL);
    add(&r, "%zu bytes, made in %.2f s; store_log_apply_base on an empty store, no network", fig->base_bytes,
        fig->snapshot_s);
    r = row_make(6, "node restarted holding everything: start -> open", fig->restart_open_s, "s", NAN, NULL);
    add(&r, "the joined node stopped and started again: nats-server, routes, quorum, data plane");
    r = row_make(6, report_name("new node: start -> base applied, ", users, " users"), fig->based_s, "s",
                 fig->base_s, "base in-process s");
    add(&r, "empty data dir; msg=bus_log_based in its log");
    r = row_make(6, report_name("new node: start -> admits peers, ", users, " users"), fig->open_s, "s", floor_s,
                 "base + restart s");
    row_target_below(&r, 10);
    add(&r, "msg=cluster_peers_open in its log; the bus had 3 nodes, it is the 4th");
}

void case_cluster(const bench_opts *o)
{
    static bool registered;
    if (!registered && atexit(clean_up) == 0)
        registered = true;
    cluster_figures fig = {.users = o->quick ? 40 : 1000, .catch_up_users = o->quick ? 80 : 10000};
    double t0 = bench_now();
    three_nodes(o, &fig);
    printf("(cluster: three nodes measured in %.0f s)\n", bench_now() - t0);
    cluster_catch_up(&fig);
    printf("(cluster: catch-up measured; the case took %.0f s)\n", bench_now() - t0);
    report_flow(&fig);
    report_changes(&fig);
    report_gap(&fig);
    report_catch_up(&fig);
}
