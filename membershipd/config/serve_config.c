/* Parsing `membershipd serve` flags into a serve_config. */
#include "membershipd/config/serve_config.h"
#include "membershipd/audit/audit_syslog.h"
#include "membershipd/dataplane/dataplane.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_RATE 20.0
#define DEFAULT_BURST 40
#define DEFAULT_MEMBER_RATE 2.0
#define DEFAULT_MEMBER_BURST 60
#define DEFAULT_MEMBER_ROOMS 1000
#define DEFAULT_MAX_CONNS 512
#define DEFAULT_MAX_CONNS_PER_IP 32
#define DEFAULT_BLOB_QUOTA (1ULL << 30)
#define BLOB_QUOTA_MAX (1ULL << 50)

void serve_flags_table(serve_flags *f, cli_flag *t)
{
    const cli_flag flags[SERVE_FLAG_COUNT] = {
        {"--bind", "HOST", &f->bind, NULL, "IP address to listen on (default 127.0.0.1)"},
        {"--http-port", "N", &f->http_port, NULL, "control-plane port (default 8470)"},
        {"--bus-auth", "MODE", &f->bus_auth, NULL, "enforce (default), soft or off; soft/off on loopback only"},
        {"--tls-cert", "PATH", &f->tls_cert, NULL, "PEM certificate (chain); with --tls-key"},
        {"--tls-key", "PATH", &f->tls_key, NULL, "PEM private key, mode 0600; with --tls-cert"},
        {"--tls-min", "VERSION", &f->tls_min, NULL, "lowest TLS version: 1.2 (default) or 1.3"},
        {"--rate", "R", &f->rate, NULL, "requests per second per client IP (default 20)"},
        {"--burst", "B", &f->burst, NULL, "requests a client IP may burst (default 40)"},
        {"--member-rate", "R", &f->member_rate, NULL,
         "changes (POST, PUT, DELETE) per second per member; admins are not limited (default 2)"},
        {"--member-burst", "B", &f->member_burst, NULL, "changes a member may burst (default 60)"},
        {"--member-rooms", "N", &f->member_rooms, NULL, "rooms a member may own; admins are not bounded (default 1000)"},
        {"--max-conns", "N", &f->max_conns, NULL, "open connections in all (default 512)"},
        {"--max-conns-per-ip", "N", &f->max_conns_per_ip, NULL, "open connections per client IP (default 32)"},
        {"--nats-server", "PATH", &f->nats_server, NULL, "the nats-server binary (default: nats-server on PATH)"},
        {"--nats-port", "N", &f->nats_port, NULL, "data-plane port (default 4250)"},
        {"--max-msg-bytes", "N", &f->max_msg_bytes, NULL, "largest data-plane message (default 1048576)"},
        {"--nats-memory-limit", "SIZE", &f->nats_memory_limit, NULL,
         "nats-server's soft memory limit (Go's GOMEMLIMIT): 96MiB, 1GiB... or off (default "
         SERVE_NATS_MEMORY_LIMIT_DEFAULT ")"},
        {"--blob-quota", "BYTES", &f->blob_quota, NULL, "bytes of blobs each user may store (default 1073741824)"},
        {"--log-compact-entries", "N", &f->log_compact_entries, NULL,
         "compact the bus log once it holds N entries after its base (default 10000)"},
        {"--metrics-addr", "HOST:PORT", &f->metrics_addr, NULL,
         "serve Prometheus GET /metrics there (default off); loopback unless TLS and enforce"},
        {"--audit-syslog", NULL, NULL, &f->audit_syslog, "mirror every audit entry to syslog (authpriv)"},
        {"--audit-syslog-socket", "PATH", &f->audit_syslog_socket, NULL,
         "the syslog socket for --audit-syslog (default /dev/log)"},
        {"--ca-kek-file", "PATH", &f->ca_kek_file, NULL,
         "the CA key-encryption key, read for node joins only (default DATA-DIR/ca.kek)"},
        {"--cluster-name", "NAME", &f->cluster.name, NULL, "join the nodes of this cluster (dev/cluster.md)"},
        {"--server-name", "NAME", &f->cluster.server_name, NULL, "this node's name, unique in the cluster"},
        {"--cluster-port", "N", &f->cluster.port_text, NULL, "the route port, on --bind (default 6250)"},
        {"--max-stale", "SECONDS", &f->cluster.max_stale_text, NULL,
         "without quorum for longer, admit no peer until caught up (default 30)"},
        {"--routes", "URL[,URL...]", &f->cluster.routes, NULL, "the other nodes: nats-route://HOST:PORT,..."},
        {"--cluster-secret-file", "PATH", &f->cluster.secret_file, NULL,
         "the route secret, the same file on every node (0600, 32 bytes or more)"},
        {"--route-tls-cert", "PATH", &f->cluster.tls_cert, NULL, "this node's certificate from the bus CA"},
        {"--route-tls-key", "PATH", &f->cluster.tls_key, NULL, "its private key, mode 0600"},
        {"--route-tls-ca", "PATH", &f->cluster.tls_ca, NULL, "the bus CA certificate"},
        STORE_LOCATION_FLAGS(f->store),
    };
    memcpy(t, flags, sizeof flags);
}

