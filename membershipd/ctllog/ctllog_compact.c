/* Compaction (dev/control-log.md, "Compaction"): once the log holds
 * compact_entries entries after the base at its head, the stream leader
 * appends its store's state as a new base, right after the last entry,
 * and purges everything before it.  Every node takes that base as the
 * entry it is (its own state: nothing written, row counts checked); a node
 * joining later starts from it.  Only when every node of the bus runs the
 * last entry: none may need what is purged. */
#include "membershipd/ctllog/ctllog_internal.h"

#include <stdio.h>
#include <string.h>
#include "common/log.h"
#include "embedded/clock.h"

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

static bool due(ctllog *log, const ctllog_stream *st)
{
    return log->cfg.compact_entries && log->cfg.data_plane && leads(log) && ctllog_is_based(log) &&
           !log->diverged && st->msgs >= head_base_parts(log, st->first) + log->cfg.compact_entries &&
           ctllog_applied(log) == st->last && !pending_parts(log) && every_node_runs(log, st->last);
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

/* A base written whose purge failed is purged again, never written again:
 * a stream that refuses purges (an insider set deny_purge in the fifth
 * adversarial pass) got a whole base more every few seconds. */
static bool purge_pending(ctllog *log)
{
    char err[256];
    if (!log->compact_keep)
        return false;
    if (purge_before(log, log->compact_keep, err, sizeof err) == 0) {
        log_event(LOG_INFO, "bus_log_compacted", "purged_before=%lld detail=\"purged on a later try\"",
                  (long long)log->compact_keep);
        log->compact_keep = 0;
    }
    return true;
}

void ctllog_compact_if_due(ctllog *log)
{
    ctllog_stream st;
    if (ctllog_stream_state(log, &st) != 0 || purge_pending(log) || !due(log, &st))
        return;
    void *base = NULL;
    size_t len = 0;
    int64_t seq = 0;
    char err[256];
    if (store_log_snapshot(log->store, &base, &len) != STORE_OK)
        return;
    int64_t began = clock_mono_ms();
    store_status status = ctllog_put_entry(log, st.last, base, len, true, &seq);
    store_log_free(base);
    if (status != STORE_OK) /* another entry got in first, or no quorum: the next round */
        return;
    if (purge_before(log, st.last + 1, err, sizeof err) != 0) {
        log->compact_keep = st.last + 1;
        log_event(LOG_WARN, "bus_log_compact_failed", "through=%lld detail=\"the new base is written; the entries "
                  "before it could not be purged: %s; trying the purge again, and writing no other base until it "
                  "goes\"", (long long)st.last, err);
        return;
    }
    log_event(LOG_INFO, "bus_log_compacted", "purged_before=%lld base_through=%lld base_bytes=%zu entries=%llu "
              "dur_ms=%lld", (long long)(st.last + 1), (long long)seq, len, (unsigned long long)st.msgs,
              (long long)(clock_mono_ms() - began));
}
