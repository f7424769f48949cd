/* Compaction (dev/control-log.md, "Compaction"): once the log holds
 * compact_entries entries after the base at its head, the stream leader
 * appends its store's state as a new base, right after the last entry it
 * applied, and purges everything before that base once every node of the
 * bus runs the entry before it: none may need what is purged.  Every node
 * takes the base as the entry it is (its own state, matched row by row);
 * a node joining later starts from it. */
#include "membershipd/ctllog/ctllog_internal.h"

#include <stdio.h>
#include <string.h>
#include "common/log.h"

static bool leads(ctllog *log)
{
    if (log->cfg.nodes <= 1)
        return true;
    pthread_mutex_lock(&log->lock);
    bool leader = strcmp(log->leader, log->node) == 0;
    pthread_mutex_unlock(&log->lock);
    return leader;
}

/* Every node of the bus heard lately, each running seq. */
static bool every_node_runs(ctllog *log, int64_t seq)
{
    node_heard heard[CTLLOG_NODES_MAX];
    size_t n = ctllog_nodes(log, heard, CTLLOG_NODES_MAX), running = 0;
    for (size_t i = 0; i < n && i < CTLLOG_NODES_MAX; i++)
        running += heard[i].heard_ms_ago <= CTLLOG_NODE_STALE_MS && heard[i].report.seq >= seq;
    return running >= log->cfg.nodes;
}

/* How many messages the base at the stream's head takes (0: the head is
 * not a base, as before the first compaction). */
static uint64_t head_base_parts(ctllog *log, int64_t first)
{
    natsMsg *msg = NULL;
    jsErrCode jerr = 0;
    if (ctllog_read(log, first, CTLLOG_PUBLISH_TIMEOUT_MS, &msg, &jerr) != NATS_OK)
        return 0;
    const char *base = NULL, *part = NULL;
    unsigned i = 0, n = 0;
    bool is_base = natsMsgHeader_Get(msg, CTLLOG_HEADER_BASE, &base) == NATS_OK &&
                   natsMsgHeader_Get(msg, CTLLOG_HEADER_PART, &part) == NATS_OK && sscanf(part, "%u/%u", &i, &n) == 2;
    natsMsg_Destroy(msg);
    return is_base && i == 1 ? n : 0;
}

static bool pending_parts(ctllog *log)
{
    pthread_mutex_lock(&log->lock);
    bool pending = log->pending_first != 0;
    pthread_mutex_unlock(&log->lock);
    return pending;
}

/* Writes go on while a base is written and its purge waits: the base is
 * written the next time the applier reaches the stream's end (not at a
 * tick, when a change is often in flight), and the purge waits for the
 * entry before it only (a member making a change every few seconds kept
 * an "every node runs the last entry" condition from ever holding: the
 * fifth adversarial pass). */
static bool due(ctllog *log, const ctllog_stream *st)
{
    return log->cfg.compact_entries && log->cfg.data_plane && leads(log) && ctllog_is_based(log) &&
           !log->diverged && st->msgs >= log->cfg.compact_entries && /* cheap first: the head is a read */
           st->msgs >= head_base_parts(log, st->first) + log->cfg.compact_entries;
}

/* Everything before keep goes: every node ran it, and the base at keep
 * holds its outcome. */
static int purge_before(ctllog *log, int64_t keep, char *err, size_t errlen)
{
    jsErrCode jerr = 0;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = CTLLOG_PUBLISH_TIMEOUT_MS;
    o.Stream.Purge.Sequence = (uint64_t)keep;
    natsStatus st = js_PurgeStream(ctllog_js(log), CTLLOG_STREAM, &o, &jerr);
    if (st != NATS_OK)
        snprintf(err, errlen, "%s (JetStream error %d)", natsStatus_GetText(st), (int)jerr);
    return st == NATS_OK ? 0 : -1;
}

/* The base written last, purged before once every node ran the entry
 * before it; never another base meanwhile (a stream refusing purges got
 * a whole base more every round in the fifth adversarial pass).  Whether
 * one is pending. */
static bool purge_pending(ctllog *log, const ctllog_stream *st)
{
    char err[256];
    if (!log->compact_keep || !every_node_runs(log, log->compact_keep - 1))
        return log->compact_keep != 0;
    if (purge_before(log, log->compact_keep, err, sizeof err) == 0) {
        log_event(LOG_INFO, "bus_log_compacted", "purged_before=%lld entries=%llu", (long long)log->compact_keep,
                  (unsigned long long)(log->compact_keep - st->first));
        log->compact_keep = 0;
        log->compact_failed_said = false;
        return false;
    }
    if (!log->compact_failed_said)
        log_event(LOG_WARN, "bus_log_compact_failed", "keep=%lld detail=\"the new base is written; the entries "
                  "before it cannot be purged: %s; trying again, and writing no other base until it goes\"",
                  (long long)log->compact_keep, err);
    log->compact_failed_said = true;
    return true;
}

/* A stream sealed, or given limits or purge and delete refusals
 * membershipd never sets, was changed by whoever holds a node's log user
 * (the fifth adversarial pass sealed it: no change, revocations included,
 * could be made).  Said once, at error level. */
static void note_tampered(ctllog *log, const ctllog_stream *st)
{
    if (st->tampered && !log->tampered_said)
        log_event(LOG_ERROR, "bus_log_tampered", "stream=" CTLLOG_STREAM " detail=\"the bus log's stream is sealed "
                  "or has limits, purge or delete refusals membershipd never sets: changes may fail or vanish; "
                  "remake the log (dev/operations.md: The bus log lost) and revoke the node whose files "
                  "were used\"");
    log->tampered_said = st->tampered;
}

void ctllog_compact_if_due(ctllog *log)
{
    ctllog_stream st;
    if (ctllog_stream_state(log, &st) != 0)
        return;
    note_tampered(log, &st);
    bool pending = log->compact_keep != 0; /* st counts what a purge now removes: the next tick decides */
    log->compact_wanted = !purge_pending(log, &st) && !pending && due(log, &st);
}

void ctllog_compact_at_end(ctllog *log)
{
    if (!log->compact_wanted || pending_parts(log))
        return;
    void *base = NULL;
    size_t len = 0;
    int64_t at = ctllog_applied(log), seq = 0;
    if (store_log_snapshot(log->store, &base, &len) != STORE_OK)
        return;
    store_status status = ctllog_put_entry(log, at, base, len, true, &seq);
    store_log_free(base);
    if (status != STORE_OK) /* another entry got in first, or no quorum: at the next end */
        return;
    log->compact_wanted = false;
    log->compact_keep = at + 1;
    log_event(LOG_INFO, "bus_log_base_written", "from=%lld through=%lld bytes=%zu detail=\"a compaction's base: "
              "what is before it goes once every node runs it\"", (long long)(at + 1), (long long)seq, len);
}
