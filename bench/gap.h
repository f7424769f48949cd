/* The write gap when a log's leader is lost: writes go on, one at a time,
 * in a thread of their own, while the leader is killed; the figure is the
 * longest time without an acknowledged write, from the last one before
 * the kill.  The same code times the bus log (API writes to a surviving
 * node) and its ceiling (raw JetStream publishes), so both are measured
 * alike. */
#ifndef UNIBUS_BENCH_GAP_H
#define UNIBUS_BENCH_GAP_H

#include <stdbool.h>

/* One write: 0 once it was acknowledged. */
typedef int (*gap_write_fn)(void *ctx);
typedef void (*gap_kill_fn)(void *ctx);

typedef struct {
    double gap_s;        /* longest time without an acknowledged write */
    unsigned ok, failed; /* after the kill: acknowledged, refused or timed out */
    bool recovered;      /* writes were acknowledged again within the limit */
} gap_result;

/* Writes until a steady second has passed, calls kill, and goes on until
 * writes have been acknowledged without a hole for 2 s, or limit_s after
 * the kill (then the gap counts up to that moment, and recovered is
 * false).  -1 when writes never worked before the kill. */
int gap_measure(gap_write_fn write, void *write_ctx, gap_kill_fn kill, void *kill_ctx, double limit_s,
                gap_result *out);

#endif
