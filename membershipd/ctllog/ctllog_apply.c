/* The applier: the stream made when there is none, then every entry
 * applied to this node's store in order, each exactly once (store_log.h).
 * An entry cut in parts is applied when its last part arrives; the parts
 * of an entry that never completed (its writer died, or lost a race
 * between its parts) are passed over: no node ever applies them. */
#include "membershipd/ctllog/ctllog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/log.h"
#include "embedded/clock.h"
#include "membershipd/store/store_pki.h"

#define RETRY_PAUSE_MS 500
#define NEXT_MSG_MS 250
#define BELL_SETTLE_FIRST_MS 1 /* after the bell, read again after 1, 2, 4 ... ms */
#define BELL_SETTLE_LAST_MS 64 /* ... up to this pause, then wait for the next bell */
/* A read can be lost while nats-server applies a configuration (it
 * rebuilds the accounts): short waits, tried again, before giving up. */
#define READ_WAIT_MS 100
#define READ_TRIES 50
#define READ_GIVE_UP_MS 5000 /* what READ_TRIES reads of READ_WAIT_MS took */

typedef struct {
    char id[40];
    int64_t first, last;        /* 0 when no entry is being put together */
    unsigned next, parts;
    bool base;                  /* the log's base (store_log_snapshot) */
    uint8_t *data;
    size_t len;
} assembly;

/* How far the applier has put a parted entry together: appends can go
 * after an entry that will never complete (ctllog_append.c). */
static void publish_pending(ctllog *log, const assembly *a)
{
    pthread_mutex_lock(&log->lock);
    log->pending_first = a->first;
    log->pending_last = a->last;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
}

