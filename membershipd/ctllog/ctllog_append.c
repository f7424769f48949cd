/* Appending an entry: on the state it was made on (expected last
 * sequence), in parts when it is larger than a message, answered only once
 * it is applied here.  A publish that times out may still have been
 * committed (FACTS.md, trap 4): the stream is read back before answering. */
#include "membershipd/ctllog/ctllog_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "common/log.h"
#include "embedded/clock.h"

#define STALE_WAIT_MS 2000
#define ELECTION_PAUSE_MS 250

typedef enum { PUT_OK, PUT_STALE, PUT_UNKNOWN, PUT_FAILED } put_outcome;

typedef enum { NOT_OURS, OURS, UNREADABLE } ownership;

/* Whether the message at seq is this part of this entry. */
static ownership owner_of(ctllog *log, int64_t seq, const char *id, const char *part)
{
    natsMsg *msg = NULL;
    jsErrCode jerr = 0;
    if (ctllog_read(log, seq, CTLLOG_PUBLISH_TIMEOUT_MS, &msg, &jerr) != NATS_OK)
        return UNREADABLE;
    const char *e = NULL, *p = NULL;
    bool ours = natsMsgHeader_Get(msg, CTLLOG_HEADER_ENTRY, &e) == NATS_OK &&
                natsMsgHeader_Get(msg, CTLLOG_HEADER_PART, &p) == NATS_OK && strcmp(e, id) == 0 &&
                strcmp(p, part) == 0;
    natsMsg_Destroy(msg);
    return ours ? OURS : NOT_OURS;
}

/* A publish without an answer: committed if the next message is ours. */
static put_outcome resolve(ctllog *log, int64_t expect, const char *id, const char *part, int64_t *seq)
{
    int64_t last = ctllog_last_seq(log);
    if (last < 0)
        return PUT_UNKNOWN;
    if (last == expect)
        return PUT_FAILED;
    ownership who = owner_of(log, expect + 1, id, part);
    if (who == OURS)
        *seq = expect + 1;
    /* Unreadable: never "stale", which would make the change again. */
    return who == OURS ? PUT_OK : who == NOT_OURS ? PUT_STALE : PUT_UNKNOWN;
}

typedef struct {
    char id[33];
    unsigned n;
    bool base;
} entry_header;

