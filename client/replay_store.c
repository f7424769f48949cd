#include "replay_store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#define MAGIC "unibus-replay-1\n"
#define MAGIC_LEN (sizeof MAGIC - 1)
#define RECORD_LEN 64 /* sender 32, session 16, sequence 8 BE, newest sender time 8 BE */
#define QUEUE_MAX 64
#define FLUSH_EVERY 1024         /* admitted messages: bounds what a crash can lose under load */
#define COMPACT_BYTES (1 << 20)  /* appended by this process before it rewrites the file, at least */
#define MIN_SLOTS 1024

typedef struct {
    uint8_t id[48];     /* sender, session */
    uint64_t last;      /* highest sequence seen */
    uint64_t newest_ms; /* newest sender time seen; 0: a free slot */
    bool queued;
} slot;

/* Open addressing, linear probing, at most half full; a rebuild forgets
 * the sessions whose newest message has left the window. */
typedef struct {
    slot *slots;
    size_t cap, count;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
} table;

struct replay_store {
    table mem;
    int fd;
    uint32_t queue[QUEUE_MAX]; /* slots waiting to be written */
    size_t queued;
    size_t admitted;           /* since the last write */
    size_t appended;           /* bytes since the last rewrite */
    size_t rewritten;          /* the file's size after it: rewrites cost at most what was appended */
};

static bool expired(uint64_t newest_ms, int64_t now_ms)
{
    return (int64_t)newest_ms + REPLAY_WINDOW_MS < now_ms;
}

static bool table_init(table *t, size_t cap)
{
    t->slots = calloc(cap, sizeof *t->slots);
    t->cap = cap;
    t->count = 0;
    randombytes_buf(t->hash_key, sizeof t->hash_key);
    return t->slots != NULL;
}

/* The slot holding id, or the free one where it would go. */
static slot *lookup(const table *t, const uint8_t id[48])
{
    uint64_t hash;
    crypto_shorthash((unsigned char *)&hash, id, 48, t->hash_key);
    for (size_t i = hash & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
        if (!t->slots[i].newest_ms || memcmp(t->slots[i].id, id, 48) == 0)
            return &t->slots[i];
}

/* Room for one more session: the live ones moved to a table sized for
 * them (twice as large when more than a quarter full, up to the cap). */
static bool make_room(table *t, int64_t now_ms)
{
    if (2 * (t->count + 1) <= t->cap)
        return true;
    size_t live = 0;
    for (size_t i = 0; i < t->cap; i++)
        live += t->slots[i].newest_ms && !expired(t->slots[i].newest_ms, now_ms);
    size_t cap = 4 * (live + 1) > t->cap && t->cap < 2 * REPLAY_MAX_SESSIONS ? 2 * t->cap : t->cap;
    table fresh;
    if (2 * (live + 1) > cap || !table_init(&fresh, cap))
        return false;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].newest_ms && !expired(t->slots[i].newest_ms, now_ms)) {
            *lookup(&fresh, t->slots[i].id) = t->slots[i];
            fresh.count++;
        }
    free(t->slots);
    *t = fresh;
    return true;
}

/* Raises id's entry to (last, newest_ms), creating it; NULL when full. */
static slot *remember(table *t, const uint8_t id[48], uint64_t last, uint64_t newest_ms, int64_t now_ms)
{
    slot *s = lookup(t, id);
    if (!s->newest_ms) {
        if (!make_room(t, now_ms))
            return NULL;
        s = lookup(t, id);
        memcpy(s->id, id, 48);
        s->last = 0;
        t->count++;
    }
    if (last > s->last)
        s->last = last;
    if (newest_ms > s->newest_ms)
        s->newest_ms = newest_ms;
    return s;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void encode(const slot *s, uint8_t out[RECORD_LEN])
{
    memcpy(out, s->id, 48);
    put_be64(out + 48, s->last);
    put_be64(out + 56, s->newest_ms);
}

/* Every whole record in the file that is still live goes into t.  A torn
 * last record (a crash mid-write) is ignored; the rewrite drops it. */
static bool load(int fd, table *t, int64_t now_ms)
{
    uint8_t magic[MAGIC_LEN], rec[RECORD_LEN];
    ssize_t n = pread(fd, magic, MAGIC_LEN, 0);
    if (n == 0)
        return true;
    if (n != (ssize_t)MAGIC_LEN || memcmp(magic, MAGIC, MAGIC_LEN) != 0)
        return false;
    FILE *f = fdopen(dup(fd), "rb");
    if (!f || fseeko(f, MAGIC_LEN, SEEK_SET) != 0) {
        if (f)
            fclose(f);
        return false;
    }
    while (fread(rec, 1, RECORD_LEN, f) == RECORD_LEN) {
        uint64_t newest = get_be64(rec + 56);
        if (newest && !expired(newest, now_ms))
            remember(t, rec, get_be64(rec + 48), newest, now_ms);
    }
    fclose(f);
    return true;
}

static bool write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* The file becomes the magic line and t's live entries; its new size.
 * Under LOCK_EX. */
static size_t rewrite(int fd, const table *t, int64_t now_ms)
{
    uint8_t buf[QUEUE_MAX * RECORD_LEN];
    size_t used = 0;
    size_t total = MAGIC_LEN;
    if (ftruncate(fd, 0) != 0 || !write_all(fd, (const uint8_t *)MAGIC, MAGIC_LEN))
        return 0;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].newest_ms || expired(t->slots[i].newest_ms, now_ms))
            continue;
        encode(&t->slots[i], buf + used);
        used += RECORD_LEN;
        total += RECORD_LEN;
        if (used == sizeof buf) {
            write_all(fd, buf, used);
            used = 0;
        }
    }
    write_all(fd, buf, used);
    return total;
}

