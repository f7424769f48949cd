/* "In force everywhere" (dev/control-log.md): each node says, on a CTRL
 * subject, up to which entry its data plane runs; a change is answered
 * once every node heard from lately says it runs that entry, or after a
 * bound, naming those that did not. */
#include "membershipd/ctllog/ctllog_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/log.h"
#include "embedded/clock.h"

/* A node long unheard gives its slot to a new name: reports under made-up
 * names must not fill the table against a node that joins later. */
static ctllog_node *free_slot(ctllog *log)
{
    if (log->nnodes < CTLLOG_NODES_MAX)
        return &log->nodes[log->nnodes++];
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < log->nnodes; i++)
        if (now - log->nodes[i].seen_ms > CTLLOG_NODE_FORGOTTEN_MS)
            return &log->nodes[i];
    return NULL;
}

static ctllog_node *node_slot(ctllog *log, const char *name)
{
    for (size_t i = 0; i < log->nnodes; i++)
        if (strcmp(log->nodes[i].name, name) == 0)
            return &log->nodes[i];
    ctllog_node *n = free_slot(log);
    if (n) {
        memset(n, 0, sizeof *n);
        snprintf(n->name, sizeof n->name, "%s", name);
    }
    return n;
}

static void on_report(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    (void)nc, (void)sub;
    ctllog *log = arg;
    const char *name = natsMsg_GetSubject(msg) + strlen(NODE_REPORT_PREFIX);
    node_report r;
    if (node_report_parse(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &r) == 0 &&
        strlen(name) < CTLLOG_NODE_NAME_MAX) {
        pthread_mutex_lock(&log->lock);
        ctllog_node *n = node_slot(log, name);
        if (n) {
            n->seq = r.seq; /* the latest, not the most: a forged report lasts until the next true one */
            int64_t now = clock_mono_ms();
            if (!n->since_ms || now - n->seen_ms > CTLLOG_NODE_STALE_MS)
                n->since_ms = now; /* heard again after a silence: a new streak */
            n->seen_ms = now;
            n->skew_ms = r.time_ms - clock_wall_ms();
            snprintf(n->api, sizeof n->api, "%s", r.api);
            snprintf(n->nats, sizeof n->nats, "%s", r.nats);
            pthread_cond_broadcast(&log->changed);
        }
        pthread_mutex_unlock(&log->lock);
    }
    natsMsg_Destroy(msg);
}

int ctllog_listen_in_force(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    if (!log->listening_since_ms)
        log->listening_since_ms = clock_mono_ms();
    pthread_mutex_unlock(&log->lock);
    return log->reports || natsConnection_Subscribe(&log->reports, log->nc, NODE_REPORT_PREFIX "*", on_report,
                                                    log) == NATS_OK ? 0 : -1;
}

void ctllog_say_in_force(ctllog *log)
{
    if (!log->cfg.data_plane)
        return;
    node_report r = {.time_ms = clock_wall_ms()};
    pthread_mutex_lock(&log->lock);
    r.seq = log->in_force;
    natsConnection *nc = log->nc;
    pthread_mutex_unlock(&log->lock);
    snprintf(r.api, sizeof r.api, "%s", log->api_url);
    snprintf(r.nats, sizeof r.nats, "%s", log->nats_url);
    char subject[sizeof NODE_REPORT_PREFIX + sizeof log->node], *text = node_report_format(&r);
    snprintf(subject, sizeof subject, NODE_REPORT_PREFIX "%s", log->node);
    if (nc && text)
        natsConnection_PublishString(nc, subject, text);
    free(text);
}

void ctllog_in_force(ctllog *log, int64_t seq)
{
    pthread_mutex_lock(&log->lock);
    if (seq > log->in_force)
        log->in_force = seq;
    pthread_mutex_unlock(&log->lock);
    ctllog_say_in_force(log);
}