static void assembly_reset(assembly *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* A single node that became the first of a cluster (dev/operations.md):
 * its log gets the replicas of the bus it now is. */
static void grow_replicas(ctllog *log, const jsStreamInfo *si)
{
    if (!si->Config || si->Config->Replicas >= log->cfg.replicas)
        return;
    int had = (int)si->Config->Replicas;
    si->Config->Replicas = log->cfg.replicas;
    jsStreamInfo *grown = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_UpdateStream(&grown, ctllog_js(log), si->Config, NULL, &jerr);
    jsStreamInfo_Destroy(grown);
    if (st == NATS_OK)
        log_event(LOG_INFO, "bus_log_replicas", "stream=" CTLLOG_STREAM " from=%d to=%d", had, log->cfg.replicas);
    else
        log_event(LOG_WARN, "bus_log_replicas", "stream=" CTLLOG_STREAM " from=%d to=%d detail=\"cannot add replicas "
                  "yet: %s (JetStream error %d); trying again when the log reconnects\"", had, log->cfg.replicas,
                  natsStatus_GetText(st), (int)jerr);
}

/* A store that followed another log (a backup restored, a single node
 * become a cluster's first): its positions mean nothing in this one, whose
 * start is its own now; it takes this log's base. */
static void forget_positions(ctllog *log)
{
    ctllog_set_applied(log, 0);
    pthread_mutex_lock(&log->lock);
    log->based = false;
    pthread_mutex_unlock(&log->lock);
    log_event(LOG_INFO, "bus_log_other", "stream=" CTLLOG_STREAM " replicas=%d detail=\"this store followed another "
              "log: it takes this one's base\"", log->cfg.replicas);
}

/* A cluster whose log is gone on every node this one reaches does not get
 * a new one from this node's store: it may be the stalest of all (a
 * revocation it missed would be undone everywhere).  The operator picks
 * the freshest node (dev/operations.md, "The bus log lost").  A single
 * node's store is its bus's only state: it may. */
static bool may_make_log(ctllog *log, char *err, size_t errlen)
{
    int64_t id = 0;
    char cluster[STORE_LOG_CLUSTER_MAX + 1] = "";
    if (log->cfg.nodes <= 1 || store_log_cluster(log->store, &id, cluster) != STORE_OK || id == 0 ||
        strcmp(cluster, log->cluster) != 0)
        return true;
    snprintf(err, errlen, "the bus log of cluster %s is gone on every node this one reaches, and this node will not "
             "make a new one from its own store, which may be stale: see dev/operations.md (\"The bus log lost\")",
             log->cluster);
    return false;
}

/* Which log this is: entry 1's time, set by the leader that stored it and
 * the same on every replica; once compaction purged entry 1, the base at
 * the head of the stream carries it (CTLLOG_HEADER_LOG).  (A stream's
 * "created" time is each server's: it changed with the server that
 * answered, and a node restarted in its own log took the base again over
 * entries it held: cluster.partition.)  0 when it cannot be read. */
static int64_t log_identity(ctllog *log)
{
    ctllog_stream st;
    natsMsg *msg = NULL;
    jsErrCode jerr = 0;
    if (ctllog_stream_state(log, &st) != 0 || st.msgs == 0 ||
        ctllog_read(log, st.first, CTLLOG_PUBLISH_TIMEOUT_MS, &msg, &jerr) != NATS_OK)
        return 0;
    const char *carried = NULL;
    int64_t id = natsMsgHeader_Get(msg, CTLLOG_HEADER_LOG, &carried) == NATS_OK ? strtoll(carried, NULL, 10)
                                                                               : natsMsg_GetTime(msg);
    natsMsg_Destroy(msg);
    return id > 0 ? id : 0;
}

/* The offline CLI never makes, follows or restarts a log: the stream must
 * be the one its node's store follows. */
static int guest_in(ctllog *log, natsStatus st, jsStreamInfo *si, jsErrCode jerr, char *err, size_t errlen)
{
    int64_t id = 0, followed = 0;
    char cluster[STORE_LOG_CLUSTER_MAX + 1];
    jsStreamInfo_Destroy(si);
    bool same = st == NATS_OK && (id = log_identity(log)) != 0 &&
                store_log_cluster(log->store, &followed, cluster) == STORE_OK && followed == id;
    if (same)
        return 0;
    if (st == NATS_OK)
        snprintf(err, errlen, "this node's store does not follow the bus log its nats-server holds yet: wait until "
                 "membershipd serve has taken it, then run the command again");
    else
        snprintf(err, errlen, "the bus log's stream %s cannot be read: %s (JetStream error %d)", CTLLOG_STREAM,
                 natsStatus_GetText(st), (int)jerr);
    return -1;
}

/* Entry 1 holds no change: every append then names a real expected
 * sequence (nats.c reads an ExpectLastSeq of 0 as "none").  Nodes that
 * start together write it once: JetStream drops a repeated MsgId. */
static int write_genesis(ctllog *log, char *err, size_t errlen)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = CTLLOG_GENESIS_ID;
    po.MaxWait = CTLLOG_PUBLISH_TIMEOUT_MS;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_Publish(&ack, ctllog_js(log), CTLLOG_SUBJECT, "", 0, &po, &jerr);
    jsPubAck_Destroy(ack);
    if (st == NATS_OK)
        return 0;
    snprintf(err, errlen, "cannot write the bus log's first entry: %s", natsStatus_GetText(st));
    return -1;
}

static natsStatus make_stream(ctllog *log, jsStreamInfo **si, jsOptions *o, jsErrCode *jerr)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {CTLLOG_SUBJECT};
    cfg.Name = CTLLOG_STREAM;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = log->cfg.replicas;
    natsStatus st = js_AddStream(si, ctllog_js(log), &cfg, o, jerr);
    if (st == NATS_OK)
        log_event(LOG_INFO, "bus_log_created", "stream=" CTLLOG_STREAM " replicas=%d", log->cfg.replicas);
    return st;
}

static int ensure_stream(ctllog *log, char *err, size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = CTLLOG_PUBLISH_TIMEOUT_MS;
    natsStatus st = js_GetStreamInfo(&si, ctllog_js(log), CTLLOG_STREAM, &o, &jerr);
    if (!log->cfg.data_plane) /* the offline CLI: a guest in the log its node's serve follows */
        return guest_in(log, st, si, jerr, err, errlen);
    if (st != NATS_OK && jerr == JSStreamNotFoundErr && !may_make_log(log, err, errlen))
        return -1;
    if (st != NATS_OK && jerr == JSStreamNotFoundErr)
        st = make_stream(log, &si, &o, &jerr);
    if (st != NATS_OK) {
        snprintf(err, errlen, "the bus log's stream %s cannot be read or made: %s (JetStream error %d)",
                 CTLLOG_STREAM, natsStatus_GetText(st), (int)jerr);
        return -1;
    }
    grow_replicas(log, si);
    bool empty = si->State.LastSeq == 0;
    jsStreamInfo_Destroy(si);
    if (empty && write_genesis(log, err, errlen) != 0)
        return -1;
    int64_t id = log_identity(log);
    bool restarted = false;
    if (!id || store_log_follow(log->store, id, log->cluster, &restarted) != STORE_OK) {
        snprintf(err, errlen, "cannot read the bus log's first entry, or record it in the store");
        return -1;
    }
    if (restarted)
        forget_positions(log);
    pthread_mutex_lock(&log->lock);
    log->log_id = id;
    pthread_mutex_unlock(&log->lock);
    return 0;
}

