/* The boot guard: each rule is one function; the first refusal wins. */
#include "membershipd/config/guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include "busauth/seedfile.h"
#include "embedded/nats_config.h"
#include "membershipd/config/guard_cluster.h"
#include "membershipd/config/server_identity.h"
#include "membershipd/config/datadir.h"
#include "membershipd/config/tls_files.h"
#include "membershipd/store/store_pki.h"

static int partial_tls(const serve_config *cfg, char *why, size_t len)
{
    if (!cfg->tls_cert == !cfg->tls_key)
        return 0;
    snprintf(why, len, "--tls-cert and --tls-key go together; give both or neither (partial TLS)");
    return -1;
}

static int public_without_enforce(const serve_config *cfg, char *why, size_t len)
{
    if (cfg->bind_is_loopback || cfg->bus_auth == BUS_AUTH_ENFORCE)
        return 0;
    snprintf(why, len, "--bind %s is not loopback, so --bus-auth must be enforce (it is %s)",
             cfg->bind, bus_auth_name(cfg->bus_auth));
    return -1;
}

static int public_without_tls(const serve_config *cfg, char *why, size_t len)
{
    if (cfg->bind_is_loopback || serve_config_tls(cfg))
        return 0;
    snprintf(why, len, "--bind %s is not loopback and TLS is off; give --tls-cert and --tls-key",
             cfg->bind);
    return -1;
}

/* Metrics carry no secret, but a scrape from anywhere maps the service's
 * load and failures: off loopback only behind what protects the control
 * plane, and then over TLS (dev/metrics.md). */
static int public_metrics(const serve_config *cfg, char *why, size_t len)
{
    if (!cfg->metrics_addr || cfg->metrics_is_loopback ||
        (serve_config_tls(cfg) && cfg->bus_auth == BUS_AUTH_ENFORCE))
        return 0;
    snprintf(why, len, "--metrics-addr %s is not loopback, so it needs TLS (--tls-cert, --tls-key) and "
             "--bus-auth enforce; or give --metrics-addr 127.0.0.1:PORT", cfg->metrics_addr);
    return -1;
}

static int tls_without_enforce(const serve_config *cfg, char *why, size_t len)
{
    if (!serve_config_tls(cfg) || cfg->bus_auth == BUS_AUTH_ENFORCE)
        return 0;
    snprintf(why, len, "TLS is configured, so --bus-auth must be enforce (it is %s)",
             bus_auth_name(cfg->bus_auth));
    return -1;
}

static int tls_files(const serve_config *cfg, char *why, size_t len)
{
    if (!serve_config_tls(cfg))
        return 0;
    return tls_files_check(cfg->tls_cert, cfg->tls_key, why, len);
}

/* The bus log's connection verifies the data plane (dev/control-log.md):
 * a certificate it cannot verify would leave serve waiting for a log that
 * never comes up. */
static int tls_chain(const serve_config *cfg, char *why, size_t len)
{
    if (!serve_config_tls(cfg) || cfg->bus_auth == BUS_AUTH_OFF)
        return 0;
    char db[4096], err[512];
    store *s = NULL;
    store_ca ca = {0};
    bool have_ca = cli_db_file(&cfg->store, db) && store_open(db, STORE_OPEN_EXISTING, &s, err, sizeof err) == STORE_OK &&
                   store_ca_get(s, &ca) == STORE_OK;
    int rc = tls_chain_check(cfg->tls_cert, have_ca ? ca.cert_pem : NULL, why, len);
    if (have_ca)
        store_ca_free(&ca);
    store_close(s);
    return rc;
}

/* A data dir that exists must be private; a missing one is made at start. */
static int data_dir(const serve_config *cfg, char *why, size_t len)
{
    return cli_data_dir_problem(cli_data_dir_path(&cfg->store), why, len) < 0 ? -1 : 0;
}

/* A server identity already in the data dir must be private and parse. */
static int server_identity(const serve_config *cfg, char *why, size_t len)
{
    char path[PATH_MAX];
    server_identity_path(cli_data_dir_path(&cfg->store), path);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    busauth_identity *id = NULL;
    busauth_status status = busauth_seedfile_load(path, &id);
    busauth_identity_free(id);
    if (status == BUSAUTH_OK)
        return 0;
    busauth_seedfile_describe_error(why, len, path, status, errno);
    return -1;
}

/* A database that exists must be this user's alone (--db may put it outside the data dir). */
static int database(const serve_config *cfg, char *why, size_t len)
{
    char path[PATH_MAX];
    if (!cli_db_file(&cfg->store, path)) {
        snprintf(why, len, "database path is too long: %.64s...", path);
        return -1;
    }
    return store_file_problem(path, why, len) < 0 ? -1 : 0;
}

static int nats_binary(const serve_config *cfg, char *why, size_t len)
{
    if (cfg->nats_server_path[0])
        return 0;
    snprintf(why, len, "nats-server not found (looked for %s%s): install it with: apt-get install nats-server, "
             "or give --nats-server PATH", cfg->nats_server, strchr(cfg->nats_server, '/') ? "" : " on PATH");
    return -1;
}

static int same_port(unsigned a, const char *flag_a, unsigned b, const char *flag_b, char *why, size_t len)
{
    if (a == 0 || a != b)
        return 0;
    snprintf(why, len, "%s and %s are both %u; give them different ports", flag_a, flag_b, a);
    return -1;
}