/* Other processes append under LOCK_SH; this reads everything they wrote
 * (not into this process's memory: see dev/message-envelope.md) and
 * rewrites the file with only what is live. */
static void compact(replay_store *s, int64_t now_ms)
{
    table all;
    if (!table_init(&all, MIN_SLOTS))
        return;
    flock(s->fd, LOCK_EX);
    if (load(s->fd, &all, now_ms))
        s->rewritten = rewrite(s->fd, &all, now_ms);
    flock(s->fd, LOCK_UN);
    free(all.slots);
    s->appended = 0;
}

static unibus_status refuse(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static unibus_status refuse(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return UNIBUS_ERR_CONFIG;
}

/* The file is ours, 0600, in a directory only we (or root) can write. */
static unibus_status check_place(int fd, const char *path, char *why, size_t why_len)
{
    struct stat f, d;
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    if (fstat(fd, &f) != 0 || !S_ISREG(f.st_mode) || f.st_uid != geteuid() || (f.st_mode & 077))
        return refuse(why, why_len, "replay record %s: must be a regular file of yours with mode 0600 (chmod 600 it)",
                      path);
    if (stat(dir, &d) != 0 || (d.st_uid != geteuid() && d.st_uid != 0) || (d.st_mode & 022))
        return refuse(why, why_len, "replay record %s: its directory %s must be writable by you alone (chmod 700)",
                      path, dir);
    return UNIBUS_OK;
}

unibus_status replay_store_open(const char *path, int64_t now_ms, replay_store **out, char *why, size_t why_len)
{
    *out = NULL;
    replay_store *s = calloc(1, sizeof *s);
    if (!s || !table_init(&s->mem, MIN_SLOTS)) {
        free(s);
        return UNIBUS_ERR_NOMEM;
    }
    s->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    unibus_status st = s->fd < 0 ? refuse(why, why_len, "cannot open the replay record %s: %s", path, strerror(errno))
                                 : check_place(s->fd, path, why, why_len);
    if (st == UNIBUS_OK) {
        flock(s->fd, LOCK_EX);
        if (load(s->fd, &s->mem, now_ms))
            s->rewritten = rewrite(s->fd, &s->mem, now_ms);
        else
            st = refuse(why, why_len, "%s is not a unibus replay record: move it away", path);
        flock(s->fd, LOCK_UN);
    }
    if (st != UNIBUS_OK) {
        replay_store_close(s);
        return st;
    }
    *out = s;
    return UNIBUS_OK;
}

static void write_queue(replay_store *s)
{
    if (!s->queued)
        return;
    uint8_t buf[QUEUE_MAX * RECORD_LEN];
    for (size_t i = 0; i < s->queued; i++) {
        slot *sl = &s->mem.slots[s->queue[i]];
        encode(sl, buf + i * RECORD_LEN);
        sl->queued = false;
    }
    /* Appends are atomic against each other (O_APPEND, one write); the
     * shared lock only keeps them out of a rewrite in progress. */
    flock(s->fd, LOCK_SH);
    write_all(s->fd, buf, s->queued * RECORD_LEN);
    flock(s->fd, LOCK_UN);
    s->appended += s->queued * RECORD_LEN;
    s->queued = 0;
    s->admitted = 0;
}

void replay_store_flush(replay_store *s, int64_t now_ms)
{
    write_queue(s);
    if (s->appended > COMPACT_BYTES && s->appended > s->rewritten)
        compact(s, now_ms);
}

unibus_status replay_store_admit(replay_store *s, const uint8_t sender[32], const uint8_t session[16],
                                 uint64_t sequence, uint64_t time_ms, int64_t now_ms)
{
    if ((int64_t)time_ms < now_ms - REPLAY_WINDOW_MS || (int64_t)time_ms > now_ms + REPLAY_SKEW_MS)
        return UNIBUS_ERR_STALE;
    uint8_t id[48];
    memcpy(id, sender, 32);
    memcpy(id + 32, session, 16);
    slot *found = lookup(&s->mem, id);
    if (found->newest_ms && sequence <= found->last)
        return UNIBUS_ERR_REPLAY;
    if (!found->newest_ms && s->mem.count + 1 > s->mem.cap / 2)
        replay_store_flush(s, now_ms); /* the queue holds slot numbers, which a rebuild moves */
    slot *sl = remember(&s->mem, id, sequence, time_ms, now_ms);
    if (!sl)
        return UNIBUS_ERR_RATE_LIMITED;
    if (!sl->queued) {
        sl->queued = true;
        s->queue[s->queued++] = (uint32_t)(sl - s->mem.slots);
    }
    if (s->queued == QUEUE_MAX || ++s->admitted >= FLUSH_EVERY)
        replay_store_flush(s, now_ms);
    return UNIBUS_OK;
}

void replay_store_close(replay_store *s)
{
    if (!s)
        return;
    if (s->fd >= 0) {
        write_queue(s);
        close(s->fd);
    }
    free(s->mem.slots);
    free(s);
}
