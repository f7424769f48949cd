/* Cases 3 and 4: how fast an API change reaches live data-plane
 * connections with 10, 1,000 and 10,000 users allowlisted, next to
 * nats-server's own reload of the same configuration; and, on the largest
 * population (every user owning a room), regeneration, memory and 1,000
 * authenticated peers at once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "natsd.h"
#include "nats_peer.h"
#include "peers.h"
#include "population.h"
#include "report.h"
#include "trials.h"

/* Targets of nats-server's memory after the level's reloads (issue 15). */
#define NATS_RSS_GROWTH_MAX 2.0
#define NATS_RSS_MAX_MIB 200.0

/* Member add: bob joins alice's room; the clock runs from the POST until
 * bob, subscribing once it answered, holds the first message alice sends. */
static double member_add_trial(fixture *f, const char *room, nats_peer *alice, nats_peer *bob)
{
    char body[128], target[160], subject[64];
    snprintf(body, sizeof body, "{\"public_key\":\"%s\"}", f->bob_nkey);
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    snprintf(subject, sizeof subject, "unibus.room.%s.msg", room);
    double t0 = bench_now(), ms = NAN;
    http_result r = bench_call(f, f->alice, "POST", target, body, 201);
    http_result_free(&r);
    natsSubscription *sub = nats_peer_subscribe(bob, subject);
    while (sub && isnan(ms) && bench_since_ms(t0) < CHANGE_TIMEOUT_S * 1e3) {
        natsConnection_PublishString(alice->nc, subject, "first");
        natsConnection_Flush(alice->nc);
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, sub, 2) == NATS_OK)
            ms = bench_since_ms(t0);
        natsMsg_Destroy(msg);
    }
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, f->bob_nkey);
    r = bench_call(f, f->alice, "DELETE", target, NULL, 200);
    http_result_free(&r);
    return ms;
}

/* The change_to_sighup_ms and dur_ms of every API-driven reload in the
 * log; *all counts every reload done, API-driven or not. */
static size_t read_reloads(const char *log_path, double *share, double *total, size_t cap, size_t *all)
{
    FILE *f = fopen(log_path, "r");
    char line[4096];
    size_t n = 0;
    *all = 0;
    while (f && n < cap && fgets(line, sizeof line, f)) {
        const char *d = strstr(line, " dur_ms="), *s = strstr(line, " change_to_sighup_ms=");
        if (!strstr(line, "msg=nats_reloaded") || !strstr(line, "ok=yes") || !d || !s)
            continue;
        ++*all;
        double share_ms = strtod(s + 21, NULL);
        if (share_ms < 0)
            continue;
        share[n] = share_ms;
        total[n++] = share_ms + strtod(d + 8, NULL);
    }
    if (f)
        fclose(f);
    return n;
}

typedef struct {
    double revoke_p50, revoke_p99, add_p50, add_p99;
    double reload_p50, reload_p99, share_p50, share_p99, total_p50;
    size_t changes, reloads;
} level_result;

