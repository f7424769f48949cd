#include "gap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include "bench.h"

#define STEADY_S 1.0        /* writes before the kill */
#define SETTLED_S 2.0       /* writes without a hole after it */
#define HOLE_S 1.0          /* what counts as a hole for "settled" */
#define MIN_AFTER_S 3.0     /* never stop sooner after the kill */
#define FAILED_PAUSE_MS 10  /* so an instant refusal does not spin */
#define START_TIMEOUT_S 30.0

typedef struct {
    gap_write_fn write;
    void *ctx;
    pthread_mutex_t lock;
    atomic_bool stop;
    double killed_at;       /* 0 before the kill */
    double last_ok, streak_from, gap;
    unsigned ok, ok_before, failed;
} writer;

static void note_ok(writer *w, double now)
{
    if (w->killed_at > 0 && now - w->last_ok > w->gap)
        w->gap = now - w->last_ok;
    if (now - w->last_ok > HOLE_S)
        w->streak_from = now;
    w->last_ok = now;
    w->ok += w->killed_at > 0;
    w->ok_before += w->killed_at == 0;
}

static void *write_loop(void *arg)
{
    writer *w = arg;
    while (!atomic_load(&w->stop)) {
        int rc = w->write(w->ctx);
        double now = bench_now();
        pthread_mutex_lock(&w->lock);
        if (rc == 0)
            note_ok(w, now);
        else
            w->failed += w->killed_at > 0;
        pthread_mutex_unlock(&w->lock);
        if (rc != 0)
            bench_sleep_ms(FAILED_PAUSE_MS);
    }
    return NULL;
}

/* Reads w under its lock: the kill time, the last ack and the streak. */
static bool settled(writer *w, double now, double limit_s)
{
    pthread_mutex_lock(&w->lock);
    bool done = now - w->killed_at >= limit_s ||
                (now - w->killed_at >= MIN_AFTER_S && w->last_ok > w->killed_at &&
                 now - w->last_ok < HOLE_S && w->last_ok - w->streak_from >= SETTLED_S);
    pthread_mutex_unlock(&w->lock);
    return done;
}

static bool steady(writer *w, double started)
{
    pthread_mutex_lock(&w->lock);
    bool ok = w->ok_before >= 3 && bench_now() - started >= STEADY_S;
    pthread_mutex_unlock(&w->lock);
    return ok;
}

int gap_measure(gap_write_fn write, void *write_ctx, gap_kill_fn kill, void *kill_ctx, double limit_s,
                gap_result *out)
{
    writer w = {.write = write, .ctx = write_ctx, .lock = PTHREAD_MUTEX_INITIALIZER};
    double started = bench_now();
    w.last_ok = w.streak_from = started;
    pthread_t t;
    if (pthread_create(&t, NULL, write_loop, &w) != 0)
        return -1;
    while (!steady(&w, started) && bench_now() - started < START_TIMEOUT_S)
        bench_sleep_ms(20);
    int rc = steady(&w, started) ? 0 : -1;
    if (rc == 0) {
        pthread_mutex_lock(&w.lock);
        w.killed_at = bench_now();
        pthread_mutex_unlock(&w.lock);
        kill(kill_ctx);
        while (!settled(&w, bench_now(), limit_s))
            bench_sleep_ms(20);
    }
    atomic_store(&w.stop, true);
    double stopped = bench_now();
    pthread_join(t, NULL);
    double open_hole = stopped - w.last_ok;
    out->recovered = rc == 0 && w.last_ok > w.killed_at && open_hole < HOLE_S;
    out->gap_s = !out->recovered && open_hole > w.gap ? open_hole : w.gap;
    out->ok = w.ok;
    out->failed = w.failed;
    if (rc != 0)
        fprintf(stderr, "bench: writes did not work before the kill (%u acknowledged)\n", w.ok_before);
    return rc;
}
