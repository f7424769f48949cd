/* Case 5: what abuse costs membershipd: RSS under a 400 MB streamed body
 * and a flood of unique nonces, and a legitimate client's latency while
 * 1,000 connections trickle half a header. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "raw_socket.h"
#include "report.h"

#define MIB (1024UL * 1024)
#define SLOW_PER_IP 25

typedef struct {
    double p50, p99;
    size_t failed;
} latency;

static latency legit_latency(fixture *f, CURL *h, int n)
{
    double *ms = calloc((size_t)n, sizeof *ms);
    latency out = {0};
    size_t ok = 0;
    for (int i = 0; i < n; i++) {
        /* The server key given: else each call first asks GET /v1/info on a
         * connection of its own (a TLS handshake the figure would carry). */
        http_opts opts = {.id = f->alice, .server_nkey = f->server_nkey, .keep_alive = h};
        http_result r;
        double t0 = bench_now();
        http_call(f->server.base_url, "GET", "/v1/me", NULL, 0, &opts, &r);
        if (r.status == 200)
            ms[ok++] = (bench_now() - t0) * 1e3;
        else
            out.failed++;
        http_result_free(&r);
    }
    out.p50 = bench_percentile(ms, ok, 50);
    out.p99 = bench_percentile(ms, ok, 99);
    free(ms);
    return out;
}

static void slow_headers(fixture *f, CURL *h, size_t slow, int requests, const latency *before)
{
    int *fds = calloc(slow, sizeof *fds);
    size_t opened = 0;
    for (size_t i = 0; i < slow; i++) {
        char source[32];
        snprintf(source, sizeof source, "127.0.2.%zu", 1 + i / SLOW_PER_IP);
        fds[i] = raw_connect(f->server.port, source);
        const char partial[] = "GET /v1/health HTTP/1.1\r\nHost: slow\r\n";
        if (fds[i] >= 0 && raw_send(fds[i], partial, strlen(partial)) == strlen(partial))
            opened++;
    }
    latency during = legit_latency(f, h, requests);
    size_t held = 0;
    for (size_t i = 0; i < slow; i++)
        if (fds[i] >= 0) {
            held += !raw_closed(fds[i], 0);
            close(fds[i]);
        }
    free(fds);
    static char name[96];
    snprintf(name, sizeof name, "legit signed GET p99 during %zu slow-header conns", slow);
    bench_row r = row_make(5, name, during.p99, "ms", before->p99, "p99 without attack");
    snprintf(r.detail, sizeof r.detail, "p50 %.2f ms (%.2f without); %zu connected, %zu still held after; %zu failed",
             during.p50, before->p50, opened, held, during.failed);
    report_add(&r);
}

static void streamed_upload(fixture *f, size_t total)
{
    long baseline, peak;
    size_t sent = harness_stream_upload(&f->server, "127.0.3.1", total, &baseline, &peak);
    static char name[96];
    snprintf(name, sizeof name, "membershipd RSS delta, %zu MB streamed body", total / 1000000);
    bench_row r = row_make(5, name, (double)(peak - baseline) / 1024, "MiB", NAN, NULL);
    row_target_below(&r, 4);
    snprintf(r.detail, sizeof r.detail, "chunked POST /v1/rooms; server hung up after %.1f MiB; RSS %ld -> peak %ld KiB",
             (double)sent / MIB, baseline, peak);
    report_add(&r);
}

typedef struct {
    fixture *f;
    size_t n, ok;
    long *peak;
    pthread_mutex_t *lock;
} flood_run;

static void *flood_thread(void *arg)
{
    flood_run *r = arg;
    CURL *h = curl_easy_init();
    for (size_t i = 0; i < r->n; i++) {
        /* a fresh nonce every call; the server key given, as in legit_latency */
        http_opts opts = {.id = r->f->alice, .server_nkey = r->f->server_nkey, .keep_alive = h};
        http_result res;
        http_call(r->f->server.base_url, "GET", "/v1/me", NULL, 0, &opts, &res);
        r->ok += res.status == 200;
        http_result_free(&res);
        if (i % 1000 == 0) {
            long rss = harness_rss_kib(&r->f->server);
            pthread_mutex_lock(r->lock);
            *r->peak = rss > *r->peak ? rss : *r->peak;
            pthread_mutex_unlock(r->lock);
        }
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void nonce_flood(fixture *f, size_t total)
{
    long baseline = harness_rss_kib(&f->server), peak = baseline;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    flood_run runs[2];
    pthread_t threads[2];
    double t0 = bench_now();
    for (int i = 0; i < 2; i++) {
        runs[i] = (flood_run){.f = f, .n = total / 2, .peak = &peak, .lock = &lock};
        pthread_create(&threads[i], NULL, flood_thread, &runs[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    double took = bench_now() - t0;
    long after = harness_rss_kib(&f->server);
    peak = after > peak ? after : peak;
    static char name[96];
    snprintf(name, sizeof name, "membershipd RSS delta, %zu unique-nonce requests", total);
    bench_row r = row_make(5, name, (double)(peak - baseline) / 1024, "MiB", NAN, NULL);
    snprintf(r.detail, sizeof r.detail, "signed GET /v1/me, 2 keep-alive clients, %.0f req/s, %zu answered 200; RSS %ld -> peak %ld KiB",
             (double)total / took, runs[0].ok + runs[1].ok, baseline, peak);
    report_add(&r);
}

void case_abuse(const bench_opts *o)
{
    /* Only the request rate is raised (one address sends everything);
     * the connection caps that stand against slow clients keep their defaults. */
    const char *flags[] = {"--rate", "1000000", "--burst", "1000000", NULL};
    fixture f;
    if (fixture_start(&f, flags) != 0) {
        fprintf(stderr, "bench: membershipd did not start; its log: %s\n", f.server.log_path);
        exit(1);
    }
    CURL *h = curl_easy_init();
    int requests = o->quick ? 20 : 300;
    latency before = legit_latency(&f, h, requests);
    slow_headers(&f, h, o->quick ? 50 : 1000, requests, &before);
    curl_easy_cleanup(h);
    streamed_upload(&f, o->quick ? 8 * MIB : 400UL * 1000 * 1000);
    nonce_flood(&f, o->quick ? 1000 : 100000);
    if (fixture_stop(&f) != 0)
        report_note("abuse: membershipd did not stop cleanly");
}
