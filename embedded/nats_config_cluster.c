/* The cluster block of the nats-server configuration: routes with a
 * shared secret and mutual TLS, the peers' keys pinned (dev/cluster.md). */
#include "embedded/nats_config_internal.h"

#include <arpa/inet.h>
#include <string.h>

bool natsconf_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= NATSCONF_NAME_MAX &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static bool dns_name_ok(const char *host)
{
    size_t n = strlen(host);
    if (n == 0 || n > NATSCONF_HOST_MAX || host[0] == '-' || host[0] == '.' || host[n - 1] == '.')
        return false;
    return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n &&
           !strstr(host, "..");
}

bool natsconf_route_host_ok(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET6, host, buf) == 1 || dns_name_ok(host); /* dns_name_ok takes IPv4 literals */
}

static bool hex_ok(const char *text, size_t len)
{
    return text && strlen(text) == len && strspn(text, "0123456789abcdef") == len;
}

bool natsconf_cluster_valid(const natsconf_cluster *c)
{
    if (!natsconf_name_ok(c->name) || !natsconf_name_ok(c->server_name) || c->port == 0 || c->port > 65535)
        return false;
    if (!hex_ok(c->password, NATSCONF_ROUTE_PASSWORD_LEN) || c->npins == 0)
        return false;
    if (!natsconf_path_ok(c->tls_cert) || !natsconf_path_ok(c->tls_key) || !natsconf_path_ok(c->tls_ca))
        return false;
    for (size_t i = 0; i < c->npins; i++)
        if (!hex_ok(c->pins[i], NATSCONF_PIN_LEN))
            return false;
    for (size_t i = 0; i < c->nroutes; i++)
        if (!natsconf_route_host_ok(c->routes[i].host) || c->routes[i].port == 0 || c->routes[i].port > 65535)
            return false;
    return true;
}

void natsconf_render_host_port(FILE *f, const char *host, unsigned port)
{
    bool v6 = strchr(host, ':') != NULL;
    fprintf(f, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* The secret travels inside TLS: a route's TLS handshake comes first
 * (FACTS.md, "Clustering"), and pinning refuses a key the bus did not
 * issue or has revoked before the password is read. */
void natsconf_render_cluster(FILE *f, const char *host, const natsconf_cluster *c)
{
    fprintf(f, "server_name: \"%s\"\ncluster {\n  name: \"%s\"\n  listen: \"", c->server_name, c->name);
    natsconf_render_host_port(f, host, c->port);
    fprintf(f, "\"\n  authorization {\n    user: \"" NATSCONF_ROUTE_USER "\"\n    password: \"%s\"\n"
               "    timeout: 2\n  }\n", c->password);
    fprintf(f, "  tls {\n    cert_file: \"%s\"\n    key_file: \"%s\"\n    ca_file: \"%s\"\n    verify: true\n"
               "    timeout: 2\n    pinned_certs: [", c->tls_cert, c->tls_key, c->tls_ca);
    for (size_t i = 0; i < c->npins; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", c->pins[i]);
    fprintf(f, "]\n  }\n  routes = [\n");
    for (size_t i = 0; i < c->nroutes; i++) {
        fprintf(f, "    \"nats-route://" NATSCONF_ROUTE_USER ":%s@", c->password);
        natsconf_render_host_port(f, c->routes[i].host, c->routes[i].port);
        fprintf(f, "\"\n");
    }
    fprintf(f, "  ]\n}\n");
}
