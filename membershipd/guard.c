/* The boot guard: each rule is one function; the first refusal wins. */
#include "membershipd/guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include "busauth/seedfile.h"
#include "embedded/nats_config.h"
#include "membershipd/server_identity.h"
#include "membershipd/tls_files.h"

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

static int nats_binary(const serve_config *cfg, char *why, size_t len)
{
    if (cfg->nats_server_path[0])
        return 0;
    snprintf(why, len, "nats-server not found (looked for %s%s): install it with: apt-get install nats-server, "
             "or give --nats-server PATH", cfg->nats_server, strchr(cfg->nats_server, '/') ? "" : " on PATH");
    return -1;
}

static int distinct_ports(const serve_config *cfg, char *why, size_t len)
{
    if (cfg->nats_port == 0 || cfg->nats_port != cfg->http_port)
        return 0;
    snprintf(why, len, "--nats-port and --http-port are both %u; give them different ports", cfg->http_port);
    return -1;
}

/* A port another process holds is named now, not as a child's crash later. */
static int port_free(const serve_config *cfg, unsigned port, const char *flag, char *why, size_t len)
{
    if (port == 0)
        return 0;
    struct sockaddr_storage addr = cfg->bind_addr;
    ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port); /* same offset for IPv6 */
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = fd >= 0 ? bind(fd, (struct sockaddr *)&addr, cfg->bind_addr_len) : -1;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        return 0;
    snprintf(why, len, "%s %u on %s is not available: %s (another membershipd or nats-server?)", flag, port,
             cfg->bind, strerror(saved));
    return -1;
}

static int ports_free(const serve_config *cfg, char *why, size_t len)
{
    if (port_free(cfg, cfg->http_port, "--http-port", why, len) != 0)
        return -1;
    return port_free(cfg, cfg->nats_port, "--nats-port", why, len);
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
    {"tls_files", "the TLS certificate and key are usable, private and matching", tls_files, false},
    {"tls_paths", "the TLS paths can be quoted into the nats-server configuration", tls_paths_quotable, false},
    {"data_dir", "the data directory, if it exists, is private", data_dir, false},
    {"server_identity", "the server identity, if it exists, is private and parses", server_identity, false},
    {"nats_binary", "the nats-server binary is there", nats_binary, false},
    {"distinct_ports", "the control plane and data plane use different ports", distinct_ports, false},
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