static int distinct_ports(const serve_config *cfg, char *why, size_t len)
{
    unsigned metrics = cfg->metrics_addr ? cfg->metrics_port : 0;
    unsigned cluster = cluster_configured(&cfg->cluster) ? cfg->cluster.port : 0;
    const struct {
        unsigned port;
        const char *flag;
    } ports[] = {{cfg->http_port, "--http-port"}, {cfg->nats_port, "--nats-port"},
                 {metrics, "--metrics-addr"}, {cluster, "--cluster-port"}};
    size_t n = sizeof ports / sizeof ports[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (same_port(ports[i].port, ports[i].flag, ports[j].port, ports[j].flag, why, len) != 0)
                return -1;
    return 0;
}

/* A port another process holds is named now, not as a child's crash later. */
static int port_free(struct sockaddr_storage addr, socklen_t addr_len, const char *host, unsigned port,
                     const char *flag, char *why, size_t len)
{
    if (port == 0)
        return 0;
    ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port); /* same offset for IPv6 */
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = fd >= 0 ? bind(fd, (struct sockaddr *)&addr, addr_len) : -1;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        return 0;
    snprintf(why, len, "%s %u on %s is not available: %s (another membershipd or nats-server?)", flag, port,
             host, strerror(saved));
    return -1;
}

static int ports_free(const serve_config *cfg, char *why, size_t len)
{
    if (port_free(cfg->bind_addr, cfg->bind_addr_len, cfg->bind, cfg->http_port, "--http-port", why, len) != 0 ||
        port_free(cfg->bind_addr, cfg->bind_addr_len, cfg->bind, cfg->nats_port, "--nats-port", why, len) != 0)
        return -1;
    if (cluster_configured(&cfg->cluster) &&
        port_free(cfg->bind_addr, cfg->bind_addr_len, cfg->bind, cfg->cluster.port, "--cluster-port", why, len) != 0)
        return -1;
    if (!cfg->metrics_addr)
        return 0;
    return port_free(cfg->metrics_sockaddr, cfg->metrics_sockaddr_len, cfg->metrics_host, cfg->metrics_port,
                     "--metrics-addr", why, len);
}

/* Paths go into the nats-server configuration as quoted strings. */
static int tls_paths_quotable(const serve_config *cfg, char *why, size_t len)
{
    if (!serve_config_tls(cfg) || (natsconf_path_ok(cfg->tls_cert) && natsconf_path_ok(cfg->tls_key)))
        return 0;
    snprintf(why, len, "--tls-cert and --tls-key paths may not hold quotes, backslashes, '$' or control characters");
    return -1;
}

const guard_rule GUARD_RULES[] = {
    {"tls_pair", "--tls-cert and --tls-key go together", partial_tls, false},
    {"public_auth", "a non-loopback bind needs --bus-auth enforce", public_without_enforce, false},
    {"public_tls", "a non-loopback bind needs TLS", public_without_tls, false},
    {"tls_auth", "TLS needs --bus-auth enforce", tls_without_enforce, false},
    {"public_metrics", "a non-loopback --metrics-addr needs TLS and --bus-auth enforce", public_metrics, false},
    {"tls_files", "the TLS certificate and key are usable, private and matching", tls_files, false},
    {"tls_paths", "the TLS paths can be quoted into the nats-server configuration", tls_paths_quotable, false},
    {"tls_chain", "the TLS certificate verifies against its own chain, the bus CA or the system's roots",
     tls_chain, false},
    {"data_dir", "the data directory, if it exists, is private", data_dir, false},
    {"server_identity", "the server identity, if it exists, is private and parses", server_identity, false},
    {"database", "the database, if it exists, is private", database, false},
    {"nats_binary", "the nats-server binary is there", nats_binary, false},
    {"cluster_names", "a cluster node has a cluster name, its own server name and --bus-auth enforce",
     guard_cluster_names, false},
    {"cluster_tls", "a cluster node has route mutual TLS with a node certificate from the bus CA",
     guard_cluster_tls, false},
    {"cluster_secret", "a cluster node has a private route secret of 32 bytes or more", guard_cluster_secret, false},
    {"cluster_routes", "the route URLs parse, carry no password and name each other node once", guard_cluster_routes,
     false},
    {"cluster_cert_revoked", "the route certificate is not revoked by this bus", guard_cluster_cert_revoked, false},
    {"store_cluster", "a cluster node's store starts only as a node of its cluster", guard_store_cluster, false},
    {"cluster_pins", "a node joining pins the route keys its certificate came with", guard_cluster_pins, false},
    {"distinct_ports", "the control plane, data plane and metrics use different ports", distinct_ports, false},
    {"ports_free", "the ports are free", ports_free, true},
};
const size_t GUARD_RULE_COUNT = sizeof GUARD_RULES / sizeof GUARD_RULES[0];

int guard_check(const serve_config *cfg)
{
    char why[GUARD_REASON_MAX];
    for (size_t i = 0; i < GUARD_RULE_COUNT; i++) {
        if (GUARD_RULES[i].check(cfg, why, sizeof why) != 0) {
            cli_error("refusing to start: %s", why);
            return EXIT_CONFIG;
        }
    }
    return EXIT_OK;
}