/* A base is the bus's only when its CA is the route CA: another bus's
 * state, offered by a node holding the route secret and a node key, must
 * never become this node's (dev/threat-model.md). */
static bool base_of_this_bus(ctllog *log, const void *base, size_t len)
{
    if (!log->cfg.is_bus_ca)
        return true;
    char *pem = NULL;
    bool bus = store_log_base_ca(base, len, &pem) == STORE_OK && log->cfg.is_bus_ca(pem, log->cfg.is_bus_ca_ctx);
    free(pem);
    return bus;
}

#define DIVERGED_BASE \
    "this node's store holds data the bus's base does not (it is another bus's, or was changed before it joined); " \
    "it takes no writes: stop it, move its membership.db away and start it again to join with an empty store " \
    "(dev/operations.md)"
#define DIVERGED_ENTRY \
    "this node's store does not take this entry of the bus log (a conflict); it takes no more writes: restore it " \
    "from another node (dev/operations.md)"
#define FOREIGN_BASE \
    "the bus log's base holds a CA other than --route-tls-ca's: a node of another bus, or one holding the route " \
    "secret and a node key, offered its state; this node admits nobody. Revoke that node, rotate the cluster " \
    "secret, and remake the log (dev/operations.md, \"The bus log holds another bus's base\")"

static void diverged(ctllog *log, int64_t seq, const char *detail)
{
    pthread_mutex_lock(&log->lock);
    log->diverged = true;
    pthread_mutex_unlock(&log->lock);
    log_event(LOG_ERROR, "bus_log_diverged", "seq=%lld detail=\"%s\"", (long long)seq, detail);
}

/* ours: written by this node's own membershipd, whose writer brings it
 * into force itself (and, doing so for many at once, in fewer reloads). */
static int apply(ctllog *log, int64_t first, int64_t last, const void *data, size_t len, bool ours, bool base)
{
    if (base && !base_of_this_bus(log, data, len)) {
        diverged(log, last, FOREIGN_BASE);
        return -1;
    }
    bool joins = base && !ctllog_is_based(log); /* a later base is a compaction's checkpoint */
    store_status status = base ? store_log_apply_base(log->store, first, last, data, len)
                               : store_log_apply(log->store, first, last, data, len);
    if (status == STORE_OK) {
        if (joins) {
            pthread_mutex_lock(&log->lock);
            log->based = true;
            pthread_mutex_unlock(&log->lock);
            log_event(LOG_INFO, "bus_log_based", "seq=%lld bytes=%zu", (long long)last, len);
        }
        ctllog_set_applied(log, last);
        if (log->cfg.applied && len > 0 && !ours)
            log->cfg.applied(log->cfg.applied_ctx);
        return 0;
    }
    if (status != STORE_CONFLICT) { /* busy, disk full: not this entry's fault; read it again later */
        log_event(LOG_WARN, "bus_log_apply_failed", "seq=%lld detail=\"cannot write the store now (%s); trying "
                  "again\"", (long long)last, store_errmsg(log->store));
        return -1;
    }
    diverged(log, last, base ? DIVERGED_BASE : DIVERGED_ENTRY);
    return -1;
}

/* Passes over the parts of an entry that will never complete. */
static int abandon(ctllog *log, assembly *a, int64_t through)
{
    int64_t first = a->first ? a->first : through;
    assembly_reset(a);
    publish_pending(log, a);
    return apply(log, first, through, NULL, 0, false, false);
}

static bool part_header(natsMsg *msg, char id[40], unsigned *i, unsigned *n)
{
    const char *entry = NULL, *part = NULL;
    if (natsMsgHeader_Get(msg, CTLLOG_HEADER_ENTRY, &entry) != NATS_OK ||
        natsMsgHeader_Get(msg, CTLLOG_HEADER_PART, &part) != NATS_OK || strlen(entry) >= 40 ||
        sscanf(part, "%u/%u", i, n) != 2 || *i < 1 || *i > *n)
        return false;
    snprintf(id, 40, "%s", entry);
    return true;
}

