/*
 * Changes from 8 concurrent API clients while nats-server reloads without
 * a pause: nats-server 2.9.10 drops a JetStream API request that arrives
 * during a reload (membershipd/ctllog/ctllog.c, lost_to_reload), and a
 * lost read of the bus log's state must not answer a client 503
 * "cluster_no_quorum" on a node that is alone and healthy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "fixture.h"

#define CHANGES 400
#define THREADS 8
#define SKIPPED 77 /* ctest's SKIP_RETURN_CODE: the race was not hit */

static fixture F;
static atomic_int next_change, refused;
static atomic_bool storming;

static void *sighup_storm(void *arg)
{
    pid_t nats = *(pid_t *)arg;
    struct timespec pause = {0, 1000000L};
    while (atomic_load(&storming)) {
        kill(nats, SIGHUP);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void add_user(int i)
{
    busauth_identity *id = NULL;
    char nkey[57], body[256], name[32];
    busauth_identity_generate(&id);
    busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    snprintf(name, sizeof name, "storm%d", i);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"public_key\":\"%s\"}", name, nkey);
    http_result r = fixture_call(&F, F.admin, "POST", "/v1/users", body);
    if (r.status != 201) {
        fprintf(stderr, "POST /v1/users -> %ld %s\n", r.status, r.body ? r.body : "");
        atomic_fetch_add(&refused, 1);
    }
    http_result_free(&r);
    busauth_identity_free(id);
}

static void *writer(void *arg)
{
    (void)arg;
    for (int i; (i = atomic_fetch_add(&next_change, 1)) < CHANGES;)
        add_user(i);
    return NULL;
}

static int lost_requests(void)
{
    FILE *f = fopen(F.server.log_path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, "Malformed JetStream API Request") != NULL;
    if (f)
        fclose(f);
    return n;
}

static void changes_survive_requests_lost_to_reloads(void **state)
{
    (void)state;
    const char *flags[] = {"--rate", "100000", "--burst", "100000", "--member-rate", "100000", "--member-burst", "100000",
                           NULL}; /* one client IP, one member here */
    assert_int_equal(fixture_start(&F, flags), 0);
    pid_t nats = harness_nats_pid(&F.server);
    assert_true(nats > 0);
    atomic_store(&storming, true);
    pthread_t storm, t[THREADS];
    pthread_create(&storm, NULL, sighup_storm, &nats);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&storming, false);
    pthread_join(storm, NULL);
    int lost = lost_requests();
    fprintf(stderr, "%d changes, %d refused; nats-server lost %d JetStream API requests to reloads\n", CHANGES,
            atomic_load(&refused), lost);
    assert_int_equal(atomic_load(&refused), 0);
    assert_int_equal(fixture_stop(&F), 0);
    if (lost == 0) {
        fprintf(stderr, "skipped: no request was lost to a reload in this run, so nothing was shown\n");
        exit(SKIPPED);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test(changes_survive_requests_lost_to_reloads)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
