#include "natsd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include "bench.h"

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
    n->sup = supervisor_start(natsd_binary(), n->config, NATSD_TIMEOUT_MS);
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

int natsd_start_copy(natsd *n, const char *dir, const char *source)
{
    memset(n, 0, sizeof *n);
    n->port = bench_free_port();
    snprintf(n->config, sizeof n->config, "%s/copy-nats.conf", dir);
    FILE *in = fopen(source, "r"), *out = fopen(n->config, "w");
    char line[4096];
    while (in && out && fgets(line, sizeof line, in)) {
        if (strncmp(line, "listen:", 7) == 0)
            fprintf(out, "listen: \"127.0.0.1:%u\"\n", n->port);
        else
            fputs(line, out);
    }
    int ok = in && out;
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return ok ? start(n) : -1;
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
