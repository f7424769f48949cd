#include "replay_store.h"
#include "config_error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "embedded/clock.h"

#define MAGIC "unibus-replay-2\n"
#define MAGIC_V1 "unibus-replay-1\n" /* keyed by (sender, session) only: ignored, rewritten */
#define MAGIC_LEN (sizeof MAGIC - 1)
#define ID_LEN 97      /* room 16, kind 1, answers 32, sender 32, session 16: a replay_key */
#define RECORD_LEN 113 /* the id, sequence 8 BE, newest sender time 8 BE */
#define QUEUE_MAX 1024           /* sessions waiting to be written */
#define WRITE_EVERY_MS 10        /* what a crash can lose: the records of the last 10 ms */
#define COMPACT_BYTES (1 << 20)  /* appended by this process before it rewrites the file, at least */
#define MIN_SLOTS 1024
#define ROOM_RESCAN_MS 1000      /* a full room is rescanned at most this often */

_Static_assert(sizeof(replay_key) == ID_LEN, "replay_key is its bytes");

typedef struct {
    uint8_t id[ID_LEN];  /* a replay_key; its room first */
    uint64_t last;       /* highest sequence seen */
    uint64_t newest_ms;  /* newest sender time seen; 0: a free slot */
    uint64_t queued_gen; /* queue generation holding its record, at queued_at */
    uint32_t queued_at;
} slot;

/* How many slots a room holds, and when it may take a new session again. */
typedef struct {
    uint8_t room[16];
    size_t count;
    int64_t full_until_ms;
} room_count;

/* Open addressing, linear probing, at most half full; a rebuild forgets
 * the sessions whose newest message has left the window.  An expired slot
 * still in the table counts as absent. */
typedef struct {
    slot *slots;
    size_t cap, count;
    int64_t full_until_ms; /* full of live sessions: no new one before the oldest expires */
    room_count *rooms;     /* a client's rooms are few: searched in turn, for new sessions only */
    size_t nrooms;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
} table;

/* The message path only encodes records into the queue; a writer thread
 * appends the queue to the file every WRITE_EVERY_MS, so receiving makes
 * no system call. */
struct replay_store {
    table mem;                 /* the caller's thread only */
    char *path;
    int fd;                    /* the writer's once open returns */
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t lock;      /* the fields below, between the two */
    pthread_cond_t queued_cv, taken_cv;
    uint8_t queue[QUEUE_MAX * RECORD_LEN];
    size_t queued;
    uint64_t generation;       /* bumped each time the writer takes the queue */
    int64_t last_now_ms;       /* the clock of the latest admit, for rewrites */
    bool stopping;
    size_t appended;           /* the writer's: bytes since the last rewrite */
    size_t rewritten;          /* the file's size after it: rewrites cost at most what was appended */
};

static bool expired(uint64_t newest_ms, int64_t now_ms)
{
    return (int64_t)newest_ms + REPLAY_WINDOW_MS < now_ms;
}

static bool live(const slot *s, int64_t now_ms)
{
    return s->newest_ms && !expired(s->newest_ms, now_ms);
}

static bool table_init(table *t, size_t cap)
{
    *t = (table){.slots = calloc(cap, sizeof(slot)), .cap = cap};
    randombytes_buf(t->hash_key, sizeof t->hash_key);
    return t->slots != NULL;
}

static void table_free(table *t)
{
    free(t->slots);
    free(t->rooms);
}

/* The slot holding id, or the free one where it would go. */
static slot *lookup(const table *t, const uint8_t id[ID_LEN])
{
    uint64_t hash;
    crypto_shorthash((unsigned char *)&hash, id, ID_LEN, t->hash_key);
    for (size_t i = hash & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
        if (!t->slots[i].newest_ms || memcmp(t->slots[i].id, id, ID_LEN) == 0)
            return &t->slots[i];
}

/* The count of room (the first 16 bytes of an id), added when new. */
static room_count *room_of(table *t, const uint8_t room[16])
{
    for (size_t i = 0; i < t->nrooms; i++)
        if (memcmp(t->rooms[i].room, room, 16) == 0)
            return &t->rooms[i];
    room_count *more = realloc(t->rooms, (t->nrooms + 1) * sizeof *more);
    if (!more)
        return NULL;
    t->rooms = more;
    more[t->nrooms] = (room_count){.count = 0};
    memcpy(more[t->nrooms].room, room, 16);
    return &more[t->nrooms++];
}

/* t's live entries moved to a fresh table of cap slots (counts rebuilt). */
static bool rebuild(table *t, size_t cap, int64_t now_ms)
{
    table fresh;
    if (!table_init(&fresh, cap))
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!live(&t->slots[i], now_ms))
            continue;
        room_count *rc = room_of(&fresh, t->slots[i].id);
        if (!rc) {
            table_free(&fresh);
            return false;
        }
        *lookup(&fresh, t->slots[i].id) = t->slots[i];
        fresh.count++;
        rc->count++;
    }
    for (size_t i = 0; i < fresh.nrooms; i++) /* when each full room may be scanned again */
        fresh.rooms[i].full_until_ms = room_of(t, fresh.rooms[i].room)->full_until_ms;
    table_free(t);
    *t = fresh;
    return true;
}

