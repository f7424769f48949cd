/* The floor under one change made through the API: nats-server's own
 * reload of the configuration membershipd generated, plus one commit of
 * the store (dev/bench.md, case 2). */
#ifndef UNIBUS_BENCH_CHANGE_FLOOR_H
#define UNIBUS_BENCH_CHANGE_FLOOR_H

#include "fixture.h"

typedef struct {
    double reload_p50, commit_p50; /* ms */
} change_floor;

/* n reloads of a copy of f's nats.conf on a nats-server of the bench's
 * own, and n user additions, each its own transaction, to a scratch store
 * in f's directory (the product's store code: WAL, synchronous=FULL).
 * Exits the program when it cannot. */
change_floor change_floor_measure(fixture *f, int n);

#endif
