/* The bus log's life: start, stop, the connection, how far it is applied. */
#include "membershipd/ctllog/ctllog_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/log.h"
#include "embedded/clock.h"
#include "embedded/nats_auth.h"

#define RECONNECT_WAIT_MS 250

ctllog *ctllog_start(const ctllog_config *cfg, char *err, size_t errlen)
{
    ctllog *log = calloc(1, sizeof *log);
    if (!log) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    log->cfg = *cfg;
    log->started_ms = clock_mono_ms();
    log->peers_closed = cfg->nodes > 1; /* a cluster node admits peers once it knows it is current */
    snprintf(log->url, sizeof log->url, "%s", cfg->url);
    snprintf(log->ca_file, sizeof log->ca_file, "%s", cfg->ca_file ? cfg->ca_file : "");
    snprintf(log->db_path, sizeof log->db_path, "%s", cfg->db_path);
    snprintf(log->node, sizeof log->node, "%s", cfg->node);
    snprintf(log->cluster, sizeof log->cluster, "%s", cfg->cluster ? cfg->cluster : "");
    log->cfg.cluster = log->cluster;
    snprintf(log->api_url, sizeof log->api_url, "%s", cfg->api_url ? cfg->api_url : "");
    snprintf(log->nats_url, sizeof log->nats_url, "%s", cfg->nats_url ? cfg->nats_url : "");
    log->cfg.api_url = log->api_url;
    log->cfg.nats_url = log->nats_url;
    log->cfg.url = log->url;
    log->cfg.ca_file = cfg->ca_file ? log->ca_file : NULL;
    log->cfg.db_path = log->db_path;
    log->cfg.node = log->node;
    snprintf(log->expected_host, sizeof log->expected_host, "%s", cfg->expected_host ? cfg->expected_host : "");
    log->cfg.expected_host = log->expected_host[0] ? log->expected_host : NULL;
    log->ca_pem = cfg->ca_pem ? strdup(cfg->ca_pem) : NULL;
    log->cfg.ca_pem = log->ca_pem;
    pthread_mutex_init(&log->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&log->changed, &attr);
    pthread_condattr_destroy(&attr);
    if (store_open(log->db_path, STORE_OPEN_EXISTING, &log->store, err, errlen) != STORE_OK ||
        store_log_applied(log->store, &log->applied) != STORE_OK || store_log_based(log->store, &log->based) != STORE_OK ||
        pthread_create(&log->thread, NULL, ctllog_applier, log) != 0) {
        if (!err[0])
            snprintf(err, errlen, "cannot start the bus log's applier");
        store_close(log->store);
        free(log->ca_pem);
        free(log);
        return NULL;
    }
    log->reporter_started = cfg->data_plane && pthread_create(&log->reporter, NULL, ctllog_reporter, log) == 0;
    return log;
}

struct retired_connection {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *reports;
    struct retired_connection *next;
};

jsCtx *ctllog_js(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    jsCtx *js = log->js;
    pthread_mutex_unlock(&log->lock);
    return js;
}

/* A connection nats.c closed for good (seen after this node's nats-server
 * restarted: the log never read the stream again) is set aside. */
static void retire_if_closed(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    struct retired_connection *r = NULL;
    if (log->nc && natsConnection_IsClosed(log->nc) && (r = calloc(1, sizeof *r))) {
        *r = (struct retired_connection){log->nc, log->js, log->reports, log->retired};
        log->retired = r;
        log->nc = NULL;
        log->js = NULL;
        log->reports = NULL;
    }
    pthread_mutex_unlock(&log->lock);
    if (r)
        log_event(LOG_WARN, "bus_log_reconnect", "detail=\"the bus log's connection was closed for good; making "
                  "another\"");
}

/* The log's own login to this node's data plane, as the CTRL account's
 * user; nats.c reconnects it for as long as the log runs. */
