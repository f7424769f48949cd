/* A nats-server of the bench's own (through membershipd's supervisor):
 * the unrestricted ceiling of case 1 and the reload ceiling of case 3. */
#ifndef UNIBUS_BENCH_NATSD_H
#define UNIBUS_BENCH_NATSD_H

#include "embedded/supervisor.h"

typedef struct {
    nats_supervisor *sup;
    unsigned port;
    char url[64];
    char config[4200];
} natsd;

/* nats-server's path, found on PATH as a shell would (the supervisor execs
 * a path). */
const char *natsd_binary(void);
/* No authorization at all, the payload limit membershipd gives its own. */
int natsd_start_open(natsd *n, const char *dir);
/* The configuration at source (a membershipd-generated nats.conf) on a
 * fresh port: the same users and permissions, nothing else changed. */
int natsd_start_copy(natsd *n, const char *dir, const char *source);
/* SIGHUP, until nats-server logs 'Reloaded server configuration': ms, or -1. */
double natsd_reload_ms(natsd *n);
void natsd_stop(natsd *n);

#endif
