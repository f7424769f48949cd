/* A bus of several membershipd nodes on loopback, as `make cluster-demo`
 * brings one up (dev/cluster.md): a bus CA and a node certificate each,
 * made with the offline CLI in the first node's store before it ever
 * serves; one route secret; route mutual TLS.  The first node's store is
 * the fixture's (seeded); the others start empty and take the bus log's
 * base.  Each node is a view of the fixture (same users, its own server
 * and server key), so fixture_call works on any of them. */
#ifndef UNIBUS_BENCH_CLUSTER_H
#define UNIBUS_BENCH_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include "fixture.h"

#define CLUSTER_NODES_MAX 4

typedef struct {
    fixture f;           /* the bus's users; this node's data dir, server and key */
    char name[8];        /* n1, n2, ... */
    unsigned cluster_port;
    char cert_dir[PATH_MAX + 32];
    bool up;             /* launched and not stopped or killed since */
} bench_node;

typedef struct {
    fixture *first;      /* owns the users and the directory everything is in */
    size_t n;            /* nodes the bus has: each node's --routes names all the others */
    bench_node node[CLUSTER_NODES_MAX];
    char secret[PATH_MAX + 32];
} bench_cluster;

/* After fixture_prepare(first), before first ever served: the bus's PKI
 * for n nodes, the route secret, empty data dirs for the other nodes.
 * 0, or -1 after a line on stderr. */
int cluster_prepare(bench_cluster *c, fixture *first, size_t n);
/* Starts node i (no wait: nodes log that they listen only once most of
 * them are up).  cluster_await waits for it to listen. */
int cluster_launch(bench_cluster *c, size_t i);
int cluster_await(bench_cluster *c, size_t i, int timeout_ms);
/* Node i admits peers (it heard most nodes and caught up: the log says
 * msg=cluster_peers_open). */
bool cluster_open(const bench_cluster *c, size_t i);
/* Waits up to timeout_s for nodes [from, to) to be open; 0 when they are. */
int cluster_wait_open(const bench_cluster *c, size_t from, size_t to, double timeout_s);
/* The node leading the bus log's stream as node `asked` sees it
 * (GET /v1/info, bus_log_leader), or -1. */
int cluster_leader(bench_cluster *c, size_t asked);
/* SIGKILL of the node's membershipd and nats-server at once: a lost machine. */
void cluster_kill(bench_node *node);
/* SIGTERM to node i; 0 when it exited cleanly. */
int cluster_stop_node(bench_cluster *c, size_t i);
/* Stops every node still up (the fixture stays): how many did not exit cleanly. */
int cluster_stop(bench_cluster *c);

#endif
