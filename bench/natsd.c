#include "natsd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include "bench.h"
#include "embedded/nats_config.h"

#define NATSD_TIMEOUT_MS 15000

const char *natsd_binary(void)
{
    static char found[PATH_MAX];
    const char *path = getenv("PATH");
    while (!found[0] && path && *path) {
        size_t len = strcspn(path, ":");
        snprintf(found, sizeof found, "%.*s/nats-server", (int)len, path);
        if (access(found, X_OK) != 0)
            found[0] = '\0';
        path += len + (path[len] == ':');
    }
    return found[0] ? found : "nats-server";
}

static int start(natsd *n)
{
    n->sup = supervisor_start(natsd_binary(), n->config, NULL, NATSD_TIMEOUT_MS);
    snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%u", n->port);
    if (!n->sup)
        fprintf(stderr, "bench: nats-server did not start on %s; is nats-server on PATH?\n", n->config);
    return n->sup ? 0 : -1;
}

int natsd_start_open(natsd *n, const char *dir)
{
    memset(n, 0, sizeof *n);
    n->port = bench_free_port();
    snprintf(n->config, sizeof n->config, "%s/open-nats.conf", dir);
    FILE *f = fopen(n->config, "w");
    if (!f)
        return -1;
    fprintf(f, "listen: \"127.0.0.1:%u\"\nmax_payload: 1048576\nmax_pending: 67108864\nno_sys_acc: true\n", n->port);
    fclose(f);
    return start(n);
}

/* source's lines into to; with a dir, its listen line on port and its
 * JetStream store under dir (membershipd's server still runs on its own). */
static int copy_config(const char *source, const char *to, const char *dir, unsigned port)
{
    FILE *in = fopen(source, "r"), *out = fopen(to, "w");
    char line[4096];
    while (in && out && fgets(line, sizeof line, in)) {
        if (dir && strncmp(line, "listen:", 7) == 0)
            fprintf(out, "listen: \"127.0.0.1:%u\"\n", port);
        else if (dir && strncmp(line, "  store_dir:", 12) == 0)
            fprintf(out, "  store_dir: \"%s/copy-jetstream\"\n", dir);
        else
            fputs(line, out);
    }
    int ok = in && out;
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return ok ? 0 : -1;
}

int natsd_start_copy(natsd *n, const char *dir, const char *source)
{
    memset(n, 0, sizeof *n);
    n->port = bench_free_port();
    snprintf(n->config, sizeof n->config, "%s/copy-nats.conf", dir);
    /* The users file keeps its name: the copied text includes it by name. */
    char users[PATH_MAX + 64], users_copy[PATH_MAX + 64];
    const char *base = strrchr(source, '/');
    snprintf(users_copy, sizeof users_copy, "%s/%s" NATSCONF_USERS_SUFFIX, dir, base ? base + 1 : source);
    bool has_users = natsconf_users_path(source, users, sizeof users) == 0 && access(users, R_OK) == 0;
    if (copy_config(source, n->config, dir, n->port) != 0 ||
        (has_users && copy_config(users, users_copy, NULL, 0) != 0))
        return -1;
    return start(n);
}

double natsd_reload_ms(natsd *n)
{
    double t0 = bench_now();
    int rc = supervisor_reload(n->sup, NATSD_TIMEOUT_MS);
    return rc == 0 ? (bench_now() - t0) * 1e3 : -1;
}

void natsd_stop(natsd *n)
{
    supervisor_stop(n->sup);
    n->sup = NULL;
}
