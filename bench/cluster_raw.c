/* Case 6's ceilings, on a raw nats-server cluster of the bus's shape
 * (rawcluster.h) with no authorization: cross-node msg/s, and the write
 * gap of an R3 JetStream stream (what the bus log is) whose leader is
 * killed. */
#include <stdio.h>
#include <string.h>
#include "case_cluster.h"

#define JS_WAIT_MS 1000
#define JS_READY_TIMEOUT_S 30.0
#define LEADER_MAX 16

static int js_write(void *js)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = JS_WAIT_MS;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_Publish(&ack, js, "bench.log", "entry", 5, &po, &jerr);
    jsPubAck_Destroy(ack);
    return st == NATS_OK ? 0 : -1;
}

typedef struct {
    raw_cluster *c;
    char leader[LEADER_MAX];
} raw_victim;

static void raw_kill(void *ctx)
{
    raw_victim *v = ctx;
    raw_cluster_kill(v->c, v->leader);
}

/* One try at the stream (made, or there already): its leader's name. */
static void stream_leader(jsCtx *js, jsStreamConfig *cfg, char leader[LEADER_MAX])
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_AddStream(&si, js, cfg, NULL, &jerr) != NATS_OK)
        js_GetStreamInfo(&si, js, cfg->Name, NULL, &jerr);
    if (si && si->Cluster && si->Cluster->Leader)
        snprintf(leader, LEADER_MAX, "%s", si->Cluster->Leader);
    jsStreamInfo_Destroy(si);
}

/* An R3 file stream, as the bus log is, made once JetStream has a meta
 * leader (it needs a few seconds after the routes form). */
static int make_stream(const char *url, char leader[LEADER_MAX])
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {"bench.log"};
    cfg.Name = "BENCH_LOG";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 3;
    leader[0] = '\0';
    double give_up = bench_now() + JS_READY_TIMEOUT_S;
    if (natsConnection_ConnectTo(&nc, url) == NATS_OK && natsConnection_JetStream(&js, nc, NULL) == NATS_OK)
        while (!leader[0] && bench_now() < give_up) {
            stream_leader(js, &cfg, leader);
            if (!leader[0])
                bench_sleep_ms(200);
        }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return leader[0] ? 0 : -1;
}

/* Writes go to a server that does not lead the stream, as the bus's go to
 * a surviving node. */
static void raw_gap(raw_cluster *c, gap_result *out)
{
    raw_victim v = {c, ""};
    if (make_stream(c->s[0].url, v.leader) != 0)
        cluster_die("raw JetStream made no R3 stream");
    size_t survivor = strcmp(c->s[0].name, v.leader) == 0 ? 1 : 0;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    if (natsConnection_ConnectTo(&nc, c->s[survivor].url) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        cluster_die("cannot connect to a surviving raw server");
    if (gap_measure(js_write, js, raw_kill, &v, CLUSTER_GAP_LIMIT_S, out) != 0)
        cluster_die("raw JetStream took no writes");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* On a room-shaped subject (with "bench.cross" the bus read 0.72-0.76 of
 * the ceiling, with this one about 1.0: dev/bench.md). */
static void raw_flow(raw_cluster *c, const bench_opts *o, flow_result *out)
{
    natsConnection *pub = NULL, *sub = NULL;
    const char *subject = FLOW_ROOM_SUBJECT;
    if (natsConnection_ConnectTo(&pub, c->s[0].url) != NATS_OK || natsConnection_ConnectTo(&sub, c->s[1].url) != NATS_OK ||
        flow_nats_best(pub, sub, subject, CLUSTER_FLOW_LEN, CLUSTER_FLOW_RUNS, o->duration_s, out) != 0)
        cluster_die("no raw cross-node traffic");
    natsConnection_Destroy(pub);
    natsConnection_Destroy(sub);
}

void cluster_raw_ceilings(bench_cluster *bus, const bench_opts *o, cluster_figures *fig)
{
    const char *certs[RAW_SERVERS], *names[RAW_SERVERS];
    for (size_t i = 0; i < RAW_SERVERS; i++)
        certs[i] = bus->node[i].cert_dir, names[i] = bus->node[i].name;
    static raw_cluster c;
    if (raw_cluster_start(&c, bus->first->dir, certs, names) != 0)
        cluster_die("the raw nats-server cluster did not start");
    cluster_live.raw = &c;
    raw_flow(&c, o, &fig->raw_flow);
    raw_gap(&c, &fig->raw_gap);
    raw_cluster_stop(&c);
    cluster_live.raw = NULL;
}
