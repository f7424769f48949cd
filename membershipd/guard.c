/* The boot guard: each rule is one function; the first refusal wins. */
#include "membershipd/guard.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include "busauth/seedfile.h"
#include "membershipd/server_identity.h"
#include "membershipd/tls_files.h"

#define REASON_MAX (2 * PATH_MAX + 256)

typedef int (*guard_rule)(const serve_config *cfg, char *why, size_t len);

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

static const guard_rule RULES[] = {
    partial_tls, public_without_enforce, public_without_tls, tls_without_enforce,
    tls_files, data_dir, server_identity,
};

int guard_check(const serve_config *cfg)
{
    char why[REASON_MAX];
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        if (RULES[i](cfg, why, sizeof why) != 0) {
            cli_error("refusing to start: %s", why);
            return EXIT_CONFIG;
        }
    }
    return EXIT_OK;
}
