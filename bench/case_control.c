/* Case 2: signed requests over keep-alive TLS from 1, 8 and 64 concurrent
 * clients, next to the Ed25519 verifications per second the same cores do. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "bench.h"
#include "change_floor.h"
#include "report.h"
#include "testutil.h"

static const int CONCURRENCY[] = {1, 8, 64};

typedef struct {
    fixture *f;
    const char *method, *target;
    int index;
    pthread_barrier_t *start;
    double duration_s;
    double *latency_ms;
    size_t n, cap, failed;
    long last_bad_status;
} client_run;

static long call(client_run *r, CURL *h, int seq)
{
    char body[256] = "", sealed[128], target[64];
    snprintf(target, sizeof target, "%s", r->target);
    if (strcmp(r->method, "POST") == 0) {
        fixture_fake_sealed_key(sealed);
        snprintf(body, sizeof body, "{\"name\":\"bench-%d-%d\",\"sealed_key\":\"%s\"}", r->index, seq, sealed);
    }
    /* The server key given: else each call first asks GET /v1/info on a
     * connection of its own, and the figure would carry its TLS handshake. */
    http_opts opts = {.id = r->f->alice, .server_nkey = r->f->server_nkey, .ca_file = r->f->ca_file,
                      .keep_alive = h};
    http_result res;
    http_call(r->f->server.base_url, r->method, target, body, strlen(body), &opts, &res);
    long status = res.status;
    http_result_free(&res);
    return status;
}

static void *client_thread(void *arg)
{
    client_run *r = arg;
    CURL *h = curl_easy_init();
    call(r, h, -1); /* the TLS handshake, outside the timed part */
    pthread_barrier_wait(r->start);
    double stop_at = bench_now() + r->duration_s;
    long expect = strcmp(r->method, "POST") == 0 ? 201 : 200;
    for (int seq = 0; bench_now() < stop_at; seq++) {
        double t0 = bench_now();
        long status = call(r, h, seq);
        if (status != expect) {
            r->failed++;
            r->last_bad_status = status;
            continue;
        }
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 1024;
            r->latency_ms = realloc(r->latency_ms, r->cap * sizeof *r->latency_ms);
        }
        r->latency_ms[r->n++] = (bench_now() - t0) * 1e3;
    }
    curl_easy_cleanup(h);
    return NULL;
}

typedef struct {
    double rate, p50, p99;
    size_t failed;
    long bad_status;
} load_result;

static load_result run_load(fixture *f, const char *method, const char *target, int clients, double duration_s)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)clients + 1);
    client_run *runs = calloc((size_t)clients, sizeof *runs);
    pthread_t *threads = calloc((size_t)clients, sizeof *threads);
    for (int i = 0; i < clients; i++) {
        runs[i] = (client_run){.f = f, .method = method, .target = target, .index = i, .start = &start,
                               .duration_s = duration_s};
        pthread_create(&threads[i], NULL, client_thread, &runs[i]);
    }
    /* Every client has its connection: the clock starts now for all. */
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    load_result out = {0};
    size_t total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        total += runs[i].n;
    }
    double elapsed = bench_now() - t0;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, runs[i].latency_ms, runs[i].n * sizeof *all);
        k += runs[i].n;
        out.failed += runs[i].failed;
        if (runs[i].failed)
            out.bad_status = runs[i].last_bad_status;
        free(runs[i].latency_ms);
    }
    out.rate = (double)total / elapsed;
    out.p50 = bench_percentile(all, total, 50);
    out.p99 = bench_percentile(all, total, 99);
    free(all);
    free(runs);
    free(threads);
    pthread_barrier_destroy(&start);
    return out;
}

typedef struct {
    double stop_at;
    unsigned long n;
} verify_run;

static void *verify_thread(void *arg)
{
    verify_run *r = arg;
    uint8_t pk[32], sk[64], sig[64], msg[200] = {0};
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    while (bench_now() < r->stop_at)
        for (int i = 0; i < 16; i++)
            r->n += crypto_sign_verify_detached(sig, msg, sizeof msg, pk) == 0;
    return NULL;
}

/* Ed25519 verifications per second with every core busy. */
static double verify_ceiling(double duration_s)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    verify_run runs[64] = {{0}};
    pthread_t threads[64];
    size_t n = cores > 0 && cores < 64 ? (size_t)cores : 1;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        runs[i].stop_at = t0 + duration_s;
        pthread_create(&threads[i], NULL, verify_thread, &runs[i]);
    }
    unsigned long total = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        total += runs[i].n;
    }
    return (double)total / (bench_now() - t0);
}

void case_control(const bench_opts *o)
{
    char ca[PATH_MAX + 64], cert[PATH_MAX + 64], key[PATH_MAX + 64];
    if (fixture_make_pki(ca, cert, key) != 0) {
        fprintf(stderr, "bench: cannot make a test PKI (openssl on PATH?)\n");
        exit(1);
    }
    const char *flags[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    fixture f;
    bench_start_server(&f, flags, NULL, NULL);
    f.ca_file = ca;
    double ceiling = verify_ceiling(o->quick ? 0.1 : 1.0);
    change_floor one_change = change_floor_measure(&f, o->quick ? 10 : 100);
    static const struct {
        const char *method, *target, *name;
    } routes[] = {{"GET", "/v1/me", "signed GET /v1/me"}, {"POST", "/v1/rooms", "signed POST /v1/rooms"}};
    static char names[2][3][80];
    for (size_t r = 0; r < 2; r++)
        for (size_t c = 0; c < 3; c++) {
            load_result l = run_load(&f, routes[r].method, routes[r].target, CONCURRENCY[c], o->duration_s);
            snprintf(names[r][c], sizeof names[r][c], "%s, TLS keep-alive, %d clients", routes[r].name,
                     CONCURRENCY[c]);
            /* A create answers once nats-server runs it: its p50 beside the
             * floor of one change, nats-server's reload and one commit. */
            bench_row row = r == 0 ? row_make(2, names[r][c], l.rate, "req/s", ceiling, "Ed25519 verify/s")
                                   : row_make(2, names[r][c], l.p50, "ms p50", one_change.reload_p50 + one_change.commit_p50,
                                              "nats reload p50 + store commit p50");
            if (r == 0 && CONCURRENCY[c] == 8)
                row_target_ratio(&row, 0.60);
            if (r == 1 && CONCURRENCY[c] == 1)
                row_target_ratio_at_most(&row, 3.0);
            snprintf(row.detail, sizeof row.detail, "p50 %.2f ms, p99 %.2f ms, %.1f req/s, %zu failed%s", l.p50,
                     l.p99, l.rate, l.failed, l.failed ? " (see note)" : "");
            report_add(&row);
            if (l.failed)
                report_note("control plane: %s: %zu requests failed, last status %ld", names[r][c], l.failed,
                            l.bad_status);
        }
    if (fixture_stop(&f) != 0)
        report_note("control plane: membershipd did not stop cleanly");
    *strstr(ca, "/pki/ca.pem") = '\0'; /* the PKI's own temporary directory goes too */
    test_remove_tree(ca);
}