/* Nodes heard from within CTLLOG_NODE_STALE_MS that do not run seq yet,
 * comma-separated into lagging; how many. */
static size_t behind(ctllog *log, int64_t seq, char *lagging, size_t len)
{
    int64_t now = clock_mono_ms();
    size_t n = 0, used = 0;
    lagging[0] = '\0';
    for (size_t i = 0; i < log->nnodes; i++) {
        const ctllog_node *node = &log->nodes[i];
        if (node->seq >= seq || now - node->seen_ms > CTLLOG_NODE_STALE_MS)
            continue;
        n++;
        int w = snprintf(lagging + used, len - used, "%s%s", used ? "," : "", node->name);
        if (w > 0 && (size_t)w < len - used)
            used += (size_t)w;
    }
    return n;
}

size_t ctllog_wait_in_force(ctllog *log, int64_t seq, int timeout_ms, char *lagging, size_t len)
{
    struct timespec until = clock_deadline_in(timeout_ms);
    pthread_mutex_lock(&log->lock);
    /* A node not heard from yet is not known to be there: give every live
     * one the time to speak once before deciding whom to wait for. */
    struct timespec heard = clock_deadline_in((int)(log->listening_since_ms + CTLLOG_SAY_EVERY_MS * 3 / 2 -
                                                    clock_mono_ms()));
    while (!log->stopping && clock_mono_ms() < log->listening_since_ms + CTLLOG_SAY_EVERY_MS * 3 / 2 &&
           pthread_cond_timedwait(&log->changed, &log->lock, &heard) != ETIMEDOUT)
        ;
    size_t n;
    while ((n = behind(log, seq, lagging, len)) > 0 && !log->stopping &&
           pthread_cond_timedwait(&log->changed, &log->lock, &until) != ETIMEDOUT)
        ;
    n = behind(log, seq, lagging, len);
    pthread_mutex_unlock(&log->lock);
    return n;
}

static int largest_first(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The seqs of the nodes heard lately and for a while (a name heard once,
 * or only just, is not counted yet: one forged report under a made-up name
 * says nothing), largest first; how many. */
static size_t heard_seqs(ctllog *log, int64_t out[CTLLOG_NODES_MAX])
{
    int64_t now = clock_mono_ms();
    size_t n = 0;
    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < log->nnodes; i++)
        if (now - log->nodes[i].seen_ms <= CTLLOG_NODE_STALE_MS &&
            log->nodes[i].seen_ms - log->nodes[i].since_ms >= CTLLOG_SAY_EVERY_MS / 2)
            out[n++] = log->nodes[i].seq;
    pthread_mutex_unlock(&log->lock);
    qsort(out, n, sizeof *out, largest_first);
    return n;
}

int64_t ctllog_reported_seq(ctllog *log)
{
    int64_t seqs[CTLLOG_NODES_MAX];
    return heard_seqs(log, seqs) ? seqs[0] : 0;
}

int64_t ctllog_majority_seq(ctllog *log)
{
    int64_t seqs[CTLLOG_NODES_MAX];
    size_t n = heard_seqs(log, seqs), need = log->cfg.nodes / 2 + 1;
    return n >= need ? seqs[need - 1] : 0;
}

bool ctllog_quorum(ctllog *log)
{
    return ctllog_without_quorum_ms(log) == 0;
}


bool ctllog_heard_majority(ctllog *log)
{
    if (log->cfg.nodes <= 1)
        return true;
    int64_t now = clock_mono_ms();
    size_t heard = 0;
    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < log->nnodes; i++)
        heard += now - log->nodes[i].seen_ms <= CTLLOG_NODE_STALE_MS;
    pthread_mutex_unlock(&log->lock);
    return heard > log->cfg.nodes / 2;
}

