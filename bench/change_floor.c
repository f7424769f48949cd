#include "change_floor.h"

#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include "bench.h"
#include "natsd.h"
#include "membershipd/store/store.h"

static double reload_p50(fixture *f, int n)
{
    char conf[PATH_MAX + 32];
    snprintf(conf, sizeof conf, "%s/nats.conf", f->data_dir);
    natsd copy;
    if (natsd_start_copy(&copy, f->dir, conf) != 0)
        exit(1);
    double *ms = calloc((size_t)n, sizeof *ms);
    for (int i = 0; i < n; i++)
        ms[i] = natsd_reload_ms(&copy);
    natsd_stop(&copy);
    double p50 = bench_percentile(ms, (size_t)n, 50);
    free(ms);
    return p50;
}

static double commit_p50(fixture *f, int n)
{
    char path[PATH_MAX + 32], err[256];
    snprintf(path, sizeof path, "%s/commit-floor.db", f->dir);
    store *s = NULL;
    if (store_open(path, STORE_OPEN_CREATE, &s, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    store_actor by = {"local:bench", NULL, NULL};
    double *ms = calloc((size_t)n, sizeof *ms);
    for (int i = 0; i < n; i++) {
        uint8_t pk[32];
        char name[32];
        randombytes_buf(pk, sizeof pk);
        snprintf(name, sizeof name, "floor-%d", i);
        double t0 = bench_now();
        if (store_user_add(s, name, pk, STORE_ROLE_MEMBER, &by) != STORE_OK) {
            fprintf(stderr, "bench: a commit to %s failed: %s\n", path, store_errmsg(s));
            exit(1);
        }
        ms[i] = bench_since_ms(t0);
    }
    store_close(s);
    double p50 = bench_percentile(ms, (size_t)n, 50);
    free(ms);
    return p50;
}

change_floor change_floor_measure(fixture *f, int n)
{
    return (change_floor){.reload_p50 = reload_p50(f, n), .commit_p50 = commit_p50(f, n)};
}
