/* Case 6 on the bus itself: the first node alone (the single-node side of
 * every change), then three nodes: cross-node traffic between two of
 * them, a user added and revoked through the bus log, and the write gap
 * when the node leading the log's stream is killed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "case_cluster.h"
#include "nats_peer.h"
#include "report.h"
#include "trials.h"

#define LISTEN_TIMEOUT_MS 120000
#define OPEN_TIMEOUT_S 120.0
#define LEADER_TIMEOUT_S 30.0

static change_stats run_changes(fixture *api, const char *const *urls, size_t n, const char *tag, int trials)
{
    double *add = calloc((size_t)trials, sizeof *add), *revoke = calloc((size_t)trials, sizeof *revoke);
    size_t done = 0;
    for (int i = 0; i < trials; i++) {
        char name[48];
        double add_ms;
        snprintf(name, sizeof name, "%s-victim-%d", tag, i);
        double ms = trial_revoke(api, urls, n, name, &add_ms);
        if (isnan(ms))
            report_note("cluster: a %s revocation left a connection open past %.0f s", tag, CHANGE_TIMEOUT_S);
        else
            add[done] = add_ms, revoke[done++] = ms;
    }
    change_stats s = {.add_p50 = bench_percentile(add, done, 50), .add_p99 = bench_percentile(add, done, 99),
                      .revoke_p50 = bench_percentile(revoke, done, 50),
                      .revoke_p99 = bench_percentile(revoke, done, 99), .trials = done};
    free(add);
    free(revoke);
    return s;
}

void cluster_single_node(fixture *first, const bench_opts *o, cluster_figures *fig)
{
    if (fixture_restart(first, BENCH_LOAD_FLAGS) != 0)
        cluster_die("the first node did not start as a single node");
    const char *url = first->server.nats_url;
    fig->single = run_changes(first, &url, 1, "single", o->trials);
    if (harness_stop(&first->server) != 0)
        report_note("cluster: the single node did not stop cleanly; its log: %s", first->server.log_path);
}

void cluster_start_nodes(bench_cluster *bus, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (cluster_launch(bus, i) != 0)
            cluster_die("a node did not start");
    for (size_t i = from; i < to; i++)
        if (cluster_await(bus, i, LISTEN_TIMEOUT_MS) != 0)
            cluster_die("a node did not listen");
    if (cluster_wait_open(bus, from, to, OPEN_TIMEOUT_S) != 0)
        cluster_die("a node did not admit peers");
}

/* alice publishes in her room on n1's data plane, bob (a member) receives
 * on n2's: nats.c at both ends, as the raw ceiling has. */
static void bus_flow(bench_cluster *bus, const bench_opts *o, flow_result *out)
{
    fixture *n1 = &bus->node[0].f;
    http_result r = bench_call(n1, n1->alice, "POST", "/v1/rooms", "{\"name\":\"cross\",\"mode\":\"cleartext\"}", 201);
    char room[33], target[96], body[128], subject[64];
    snprintf(room, sizeof room, "%s", json_string_value(json_object_get(r.json, "id")));
    http_result_free(&r);
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    snprintf(body, sizeof body, "{\"public_key\":\"%s\"}", n1->bob_nkey);
    r = bench_call(n1, n1->alice, "POST", target, body, 201);
    http_result_free(&r);
    snprintf(subject, sizeof subject, "unibus.room.%s.msg", room);
    nats_peer alice, bob;
    if (nats_peer_connect(&alice, n1->server.nats_url, n1->alice, NULL, false) != NATS_OK ||
        nats_peer_connect(&bob, bus->node[1].f.server.nats_url, n1->bob, NULL, false) != NATS_OK ||
        flow_nats_best(alice.nc, bob.nc, subject, CLUSTER_FLOW_LEN, CLUSTER_FLOW_RUNS, o->duration_s, out) != 0)
        cluster_die("no cross-node traffic in a room");
    nats_peer_close(&alice);
    nats_peer_close(&bob);
}

/* The node leading the log's stream, as node 0 says; it may take a few
 * seconds after the bus opens. */
static size_t leader_of(bench_cluster *bus)
{
    double give_up = bench_now() + LEADER_TIMEOUT_S;
    int leader;
    while ((leader = cluster_leader(bus, 0)) < 0 && bench_now() < give_up)
        bench_sleep_ms(100);
    if (leader < 0)
        cluster_die("no node says which leads the bus log");
    return (size_t)leader;
}

typedef struct {
    fixture *api;
    unsigned n;
} user_writer;

/* One write through the log: a user with a fresh key. */
static int add_user(void *ctx)
{
    user_writer *w = ctx;
    uint8_t pk[32], sk[64];
    char nkey[57], body[160];
    crypto_sign_keypair(pk, sk);
    sodium_memzero(sk, sizeof sk); /* only the public key is wanted */
    busauth_nkey_encode_public(pk, nkey);
    snprintf(body, sizeof body, "{\"name\":\"gap-%u\",\"public_key\":\"%s\"}", w->n++, nkey);
    http_result r = fixture_call(w->api, w->api->admin, "POST", "/v1/users", body);
    int rc = r.status == 201 ? 0 : -1;
    http_result_free(&r);
    return rc;
}

static void kill_node(void *node)
{
    cluster_kill(node);
}

/* Changes go to a node that does not lead the log's stream, as they do
 * from two clients in three: the append crosses a route.  The write gap's
 * writes must go to a survivor anyway. */
void cluster_bus_figures(bench_cluster *bus, const bench_opts *o, cluster_figures *fig)
{
    bus_flow(bus, o, &fig->bus_flow);
    size_t leader = leader_of(bus), api = leader == 0 ? 1 : 0;
    const char *urls[CLUSTER_CASE_NODES];
    for (size_t i = 0; i < CLUSTER_CASE_NODES; i++)
        urls[i] = bus->node[i].f.server.nats_url;
    fig->bus = run_changes(&bus->node[api].f, urls, CLUSTER_CASE_NODES, "bus", o->trials);
    leader = leader_of(bus);
    api = leader == 0 ? 1 : 0;
    user_writer w = {&bus->node[api].f, 0};
    if (gap_measure(add_user, &w, kill_node, &bus->node[leader], CLUSTER_GAP_LIMIT_S, &fig->bus_gap) != 0)
        cluster_die("the bus took no writes before its leader was killed");
}
