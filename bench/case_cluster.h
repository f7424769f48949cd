/* Case 6's parts (dev/bench.md, "The cluster case"): the raw ceilings
 * (cluster_raw.c), the bus of three nodes (cluster_bus.c), a new node's
 * catch-up (cluster_catchup.c); case_cluster.c runs them and reports. */
#ifndef UNIBUS_BENCH_CASE_CLUSTER_H
#define UNIBUS_BENCH_CASE_CLUSTER_H

#include "bench.h"
#include "cluster.h"
#include "flow.h"
#include "gap.h"
#include "population.h"
#include "rawcluster.h"

#define CLUSTER_CASE_NODES 3
#define CLUSTER_FLOW_LEN 128
#define CLUSTER_FLOW_RUNS 3        /* the best of three, figure and ceiling alike */
#define CLUSTER_GAP_LIMIT_S 30.0   /* longer than any election FACTS.md saw (4-9 s) */

typedef struct {
    double add_p50, add_p99, revoke_p50, revoke_p99;
    size_t trials;
} change_stats;

typedef struct {
    size_t users, catch_up_users;
    change_stats single, bus;
    flow_result raw_flow, bus_flow;
    gap_result raw_gap, bus_gap;
    size_t base_bytes;
    double snapshot_s, base_s, based_s, open_s, restart_open_s;
} cluster_figures;

/* A bus whose first store holds the users: its fixture (the users, the
 * directory), its nodes, the population seeded. */
typedef struct {
    fixture first;
    bench_cluster bus;
    population p;
} cluster_setup;

/* The first store seeded with users (each owning a room) and the PKI for
 * nodes nodes made; nothing started. */
void cluster_setup_make(cluster_setup *s, size_t users, size_t nodes);
/* Stops what still runs and removes every file. */
void cluster_setup_end(cluster_setup *s);

/* What runs now, for the exit handler: a failed step exits the program
 * (cluster_die), and must leave no process or directory behind. */
typedef struct {
    raw_cluster *raw;
    cluster_setup *setup;
} cluster_running;
extern cluster_running cluster_live;

_Noreturn void cluster_die(const char *what);

/* The raw cluster on bus's certificates: cross-node msg/s and the write
 * gap of an R3 stream whose leader is killed. */
void cluster_raw_ceilings(bench_cluster *bus, const bench_opts *o, cluster_figures *fig);
/* Changes on the first node alone, then the bus of three: cross-node
 * traffic, changes, and the write gap (which kills a node). */
void cluster_single_node(fixture *first, const bench_opts *o, cluster_figures *fig);
void cluster_bus_figures(bench_cluster *bus, const bench_opts *o, cluster_figures *fig);
/* A bus of fig->catch_up_users users and a fourth node joining it. */
void cluster_catch_up(cluster_figures *fig);
/* Starts nodes [from, to) together and waits until they admit peers. */
void cluster_start_nodes(bench_cluster *bus, size_t from, size_t to);

#endif