int ctllog_connect(ctllog *log, char *err, size_t errlen)
{
    retire_if_closed(log);
    if (ctllog_js(log))
        return 0;
    bool tls = strncmp(log->url, "tls://", 6) == 0;
    natsStatus st = log->opts ? NATS_OK : natsOptions_Create(&log->opts);
    if (st == NATS_OK)
        st = natsOptions_SetURL(log->opts, log->url);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(log->opts, 2000);
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(log->opts, -1);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(log->opts, RECONNECT_WAIT_MS);
    if (st == NATS_OK)
        st = nats_auth_use_identity(log->opts, log->cfg.user);
    if (st == NATS_OK && tls)
        st = natsOptions_SetSecure(log->opts, true);
    if (st == NATS_OK && tls && log->cfg.ca_file)
        st = natsOptions_LoadCATrustedCertificates(log->opts, log->cfg.ca_file);
    if (st == NATS_OK && tls && log->cfg.expected_host)
        st = natsOptions_SetExpectedHostname(log->opts, log->cfg.expected_host);
    if (st == NATS_OK && tls && log->cfg.ca_pem)
        st = natsOptions_SetCATrustedCertificates(log->opts, log->cfg.ca_pem);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    if (st == NATS_OK)
        st = nats_auth_connect(&nc, log->opts);
    if (st == NATS_OK)
        st = natsConnection_JetStream(&js, nc, NULL);
    if (st == NATS_OK) {
        pthread_mutex_lock(&log->lock);
        log->nc = nc;
        log->js = js;
        pthread_mutex_unlock(&log->lock);
        return 0;
    }
    natsStatus last = NATS_OK;
    const char *detail = nats_GetLastError(&last);
    snprintf(err, errlen, "cannot log in to nats-server at %s as the bus log's user: %s", log->url,
             last != NATS_OK && detail && detail[0] ? detail : natsStatus_GetText(st));
    natsConnection_Destroy(nc);
    return -1;
}

/* Counts the stream leader's changes, as seen at each read of the stream. */
static void note_leader(ctllog *log, const jsStreamInfo *si)
{
    const char *leader = si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "";
    pthread_mutex_lock(&log->lock);
    if (leader[0] && strcmp(leader, log->leader) != 0) {
        log->leader_changes += log->leader[0] != '\0';
        snprintf(log->leader, sizeof log->leader, "%s", leader);
    }
    pthread_mutex_unlock(&log->lock);
}

void ctllog_leader(ctllog *log, char *out, size_t len)
{
    pthread_mutex_lock(&log->lock);
    snprintf(out, len, "%s", log->leader);
    pthread_mutex_unlock(&log->lock);
}

uint64_t ctllog_leader_changes(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t n = log->leader_changes;
    pthread_mutex_unlock(&log->lock);
    return n;
}

/* While nats-server 2.9.10 reloads, the bus log's account is briefly not
 * there for JetStream API requests: the reload empties the account map and
 * builds every account again (reload.go:1578-1590) before it moves their
 * JetStream state over (reload.go:1617).  A request in that window is
 * dropped with "Malformed JetStream API Request" logged
 * (jetstream_api.go:934, 990), or answered "no responders" or "JetStream
 * not enabled" (10039, 10076).  Every change reloads, and at 10,000 users
 * a reload takes about 200 ms, so a busy node meets this often (test
 * integration.test_reload_storm).  Reads are idempotent: a dropped one
 * is asked once more, and a refused one again after growing pauses, for
 * up to RELOAD_WINDOW_MS more. */
#define RELOAD_WINDOW_MS 512

static bool lost_to_reload(natsStatus st, jsErrCode jerr)
{
    return st == NATS_TIMEOUT || st == NATS_NO_RESPONDERS || jerr == JSNotEnabledForAccountErr ||
           jerr == JSNotEnabledErr;
}

/* The end of a read of wait_ms asked again (a dropped request once more). */
static int64_t reload_deadline(int wait_ms)
{
    return clock_mono_ms() + 2 * (int64_t)wait_ms + RELOAD_WINDOW_MS;
}

/* Whether to ask again, pausing first: only when the next try, wait
 * included, ends before the deadline. */
static bool ask_again(natsStatus st, jsErrCode jerr, int wait_ms, int64_t deadline_ms, long *pause_ms)
{
    if (!lost_to_reload(st, jerr) || clock_mono_ms() + *pause_ms + wait_ms > deadline_ms)
        return false;
    struct timespec pause = {0, *pause_ms * 1000000L};
    nanosleep(&pause, NULL);
    *pause_ms *= 2;
    return true;
}