const char *bus_auth_name(bus_auth_mode mode)
{
    return mode == BUS_AUTH_ENFORCE ? "enforce" : mode == BUS_AUTH_SOFT ? "soft" : "off";
}

bool serve_config_tls(const serve_config *cfg)
{
    return cfg->tls_cert || cfg->tls_key;
}

static int parse_unsigned(const char *flag, const char *text, unsigned min, unsigned max,
                          unsigned fallback, unsigned *out)
{
    uint64_t v = fallback;
    int rc = cli_parse_u64(flag, text, min, max, fallback, &v);
    *out = (unsigned)v;
    return rc;
}

static int parse_rate(const char *flag, const char *text, double fallback, double *out)
{
    if (!text) {
        *out = fallback;
        return EXIT_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < 0.01 || v > 1e6)
        return cli_bad_value(flag, text, "a number per second, from 0.01 to 1000000");
    *out = v;
    return EXIT_OK;
}

/* SIZE as bytes, or a whole number of KiB, MiB or GiB; 0 for "off". */
static int parse_nats_memory_limit(const char *text, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
    const char *t = text ? text : SERVE_NATS_MEMORY_LIMIT_DEFAULT;
    *out = 0;
    if (strcmp(t, "off") == 0)
        return EXIT_OK;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(t, &end, 10);
    bool number = !errno && end != t && t[0] >= '0' && t[0] <= '9';
    for (size_t i = 0; number && i < sizeof units / sizeof *units; i++)
        if (strcmp(end, units[i].suffix) == 0 && n <= SERVE_NATS_MEMORY_LIMIT_MAX >> units[i].shift)
            *out = (uint64_t)n << units[i].shift;
    if (*out < SERVE_NATS_MEMORY_LIMIT_MIN || *out > SERVE_NATS_MEMORY_LIMIT_MAX) {
        *out = 0;
        return cli_bad_value("--nats-memory-limit", t,
                             "a size from 32MiB to 1024GiB, such as 96MiB or 2GiB (bytes, KiB, MiB or GiB), or off");
    }
    return EXIT_OK;
}

void serve_config_nats_env(const serve_config *cfg, char *out, size_t len)
{
    if (cfg->nats_memory_limit)
        snprintf(out, len, "GOMEMLIMIT=%llu", (unsigned long long)cfg->nats_memory_limit);
    else
        snprintf(out, len, "GOMEMLIMIT"); /* off: none inherited either */
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

/* IP literals only (and "localhost"): a name that resolves differently
 * tomorrow must not silently move a plane onto a public interface.
 * Returns false when host is not one. */
static bool parse_ip(const char *host, unsigned port, struct sockaddr_storage *addr, socklen_t *len)
{
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *in = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    } else {
        return false;
    }
    return true;
}

