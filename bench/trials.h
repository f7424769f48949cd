/* Timed changes through the control plane, shared by the propagation
 * case (one node) and the cluster case (every node of a bus). */
#ifndef UNIBUS_BENCH_TRIALS_H
#define UNIBUS_BENCH_TRIALS_H

#include <stddef.h>
#include "fixture.h"

#define CHANGE_TIMEOUT_S 10.0

/* A signed call to f's server that must answer expect: a refused change
 * leaves nothing to time, so the run stops with what the server said. */
http_result bench_call(fixture *f, busauth_identity *as, const char *method, const char *target, const char *body,
                       long expect);

/* Revoke: a fresh user called name is added through f's control plane and
 * connects with nats.c to each of the n data-plane URLs; the clock runs from
 * the DELETE until nats-server has closed every one of those connections.
 * Returns ms (NAN past CHANGE_TIMEOUT_S); add_ms (may be NULL) gets the
 * time the POST that added the user took. */
double trial_revoke(fixture *f, const char *const *urls, size_t n, const char *name, double *add_ms);

#endif
