/* Case 2: signed requests over keep-alive TLS from 1, 8 and 64 concurrent
 * clients, next to the signed round trips per second that the same cores'
 * Ed25519 work alone allows: four operations each (the client signs, the
 * server verifies, the server signs its answer, the client verifies it). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "bench.h"
#include "busauth/signing.h"
#include "change_floor.h"
#include "report.h"
#include "testutil.h"

static const int CONCURRENCY[] = {1, 8, 64};
/* Signed GET /v1/me with 8 clients, as a share of the round-trip ceiling. */
#define GET_TARGET 0.75
#define BAD_SIGNATURE (-1L) /* the status counted for an answer whose signature fails */

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
    /* Checked as a client must: an answer whose signature fails is a failure. */
    long status = http_response_verifies(r->f->server_key, &res) ? res.status : BAD_SIGNATURE;
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
    double client_cpu_us, server_cpu_us; /* CPU per answered request: this process's, membershipd's */
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
    double t0 = bench_now(), client_cpu0 = bench_cpu_s(0),
           server_cpu0 = bench_cpu_s(f->server.pid);
    load_result out = {0};
    size_t total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        total += runs[i].n;
    }
    double elapsed = bench_now() - t0;
    out.client_cpu_us = (bench_cpu_s(0) - client_cpu0) * 1e6 / (double)(total ? total : 1);
    out.server_cpu_us = (bench_cpu_s(f->server.pid) - server_cpu0) * 1e6 / (double)(total ? total : 1);
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

/* What one signed GET /v1/me round trip signs: the request's canonical
 * text and the answer's, at their real sizes. */
typedef struct {
    char request[512], response[256];
    size_t request_len, response_len;
} signed_texts;

static void make_signed_texts(const fixture *f, signed_texts *t)
{
    char nonce[BUSAUTH_NONCE_HEX_LEN + 1], time_ms[24];
    uint8_t empty_sha256[32], request_sha256[32], body_sha256[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* a request's time: Unix milliseconds */
    busauth_nonce_new(nonce);
    snprintf(time_ms, sizeof time_ms, "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    crypto_hash_sha256(empty_sha256, NULL, 0);
    busauth_request r = {.server_key = f->server_nkey, .key = f->alice_nkey, .method = "GET", .target = "/v1/me",
                         .time_ms = time_ms, .nonce = nonce, .body_sha256 = empty_sha256};
    t->request_len = busauth_request_canonical(t->request, sizeof t->request, &r);
    crypto_hash_sha256(request_sha256, (const uint8_t *)t->request, t->request_len);
    crypto_hash_sha256(body_sha256, (const uint8_t *)"{}", 2);
    t->response_len = busauth_response_canonical(t->response, sizeof t->response, request_sha256, 200, body_sha256);
}

typedef struct {
    const signed_texts *texts;
    double stop_at, cpu_s;
    unsigned long n;
} crypto_run;

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *round_trip_thread(void *arg)
{
    crypto_run *r = arg;
    const signed_texts *t = r->texts;
    const uint8_t *request = (const uint8_t *)t->request, *response = (const uint8_t *)t->response;
    uint8_t client_pk[32], client_sk[64], server_pk[32], server_sk[64], sig[64];
    crypto_sign_keypair(client_pk, client_sk);
    crypto_sign_keypair(server_pk, server_sk);
    double cpu0 = thread_cpu_s();
    while (bench_now() < r->stop_at)
        for (int i = 0; i < 16; i++) {
            crypto_sign_detached(sig, NULL, request, t->request_len, client_sk);
            int bad = crypto_sign_verify_detached(sig, request, t->request_len, client_pk);
            crypto_sign_detached(sig, NULL, response, t->response_len, server_sk);
            bad |= crypto_sign_verify_detached(sig, response, t->response_len, server_pk);
            r->n += bad == 0;
        }
    r->cpu_s = thread_cpu_s() - cpu0;
    return NULL;
}

/* Signed round trips per second that Ed25519 alone allows on every core,
 * from the CPU time one takes with all cores at it at once: the machine's
 * other tenants cannot shrink it, as they would a count over wall time. */
static double round_trip_ceiling(const fixture *f, double duration_s)
{
    signed_texts texts;
    make_signed_texts(f, &texts);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    crypto_run runs[64] = {{0}};
    pthread_t threads[64];
    size_t n = cores > 0 && cores < 64 ? (size_t)cores : 1;
    double stop_at = bench_now() + duration_s;
    for (size_t i = 0; i < n; i++) {
        runs[i] = (crypto_run){.texts = &texts, .stop_at = stop_at};
        pthread_create(&threads[i], NULL, round_trip_thread, &runs[i]);
    }
    unsigned long trips = 0;
    double cpu_s = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        trips += runs[i].n;
        cpu_s += runs[i].cpu_s;
    }
    return cpu_s > 0 ? (double)n * (double)trips / cpu_s : 0;
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
    double ceiling = round_trip_ceiling(&f, o->quick ? 0.1 : 1.0);
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
            bench_row row = r == 0 ? row_make(2, names[r][c], l.rate, "req/s", ceiling,
                                              "signed round trips/s, Ed25519 only")
                                   : row_make(2, names[r][c], l.p50, "ms p50",
                                              one_change.reload_p50 + one_change.commit_p50,
                                              "nats reload p50 + store commit p50");
            if (r == 0 && CONCURRENCY[c] == 8)
                row_target_ratio(&row, GET_TARGET);
            if (r == 1 && CONCURRENCY[c] == 1)
                row_target_ratio_at_most(&row, 3.0);
            int n = snprintf(row.detail, sizeof row.detail, "p50 %.2f ms, p99 %.2f ms, %.1f req/s, %zu failed%s",
                             l.p50, l.p99, l.rate, l.failed, l.failed ? " (see note)" : "");
            /* Thousands of GETs a run: enough for /proc's 10 ms ticks (a few dozen POSTs are not). */
            if (r == 0)
                snprintf(row.detail + n, sizeof row.detail - (size_t)n,
                         "; CPU per request: clients %.0f us, server %.0f us (Ed25519 alone %.0f us)",
                         l.client_cpu_us, l.server_cpu_us, 1e6 * (double)sysconf(_SC_NPROCESSORS_ONLN) / ceiling);
            report_add(&row);
            if (l.failed)
                report_note("control plane: %s: %zu requests failed, last status %ld (-1: its signature did not "
                            "verify; 0: no answer)", names[r][c], l.failed, l.bad_status);
        }
    if (fixture_stop(&f) != 0)
        report_note("control plane: membershipd did not stop cleanly");
    *strstr(ca, "/pki/ca.pem") = '\0'; /* the PKI's own temporary directory goes too */
    test_remove_tree(ca);
}