static int parse_bind(serve_config *cfg)
{
    if (!parse_ip(cfg->bind, cfg->http_port, &cfg->bind_addr, &cfg->bind_addr_len))
        return cli_bad_value("--bind", cfg->bind, "an IP address such as 127.0.0.1, 0.0.0.0 or ::1");
    cfg->bind_is_loopback = is_loopback(&cfg->bind_addr);
    return EXIT_OK;
}

/* HOST:PORT, with an IPv6 host in brackets: [::1]:9470. */
static int parse_metrics_addr(const char *text, serve_config *cfg)
{
    cfg->metrics_addr = text;
    if (!text)
        return EXIT_OK;
    static const char expected[] = "HOST:PORT with an IP address, such as 127.0.0.1:9470 or [::1]:9470";
    const char *colon = strrchr(text, ':');
    bool bracketed = text[0] == '[';
    size_t host_len = colon ? (size_t)(colon - text) : 0;
    if (!colon || host_len == 0 || !colon[1] || (bracketed && text[host_len - 1] != ']') ||
        (!bracketed && memchr(text, ':', host_len)) || host_len >= sizeof cfg->metrics_host + 2)
        return cli_bad_value("--metrics-addr", text, expected);
    snprintf(cfg->metrics_host, sizeof cfg->metrics_host, "%.*s", (int)(bracketed ? host_len - 2 : host_len),
             text + bracketed);
    if (parse_unsigned("--metrics-addr port", colon + 1, 0, 65535, 0, &cfg->metrics_port) != EXIT_OK)
        return EXIT_USAGE;
    if (!parse_ip(cfg->metrics_host, cfg->metrics_port, &cfg->metrics_sockaddr, &cfg->metrics_sockaddr_len))
        return cli_bad_value("--metrics-addr", text, expected);
    cfg->metrics_is_loopback = is_loopback(&cfg->metrics_sockaddr);
    return EXIT_OK;
}

static int parse_modes(const serve_flags *f, serve_config *cfg)
{
    const char *auth = f->bus_auth ? f->bus_auth : "enforce";
    if (strcmp(auth, "enforce") == 0)
        cfg->bus_auth = BUS_AUTH_ENFORCE;
    else if (strcmp(auth, "soft") == 0)
        cfg->bus_auth = BUS_AUTH_SOFT;
    else if (strcmp(auth, "off") == 0)
        cfg->bus_auth = BUS_AUTH_OFF;
    else
        return cli_bad_value("--bus-auth", auth, "enforce, soft or off");
    const char *min = f->tls_min ? f->tls_min : "1.2";
    if (strcmp(min, "1.2") == 0)
        cfg->tls_min = 12;
    else if (strcmp(min, "1.3") == 0)
        cfg->tls_min = 13;
    else
        return cli_bad_value("--tls-min", min, "1.2 or 1.3 (older versions are never offered)");
    return EXIT_OK;
}

/* Resolves a bare program name on PATH, as execvp would; "" when absent. */
static void resolve_binary(const char *name, char out[4096])
{
    out[0] = '\0';
    if (strchr(name, '/')) {
        if (access(name, X_OK) == 0)
            snprintf(out, 4096, "%s", name);
        return;
    }
    const char *path = getenv("PATH");
    char dirs[8192];
    snprintf(dirs, sizeof dirs, "%s", path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin");
    char *save = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char candidate[4096];
        if (snprintf(candidate, sizeof candidate, "%s/%s", dir, name) < (int)sizeof candidate &&
            access(candidate, X_OK) == 0) {
            snprintf(out, 4096, "%s", candidate);
            return;
        }
    }
}

