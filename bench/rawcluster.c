#include "rawcluster.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>
#include "bench.h"
#include "harness.h"
#include "natsd.h"

#define READY_TIMEOUT_MS 20000

/* The pins a node of the bus would render: the route-pins file's lines. */
static void write_pins(FILE *out, const char *cert_dir)
{
    char path[PATH_MAX + 32], line[128];
    snprintf(path, sizeof path, "%s/route-pins", cert_dir);
    FILE *in = fopen(path, "r");
    const char *sep = "";
    fputs("    pinned_certs: [", out);
    while (in && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            fprintf(out, "%s\"%s\"", sep, line), sep = ", ";
    }
    fputs("]\n", out);
    if (in)
        fclose(in);
}

/* What membershipd renders for a cluster node (nats.conf), minus accounts
 * and users: the limits, JetStream, the cluster block. */
static int write_config(const raw_cluster *c, size_t i, const char *path, const char *dir, const char *cert_dir,
                        const char *password)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const raw_server *s = &c->s[i];
    fprintf(f, "listen: \"127.0.0.1:%u\"\nmax_payload: 1048576\nmax_pending: 67108864\nserver_name: \"%s\"\n"
               "jetstream {\n  store_dir: \"%s/js-%s\"\n  max_mem: 64M\n  max_file: 8G\n}\n",
            s->port, s->name, dir, s->name);
    fprintf(f, "cluster {\n  name: \"raw\"\n  listen: \"127.0.0.1:%u\"\n"
               "  authorization {\n    user: \"route\"\n    password: \"%s\"\n    timeout: 2\n  }\n"
               "  tls {\n    cert_file: \"%s/%s.crt\"\n    key_file: \"%s/%s.key\"\n    ca_file: \"%s/ca.crt\"\n"
               "    verify: true\n    timeout: 2\n",
            s->cluster_port, password, cert_dir, s->name, cert_dir, s->name, cert_dir);
    write_pins(f, cert_dir);
    fputs("  }\n  routes = [\n", f);
    for (size_t j = 0; j < RAW_SERVERS; j++)
        if (j != i)
            fprintf(f, "    \"nats-route://route:%s@127.0.0.1:%u\"\n", password, c->s[j].cluster_port);
    fputs("  ]\n}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static int spawn(raw_server *s, const char *config)
{
    int log_fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *argv[] = {natsd_binary(), "-c", config, NULL};
    s->pid = log_fd >= 0 ? harness_spawn(argv, -1, log_fd) : -1;
    if (log_fd >= 0)
        close(log_fd);
    return s->pid > 0 ? 0 : -1;
}

int raw_cluster_start(raw_cluster *c, const char *dir, const char *const cert_dirs[RAW_SERVERS],
                      const char *const names[RAW_SERVERS])
{
    uint8_t secret[32];
    char password[65], config[PATH_MAX + 32];
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(password, sizeof password, secret, sizeof secret);
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < RAW_SERVERS; i++) {
        raw_server *s = &c->s[i];
        snprintf(s->name, sizeof s->name, "%s", names[i]);
        s->port = bench_free_port();
        s->cluster_port = bench_free_port();
        snprintf(s->url, sizeof s->url, "nats://127.0.0.1:%u", s->port);
        snprintf(s->log, sizeof s->log, "%s/raw-%s.log", dir, names[i]); /* not s->name: GCC's restrict check */
    }
    int rc = 0;
    for (size_t i = 0; i < RAW_SERVERS && rc == 0; i++) {
        snprintf(config, sizeof config, "%s/raw-%s.conf", dir, c->s[i].name);
        rc = write_config(c, i, config, dir, cert_dirs[i], password);
        rc = rc == 0 ? spawn(&c->s[i], config) : -1;
    }
    for (int waited = 0; rc == 0 && waited < READY_TIMEOUT_MS; waited += 20) {
        size_t ready = 0;
        for (size_t i = 0; i < RAW_SERVERS; i++)
            ready += harness_file_contains(c->s[i].log, "Server is ready");
        if (ready == RAW_SERVERS)
            return 0;
        bench_sleep_ms(20);
    }
    fprintf(stderr, "bench: the raw nats-server cluster did not start; logs: %s/raw-*.log\n", dir);
    raw_cluster_stop(c);
    return -1;
}

static void end(raw_server *s, int sig)
{
    if (s->pid > 0)
        bench_end_process(s->pid, sig);
    s->pid = 0;
}

void raw_cluster_kill(raw_cluster *c, const char *name)
{
    for (size_t i = 0; i < RAW_SERVERS; i++)
        if (strcmp(c->s[i].name, name) == 0)
            end(&c->s[i], SIGKILL);
}

void raw_cluster_stop(raw_cluster *c)
{
    for (size_t i = 0; i < RAW_SERVERS; i++)
        end(&c->s[i], SIGTERM);
}