static put_outcome put(ctllog *log, const entry_header *h, unsigned i, const uint8_t *data, size_t len,
                       int64_t expect, int64_t *seq)
{
    const char *id = h->id;
    unsigned n = h->n;
    char part[32];
    snprintf(part, sizeof part, "%u/%u", i, n);
    natsMsg *msg = NULL;
    natsStatus st = natsMsg_Create(&msg, CTLLOG_SUBJECT, NULL, (const char *)data, (int)len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(msg, CTLLOG_HEADER_ENTRY, id);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(msg, CTLLOG_HEADER_PART, part);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(msg, CTLLOG_HEADER_ORIGIN, log->node);
    char log_id[24];
    pthread_mutex_lock(&log->lock);
    snprintf(log_id, sizeof log_id, "%lld", (long long)log->log_id);
    pthread_mutex_unlock(&log->lock);
    if (st == NATS_OK && h->base)
        st = natsMsgHeader_Set(msg, CTLLOG_HEADER_BASE, "1");
    if (st == NATS_OK && h->base)
        st = natsMsgHeader_Set(msg, CTLLOG_HEADER_LOG, log_id);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSeq = (uint64_t)expect;
    po.MaxWait = CTLLOG_PUBLISH_TIMEOUT_MS;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    if (st == NATS_OK)
        st = js_PublishMsg(&ack, ctllog_js(log), msg, &po, &jerr);
    natsMsg_Destroy(msg);
    if (st == NATS_OK)
        *seq = (int64_t)ack->Sequence;
    jsPubAck_Destroy(ack);
    if (st == NATS_OK)
        return PUT_OK;
    if (jerr == JSStreamWrongLastSequenceErr)
    {
        /* Ours, when an earlier try that timed out got in after all. */
        ownership who = owner_of(log, expect + 1, id, part);
        if (who == OURS)
            *seq = expect + 1;
        return who == OURS ? PUT_OK : who == NOT_OURS ? PUT_STALE : PUT_UNKNOWN;
    }
    if (st == NATS_NO_RESPONDERS)
        return PUT_FAILED; /* no stream leader heard it: not in the log */
    return resolve(log, expect, id, part, seq);
}

/* One part, tried again while the stream has no leader (an election takes
 * seconds) but most nodes are reachable; without them, at once
 * STORE_NO_QUORUM. */
static put_outcome put_through_elections(ctllog *log, const entry_header *h, unsigned i, const uint8_t *data,
                                         size_t len, int64_t expect, int64_t *seq)
{
    int64_t deadline = clock_mono_ms() + CTLLOG_ELECTION_WAIT_MS;
    for (;;) {
        put_outcome outcome = put(log, h, i, data, len, expect, seq);
        if (outcome == PUT_OK || outcome == PUT_STALE || !ctllog_quorum(log) || clock_mono_ms() >= deadline ||
            ctllog_stopping(log))
            return outcome;
        struct timespec pause = {0, ELECTION_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int64_t ctllog_expected_last(ctllog *log, int64_t at)
{
    pthread_mutex_lock(&log->lock);
    int64_t expect = log->pending_first == at + 1 ? log->pending_last : at;
    pthread_mutex_unlock(&log->lock);
    return expect;
}

static store_status stale(ctllog *log)
{
    int64_t last = ctllog_last_seq(log);
    if (last < 0)
        return STORE_NO_QUORUM;
    ctllog_wait_caught_up(log, last, STALE_WAIT_MS);
    return STORE_STALE;
}

store_status ctllog_put_entry(ctllog *log, int64_t expect, const void *entry, size_t len, bool base, int64_t *seq)
{
    uint8_t raw[16];
    entry_header h = {.base = base};
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(h.id, sizeof h.id, raw, sizeof raw);
    size_t part_max = log->cfg.part_max;
    h.n = len ? (unsigned)((len + part_max - 1) / part_max) : 1; /* an empty base is one empty part */
    *seq = expect;
    for (unsigned i = 1; i <= h.n; i++) {
        size_t off = (i - 1) * part_max, chunk = len - off < part_max ? len - off : part_max;
        put_outcome outcome = put_through_elections(log, &h, i, (const uint8_t *)entry + off, chunk, *seq, seq);
        if (outcome == PUT_STALE)
            return STORE_STALE;
        if (outcome == PUT_UNKNOWN)
            log_event(LOG_WARN, "bus_log_unknown", "entry=%s detail=\"the bus log did not confirm an append and "
                      "cannot be read back: the change may still take effect\"", h.id);
        if (outcome != PUT_OK)
            return STORE_NO_QUORUM;
    }
    return STORE_OK;
}

static store_status append(void *ctx, int64_t at, const void *entry, size_t len)
{
    ctllog *log = ctx;
    if (log->diverged)
        return STORE_ERROR;
    if (!ctllog_quorum(log) || (!ctllog_is_ready(log) && ctllog_wait_ready(log, CTLLOG_PUBLISH_TIMEOUT_MS) != 0))
        return STORE_NO_QUORUM;
    if (at < 1) /* not even the first entry was applied when the change was made */
        return stale(log);
    int64_t seq;
    store_status status = ctllog_put_entry(log, ctllog_expected_last(log, at), entry, len, false, &seq);
    if (status == STORE_STALE)
        return stale(log);
    if (status != STORE_OK)
        return status;
    if (ctllog_wait_applied(log, seq, CTLLOG_APPLY_TIMEOUT_MS) == 0)
        return STORE_OK;
    log_event(LOG_ERROR, "bus_log_apply_slow", "seq=%lld detail=\"appended but not applied here within %d ms\"",
              (long long)seq, CTLLOG_APPLY_TIMEOUT_MS);
    return STORE_ERROR;
}

store_log_writer ctllog_writer(ctllog *log)
{
    return (store_log_writer){append, log};
}