int64_t ctllog_without_quorum_ms(ctllog *log)
{
    if (log->cfg.nodes <= 1)
        return 0;
    int64_t now = clock_mono_ms(), seen[CTLLOG_NODES_MAX];
    size_t need = log->cfg.nodes / 2 + 1;
    pthread_mutex_lock(&log->lock);
    size_t n = log->nnodes;
    for (size_t i = 0; i < n; i++)
        seen[i] = log->nodes[i].seen_ms;
    /* Before any node could be heard, quorum counts as lost at start. */
    int64_t since = log->listening_since_ms ? log->listening_since_ms : log->started_ms;
    pthread_mutex_unlock(&log->lock);
    qsort(seen, n, sizeof *seen, largest_first);
    /* Quorum held until the need-th most recent report went stale. */
    int64_t held_until = (n >= need ? seen[need - 1] : since) + CTLLOG_NODE_STALE_MS;
    if (now < since + CTLLOG_SAY_EVERY_MS * 3 / 2) /* every live node's first report may be on its way */
        return 0;
    return now > held_until ? now - held_until : 0;
}

size_t ctllog_nodes(ctllog *log, node_heard *out, size_t cap)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&log->lock);
    size_t n = log->nnodes;
    for (size_t i = 0; i < n && i < cap; i++) {
        const ctllog_node *node = &log->nodes[i];
        node_heard *h = &out[i];
        memset(h, 0, sizeof *h);
        snprintf(h->name, sizeof h->name, "%s", node->name);
        h->report.seq = node->seq;
        snprintf(h->report.api, sizeof h->report.api, "%s", node->api);
        snprintf(h->report.nats, sizeof h->report.nats, "%s", node->nats);
        h->heard_ms_ago = now - node->seen_ms;
        h->skew_ms = node->skew_ms;
    }
    pthread_mutex_unlock(&log->lock);
    return n;
}

/* Behind: a node heard lately, and for a while (reporter_seq), runs an
 * entry this store has not applied.  The stream's own last entry cannot
 * bound what is counted: a node cut off from the stream's leader reads it
 * from its own replica, stale (the fourth adversarial pass), and a report
 * from the majority side is then all that shows it is behind. */
static void note_behind(ctllog *log)
{
    int64_t reported = ctllog_reported_seq(log), now = clock_mono_ms();
    pthread_mutex_lock(&log->lock);
    if (log->applied >= reported)
        log->behind_since_ms = 0;
    else if (!log->behind_since_ms)
        log->behind_since_ms = now;
    pthread_mutex_unlock(&log->lock);
}

int64_t ctllog_stale_ms(ctllog *log)
{
    note_behind(log); /* as of now: a node that just caught up is not behind */
    int64_t without = ctllog_without_quorum_ms(log), now = clock_mono_ms();
    /* Without quorum: since the majority was last heard, not since its
     * reports went stale. */
    int64_t unheard = without > 0 ? without + CTLLOG_NODE_STALE_MS : 0;
    pthread_mutex_lock(&log->lock);
    int64_t behind = log->behind_since_ms ? now - log->behind_since_ms : 0;
    pthread_mutex_unlock(&log->lock);
    return unheard > behind ? unheard : behind;
}

void ctllog_note_available(ctllog *log, bool available)
{
    pthread_mutex_lock(&log->lock);
    if (available)
        log->unavailable_since_ms = 0;
    else if (!log->unavailable_since_ms)
        log->unavailable_since_ms = clock_mono_ms();
    pthread_mutex_unlock(&log->lock);
}

void *ctllog_reporter(void *arg)
{
    ctllog *log = arg;
    pthread_mutex_lock(&log->lock);
    while (!log->stopping) {
        pthread_mutex_unlock(&log->lock);
        ctllog_say_in_force(log);
        note_behind(log);
        pthread_mutex_lock(&log->lock);
        struct timespec until = clock_deadline_in(CTLLOG_SAY_EVERY_MS);
        while (!log->stopping && pthread_cond_timedwait(&log->changed, &log->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&log->lock);
    return NULL;
}