/* The newest time of the oldest live entry (of room, or of all when NULL). */
static uint64_t oldest_live(const table *t, const uint8_t *room, int64_t now_ms, size_t *n)
{
    uint64_t oldest = UINT64_MAX;
    *n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (live(&t->slots[i], now_ms) && (!room || memcmp(t->slots[i].id, room, 16) == 0)) {
            ++*n;
            oldest = t->slots[i].newest_ms < oldest ? t->slots[i].newest_ms : oldest;
        }
    return oldest;
}

/* Room for one more session: the live ones moved to a table sized for
 * them (twice as large when more than a quarter full, up to the cap). */
static bool make_room(table *t, int64_t now_ms)
{
    if (2 * (t->count + 1) <= t->cap)
        return true;
    if (now_ms < t->full_until_ms)
        return false; /* a flood of new sessions costs no scan each */
    size_t n;
    uint64_t oldest = oldest_live(t, NULL, now_ms, &n);
    size_t cap = 4 * (n + 1) > t->cap && t->cap < 2 * REPLAY_MAX_SESSIONS ? 2 * t->cap : t->cap;
    if (2 * (n + 1) > cap) {
        t->full_until_ms = (int64_t)oldest + REPLAY_WINDOW_MS + 1;
        return false;
    }
    return rebuild(t, cap, now_ms);
}

/* Room for one more session of room, whose count it returns: at most
 * REPLAY_ROOM_MAX_SESSIONS, so the members of one room cannot fill the
 * record for every other.  NULL when full. */
static room_count *make_room_in(table *t, const uint8_t room[16], int64_t now_ms)
{
    room_count *rc = room_of(t, room);
    if (!rc || rc->count < REPLAY_ROOM_MAX_SESSIONS)
        return rc;
    if (now_ms < rc->full_until_ms)
        return NULL;
    size_t n;
    uint64_t oldest = oldest_live(t, room, now_ms, &n);
    /* The next scan: not before the oldest can expire, nor within a second,
     * so a room its members keep full costs one rebuild a second at most. */
    int64_t next = (int64_t)oldest + REPLAY_WINDOW_MS + 1;
    next = next > now_ms + ROOM_RESCAN_MS ? next : now_ms + ROOM_RESCAN_MS;
    if (n < REPLAY_ROOM_MAX_SESSIONS && !rebuild(t, t->cap, now_ms)) /* drops the room's expired entries */
        return NULL;
    rc = room_of(t, room);
    if (rc)
        rc->full_until_ms = next; /* consulted only once the room is full again */
    return n < REPLAY_ROOM_MAX_SESSIONS ? rc : NULL;
}

/* A session's highest sequence and newest sender time, raised. */
static void raise_marks(slot *s, uint64_t last, uint64_t newest_ms)
{
    if (last > s->last)
        s->last = last;
    if (newest_ms > s->newest_ms)
        s->newest_ms = newest_ms;
}

/* Raises id's entry to (last, newest_ms), creating it (or renewing an
 * expired one in place); NULL when full.  What the file holds is loaded
 * past a room's share (several processes may each have taken a share):
 * forgetting it would reopen its replays. */
static slot *remember(table *t, const uint8_t id[ID_LEN], uint64_t last, uint64_t newest_ms, int64_t now_ms,
                      bool room_share)
{
    slot *s = lookup(t, id);
    if (s->newest_ms && !live(s, now_ms)) {
        s->last = 0;
        s->newest_ms = 1; /* absent, but still counted: raised below */
    }
    if (!s->newest_ms) {
        room_count *rc = !make_room(t, now_ms) ? NULL : room_share ? make_room_in(t, id, now_ms) : room_of(t, id);
        if (!rc)
            return NULL;
        s = lookup(t, id);
        memcpy(s->id, id, ID_LEN);
        s->last = 0;
        t->count++;
        rc->count++;
    }
    raise_marks(s, last, newest_ms);
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
    memcpy(out, s->id, ID_LEN);
    put_be64(out + ID_LEN, s->last);
    put_be64(out + ID_LEN + 8, s->newest_ms);
}

/* Every whole record in the file that is still live goes into t.  A torn
 * last record (a crash mid-write) is ignored; the rewrite drops it.  A
 * version 1 file is read as empty: its records name no room or kind. */
