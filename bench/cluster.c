#include "cluster.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include "bench.h"

static int run_cli(const char *const *args, const char *what)
{
    char out[1024];
    int rc = harness_run(args, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "bench: membershipd %s failed (exit %d): %s\n", what, rc, out);
    return rc == 0 ? 0 : -1;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[4096];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* Nodes started together pin each other: each gets the newest route-pins
 * (what the bus pins after the last certificate), as an operator would. */
static int share_pins(bench_cluster *c)
{
    char newest[PATH_MAX + 64], path[PATH_MAX + 64];
    snprintf(newest, sizeof newest, "%s/route-pins", c->node[c->n - 1].cert_dir);
    for (size_t i = 0; i + 1 < c->n; i++) {
        snprintf(path, sizeof path, "%s/route-pins", c->node[i].cert_dir);
        if (copy_file(newest, path) != 0)
            return -1;
    }
    return 0;
}

static int write_secret(bench_cluster *c)
{
    uint8_t raw[32];
    char hex[65];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    snprintf(c->secret, sizeof c->secret, "%s/route.secret", c->first->dir);
    FILE *f = fopen(c->secret, "w");
    int rc = f && chmod(c->secret, 0600) == 0 && fputs(hex, f) >= 0 ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    fixture_record_secret(hex); /* logs.secrets, when it runs, proves no log holds it */
    sodium_memzero(hex, sizeof hex);
    return rc;
}

static int issue(bench_cluster *c, bench_node *node)
{
    const char *args[] = {"cert", "issue", node->name, "--role", "node", "--ip", "127.0.0.1", "--out",
                          node->cert_dir, "--data-dir", c->first->data_dir, NULL};
    return run_cli(args, "cert issue");
}

int cluster_prepare(bench_cluster *c, fixture *first, size_t n)
{
    memset(c, 0, sizeof *c);
    c->first = first;
    c->n = n < CLUSTER_NODES_MAX ? n : CLUSTER_NODES_MAX;
    const char *ca[] = {"ca", "init", "--trust-domain", "bench.test", "--data-dir", first->data_dir, NULL};
    int rc = run_cli(ca, "ca init");
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        bench_node *node = &c->node[i];
        node->f = *first;
        char name[sizeof node->name]; /* apart from *c: GCC's restrict check under -O2 */
        snprintf(name, sizeof name, "n%u", (unsigned)(i + 1) % 1000u);
        memcpy(node->name, name, sizeof name);
        node->cluster_port = bench_free_port();
        snprintf(node->cert_dir, sizeof node->cert_dir, "%s/certs-%s", first->dir, name);
        if (i > 0) {
            snprintf(node->f.data_dir, sizeof node->f.data_dir, "%s/data-%s", first->dir, name);
            mkdir(node->f.data_dir, 0700);
        }
        rc = issue(c, node);
    }
    if (rc == 0 && (share_pins(c) != 0 || write_secret(c) != 0)) {
        fprintf(stderr, "bench: cannot write the route-pins or the route secret in %s\n", first->dir);
        rc = -1;
    }
    return rc;
}

int cluster_launch(bench_cluster *c, size_t i)
{
    bench_node *node = &c->node[i];
    char port[16], routes[512] = "", cert[PATH_MAX + 64], key[PATH_MAX + 64], ca[PATH_MAX + 64];
    snprintf(port, sizeof port, "%u", node->cluster_port);
    for (size_t j = 0; j < c->n; j++)
        if (j != i)
            snprintf(routes + strlen(routes), sizeof routes - strlen(routes), "%snats-route://127.0.0.1:%u",
                     routes[0] ? "," : "", c->node[j].cluster_port);
    snprintf(cert, sizeof cert, "%s/%s.crt", node->cert_dir, node->name);
    snprintf(key, sizeof key, "%s/%s.key", node->cert_dir, node->name);
    snprintf(ca, sizeof ca, "%s/ca.crt", node->cert_dir);
    const char *flags[40];
    size_t k = 0;
    for (size_t j = 0; BENCH_LOAD_FLAGS[j]; j++)
        flags[k++] = BENCH_LOAD_FLAGS[j];
    const char *cluster[] = {"--cluster-name", "bench", "--server-name", node->name, "--cluster-port", port,
                             "--routes", routes, "--cluster-secret-file", c->secret, "--route-tls-cert", cert,
                             "--route-tls-key", key, "--route-tls-ca", ca, NULL};
    for (size_t j = 0; cluster[j]; j++)
        flags[k++] = cluster[j];
    flags[k] = NULL;
    node->up = fixture_launch(&node->f, flags) == 0;
    return node->up ? 0 : -1;
}

int cluster_await(bench_cluster *c, size_t i, int timeout_ms)
{
    bench_node *node = &c->node[i];
    if (fixture_await(&node->f, timeout_ms) == 0)
        return 0;
    fprintf(stderr, "bench: cluster node %s did not listen within %d s; its log: %s\n", node->name,
            timeout_ms / 1000, node->f.server.log_path);
    node->up = false;
    return -1;
}

bool cluster_open(const bench_cluster *c, size_t i)
{
    return harness_log_contains(&c->node[i].f.server, "msg=cluster_peers_open");
}

int cluster_wait_open(const bench_cluster *c, size_t from, size_t to, double timeout_s)
{
    double give_up = bench_now() + timeout_s;
    for (size_t i = from; i < to; i++)
        while (!cluster_open(c, i)) {
            if (bench_now() > give_up) {
                fprintf(stderr, "bench: cluster node %s did not admit peers within %.0f s; its log: %s\n",
                        c->node[i].name, timeout_s, c->node[i].f.server.log_path);
                return -1;
            }
            bench_sleep_ms(20);
        }
    return 0;
}

int cluster_leader(bench_cluster *c, size_t asked)
{
    http_result r = fixture_call(&c->node[asked].f, NULL, "GET", "/v1/info", NULL);
    const char *leader = json_string_value(json_object_get(r.json, "bus_log_leader"));
    int found = -1;
    for (size_t i = 0; leader && i < c->n; i++)
        if (strcmp(c->node[i].name, leader) == 0)
            found = (int)i;
    http_result_free(&r);
    return found;
}

void cluster_kill(bench_node *node)
{
    harness_server *s = &node->f.server;
    pid_t nats = bench_child_pid(s->pid, "nats-server");
    /* membershipd first, so its supervisor cannot start nats-server again. */
    kill(s->pid, SIGKILL);
    if (nats > 0)
        kill(nats, SIGKILL);
    bench_end_process(s->pid, SIGKILL);
    s->pid = 0;
    node->up = false;
}

int cluster_stop_node(bench_cluster *c, size_t i)
{
    bench_node *node = &c->node[i];
    if (!node->up)
        return 0;
    node->up = false;
    int status = harness_stop(&node->f.server);
    if (status != 0)
        fprintf(stderr, "bench: cluster node %s exited with %d; its log: %s\n", node->name, status,
                node->f.server.log_path);
    return status == 0 ? 0 : -1;
}

int cluster_stop(bench_cluster *c)
{
    int unclean = 0;
    for (size_t i = 0; i < c->n; i++)
        unclean += cluster_stop_node(c, i) != 0;
    return unclean;
}
