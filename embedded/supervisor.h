/*
 * Runs nats-server as a supervised child: restarted with backoff when it
 * dies, killed with membershipd however membershipd ends (a parent-death
 * signal, so even kill -9 of membershipd leaves no orphan), its log lines
 * forwarded into membershipd's log tagged msg=nats.
 */
#ifndef EMBEDDED_SUPERVISOR_H
#define EMBEDDED_SUPERVISOR_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct nats_supervisor nats_supervisor;

/* Starts the child on config_path and waits (up to timeout_ms) for it to
 * say it is ready.  The child has our environment, changed by env (NULL,
 * or NULL-terminated): "NAME=VALUE" sets NAME, "NAME" removes it.  NULL,
 * after one line to stderr, when it cannot. */
nats_supervisor *supervisor_start(const char *binary, const char *config_path, const char *const *env,
                                  int timeout_ms);

/* Makes the running server re-read its configuration (SIGHUP) and waits
 * until it reports the reload done.  A child not yet ready reads the file
 * when it starts, which counts.  Returns 0, or -1 on timeout. */
int supervisor_reload(nats_supervisor *sup, int timeout_ms);

/* Ends the running server (SIGTERM) and starts it again on the file, at
 * once: for what a reload does not apply cleanly (a new route secret,
 * dev/operations.md).  Returns once the new one is ready: 0, or -1 on
 * timeout. */
int supervisor_restart(nats_supervisor *sup, int timeout_ms);

/* Stops the child (SIGTERM, then SIGKILL after a grace period) and frees. */
void supervisor_stop(nats_supervisor *sup);

pid_t supervisor_pid(nats_supervisor *sup);
unsigned supervisor_restarts(nats_supervisor *sup);
unsigned supervisor_reloads(nats_supervisor *sup);

#endif