static natsStatus stream_info(ctllog *log, jsStreamInfo **si)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = CTLLOG_PUBLISH_TIMEOUT_MS;
    int64_t deadline = reload_deadline(CTLLOG_PUBLISH_TIMEOUT_MS);
    natsStatus st;
    jsErrCode jerr;
    long pause_ms = 1;
    do {
        jerr = 0;
        st = js_GetStreamInfo(si, ctllog_js(log), CTLLOG_STREAM, &o, &jerr);
    } while (st != NATS_OK && ask_again(st, jerr, CTLLOG_PUBLISH_TIMEOUT_MS, deadline, &pause_ms));
    return st;
}

int ctllog_stream_state(ctllog *log, ctllog_stream *out)
{
    jsStreamInfo *si = NULL;
    if (stream_info(log, &si) != NATS_OK)
        return -1;
    const jsStreamConfig *c = si->Config;
    *out = (ctllog_stream){(int64_t)si->State.FirstSeq, (int64_t)si->State.LastSeq, si->State.Msgs,
                           c && (c->Sealed || c->DenyPurge || c->DenyDelete || c->MaxMsgs > 0 || c->MaxBytes > 0 ||
                                 c->MaxAge > 0)};
    pthread_mutex_lock(&log->lock);
    log->stream_first = out->first;
    log->stream_last = out->last;
    pthread_mutex_unlock(&log->lock);
    note_leader(log, si);
    jsStreamInfo_Destroy(si);
    return 0;
}

natsStatus ctllog_read(ctllog *log, int64_t seq, int wait_ms, natsMsg **msg, jsErrCode *jerr)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    int64_t deadline = reload_deadline(wait_ms);
    natsStatus st;
    long pause_ms = 1;
    do {
        *msg = NULL;
        *jerr = 0;
        st = js_GetMsg(msg, ctllog_js(log), CTLLOG_STREAM, (uint64_t)seq, &o, jerr);
    } while (st != NATS_OK && ask_again(st, *jerr, wait_ms, deadline, &pause_ms));
    return st;
}

int64_t ctllog_last_seq(ctllog *log)
{
    ctllog_stream st;
    return ctllog_stream_state(log, &st) == 0 ? st.last : -1;
}

void ctllog_set_applied(ctllog *log, int64_t seq)
{
    pthread_mutex_lock(&log->lock);
    log->applied = seq;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
}

void ctllog_set_ready(ctllog *log, bool ready)
{
    pthread_mutex_lock(&log->lock);
    log->ready = ready;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
}

bool ctllog_is_ready(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    bool ready = log->ready && !log->stopping;
    pthread_mutex_unlock(&log->lock);
    return ready;
}

bool ctllog_stopping(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    bool stopping = log->stopping;
    pthread_mutex_unlock(&log->lock);
    return stopping;
}

int64_t ctllog_applied(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    int64_t seq = log->applied;
    pthread_mutex_unlock(&log->lock);
    return seq;
}

/* What a waiter waits for, read under the lock. */
typedef bool (*log_condition)(const ctllog *log, int64_t seq);

/* Waits under the lock until cond holds, the log stops or timeout_ms
 * pass: 0 when it holds. */
static int wait_for(ctllog *log, log_condition cond, int64_t seq, int timeout_ms)
{
    struct timespec until = clock_deadline_in(timeout_ms);
    pthread_mutex_lock(&log->lock);
    while (!cond(log, seq) && !log->stopping &&
           pthread_cond_timedwait(&log->changed, &log->lock, &until) != ETIMEDOUT)
        ;
    bool done = cond(log, seq);
    pthread_mutex_unlock(&log->lock);
    return done ? 0 : -1;
}

static bool is_ready(const ctllog *log, int64_t unused)
{
    (void)unused;
    return log->ready;
}

/* Everything up to last applied, but for the parts of an entry not yet
 * whole at the very end (a writer that died left them: they are passed
 * over when the next entry comes, and appends may go after them). */
static bool caught_up(const ctllog *log, int64_t last)
{
    return log->applied >= last || (log->pending_first == log->applied + 1 && log->pending_last >= last);
}

