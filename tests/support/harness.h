/*
 * Starting the real membershipd as a subprocess for integration tests: on
 * an ephemeral loopback port, with its log captured to a file under
 * $UNIBUS_TEST_LOG_DIR (so a later test can search every log for secrets).
 */
#ifndef UNIBUS_HARNESS_H
#define UNIBUS_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    unsigned port;
    char log_path[PATH_MAX];
    char base_url[64];
    char nats_url[128];
    bool tls;
} harness_server;

/* Path of the membershipd binary under test ($MEMBERSHIPD). */
const char *harness_membershipd(void);

/* Starts `membershipd serve --http-port 0 --nats-port 0 ARGS...` (NULL-terminated) and
 * waits until it logs that it listens.  Returns 0, or -1 (and the process
 * is gone) if it exited or did not listen within 10 s. */
int harness_start(harness_server *h, bool tls, const char *const *args);
/* The same in two halves, for servers that must start together (a
 * cluster node logs that it listens only once it has the bus log, which
 * needs most of the nodes up): the process, then up to timeout_ms for it
 * to listen.  harness_await stops the server when it does not. */
int harness_launch(harness_server *h, bool tls, const char *const *args);
int harness_await(harness_server *h, int timeout_ms);
/* Runs argv (argv[0] a path) with stdout and stderr on the given fds
 * (out -1: /dev/null; err -1: inherited); it gets SIGTERM when the calling
 * thread ends, so a test that dies leaves no process behind. */
pid_t harness_spawn(const char *const *argv, int out_fd, int err_fd);
/* SIGTERM, then waits; returns the exit status (or -1). */
int harness_stop(harness_server *h);
/* True while the log holds text. */
bool harness_log_contains(const harness_server *h, const char *text);
/* True while the file at path holds text on a line (lines up to 4 KiB). */
bool harness_file_contains(const char *path, const char *text);
/* Resident set size of the server process in KiB. */
long harness_rss_kib(const harness_server *h);
long harness_process_rss_kib(pid_t pid);
/* The value of name in process pid's environment (from /proc): true and
 * value filled when it is set. */
bool harness_process_getenv(pid_t pid, const char *name, char *value, size_t len);
/* A KiB field of /proc/PID/status (VmRSS, VmHWM...), or -1. */
long harness_process_status_kib(pid_t pid, const char *field);
/* Streams up to total bytes of chunked body at POST /v1/rooms from
 * source_ip (NULL: default), sampling the server's RSS after every MiB,
 * until the server hangs up.  Returns the bytes sent; baseline and peak
 * RSS in KiB. */
size_t harness_stream_upload(const harness_server *h, const char *source_ip, size_t total, long *baseline_kib,
                             long *peak_kib);

/* The nats-server the server supervises, waiting up to 2 s for one to be
 * running; 0 if none. */
pid_t harness_nats_pid(const harness_server *h);
/* Processes whose command line (arguments joined by spaces) contains text:
 * how many nats-server processes still use a data dir, say. */
int harness_count_processes(const char *text);

/* Runs membershipd with args (NULL-terminated) to completion; returns its
 * exit status, stdout into out (may be NULL). */
int harness_run(const char *const *args, char *out, size_t outlen);

#endif