/* One message of the stream, at seq. */
static int take(ctllog *log, assembly *a, natsMsg *msg, int64_t seq)
{
    char id[40];
    unsigned i, n;
    if (!part_header(msg, id, &i, &n)) /* the first entry, or nothing of ours */
        return abandon(log, a, seq);
    if (i == 1 && a->first && abandon(log, a, seq - 1) != 0)
        return -1;
    if (i != 1 && (!a->first || strcmp(id, a->id) != 0 || i != a->next || n != a->parts))
        return abandon(log, a, seq);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    uint8_t *grown = realloc(a->data, a->len + len + 1);
    if (!grown)
        return -1;
    memcpy(grown + a->len, natsMsg_GetData(msg), len);
    a->data = grown;
    a->len += len;
    if (i == 1) {
        const char *base = NULL;
        snprintf(a->id, sizeof a->id, "%s", id);
        a->first = seq;
        a->parts = n;
        a->base = natsMsgHeader_Get(msg, CTLLOG_HEADER_BASE, &base) == NATS_OK && strcmp(base, "1") == 0;
    }
    a->last = seq;
    a->next = i + 1;
    if (i < n) {
        publish_pending(log, a);
        return 0;
    }
    const char *origin = NULL;
    bool ours = natsMsgHeader_Get(msg, CTLLOG_HEADER_ORIGIN, &origin) == NATS_OK && strcmp(origin, log->node) == 0;
    int rc = apply(log, a->first, seq, a->data, a->len, ours, a->base);
    assembly_reset(a);
    publish_pending(log, a);
    return rc;
}

typedef enum { READ_OK, READ_PAST_END, READ_FAILED } read_outcome;

/* Entry seq, read from the stream by its sequence (the stream leader
 * answers; no consumer state to lose when nodes come and go). */
static read_outcome read_at(ctllog *log, int64_t seq, natsMsg **msg)
{
    jsErrCode jerr = 0;
    natsStatus st = ctllog_read(log, seq, READ_WAIT_MS, msg, &jerr);
    return st == NATS_OK ? READ_OK : jerr == JSNoMessageFoundErr ? READ_PAST_END : READ_FAILED;
}

#define COMPACTED_PAST \
    "the bus log was compacted past entries this node had not applied (it was away while every other node ran " \
    "them): stop it, move its membership.db away and start it again to join with an empty store " \
    "(dev/operations.md)"

#define PURGED_NOT_COMPACTED \
    "the bus log's entries before its first were removed, and no base of this log is at its head: not a " \
    "compaction (whoever holds a node's files purged it?); this node admits nobody: remake the log " \
    "(dev/operations.md, The bus log lost) and revoke the node whose files were used"

/* Whether the stream's first message is the first part of a base of this
 * log: what a compaction leaves at the head, and nothing else does. */
static bool head_is_our_base(ctllog *log, int64_t first)
{
    natsMsg *msg = NULL;
    jsErrCode jerr = 0;
    if (ctllog_read(log, first, CTLLOG_PUBLISH_TIMEOUT_MS, &msg, &jerr) != NATS_OK)
        return false;
    const char *base = NULL, *part = NULL, *id = NULL;
    unsigned i = 0, n = 0;
    bool ours = natsMsgHeader_Get(msg, CTLLOG_HEADER_BASE, &base) == NATS_OK && strcmp(base, "1") == 0 &&
                natsMsgHeader_Get(msg, CTLLOG_HEADER_PART, &part) == NATS_OK && sscanf(part, "%u/%u", &i, &n) == 2 &&
                i == 1 && natsMsgHeader_Get(msg, CTLLOG_HEADER_LOG, &id) == NATS_OK &&
                strtoll(id, NULL, 10) == log->log_id;
    natsMsg_Destroy(msg);
    return ours;
}

/* No message at next: the end, or purged by a compaction (next below the
 * stream's first, a base of this log there).  A store without a base
 * starts at that base; a based one lost entries it needed.  Purged any
 * other way, the log was tampered with.  1: moved on, 0: the end, -1: no
 * more applying. */