static bool applied(const ctllog *log, int64_t seq)
{
    return log->applied >= seq;
}

int ctllog_wait_ready(ctllog *log, int timeout_ms)
{
    int64_t last = wait_for(log, is_ready, 0, timeout_ms) == 0 ? ctllog_last_seq(log) : -1;
    return last >= 0 && ctllog_wait_caught_up(log, last, timeout_ms) == 0 ? 0 : -1;
}

int ctllog_wait_caught_up(ctllog *log, int64_t last, int timeout_ms)
{
    return wait_for(log, caught_up, last, timeout_ms);
}

int ctllog_wait_applied(ctllog *log, int64_t seq, int timeout_ms)
{
    return wait_for(log, applied, seq, timeout_ms);
}

bool ctllog_caught_up_now(ctllog *log)
{
    /* What most nodes run, not the furthest any says: one forged report
     * must not keep a node closed (dev/threat-model.md). */
    int64_t last = ctllog_is_ready(log) ? ctllog_last_seq(log) : -1, most = ctllog_majority_seq(log);
    pthread_mutex_lock(&log->lock);
    bool done = last >= 0 && caught_up(log, last > most ? last : most);
    pthread_mutex_unlock(&log->lock);
    return done;
}

bool ctllog_admits_peers(ctllog *log, int64_t max_stale_ms)
{
    int64_t stale = ctllog_stale_ms(log);
    bool was_closed = ctllog_peers_closed(log);
    /* Reopening takes evidence: most nodes heard (not a start's grace),
     * and everything they run applied here. */
    pthread_mutex_lock(&log->lock);
    bool broken = log->diverged || !log->based; /* its state is not the bus's */
    pthread_mutex_unlock(&log->lock);
    bool closed = broken || (was_closed ? !ctllog_heard_majority(log) || !ctllog_caught_up_now(log)
                                        : stale > max_stale_ms);
    if (closed == was_closed)
        return !closed;
    pthread_mutex_lock(&log->lock);
    log->peers_closed = closed;
    pthread_mutex_unlock(&log->lock);
    if (closed)
        log_event(LOG_WARN, "cluster_peers_closed", "stale_ms=%lld max_stale_ms=%lld detail=\"cut off from most "
                  "nodes, or behind what they run, for too long: this node may honour keys the others revoked, so it "
                  "admits no peer until it hears most nodes and has caught up\"", (long long)stale,
                  (long long)max_stale_ms);
    else
        log_event(LOG_INFO, "cluster_peers_open", "applied=%lld", (long long)ctllog_applied(log));
    return !closed;
}

bool ctllog_peers_closed(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    bool closed = log->peers_closed;
    pthread_mutex_unlock(&log->lock);
    return closed;
}

void ctllog_sent(ctllog *log, uint64_t *msgs, uint64_t *bytes)
{
    *msgs = *bytes = 0;
    natsStatistics *stats = NULL;
    pthread_mutex_lock(&log->lock); /* the connection is made once, by the applier */
    natsConnection *nc = log->nc;
    pthread_mutex_unlock(&log->lock);
    if (nc && natsStatistics_Create(&stats) == NATS_OK && natsConnection_GetStats(nc, stats) == NATS_OK)
        natsStatistics_GetCounts(stats, NULL, NULL, msgs, bytes, NULL);
    natsStatistics_Destroy(stats);
}

void ctllog_stop(ctllog *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->lock);
    log->stopping = true;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->thread, NULL);
    if (log->reporter_started)
        pthread_join(log->reporter, NULL);
    natsSubscription_Destroy(log->reports);
    jsCtx_Destroy(log->js);
    natsConnection_Destroy(log->nc);
    for (struct retired_connection *r = log->retired, *next; r; r = next) {
        next = r->next;
        natsSubscription_Destroy(r->reports);
        jsCtx_Destroy(r->js);
        natsConnection_Destroy(r->nc);
        free(r);
    }
    natsOptions_Destroy(log->opts);
    store_close(log->store);
    free(log->ca_pem);
    pthread_cond_destroy(&log->changed);
    pthread_mutex_destroy(&log->lock);
    free(log);
}
