/*
 * unibus benchmarks (dev/bench.md): each case measures a figure next to
 * its ceiling in the same run and reports both through report.h.
 */
#ifndef UNIBUS_BENCH_H
#define UNIBUS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "fixture.h"

typedef struct {
    bool quick;         /* small counts: a smoke test, not a measurement */
    double duration_s;  /* how long each throughput run lasts */
    int trials;         /* propagation trials per level */
} bench_opts;

/* Monotonic seconds. */
double bench_now(void);
/* Milliseconds since t0 (a bench_now value). */
double bench_since_ms(double t0);
void bench_sleep_ms(double ms);
/* The p-th percentile (0..100) of n values (sorted in place); NAN when n is 0. */
double bench_percentile(double *v, size_t n, double p);

/* The pid of pid's child running the program named comm, or -1. */
pid_t bench_child_pid(pid_t parent, const char *comm);
/* Sends sig to a child of ours and reaps it, with SIGKILL after 10 s. */
void bench_end_process(pid_t pid, int sig);
/* CPU seconds (user + system, every thread) a process has used; pid 0 is
 * this one.  NAN when the process is gone. */
double bench_cpu_s(pid_t pid);
/* A TCP port free on 127.0.0.1 right now, never the same twice in a run. */
unsigned bench_free_port(void);
/* The port of a "nats://host:port" URL. */
unsigned bench_url_port(const char *url);

/* Starts membershipd (through the test fixture) with rate limits and
 * connection caps raised for load from one address; flags may add more
 * (NULL-terminated, may be NULL).  Exits the program when it cannot. */
void bench_start_server(fixture *f, const char *const *flags, fixture_seed_fn seed, void *ctx);
/* The serve flags bench_start_server adds, for the report. */
extern const char *const BENCH_LOAD_FLAGS[];
/* A seed file for id in f's directory; returns its path in out. */
void bench_seed_file(fixture *f, const busauth_identity *id, const char *name, char out[PATH_MAX + 64]);

void case_dataplane(const bench_opts *o);
void case_control(const bench_opts *o);
void case_propagation(const bench_opts *o);  /* also the scale case, on the same servers */
void case_abuse(const bench_opts *o);
void case_cluster(const bench_opts *o);

#endif
