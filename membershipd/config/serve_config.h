/*
 * The configuration of `membershipd serve`, parsed from flags by
 * serve_config_parse and validated as a whole by guard_check before any
 * socket is opened.  Shared by serve and check-config.
 */
#ifndef MEMBERSHIPD_SERVE_CONFIG_H
#define MEMBERSHIPD_SERVE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "common/cli_args.h"
#include "membershipd/config/cluster_config.h"
#include "membershipd/config/datadir.h"

#define SERVE_DEFAULT_BIND "127.0.0.1"
#define SERVE_DEFAULT_HTTP_PORT 8470
/* The bus log is compacted once it holds this many entries after its
 * base (dev/control-log.md, "Compaction"). */
#define SERVE_LOG_COMPACT_DEFAULT 10000
#define SERVE_LOG_COMPACT_MIN 16
#define SERVE_LOG_COMPACT_MAX 10000000

/* nats-server's soft memory limit (Go's GOMEMLIMIT), about twice the heap
 * it peaks at during a reload with 10,000 users: it held RSS at 73 MiB
 * after 401 reloads without slowing them (dev/bench.md, case 4). */
#define SERVE_NATS_MEMORY_LIMIT_DEFAULT "128MiB"
#define SERVE_NATS_MEMORY_LIMIT_MIN (32ULL << 20)
#define SERVE_NATS_MEMORY_LIMIT_MAX (1ULL << 40)

typedef enum { BUS_AUTH_OFF, BUS_AUTH_SOFT, BUS_AUTH_ENFORCE } bus_auth_mode;

/* The flags as typed; every field NULL when not given. */
typedef struct {
    const char *bind, *http_port, *bus_auth, *tls_cert, *tls_key, *tls_min;
    const char *rate, *burst, *member_rate, *member_burst, *member_rooms, *max_conns, *max_conns_per_ip;
    const char *nats_server, *nats_port, *max_msg_bytes, *nats_memory_limit;
    const char *blob_quota;
    const char *log_compact_entries;
    const char *metrics_addr;
    bool audit_syslog;
    const char *audit_syslog_socket;
    const char *ca_kek_file;
    cluster_config cluster;     /* port unparsed */
    store_location store;
} serve_flags;

typedef struct {
    const char *bind;
    struct sockaddr_storage bind_addr;
    socklen_t bind_addr_len;
    bool bind_is_loopback;
    unsigned http_port;         /* 0: any free port (tests) */
    bus_auth_mode bus_auth;
    const char *tls_cert, *tls_key;
    int tls_min;                /* 12 or 13 */
    double rate;                /* requests per second per IP */
    unsigned burst;
    double member_rate;         /* changes per second per member (dev/rate-limits.md) */
    unsigned member_burst;
    unsigned member_rooms;      /* rooms a member may own; admins are not bounded */
    unsigned max_conns, max_conns_per_ip;
    const char *nats_server;    /* as given; resolved on PATH by the guard */
    char nats_server_path[4096];
    unsigned nats_port;         /* 0: any free port (tests) */
    unsigned max_msg_bytes;
    uint64_t nats_memory_limit; /* nats-server's GOMEMLIMIT, bytes; 0: none (dev/bench.md, case 4) */
    uint64_t blob_quota;        /* bytes of blobs each user may store (dev/blobs.md) */
    unsigned log_compact_entries; /* the bus log is compacted past this many entries (dev/control-log.md) */
    /* GET /metrics on its own listener (dev/metrics.md); off when
     * metrics_addr is NULL.  metrics_port 0: any free port (tests). */
    const char *metrics_addr;   /* as given: HOST:PORT */
    char metrics_host[64];
    struct sockaddr_storage metrics_sockaddr;
    socklen_t metrics_sockaddr_len;
    bool metrics_is_loopback;
    unsigned metrics_port;
    const char *audit_syslog;   /* the syslog socket to mirror the audit log to, or NULL */
    const char *ca_kek_file;    /* node joins sign with the CA (dev/pki.md); NULL: DATA-DIR/ca.kek */
    cluster_config cluster;     /* checked by guard_cluster.c */
    store_location store;
} serve_config;

/* Number of entries SERVE_FLAGS adds to a cli_flag table. */
#define SERVE_FLAG_COUNT 34
/* Appends the serve flags, bound to f, at table[0..SERVE_FLAG_COUNT). */
void serve_flags_table(serve_flags *f, cli_flag *table);

/* Turns typed flags into a configuration, applying defaults.  Prints one
 * line and returns EXIT_USAGE for a malformed value; EXIT_OK otherwise. */
int serve_config_parse(const serve_flags *flags, serve_config *out);

#define SERVE_EXTRA_FLAGS_MAX 8

/* The whole command line of serve, check-config or doctor: the serve
 * flags plus the command's own (extra: terminated by a NULL name; may be
 * NULL), defaults, values.  Returns CLI_PROCEED with cfg filled, or the
 * exit code (help shown, or a usage error printed). */
int serve_config_from_args(const char *command, const char *summary, const cli_flag *extra, int argc,
                           char **argv, serve_config *cfg);

/* The child's environment entry for cfg's memory limit: "GOMEMLIMIT=N",
 * or "GOMEMLIMIT" (removed) when off (supervisor_start). */
void serve_config_nats_env(const serve_config *cfg, char *out, size_t len);

const char *bus_auth_name(bus_auth_mode mode);
bool serve_config_tls(const serve_config *cfg);

#endif