static int skip_compacted(ctllog *log, assembly *a, int64_t *next)
{
    pthread_mutex_lock(&log->lock);
    bool maybe = *next <= log->stream_last; /* as last read: beyond it, the end */
    pthread_mutex_unlock(&log->lock);
    ctllog_stream st;
    if (!maybe || ctllog_stream_state(log, &st) != 0 || *next >= st.first)
        return 0;
    if (!head_is_our_base(log, st.first)) {
        diverged(log, *next, PURGED_NOT_COMPACTED);
        return -1;
    }
    if (ctllog_is_based(log)) {
        diverged(log, *next, COMPACTED_PAST);
        return -1;
    }
    log_event(LOG_INFO, "bus_log_compacted_skip", "from=%lld to=%lld detail=\"the log was compacted: this node "
              "joins from the base at its head\"", (long long)*next, (long long)st.first);
    assembly_reset(a);
    publish_pending(log, a);
    *next = st.first;
    return 1;
}

/* Applies the entries from next on until the stream has no more: 0, or
 * -1 when it cannot be read (READ_TRIES in a row, or for READ_GIVE_UP_MS:
 * a read lost to a reload is asked again inside ctllog_read, so a try's
 * length varies) or an entry not applied. */
static int apply_available(ctllog *log, assembly *a, int64_t *next)
{
    int64_t failing_since = 0;
    for (int failures = 0; failures < READ_TRIES && !ctllog_stopping(log) &&
                           !(failing_since && clock_mono_ms() - failing_since >= READ_GIVE_UP_MS);) {
        natsMsg *msg = NULL;
        read_outcome got = read_at(log, *next, &msg);
        ctllog_note_available(log, got != READ_FAILED);
        int skipped = got == READ_PAST_END ? skip_compacted(log, a, next) : 0;
        if (got == READ_PAST_END && skipped <= 0)
            return skipped;
        if (got == READ_PAST_END)
            continue;
        int rc = got == READ_OK ? take(log, a, msg, *next) : 0;
        natsMsg_Destroy(msg);
        if (rc != 0)
            return -1;
        if (got == READ_OK) {
            ++*next;
            failures = 0;
            failing_since = 0;
        } else if (failures++ == 0) {
            failing_since = clock_mono_ms();
        }
    }
    return ctllog_stopping(log) ? 0 : -1;
}

/* A node's membershipd at the end of a log that has no base yet offers
 * its own store as the base: a single node always, a cluster node when its
 * store holds the bus CA, the route CA (the first node's, or a copy of
 * it).  Any other waits for that one's.  Two offers at once: the expected
 * sequence lets one in. */
static bool holds_bus_ca(ctllog *log)
{
    store_ca ca = {0};
    if (store_ca_get(log->store, &ca) != STORE_OK)
        return false;
    bool bus = log->cfg.is_bus_ca(ca.cert_pem, log->cfg.is_bus_ca_ctx);
    store_ca_free(&ca);
    return bus;
}

static void offer_base(ctllog *log, int64_t at, bool *waiting_said)
{
    if (!log->cfg.data_plane)
        return;
    /* In a cluster only the bus CA's store is the bus: a store that holds
     * something else (written before it ever joined) must not win. */
    if (log->cfg.is_bus_ca && !holds_bus_ca(log)) {
        if (!*waiting_said)
            log_event(LOG_INFO, "bus_log_waiting", "detail=\"this node's store does not hold the bus CA "
                      "(--route-tls-ca): waiting for the bus's base state from the node that does\"");
        *waiting_said = true;
        return;
    }
    void *base = NULL;
    size_t len = 0;
    int64_t seq = 0;
    if (store_log_snapshot(log->store, &base, &len) != STORE_OK)
        return;
    store_status status = ctllog_put_entry(log, ctllog_expected_last(log, at), base, len, true, &seq);
    store_log_free(base);
    if (status == STORE_OK)
        log_event(LOG_INFO, "bus_log_base_offered", "through=%lld bytes=%zu", (long long)seq, len);
}

bool ctllog_is_based(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    bool based = log->based;
    pthread_mutex_unlock(&log->lock);
    return based;
}

/* Applies what the stream holds after this store's sequence, in order; a
 * plain subscription to the log's subject rings when an entry comes, and
 * the stream is read anyway every NEXT_MSG_MS.  Appends may go once the
 * store has its base.  Returns when the stream cannot be read or the log
 * stops. */
