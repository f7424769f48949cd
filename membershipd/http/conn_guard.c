#include "membershipd/http/conn_guard.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include "embedded/clock.h"

#define SWEEP_INTERVAL_MS 250

/* One per connection, owned by it (libmicrohttpd's socket context) until
 * it closes; listed in the guard while it holds a slot. */
struct conn_slot {
    int fd;
    bool listed;
    unsigned index;     /* in the guard's slots, while listed */
    bool in_request;
    int64_t waiting_since_ms;
};

struct conn_guard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t sweeper;
    bool stopping;
    unsigned capacity;
    int64_t header_deadline_ms;
    conn_guard_stats stats;
    conn_slot *slots[];   /* NULL where free */
};

static void unlist(conn_guard *g, unsigned i)
{
    g->slots[i]->listed = false;
    g->slots[i] = NULL;
    g->stats.open--;
}

/* Shutting the socket down (never closing it: libmicrohttpd owns the fd)
 * wakes the connection's thread, which then closes it.  Called under the
 * lock, which conn_guard_close also takes before libmicrohttpd closes the
 * fd, so the number cannot have been reused by another connection. */
static void cut(conn_guard *g, unsigned i)
{
    shutdown(g->slots[i]->fd, SHUT_RDWR);
    unlist(g, i);
}

static bool free_index(conn_guard *g, unsigned *out)
{
    for (unsigned i = 0; i < g->capacity; i++)
        if (!g->slots[i]) {
            *out = i;
            return true;
        }
    return false;
}

static bool longest_waiting(conn_guard *g, unsigned *out)
{
    const conn_slot *oldest = NULL;
    for (unsigned i = 0; i < g->capacity; i++) {
        const conn_slot *s = g->slots[i];
        if (s && !s->in_request && (!oldest || s->waiting_since_ms < oldest->waiting_since_ms)) {
            oldest = s;
            *out = i;
        }
    }
    return oldest != NULL;
}

static void cut_overdue(conn_guard *g, int64_t now)
{
    for (unsigned i = 0; i < g->capacity; i++) {
        const conn_slot *s = g->slots[i];
        if (s && !s->in_request && now - s->waiting_since_ms > g->header_deadline_ms) {
            cut(g, i);
            g->stats.overdue++;
        }
    }
}

static void *sweep(void *arg)
{
    conn_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        cut_overdue(g, clock_mono_ms());
        struct timespec until = clock_deadline_in(SWEEP_INTERVAL_MS);
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

conn_guard *conn_guard_new(unsigned capacity, int64_t header_deadline_ms)
{
    conn_guard *g = calloc(1, sizeof *g + capacity * sizeof(conn_slot *));
    if (!g)
        return NULL;
    g->capacity = capacity;
    g->header_deadline_ms = header_deadline_ms;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&g->sweeper, NULL, sweep, g) != 0) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    return g;
}

void conn_guard_free(conn_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->sweeper, NULL);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

conn_slot *conn_guard_open(conn_guard *g, int fd)
{
    conn_slot *s = malloc(sizeof *s);
    unsigned i;
    pthread_mutex_lock(&g->lock);
    bool room = s && free_index(g, &i);
    if (s && !room && longest_waiting(g, &i)) {
        cut(g, i);
        g->stats.evicted++;
        room = true;
    }
    if (room) {
        *s = (conn_slot){.fd = fd, .listed = true, .index = i, .waiting_since_ms = clock_mono_ms()};
        g->slots[i] = s;
        g->stats.open++;
    } else {
        shutdown(fd, SHUT_RDWR);
        g->stats.refused++;
    }
    pthread_mutex_unlock(&g->lock);
    if (!room) {
        free(s);
        return NULL;
    }
    return s;
}

static void set_phase(conn_guard *g, conn_slot *s, bool in_request)
{
    if (!s)
        return;
    pthread_mutex_lock(&g->lock);
    s->in_request = in_request;
    s->waiting_since_ms = clock_mono_ms();
    pthread_mutex_unlock(&g->lock);
}

void conn_guard_busy(conn_guard *g, conn_slot *s)
{
    set_phase(g, s, true);
}

void conn_guard_idle(conn_guard *g, conn_slot *s)
{
    set_phase(g, s, false);
}

void conn_guard_close(conn_guard *g, conn_slot *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&g->lock);
    if (s->listed)
        unlist(g, s->index);
    pthread_mutex_unlock(&g->lock);
    free(s);
}

conn_guard_stats conn_guard_stats_get(conn_guard *g)
{
    pthread_mutex_lock(&g->lock);
    conn_guard_stats stats = g->stats;
    pthread_mutex_unlock(&g->lock);
    return stats;
}