int serve_config_parse(const serve_flags *f, serve_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bind = f->bind ? f->bind : SERVE_DEFAULT_BIND;
    cfg->tls_cert = f->tls_cert;
    cfg->tls_key = f->tls_key;
    cfg->store = f->store;
    cfg->ca_kek_file = f->ca_kek_file;
    cfg->cluster = f->cluster;
    int rc = parse_unsigned("--http-port", f->http_port, 0, 65535, SERVE_DEFAULT_HTTP_PORT,
                            &cfg->http_port);
    if (rc == EXIT_OK)
        rc = parse_bind(cfg);
    if (rc == EXIT_OK)
        rc = parse_modes(f, cfg);
    if (rc == EXIT_OK)
        rc = parse_rate("--rate", f->rate, DEFAULT_RATE, &cfg->rate);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--burst", f->burst, 1, 1000000, DEFAULT_BURST, &cfg->burst);
    if (rc == EXIT_OK)
        rc = parse_rate("--member-rate", f->member_rate, DEFAULT_MEMBER_RATE, &cfg->member_rate);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--member-burst", f->member_burst, 1, 1000000, DEFAULT_MEMBER_BURST, &cfg->member_burst);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--member-rooms", f->member_rooms, 1, 1000000, DEFAULT_MEMBER_ROOMS, &cfg->member_rooms);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--max-conns", f->max_conns, 1, 65536, DEFAULT_MAX_CONNS, &cfg->max_conns);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--max-conns-per-ip", f->max_conns_per_ip, 1, 65536,
                            DEFAULT_MAX_CONNS_PER_IP, &cfg->max_conns_per_ip);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--nats-port", f->nats_port, 0, 65535, DATAPLANE_DEFAULT_PORT, &cfg->nats_port);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--max-msg-bytes", f->max_msg_bytes, 1024, 64 * 1024 * 1024,
                            DATAPLANE_DEFAULT_MAX_MSG, &cfg->max_msg_bytes);
    if (rc == EXIT_OK)
        rc = parse_nats_memory_limit(f->nats_memory_limit, &cfg->nats_memory_limit);
    if (rc == EXIT_OK)
        rc = cli_parse_u64("--blob-quota", f->blob_quota, 0, BLOB_QUOTA_MAX, DEFAULT_BLOB_QUOTA, &cfg->blob_quota);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--log-compact-entries", f->log_compact_entries, SERVE_LOG_COMPACT_MIN,
                            SERVE_LOG_COMPACT_MAX, SERVE_LOG_COMPACT_DEFAULT, &cfg->log_compact_entries);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--cluster-port", f->cluster.port_text, 1, 65535, CLUSTER_DEFAULT_PORT,
                            &cfg->cluster.port);
    if (rc == EXIT_OK)
        rc = parse_unsigned("--max-stale", f->cluster.max_stale_text, 1, CLUSTER_MAX_STALE_MAX_S,
                            CLUSTER_DEFAULT_MAX_STALE_S, &cfg->cluster.max_stale_s);
    if (rc == EXIT_OK)
        rc = parse_metrics_addr(f->metrics_addr, cfg);
    if (rc == EXIT_OK && f->audit_syslog_socket && !f->audit_syslog) {
        cli_error("--audit-syslog-socket without --audit-syslog: add --audit-syslog to mirror the audit log");
        rc = EXIT_USAGE;
    }
    if (f->audit_syslog)
        cfg->audit_syslog = f->audit_syslog_socket ? f->audit_syslog_socket : AUDIT_SYSLOG_DEFAULT_SOCKET;
    cfg->nats_server = f->nats_server ? f->nats_server : "nats-server";
    resolve_binary(cfg->nats_server, cfg->nats_server_path);
    return rc;
}

int serve_config_from_args(const char *command, const char *summary, const cli_flag *extra, int argc,
                           char **argv, serve_config *cfg)
{
    serve_flags f = {0};
    cli_flag flags[SERVE_FLAG_COUNT + SERVE_EXTRA_FLAGS_MAX + 1] = {{0}};
    serve_flags_table(&f, flags);
    for (size_t i = 0; extra && extra[i].name && i < SERVE_EXTRA_FLAGS_MAX; i++)
        flags[SERVE_FLAG_COUNT + i] = extra[i];
    const cli_spec spec = {command, "", summary, flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    rc = serve_config_parse(&f, cfg);
    return rc == EXIT_OK ? CLI_PROCEED : rc;
}