static level_result run_level(fixture *f, int level, const bench_opts *o)
{
    level_result out;
    int n = o->trials;
    double *revoke = calloc((size_t)n, sizeof *revoke), *add = calloc((size_t)n, sizeof *add);
    double *reload = calloc((size_t)n, sizeof *reload);
    http_result r = bench_call(f, f->alice, "POST", "/v1/rooms", "{\"name\":\"propagation\",\"mode\":\"cleartext\"}", 201);
    char room[33];
    snprintf(room, sizeof room, "%s", json_string_value(json_object_get(r.json, "id")));
    http_result_free(&r);
    nats_peer alice, bob;
    if (nats_peer_connect(&alice, f->server.nats_url, f->alice, NULL, false) != NATS_OK ||
        nats_peer_connect(&bob, f->server.nats_url, f->bob, NULL, false) != NATS_OK) {
        fprintf(stderr, "bench: alice or bob cannot connect to %s\n", f->server.nats_url);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        char victim[48];
        snprintf(victim, sizeof victim, "victim-%d-%d", level, i);
        revoke[i] = trial_revoke(f, (const char *[]){f->server.nats_url}, 1, victim, NULL);
        add[i] = member_add_trial(f, room, &alice, &bob);
    }
    nats_peer_close(&alice);
    nats_peer_close(&bob);
    char conf[PATH_MAX + 32];
    snprintf(conf, sizeof conf, "%s/nats.conf", f->data_dir);
    natsd copy;
    if (natsd_start_copy(&copy, f->dir, conf) != 0)
        exit(1);
    for (int i = 0; i < n; i++)
        reload[i] = natsd_reload_ms(&copy);
    natsd_stop(&copy);
    size_t cap = (size_t)n * 8 + 16;
    double *share = calloc(cap, sizeof *share), *total = calloc(cap, sizeof *total);
    out.changes = read_reloads(f->server.log_path, share, total, cap, &out.reloads);
    out.revoke_p50 = bench_percentile(revoke, (size_t)n, 50);
    out.revoke_p99 = bench_percentile(revoke, (size_t)n, 99);
    out.add_p50 = bench_percentile(add, (size_t)n, 50);
    out.add_p99 = bench_percentile(add, (size_t)n, 99);
    out.reload_p50 = bench_percentile(reload, (size_t)n, 50);
    out.reload_p99 = bench_percentile(reload, (size_t)n, 99);
    out.share_p50 = bench_percentile(share, out.changes, 50);
    out.share_p99 = bench_percentile(share, out.changes, 99);
    out.total_p50 = bench_percentile(total, out.changes, 50);
    free(revoke), free(add), free(reload), free(share), free(total);
    return out;
}

static void report_level(size_t users, int index, const level_result *l, int trials)
{
    bench_row rows[4] = {
        row_make(3, report_name("revoke -> connection closed, ", users, " users"), l->revoke_p99, "ms",
                 l->reload_p99, "nats reload p99"),
        row_make(3, report_name("member add -> first message, ", users, " users"), l->add_p99, "ms", l->reload_p99,
                 "nats reload p99"),
        row_make(3, report_name("nats-server reload alone, ", users, " users"), l->reload_p99, "ms", NAN, NULL),
        row_make(3, report_name("membershipd share (request -> SIGHUP), ", users, " users"), l->share_p99, "ms",
                 NAN, NULL),
    };
    double p50[4] = {l->revoke_p50, l->add_p50, l->reload_p50, l->share_p50};
    for (int i = 0; i < 2; i++) {
        if (index == 1)
            row_target_below(&rows[i], 100);
        if (index == 2)
            row_target_over_ceiling(&rows[i], 50);
    }
    if (index == 2)
        row_target_below(&rows[3], 20);
    for (int i = 0; i < 4; i++) {
        snprintf(rows[i].detail, sizeof rows[i].detail, "p99 shown; p50 %.1f ms; %d trials%s", p50[i],
                 i == 3 ? (int)l->changes : trials, i == 3 ? " (every API change of the run)" : "");
        report_add(&rows[i]);
    }
}

/* nats-server's GOMEMLIMIT as membershipd set it, for the report. */
static void memory_limit_of(pid_t pid, char *out, size_t len)
{
    char value[64];
    if (harness_process_getenv(pid, "GOMEMLIMIT", value, sizeof value))
        snprintf(out, len, "%.1f MiB", strtod(value, NULL) / 1048576);
    else
        snprintf(out, len, "none");
}

/* nats-server's RSS after the level's reloads beside its RSS fresh from
 * start at the same size (dev/bench.md, case 4): retained memory shows
 * as growth the garbage collector cannot return.  Fresh is the peak from
 * start to ready (VmHWM): what loading the configuration once takes.  Its
 * RSS at ready was 32 or 67 MiB at 10,000 users, as a collection had run
 * or not, too unsteady a ceiling. */
