#include "flow.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include "bench.h"
#include "report.h"

#define WINDOW 4096          /* messages in flight at most: no slow-consumer drops */
#define DRAIN_TIMEOUT_S 20.0
#define PROBE_TIMEOUT_S 10.0
#define FLOW_RUNS_MAX 8

void flow_sink_take(flow_sink *s, size_t len)
{
    if (len == s->expect)
        atomic_fetch_add(&s->received, 1);
    else
        atomic_fetch_add(&s->wrong, 1);
    atomic_store(&s->last_ns, (unsigned long long)(bench_now() * 1e9));
}

static void sink_reset(flow_sink *s, size_t expect)
{
    atomic_store(&s->received, 0);
    atomic_store(&s->wrong, 0);
    s->expect = expect;
}

flow_result flow_run(flow_publish_fn pub, void *ctx, flow_sink *s, size_t len, double duration_s)
{
    uint8_t *payload = malloc(len);
    randombytes_buf(payload, len);
    sink_reset(s, len);
    unsigned long sent = 0;
    double cpu0 = bench_cpu_s(0) + (s->server ? bench_cpu_s(s->server) : 0);
    double t0 = bench_now(), stop = t0 + duration_s;
    for (;;) {
        if ((sent & 63) == 0 && bench_now() >= stop)
            break;
        if (sent - atomic_load(&s->received) >= WINDOW) {
            sched_yield();
            continue;
        }
        if (pub(ctx, payload, len) != 0)
            break;
        sent++;
    }
    double give_up = bench_now() + DRAIN_TIMEOUT_S;
    while (atomic_load(&s->received) + atomic_load(&s->wrong) < sent && bench_now() < give_up)
        bench_sleep_ms(1);
    double wall = bench_now() - t0, cpu = bench_cpu_s(0) + (s->server ? bench_cpu_s(s->server) : 0) - cpu0;
    flow_result r = {.delivered = atomic_load(&s->received), .wrong = atomic_load(&s->wrong), .busy_cores = cpu / wall};
    double span = (double)atomic_load(&s->last_ns) / 1e9 - t0;
    r.msgs_per_s = span > 0 ? (double)r.delivered / span : 0;
    r.mb_per_s = r.msgs_per_s * (double)len / 1e6;
    if (r.delivered < sent)
        report_note("flow: %lu of %lu messages of %zu B arrived", r.delivered, sent, len);
    free(payload);
    return r;
}

typedef struct {
    natsConnection *nc;
    const char *subject;
} nats_pub;

static int nats_publish(void *ctx, const uint8_t *data, size_t len)
{
    nats_pub *p = ctx;
    return natsConnection_Publish(p->nc, p->subject, data, (int)len) == NATS_OK ? 0 : -1;
}

static void nats_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    flow_sink_take(closure, (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* Interest travels to other servers on its own time: probe until one lands. */
static bool probe_crosses(nats_pub *p, flow_sink *s)
{
    sink_reset(s, 1);
    double give_up = bench_now() + PROBE_TIMEOUT_S;
    while (atomic_load(&s->received) == 0 && bench_now() < give_up) {
        natsConnection_Publish(p->nc, p->subject, "?", 1);
        natsConnection_Flush(p->nc);
        bench_sleep_ms(10);
    }
    bench_sleep_ms(50); /* the probes still in flight land before the clock starts */
    return atomic_load(&s->received) > 0;
}

int flow_nats(natsConnection *pub, natsConnection *sub, const char *subject, pid_t server, const size_t *lens,
              size_t n, double duration_s, flow_result *out)
{
    flow_sink s = {.server = server};
    natsSubscription *subscription = NULL;
    nats_pub p = {pub, subject};
    int rc = natsConnection_Subscribe(&subscription, sub, subject, nats_on_msg, &s) == NATS_OK &&
                     natsSubscription_SetPendingLimits(subscription, -1, -1) == NATS_OK &&
                     natsConnection_Flush(sub) == NATS_OK && probe_crosses(&p, &s)
                 ? 0
                 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        out[i] = flow_run(nats_publish, &p, &s, lens[i], duration_s);
    if (rc != 0)
        fprintf(stderr, "bench: no message on %s crossed from publisher to subscriber\n", subject);
    if (subscription) {
        natsSubscription_Unsubscribe(subscription);
        natsSubscription_Destroy(subscription);
    }
    return rc;
}

int flow_nats_best(natsConnection *pub, natsConnection *sub, const char *subject, size_t len, size_t runs,
                   double duration_s, flow_result *best)
{
    size_t lens[FLOW_RUNS_MAX] = {0};
    flow_result out[FLOW_RUNS_MAX];
    runs = runs < FLOW_RUNS_MAX ? runs : FLOW_RUNS_MAX;
    if (runs == 0)
        return -1;
    for (size_t i = 0; i < runs; i++)
        lens[i] = len;
    if (flow_nats(pub, sub, subject, 0, lens, runs, duration_s, out) != 0)
        return -1;
    *best = flow_best(out, runs);
    return 0;
}

flow_result flow_best(const flow_result *runs, size_t n)
{
    flow_result best = runs[0];
    for (size_t i = 1; i < n; i++)
        if (runs[i].msgs_per_s > best.msgs_per_s)
            best = runs[i];
    return best;
}