static bool load(int fd, table *t, int64_t now_ms)
{
    uint8_t magic[MAGIC_LEN], rec[RECORD_LEN];
    ssize_t n = pread(fd, magic, MAGIC_LEN, 0);
    if (n == 0)
        return true;
    if (n == (ssize_t)MAGIC_LEN && memcmp(magic, MAGIC_V1, MAGIC_LEN) == 0)
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
        uint64_t newest = get_be64(rec + ID_LEN + 8);
        if (newest && !expired(newest, now_ms))
            remember(t, rec, get_be64(rec + ID_LEN), newest, now_ms, false);
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

/* The magic line and t's live entries into fd; their size, or 0. */
static size_t write_records(int fd, const table *t, int64_t now_ms)
{
    uint8_t buf[QUEUE_MAX * RECORD_LEN];
    size_t used = 0, total = MAGIC_LEN;
    bool ok = write_all(fd, (const uint8_t *)MAGIC, MAGIC_LEN);
    for (size_t i = 0; ok && i < t->cap; i++) {
        if (!live(&t->slots[i], now_ms))
            continue;
        encode(&t->slots[i], buf + used);
        used += RECORD_LEN;
        total += RECORD_LEN;
        if (used == sizeof buf) {
            ok = write_all(fd, buf, used);
            used = 0;
        }
    }
    return ok && write_all(fd, buf, used) ? total : 0;
}

static int reopen(const char *path)
{
    return open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
}

/* Locks s's file in mode (LOCK_SH, LOCK_EX), first following it to the
 * file now at s->path: a rewrite by another process renames a new one
 * there, and what is written to the old one would be lost. */
static bool lock_current(replay_store *s, int mode)
{
    for (;;) {
        struct stat have, now;
        flock(s->fd, mode);
        if (fstat(s->fd, &have) == 0 && stat(s->path, &now) == 0 && have.st_ino == now.st_ino &&
            have.st_dev == now.st_dev)
            return true;
        int fresh = reopen(s->path);
        if (fresh < 0) {
            flock(s->fd, LOCK_UN);
            return false;
        }
        close(s->fd); /* and its lock */
        s->fd = fresh;
    }
}

/* The file replaced by one holding t's live entries: written beside it and
 * renamed over it, so a crash leaves the old file or the new one, never a
 * part.  Called holding LOCK_EX on the current file; the old descriptor
 * (and so the lock) is gone when it returns, or kept, locked, on failure. */
static void replace_file(replay_store *s, const table *t, int64_t now_ms)
{
    char next[PATH_MAX + 8];
    snprintf(next, sizeof next, "%s.new", s->path);
    int out = open(next, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    size_t size = out >= 0 ? write_records(out, t, now_ms) : 0;
    if (out >= 0)
        close(out);
    int fresh = size && rename(next, s->path) == 0 ? reopen(s->path) : -1;
    if (fresh < 0) {
        unlink(next);
        return;
    }
    close(s->fd);
    s->fd = fresh;
    s->rewritten = size;
}

/* Other processes append under LOCK_SH; this reads everything they wrote
 * (not into this process's memory: see dev/message-envelope.md) and
 * replaces the file with only what is live. */
static void compact(replay_store *s, int64_t now_ms)
{
    table all;
    if (!table_init(&all, MIN_SLOTS))
        return;
    if (lock_current(s, LOCK_EX)) {
        if (load(s->fd, &all, now_ms))
            replace_file(s, &all, now_ms);
        flock(s->fd, LOCK_UN);
    }
    table_free(&all);
    s->appended = 0;
}

/* Appends are atomic against each other (O_APPEND, one write); the shared
 * lock only keeps them out of a rewrite in progress. */
static void append(replay_store *s, const uint8_t *records, size_t n, int64_t now_ms)
{
    if (!lock_current(s, LOCK_SH))
        return;
    write_all(s->fd, records, n * RECORD_LEN);
    flock(s->fd, LOCK_UN);
    s->appended += n * RECORD_LEN;
    if (s->appended > COMPACT_BYTES && s->appended > s->rewritten)
        compact(s, now_ms);
}

/* Waits for records, lets WRITE_EVERY_MS of them gather, takes the queue
 * and appends it; at stop, writes what is left. */
static void *writer_main(void *arg)
{
    replay_store *s = arg;
    uint8_t batch[QUEUE_MAX * RECORD_LEN];
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->queued && !s->stopping)
            pthread_cond_wait(&s->queued_cv, &s->lock);
        if (!s->queued)
            break;
        if (!s->stopping && s->queued < QUEUE_MAX) /* a full queue signals: enqueue waits for it */
            { /* cv runs on CLOCK_MONOTONIC: a wall-clock step does not stretch the wait */
                struct timespec until = clock_deadline_in(WRITE_EVERY_MS);
                pthread_cond_timedwait(&s->queued_cv, &s->lock, &until);
            }
        size_t n = s->queued;
        int64_t now_ms = s->last_now_ms;
        memcpy(batch, s->queue, n * RECORD_LEN);
        s->queued = 0;
        s->generation++;
        pthread_cond_broadcast(&s->taken_cv);
        pthread_mutex_unlock(&s->lock);
        append(s, batch, n, now_ms);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* sl's record into the queue: one per session and batch, however many of
 * its messages arrive in the batch. */
static void enqueue(replay_store *s, slot *sl, int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    while (sl->queued_gen != s->generation && s->queued == QUEUE_MAX) {
        pthread_cond_signal(&s->queued_cv);
        pthread_cond_wait(&s->taken_cv, &s->lock);
    }
    if (sl->queued_gen != s->generation) {
        sl->queued_gen = s->generation;
        sl->queued_at = (uint32_t)s->queued++;
        if (s->queued == 1)
            pthread_cond_signal(&s->queued_cv);
    }
    encode(sl, s->queue + (size_t)sl->queued_at * RECORD_LEN);
    s->last_now_ms = now_ms;
    pthread_mutex_unlock(&s->lock);
}


/* The file is ours, 0600, in a directory only we (or root) can write. */
static unibus_status check_place(int fd, const char *path, char *why, size_t why_len)
{
    struct stat f, d;
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    unsigned me = (unsigned)geteuid();
    bool regular = fstat(fd, &f) == 0 && S_ISREG(f.st_mode);
    if (regular && f.st_uid != me)
        return config_refused(why, why_len, "replay record %s is owned by uid %u, not by you (uid %u): its owner could "
                      "rewrite it; if it is yours, fix with: chown %u %s", path, (unsigned)f.st_uid, me, me, path);
    if (!regular || (f.st_mode & 077))
        return config_refused(why, why_len, "replay record %s: must be a regular file of yours with mode 0600 (chmod 600 it)",
                      path);
    if (stat(dir, &d) != 0 || (d.st_uid != me && d.st_uid != 0) || (d.st_mode & 022))
        return config_refused(why, why_len, "replay record %s: its directory %s must be yours or root's and writable by you "
                      "alone (chmod 700)", path, dir);
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
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->queued_cv, &monotonic);
    pthread_cond_init(&s->taken_cv, NULL);
    pthread_condattr_destroy(&monotonic);
    s->generation = 1; /* slots start at 0: queued in no batch */
    s->path = strdup(path);
    s->fd = s->path ? open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
    unibus_status st = s->fd < 0 ? config_refused(why, why_len, "cannot open the replay record %s: %s", path, strerror(errno))
                                 : check_place(s->fd, path, why, why_len);
    if (st == UNIBUS_OK && !lock_current(s, LOCK_EX))
        st = config_refused(why, why_len, "cannot reopen the replay record %s: %s", path, strerror(errno));
    else if (st == UNIBUS_OK) {
        if (load(s->fd, &s->mem, now_ms))
            replace_file(s, &s->mem, now_ms);
        else
            st = config_refused(why, why_len, "%s is not a unibus replay record: move it away", path);
        flock(s->fd, LOCK_UN);
    }
    if (st == UNIBUS_OK && pthread_create(&s->writer, NULL, writer_main, s) != 0)
        st = UNIBUS_ERR_NOMEM;
    s->writer_started = st == UNIBUS_OK;
    if (st != UNIBUS_OK) {
        replay_store_close(s);
        return st;
    }
    *out = s;
    return UNIBUS_OK;
}

unibus_status replay_store_admit(replay_store *s, const replay_key *key, uint64_t sequence, uint64_t time_ms,
                                 int64_t now_ms)
{
    if ((int64_t)time_ms < now_ms - REPLAY_WINDOW_MS || (int64_t)time_ms > now_ms + REPLAY_SKEW_MS)
        return UNIBUS_ERR_STALE;
    const uint8_t *id = (const uint8_t *)key;
    slot *sl = lookup(&s->mem, id);
    bool known = live(sl, now_ms);
    if (known && sequence <= sl->last)
        return UNIBUS_ERR_REPLAY;
    if (known) /* a session already counted: what remember would do, without hashing the key again */
        raise_marks(sl, sequence, time_ms);
    else if (!(sl = remember(&s->mem, id, sequence, time_ms, now_ms, true)))
        return UNIBUS_ERR_RATE_LIMITED;
    enqueue(s, sl, now_ms);
    return UNIBUS_OK;
}

void replay_store_close(replay_store *s)
{
    if (!s)
        return;
    if (s->writer_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->queued_cv);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->writer, NULL);
    }
    if (s->fd >= 0)
        close(s->fd);
    pthread_cond_destroy(&s->queued_cv);
    pthread_cond_destroy(&s->taken_cv);
    pthread_mutex_destroy(&s->lock);
    table_free(&s->mem);
    free(s->path);
    free(s);
}