static void consume(ctllog *log)
{
    natsSubscription *bell = NULL;
    if (natsConnection_SubscribeSync(&bell, log->nc, CTLLOG_SUBJECT) != NATS_OK || ctllog_listen_in_force(log) != 0) {
        natsSubscription_Destroy(bell);
        return;
    }
    assembly a = {0};
    int64_t next = ctllog_applied(log) + 1, watched_ms = 0;
    bool waiting_said = false;
    long settle_ms = 0; /* the next pause before reading again after the bell; 0: none */
    while (!ctllog_stopping(log)) {
        if (clock_mono_ms() - watched_ms >= CTLLOG_WATCH_STREAM_MS) { /* who leads (for /metrics), and the size */
            ctllog_compact_if_due(log);
            watched_ms = clock_mono_ms();
        }
        int64_t before = next;
        if (apply_available(log, &a, &next) != 0)
            break;
        /* The bell rings with the append, before the stream leader has
         * committed it: read again shortly rather than at the next poll
         * (a write to a node that does not lead waited 250 ms: dev/bench.md). */
        if (next == before && settle_ms > 0 && settle_ms <= BELL_SETTLE_LAST_MS) {
            struct timespec pause = {0, settle_ms * 1000000L};
            nanosleep(&pause, NULL);
            settle_ms *= 2;
            continue;
        }
        settle_ms = 0;
        ctllog_compact_at_end(log);
        if (!ctllog_is_based(log))
            offer_base(log, next - 1, &waiting_said);
        else if (!ctllog_is_ready(log))
            ctllog_set_ready(log, true);
        natsMsg *ring = NULL;
        if (natsSubscription_NextMsg(&ring, bell, NEXT_MSG_MS) == NATS_OK) {
            natsMsg_Destroy(ring);
            settle_ms = BELL_SETTLE_FIRST_MS;
        }
        for (; natsSubscription_NextMsg(&ring, bell, 0) == NATS_OK; ring = NULL) /* one read serves them all */
            natsMsg_Destroy(ring);
    }
    assembly_reset(&a);
    publish_pending(log, &a);
    natsSubscription_Destroy(bell);
}

static void pause_unless_stopping(ctllog *log, int ms)
{
    struct timespec until = clock_deadline_in(ms);
    pthread_mutex_lock(&log->lock);
    while (!log->stopping && pthread_cond_timedwait(&log->changed, &log->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&log->lock);
}

/* The stream unreadable for long while most nodes are heard: this node's
 * JetStream is what is stuck (seen after a node restarted while cut off:
 * it never read the stream again until its nats-server restarted). */
static void repair_if_stuck(ctllog *log)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&log->lock);
    bool stuck = log->unavailable_since_ms && now - log->unavailable_since_ms > CTLLOG_REPAIR_AFTER_MS &&
                 (!log->repaired_ms || now - log->repaired_ms > CTLLOG_REPAIR_EVERY_MS);
    if (stuck)
        log->repaired_ms = now;
    pthread_mutex_unlock(&log->lock);
    if (!stuck || !log->cfg.repair || !ctllog_heard_majority(log))
        return;
    log_event(LOG_WARN, "bus_log_repair", "detail=\"the stream has been unreadable for over %d ms while most nodes are "
              "heard: restarting this node's nats-server\"", CTLLOG_REPAIR_AFTER_MS);
    log->cfg.repair(log->cfg.repair_ctx);
}

void *ctllog_applier(void *arg)
{
    ctllog *log = arg;
    bool warned = false;
    while (!ctllog_stopping(log) && !log->diverged) {
        char err[512];
        if (ctllog_connect(log, err, sizeof err) != 0 || ensure_stream(log, err, sizeof err) != 0) {
            if (!warned)
                log_event(LOG_WARN, "bus_log_unavailable", "detail=\"%s; trying again\"", err);
            warned = true;
            ctllog_note_available(log, false);
            repair_if_stuck(log);
            pause_unless_stopping(log, RETRY_PAUSE_MS);
            continue;
        }
        if (warned)
            log_event(LOG_INFO, "bus_log_available", "stream=" CTLLOG_STREAM);
        warned = false;
        consume(log);
        ctllog_set_ready(log, false);
        repair_if_stuck(log);
        pause_unless_stopping(log, RETRY_PAUSE_MS);
    }
    return NULL;
}