static void report_nats_memory(pid_t nats, size_t users, long fresh_kib, size_t reloads)
{
    char limit[32];
    memory_limit_of(nats, limit, sizeof limit);
    double after = (double)harness_process_rss_kib(nats) / 1024, fresh = (double)fresh_kib / 1024;
    bench_row rows[2] = {
        row_make(4, report_name("nats-server RSS after reloads / fresh, ", users, " users+rooms"), after, "MiB", fresh,
                 "fresh peak RSS MiB"),
        row_make(4, report_name("nats-server RSS after reloads, ", users, " users+rooms"), after, "MiB", NAN, NULL),
    };
    row_target_ratio_at_most(&rows[0], NATS_RSS_GROWTH_MAX);
    row_target_below(&rows[1], NATS_RSS_MAX_MIB);
    for (int i = 0; i < 2; i++) {
        snprintf(rows[i].detail, sizeof rows[i].detail,
                 "after %zu reloads; fresh: peak RSS from start to ready %.1f MiB; GOMEMLIMIT %s", reloads, fresh,
                 limit);
        report_add(&rows[i]);
    }
}

static void report_scale(fixture *f, population *p, const level_result *l, long fresh_kib, size_t peers_wanted)
{
    size_t users = p->n + FIXTURE_USERS;
    pid_t nats = bench_child_pid(f->server.pid, "nats-server");
    bench_row regen = row_make(4, report_name("regenerate + reload (change in force), ", users, " users+rooms"),
                               l->total_p50, "ms", l->reload_p50, "nats reload p50");
    snprintf(regen.detail, sizeof regen.detail, "p50: request -> SIGHUP -> reload logged -> a login works again");
    report_add(&regen);
    bench_row rss_m = row_make(4, report_name("membershipd RSS, ", users, " users+rooms"),
                               (double)harness_rss_kib(&f->server) / 1024, "MiB", NAN, NULL);
    report_add(&rss_m);
    report_nats_memory(nats, users, fresh_kib, l->reloads);
    int *fds = calloc(peers_wanted, sizeof *fds);
    double t0 = bench_now();
    size_t in = peers_connect(bench_url_port(f->server.nats_url), p->seeds, peers_wanted, fds);
    double took = bench_now() - t0;
    long nats_rss = harness_process_rss_kib(nats);
    peers_close(fds, peers_wanted);
    free(fds);
    bench_row peers = row_make(4, report_name("authenticated peers connected at once (of ", peers_wanted, ")"),
                               (double)in, "peers", (double)peers_wanted, "peers attempted");
    row_target_ratio(&peers, 1.0);
    snprintf(peers.detail, sizeof peers.detail, "raw nkey handshakes in %.1f s; nats-server RSS with them %.1f MiB",
             took, (double)nats_rss / 1024);
    report_add(&peers);
}

void case_propagation(const bench_opts *o)
{
    const size_t full[] = {10, 1000, 10000}, quick[] = {10, 40, 80};
    const size_t *levels = o->quick ? quick : full;
    for (int i = 0; i < 3; i++) {
        population p;
        population_init(&p, levels[i]);
        fixture f;
        double t0 = bench_now();
        bench_start_server(&f, NULL, population_seed, &p);
        printf("(%zu users and rooms seeded and served in %.1f s)\n", levels[i], bench_now() - t0);
        long fresh_kib = harness_process_status_kib(bench_child_pid(f.server.pid, "nats-server"), "VmHWM");
        level_result l = run_level(&f, i, o);
        report_level(levels[i], i, &l, o->trials);
        if (i == 2)
            report_scale(&f, &p, &l, fresh_kib, o->quick ? 20 : 1000);
        if (fixture_stop(&f) != 0)
            report_note("propagation: membershipd did not stop cleanly at %zu users", levels[i]);
        population_free(&p);
    }
}
