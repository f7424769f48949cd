#include "trials.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"
#include "nats_peer.h"

#define MAX_URLS 8

http_result bench_call(fixture *f, busauth_identity *as, const char *method, const char *target, const char *body,
                       long expect)
{
    http_result r = fixture_call(f, as, method, target, body);
    if (r.status != expect) {
        fprintf(stderr, "bench: %s %s on %s answered %ld (expected %ld): %s\n", method, target, f->server.base_url,
                r.status, expect, r.body ? r.body : "");
        exit(1);
    }
    return r;
}

static bool all_closed(nats_peer *peers, size_t n)
{
    size_t closed = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&peers[i].lock);
        bool told = peers[i].closed;
        pthread_mutex_unlock(&peers[i].lock);
        closed += told || natsConnection_IsClosed(peers[i].nc);
    }
    return closed == n;
}

double trial_revoke(fixture *f, const char *const *urls, size_t n, const char *name, double *add_ms)
{
    busauth_identity *victim;
    busauth_identity_generate(&victim);
    char nkey[57], body[256], target[128];
    busauth_nkey_encode_public(busauth_identity_public_key(victim), nkey);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"public_key\":\"%s\"}", name, nkey);
    double t0 = bench_now();
    http_result r = bench_call(f, f->admin, "POST", "/v1/users", body, 201);
    if (add_ms)
        *add_ms = bench_since_ms(t0);
    http_result_free(&r);
    nats_peer peers[MAX_URLS];
    n = n < MAX_URLS ? n : MAX_URLS;
    for (size_t i = 0; i < n; i++)
        if (nats_peer_connect(&peers[i], urls[i], victim, NULL, false) != NATS_OK) {
            fprintf(stderr, "bench: a freshly added user cannot connect to %s\n", urls[i]);
            exit(1);
        }
    snprintf(target, sizeof target, "/v1/users/%s", nkey);
    double ms = NAN;
    t0 = bench_now();
    r = bench_call(f, f->admin, "DELETE", target, NULL, 200);
    http_result_free(&r);
    while (isnan(ms) && bench_since_ms(t0) < CHANGE_TIMEOUT_S * 1e3) {
        if (all_closed(peers, n))
            ms = bench_since_ms(t0);
        else
            bench_sleep_ms(0.2);
    }
    for (size_t i = 0; i < n; i++)
        nats_peer_close(&peers[i]);
    busauth_identity_free(victim);
    return ms;
}
