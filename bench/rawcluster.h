/* The ceiling of the cluster case: three nats-servers routed the way a
 * bus's nodes are (dev/cluster.md: mutual route TLS with the nodes'
 * certificates and pins, a route password, JetStream), with no client
 * authorization at all.  Started directly, not supervised: a server
 * killed stays dead, as a lost machine does. */
#ifndef UNIBUS_BENCH_RAWCLUSTER_H
#define UNIBUS_BENCH_RAWCLUSTER_H

#include <limits.h>
#include <sys/types.h>

#define RAW_SERVERS 3

typedef struct {
    pid_t pid;
    unsigned port, cluster_port;
    char name[8];
    char url[64];
    char log[PATH_MAX + 32];
} raw_server;

typedef struct {
    raw_server s[RAW_SERVERS];
} raw_cluster;

/* In dir; server i uses the node certificate cert issue wrote into
 * cert_dirs[i] for node names[i] (NAME.crt, NAME.key, ca.crt, route-pins).
 * Returns once every server says it is ready: 0, or -1 (all stopped) after
 * a line on stderr. */
int raw_cluster_start(raw_cluster *c, const char *dir, const char *const cert_dirs[RAW_SERVERS],
                      const char *const names[RAW_SERVERS]);
/* SIGKILL: no goodbye to the others, as when a machine is lost. */
void raw_cluster_kill(raw_cluster *c, const char *name);
void raw_cluster_stop(raw_cluster *c);

#endif
