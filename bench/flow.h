/* One publisher -> one subscriber as fast as it goes, never more than a
 * window of messages ahead (so no slow-consumer drops): delivered
 * messages over the time from the first publish to the last delivery.
 * Case 1 (one node) and case 6 (across a cluster's nodes) both use it. */
#ifndef UNIBUS_BENCH_FLOW_H
#define UNIBUS_BENCH_FLOW_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <nats/nats.h>

typedef struct {
    atomic_ulong received, wrong;
    atomic_ullong last_ns;
    size_t expect;
    pid_t server; /* a process whose CPU counts in busy_cores beside ours; 0: none */
} flow_sink;

/* A subject of a room's shape and length, for raw nats-servers:
 * nats-server's work per message grows with the subject, so a shorter one
 * flatters a ceiling (dev/bench.md). */
#define FLOW_ROOM_SUBJECT "unibus.room.0123456789abcdef0123456789abcdef.msg"

typedef int (*flow_publish_fn)(void *ctx, const uint8_t *data, size_t len);

typedef struct {
    double msgs_per_s, mb_per_s;
    unsigned long delivered, wrong;
    double busy_cores; /* CPU time of this process (and of the sink's server) over the run's wall time */
} flow_result;

/* The subscriber's side: one message of len bytes arrived. */
void flow_sink_take(flow_sink *s, size_t len);
/* Publishes len-byte messages for duration_s, then waits for the rest. */
flow_result flow_run(flow_publish_fn pub, void *ctx, flow_sink *s, size_t len, double duration_s);

/* nats.c at both ends: pub publishes on subject, a subscription of sub's
 * counts; each of the n sizes in turn; server (0: none) is the nats-server
 * whose CPU counts in busy_cores.  It starts once a probe has crossed,
 * so sub's interest has reached pub's server (another node, across a
 * route).  0, or -1 after a line on stderr. */
int flow_nats(natsConnection *pub, natsConnection *sub, const char *subject, pid_t server, const size_t *lens,
              size_t n, double duration_s, flow_result *out);

/* The fastest of n runs (n > 0). */
flow_result flow_best(const flow_result *runs, size_t n);

/* The same, runs times at one size: the fastest run.  Noise on a shared
 * machine only ever slows a run down, so the best of a few is the steadiest
 * figure to set beside a ceiling measured the same way. */
int flow_nats_best(natsConnection *pub, natsConnection *sub, const char *subject, size_t len, size_t runs,
                   double duration_s, flow_result *best);

#endif
