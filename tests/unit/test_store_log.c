/* The store's side of the bus log (dev/control-log.md): a change made on a
 * known state becomes an entry; entries apply in order, exactly once, on
 * every node; a change made on a stale state is made again; a diverged
 * store writes nothing; local tables never travel.  The "log" here is an
 * array in memory; tests/interop/cluster_log.mjs runs it on JetStream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>
#include "membershipd/store/store.h"
#include "membershipd/store/store_log.h"
#include "membershipd/store/store_pki.h"
#include "membershipd/store/schema.h"
#include <sys/stat.h>
#include "testutil.h"

#define MAX_ENTRIES 64

typedef struct {
    void *data;
    size_t len;
    bool base;
} entry;

/* Two nodes' stores and the log they share. */
typedef struct {
    char dir[PATH_MAX];
    store *a, *b;
    entry log[MAX_ENTRIES];
    int64_t n;
    int stale_answers; /* how many appends to refuse as stale first */
} world;

static const store_actor ADMIN = {"local:test", NULL, NULL};

static store *open_store(const world *w, const char *name)
{
    char path[PATH_MAX + 64], err[512];
    snprintf(path, sizeof path, "%s/%s.db", w->dir, name);
    store *s = NULL;
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s, err, sizeof err), STORE_OK);
    return s;
}

/* Brings s up to the end of the log. */
static void catch_up(world *w, store *s)
{
    int64_t applied;
    assert_int_equal(store_log_applied(s, &applied), STORE_OK);
    for (int64_t seq = applied + 1; seq <= w->n; seq++) {
        const entry *e = &w->log[seq - 1];
        assert_int_equal((e->base ? store_log_apply_base : store_log_apply)(s, seq, seq, e->data, e->len), STORE_OK);
    }
}

typedef struct {
    world *w;
    store *self;
} writer_ctx;

/* What the JetStream writer does: expected-last-sequence, then apply here. */
static store_status append(void *ctx, int64_t at, const void *data, size_t len)
{
    writer_ctx *c = ctx;
    world *w = c->w;
    if (w->stale_answers > 0) {
        w->stale_answers--;
        return STORE_STALE;
    }
    if (at != w->n) {
        catch_up(w, c->self);
        return STORE_STALE;
    }
    assert_true(w->n < MAX_ENTRIES);
    w->log[w->n].data = malloc(len);
    memcpy(w->log[w->n].data, data, len);
    w->log[w->n++].len = len;
    catch_up(w, c->self);
    return STORE_OK;
}

static writer_ctx ctx_a, ctx_b;

static int setup(void **state)
{
    static world w;
    memset(&w, 0, sizeof w);
    test_make_temp_dir(w.dir);
    w.a = open_store(&w, "a");
    w.b = open_store(&w, "b");
    ctx_a = (writer_ctx){&w, w.a};
    ctx_b = (writer_ctx){&w, w.b};
    /* Entry 1: the log's base, a's state (empty), which both take. */
    void *base = NULL;
    assert_int_equal(store_log_snapshot(w.a, &base, &w.log[0].len), STORE_OK);
    w.log[0].data = malloc(w.log[0].len + 1);
    memcpy(w.log[0].data, base ? base : "", w.log[0].len);
    store_log_free(base);
    w.log[0].base = true;
    w.n = 1;
    catch_up(&w, w.a);
    catch_up(&w, w.b);
    store_log_set_writer(w.a, &(store_log_writer){append, &ctx_a});
    store_log_set_writer(w.b, &(store_log_writer){append, &ctx_b});
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    store_close(w->a);
    store_close(w->b);
    for (int64_t i = 0; i < w->n; i++)
        free(w->log[i].data);
    test_remove_tree(w->dir);
    return 0;
}

static void random_key(uint8_t key[32])
{
    randombytes_buf(key, 32);
}

/* Rows of table in node's database, through a connection of its own. */
static int64_t count_in(const world *w, const char *node, const char *table)
{
    char path[PATH_MAX + 64], sql[128];
    snprintf(path, sizeof path, "%s/%s.db", w->dir, node);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

/* A change on one node is the same rows on the other, audit included. */
static void a_change_on_one_node_is_the_same_on_the_other(void **state)
{
    world *w = *state;
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(w->a, "alice", key, STORE_ROLE_ADMIN, &ADMIN), STORE_OK);
    store_user u;
    assert_int_equal(store_user_get_by_name(w->a, "alice", &u), STORE_OK); /* applied before it returned */
    catch_up(w, w->b);
    store_user v;
    assert_int_equal(store_user_get_by_name(w->b, "alice", &v), STORE_OK);
    assert_int_equal(u.id, v.id);
    assert_memory_equal(u.public_key, v.public_key, 32);
    assert_int_equal(u.created_ms, v.created_ms);
    assert_int_equal(count_in(w, "a", "audit_log"), count_in(w, "b", "audit_log"));
    assert_int_equal(w->n, 2);
    int64_t applied;
    assert_int_equal(store_log_applied(w->b, &applied), STORE_OK);
    assert_int_equal(applied, 2);
}

/* An entry applied twice (a restart between apply and ack) is once. */
static void an_entry_applies_exactly_once(void **state)
{
    world *w = *state;
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(w->a, "bob", key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    int64_t audit = count_in(w, "a", "audit_log");
    assert_int_equal(store_log_apply(w->a, 2, 2, w->log[1].data, w->log[1].len), STORE_OK);
    assert_int_equal(count_in(w, "a", "audit_log"), audit);
    assert_int_equal(count_in(w, "a", "users"), 1);
}

/* A sequence skipped (an entry missed) is refused, and nothing written. */
static void a_gap_is_refused(void **state)
{
    world *w = *state;
    uint8_t k1[32], k2[32];
    random_key(k1);
    random_key(k2);
    assert_int_equal(store_user_add(w->a, "u1", k1, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(store_user_add(w->a, "u2", k2, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(store_log_apply(w->b, 3, 3, w->log[2].data, w->log[2].len), STORE_CONFLICT);
    assert_int_equal(count_in(w, "b", "users"), 0);
    int64_t applied;
    assert_int_equal(store_log_applied(w->b, &applied), STORE_OK);
    assert_int_equal(applied, 1);
}

/* Two nodes add the same name at once: the second was made on a state
 * without the first, is refused as stale, made again, and now fails. */
static void a_change_made_on_a_stale_state_is_made_again(void **state)
{
    world *w = *state;
    uint8_t k1[32], k2[32];
    random_key(k1);
    random_key(k2);
    assert_int_equal(store_user_add(w->a, "carol", k1, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    /* b has not applied a's entry: its change is made at 1, refused. */
    assert_int_equal(store_user_add(w->b, "carol", k2, STORE_ROLE_MEMBER, &ADMIN), STORE_DUPLICATE_NAME);
    assert_int_equal(w->n, 2);
    store_user u;
    assert_int_equal(store_user_get_by_name(w->b, "carol", &u), STORE_OK);
    assert_memory_equal(u.public_key, k1, 32);
}

/* A log that stays stale gives up instead of spinning. */
static void a_log_that_stays_stale_gives_up(void **state)
{
    world *w = *state;
    uint8_t k[32];
    random_key(k);
    w->stale_answers = 1000;
    assert_int_equal(store_user_add(w->a, "dan", k, STORE_ROLE_MEMBER, &ADMIN), STORE_BUSY);
    assert_int_equal(count_in(w, "a", "users"), 0);
    w->stale_answers = 0;
}

/* A store that differs from the log (a row the entry would add is there)
 * applies nothing of it and keeps its sequence. */
static void a_diverged_store_writes_nothing(void **state)
{
    world *w = *state;
    uint8_t k[32];
    random_key(k);
    assert_int_equal(store_user_add(w->a, "erin", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    store_log_set_writer(w->b, NULL); /* b written behind the log's back */
    assert_int_equal(store_user_add(w->b, "erin", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    int64_t audit = count_in(w, "b", "audit_log");
    assert_int_equal(store_log_apply(w->b, 2, 2, w->log[1].data, w->log[1].len), STORE_CONFLICT);
    assert_int_equal(count_in(w, "b", "audit_log"), audit);
    int64_t applied;
    assert_int_equal(store_log_applied(w->b, &applied), STORE_OK);
    assert_int_equal(applied, 1);
}

/* Every table an entry names is bus state; the time floor and the log
 * position stay on their node. */
static void local_tables_never_travel(void **state)
{
    world *w = *state;
    uint8_t k[32];
    random_key(k);
    assert_int_equal(store_request_floor_raise(w->a, 123456), STORE_OK);
    assert_int_equal(store_user_add(w->a, "fay", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(store_audit_append(w->a, &ADMIN, "test.alone", "x", "ok"), STORE_OK);
    assert_int_equal(w->n, 3); /* an audit row alone is an entry too */
    for (int64_t i = 0; i < w->n; i++) {
        sqlite3_changeset_iter *it;
        assert_int_equal(sqlite3changeset_start(&it, (int)w->log[i].len, w->log[i].data), SQLITE_OK);
        while (sqlite3changeset_next(it) == SQLITE_ROW) {
            const char *table;
            int ncol, op, indirect;
            assert_int_equal(sqlite3changeset_op(it, &table, &ncol, &op, &indirect), SQLITE_OK);
            assert_string_not_equal(table, "request_time_floor");
            assert_string_not_equal(table, "log_state");
        }
        sqlite3changeset_finalize(it);
    }
    catch_up(w, w->b);
    int64_t floor = -1;
    assert_int_equal(store_request_floor_get(w->b, &floor), STORE_OK);
    assert_int_not_equal(floor, 123456);
}

/* Without a writer, a store is written directly, as a single node's was. */
static void without_a_writer_changes_commit_here(void **state)
{
    world *w = *state;
    uint8_t k[32];
    random_key(k);
    store_log_set_writer(w->a, NULL);
    assert_int_equal(store_user_add(w->a, "gus", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(w->n, 1); /* the base alone */
    assert_int_equal(count_in(w, "a", "users"), 1);
}

/* store's state now, as a base entry (malloc'd copy in e). */
static void snapshot_of(store *st, entry *e)
{
    void *base = NULL;
    assert_int_equal(store_log_snapshot(st, &base, &e->len), STORE_OK);
    e->data = malloc(e->len + 1);
    memcpy(e->data, base ? base : "", e->len);
    store_log_free(base);
    e->base = true;
}

/* A log whose base is a's state with users, rooms and audit rows (the
 * audit log's triggers refuse deletes: the snapshot must not need any). */
static void populated(world *w, entry *base)
{
    uint8_t k[32];
    store_room room;
    store_user hal;
    random_key(k);
    store_log_set_writer(w->a, NULL);
    assert_int_equal(store_user_add(w->a, "hal", k, STORE_ROLE_ADMIN, &ADMIN), STORE_OK);
    random_key(k);
    assert_int_equal(store_user_add(w->a, "ivy", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(store_user_get_by_name(w->a, "hal", &hal), STORE_OK);
    assert_int_equal(store_room_create(w->a, "hall", STORE_ROOM_CLEARTEXT, false, hal.id, 0, NULL, 0, &ADMIN, &room),
                     STORE_OK);
    snapshot_of(w->a, base);
    assert_true(base->len > 0);
}

/* A base tells which CA it holds (a cluster node takes only the bus CA's:
 * ctllog_apply.c); a base without one, or bytes that are not a base, are
 * not mistaken for one that has it. */
static void a_base_names_its_ca(void **state)
{
    world *w = *state;
    entry base;
    char *pem = NULL;
    populated(w, &base);
    assert_int_equal(store_log_base_ca(base.data, base.len, &pem), STORE_NOT_FOUND);
    assert_null(pem);
    free(base.data);
    const uint8_t sealed[4] = {1, 2, 3, 4};
    const char *ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    assert_int_equal(store_ca_put(w->a, "bus.test", ca, sealed, sizeof sealed, &ADMIN), STORE_OK);
    snapshot_of(w->a, &base);
    assert_int_equal(store_log_base_ca(base.data, base.len, &pem), STORE_OK);
    assert_string_equal(pem, ca);
    free(pem);
    assert_int_equal(store_log_base_ca(base.data, 0, &pem), STORE_NOT_FOUND);
    memset(base.data, 0x5a, base.len);
    assert_int_equal(store_log_base_ca(base.data, base.len, &pem), STORE_CONFLICT);
    assert_null(pem);
    free(base.data);
}

static bool based(store *st)
{
    bool b = false;
    assert_int_equal(store_log_based(st, &b), STORE_OK);
    return b;
}

/* A node with an empty store joins: the base gives it every row. */
static void an_empty_store_takes_the_base(void **state)
{
    world *w = *state;
    entry base;
    populated(w, &base);
    store *c = open_store(w, "c");
    assert_false(based(c));
    assert_int_equal(store_log_apply_base(c, 1, 1, base.data, base.len), STORE_OK);
    assert_true(based(c));
    for (const char *const *t = (const char *const[]){"users", "rooms", "room_members", "audit_log", NULL}; *t; t++)
        assert_int_equal(count_in(w, "c", *t), count_in(w, "a", *t));
    store_user u, v;
    assert_int_equal(store_user_get_by_name(w->a, "ivy", &u), STORE_OK);
    assert_int_equal(store_user_get_by_name(c, "ivy", &v), STORE_OK);
    assert_memory_equal(u.public_key, v.public_key, 32);
    assert_int_equal(u.id, v.id);
    store_close(c);
    free(base.data);
}

/* The node whose store made the base takes it back: rows equal, nothing doubled. */
static void the_store_that_made_the_base_takes_it(void **state)
{
    world *w = *state;
    entry base;
    populated(w, &base);
    bool restarted = false;
    assert_int_equal(store_log_follow(w->a, 42, "", &restarted), STORE_OK); /* a new log: it starts again */
    assert_true(restarted);
    int64_t users = count_in(w, "a", "users"), audit = count_in(w, "a", "audit_log");
    assert_int_equal(store_log_apply_base(w->a, 1, 1, base.data, base.len), STORE_OK);
    assert_int_equal(count_in(w, "a", "users"), users);
    assert_int_equal(count_in(w, "a", "audit_log"), audit);
    free(base.data);
}

/* A store holding a row the base lacks is another bus's (or was written
 * before it joined): refused, nothing written, not based. */
static void a_store_with_rows_of_its_own_refuses_the_base(void **state)
{
    world *w = *state;
    entry base;
    populated(w, &base);
    store *c = open_store(w, "c");
    uint8_t k[32];
    random_key(k);
    assert_int_equal(store_user_add(c, "stranger", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    int64_t audit = count_in(w, "c", "audit_log");
    assert_int_equal(store_log_apply_base(c, 1, 1, base.data, base.len), STORE_CONFLICT);
    assert_int_equal(count_in(w, "c", "users"), 1);
    assert_int_equal(count_in(w, "c", "audit_log"), audit);
    assert_false(based(c));
    int64_t applied;
    assert_int_equal(store_log_applied(c, &applied), STORE_OK);
    assert_int_equal(applied, 0);
    store_close(c);
    free(base.data);
}

/* The same primary key with other values: refused. */
static void a_row_that_differs_refuses_the_base(void **state)
{
    world *w = *state;
    entry base;
    populated(w, &base);
    store *c = open_store(w, "c");
    assert_int_equal(store_log_apply_base(c, 1, 1, base.data, base.len), STORE_OK);
    /* c's copy of ivy's row changed behind the log's back, then c is asked to take a base again */
    sqlite3 *db;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/c.db", w->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE users SET name = 'ivy2' WHERE name = 'ivy';"
                                      "UPDATE log_state SET applied_seq = 0, base_seq = 0", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_log_apply_base(c, 1, 1, base.data, base.len), STORE_CONFLICT);
    assert_false(based(c));
    store_close(c);
    free(base.data);
}

/* Before its base a store applies no change (a log whose start it cannot
 * have), and a based store takes no second base. */
static void entries_wait_for_the_base_and_a_base_comes_once(void **state)
{
    world *w = *state;
    store *c = open_store(w, "c");
    uint8_t k[32];
    random_key(k);
    assert_int_equal(store_user_add(w->a, "jo", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(store_log_apply(c, 1, 1, w->log[1].data, w->log[1].len), STORE_CONFLICT);
    assert_int_equal(store_log_apply(c, 1, 1, NULL, 0), STORE_OK); /* a message holding no change moves it on */
    assert_int_equal(store_log_apply_base(w->a, 3, 3, w->log[0].data, w->log[0].len), STORE_CONFLICT);
    store_close(c);
}

/* Compaction (dev/control-log.md): a node writes its state as a new base
 * after the last entry, and the entries before it are purged.  A based
 * store takes that base as its next entry, writing nothing; an empty store
 * joins from it alone, past entries it never saw; a based store that
 * missed entries cannot skip to it. */
static void a_compacted_log_starts_at_a_later_base(void **state)
{
    world *w = *state;
    uint8_t k[32];
    random_key(k);
    assert_int_equal(store_user_add(w->a, "kim", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    catch_up(w, w->b);
    int64_t users = count_in(w, "b", "users"), audit = count_in(w, "b", "audit_log");
    entry *checkpoint = &w->log[w->n];
    snapshot_of(w->a, checkpoint);
    int64_t at = ++w->n;
    store *lagging = open_store(w, "lagging");
    catch_up(w, w->a);
    catch_up(w, w->b);
    assert_int_equal(count_in(w, "b", "users"), users);
    assert_int_equal(count_in(w, "b", "audit_log"), audit);
    int64_t applied;
    assert_int_equal(store_log_applied(w->b, &applied), STORE_OK);
    assert_int_equal(applied, at);

    store *c = open_store(w, "c");
    assert_int_equal(store_log_apply_base(c, at, at, checkpoint->data, checkpoint->len), STORE_OK);
    assert_true(based(c));
    assert_int_equal(count_in(w, "c", "users"), users);
    assert_int_equal(count_in(w, "c", "audit_log"), audit);
    random_key(k);
    assert_int_equal(store_user_add(w->b, "lee", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    catch_up(w, c); /* the entries after the base apply as on any node */
    assert_int_equal(count_in(w, "c", "users"), users + 1);
    store_close(c);

    /* lagging took the first base only: the compacted log skips what it
     * would need, so it refuses the later base rather than skip to it. */
    assert_int_equal(store_log_apply_base(lagging, 1, 1, w->log[0].data, w->log[0].len), STORE_OK);
    assert_int_equal(store_log_apply_base(lagging, at, at, checkpoint->data, checkpoint->len), STORE_CONFLICT);
    store_close(lagging);
}

/* A checkpoint that does not hold this store's state is refused. */
static void a_checkpoint_that_differs_is_refused(void **state)
{
    world *w = *state;
    entry stale;
    snapshot_of(w->a, &stale); /* before kim */
    uint8_t k[32];
    random_key(k);
    assert_int_equal(store_user_add(w->a, "kim", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(store_log_apply_base(w->a, w->n + 1, w->n + 1, stale.data, stale.len), STORE_CONFLICT);
    free(stale.data);
}

/* kim, added and revoked through the log. */
static void add_and_revoke_kim(world *w)
{
    uint8_t k[32];
    store_user kim;
    random_key(k);
    assert_int_equal(store_user_add(w->a, "kim", k, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    assert_int_equal(store_user_get_by_name(w->a, "kim", &kim), STORE_OK);
    assert_int_equal(store_user_revoke(w->a, kim.id, &ADMIN, NULL), STORE_OK);
}

/* What an insider holding a copy of a's store makes of it: the copy
 * changed by sql, as a base. */
static void forged_base(world *w, const char *name, const char *sql, entry *out)
{
    char a_path[PATH_MAX + 64], path[PATH_MAX + 64], vacuum[PATH_MAX + 200], err[512];
    snprintf(a_path, sizeof a_path, "%s/a.db", w->dir);
    snprintf(path, sizeof path, "%s/%s.db", w->dir, name);
    snprintf(vacuum, sizeof vacuum, "VACUUM INTO '%s'", path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(a_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, vacuum, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    chmod(path, 0600);
    store *forger = NULL;
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &forger, err, sizeof err), STORE_OK);
    snapshot_of(forger, out);
    store_close(forger);
}

/* A forged checkpoint whose row counts agree (a revocation undone in a
 * copy of the store) is refused too: a later base is matched row by row
 * (the fifth adversarial pass had every node take one). */
static void a_checkpoint_that_undoes_a_revocation_is_refused(void **state)
{
    world *w = *state;
    entry forged;
    store_user kim;
    add_and_revoke_kim(w);
    forged_base(w, "forged", "UPDATE users SET revoked_at = NULL WHERE name = 'kim'", &forged);
    assert_int_equal(store_log_apply_base(w->a, w->n + 1, w->n + 1, forged.data, forged.len), STORE_CONFLICT);
    assert_int_equal(store_user_get_by_name(w->a, "kim", &kim), STORE_OK);
    assert_true(kim.revoked_ms > 0);
    free(forged.data);
}

/* A base whose users table lacks a column (revoked_at, dropped in a copy
 * of the store) is refused by a store that is based and by an empty one:
 * SQLite would apply it, the missing column taking its default (the sixth
 * adversarial pass made a later joiner's revoked users active so). */
static void a_base_missing_a_column_is_refused(void **state)
{
    world *w = *state;
    entry narrow;
    add_and_revoke_kim(w);
    forged_base(w, "narrow", "ALTER TABLE users DROP COLUMN revoked_at", &narrow);
    assert_int_equal(store_log_apply_base(w->a, w->n + 1, w->n + 1, narrow.data, narrow.len), STORE_CONFLICT);
    store *c = open_store(w, "c");
    assert_int_equal(store_log_apply_base(c, 1, 1, narrow.data, narrow.len), STORE_CONFLICT);
    assert_false(based(c));
    store_close(c);
    free(narrow.data);
}

/* A store that applied entries of a log from before base snapshots
 * (schema 5) counts as based: it has its state, and takes writes. */
static void a_schema_5_store_that_applied_entries_is_based(void **state)
{
    world *w = *state;
    char fresh[PATH_MAX + 64], used[PATH_MAX + 64], err[512];
    const char *paths[] = {fresh, used};
    snprintf(fresh, sizeof fresh, "%s/v5-fresh.db", w->dir);
    snprintf(used, sizeof used, "%s/v5-used.db", w->dir);
    for (int i = 0; i < 2; i++) {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(paths[i], &db), SQLITE_OK);
        for (int v = 1; v <= 5; v++)
            assert_int_equal(sqlite3_exec(db, schema_migration(v), NULL, NULL, NULL), SQLITE_OK);
        if (paths[i] == used)
            assert_int_equal(sqlite3_exec(db, "UPDATE log_state SET applied_seq = 7, attached = 1", NULL, NULL, NULL),
                             SQLITE_OK);
        sqlite3_close(db);
        chmod(paths[i], 0600);
        store *st = NULL;
        assert_int_equal(store_open(paths[i], STORE_OPEN_EXISTING, &st, err, sizeof err), STORE_OK);
        assert_int_equal(based(st), paths[i] == used);
        store_close(st);
    }
}

/* Which log a store follows: one that never applied anything learns it;
 * any other that did not follow it (another log's, one whose log is not
 * known, another cluster's) starts again in it and takes its base. */
static void a_store_starts_again_in_another_log(void **state)
{
    world *w = *state;
    store *fresh = open_store(w, "fresh");
    bool restarted = true;
    assert_int_equal(store_log_follow(fresh, 1001, "bus", &restarted), STORE_OK); /* applied nothing: learns it */
    assert_false(restarted);
    store_close(fresh);
    int64_t applied;
    assert_int_equal(store_log_follow(w->a, 1001, "bus", &restarted), STORE_OK); /* applied the base, log unknown */
    assert_true(restarted);
    assert_int_equal(store_log_applied(w->a, &applied), STORE_OK);
    assert_int_equal(applied, 0);
    assert_false(based(w->a));
    assert_int_equal(store_log_apply_base(w->a, 1, 1, w->log[0].data, w->log[0].len), STORE_OK);
    assert_int_equal(store_log_follow(w->a, 1001, "bus", &restarted), STORE_OK); /* the same log */
    assert_false(restarted);
    assert_true(based(w->a));
    assert_int_equal(store_log_follow(w->a, 1001, "other", &restarted), STORE_OK); /* another cluster's */
    assert_true(restarted);
    assert_int_equal(store_log_apply_base(w->a, 1, 1, w->log[0].data, w->log[0].len), STORE_OK);
    assert_int_equal(store_log_follow(w->a, 2002, "other", &restarted), STORE_OK); /* another log */
    assert_true(restarted);
    int64_t id;
    char cluster[STORE_LOG_CLUSTER_MAX + 1];
    assert_int_equal(store_log_cluster(w->a, &id, cluster), STORE_OK);
    assert_int_equal(id, 2002);
    assert_string_equal(cluster, "other");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_change_on_one_node_is_the_same_on_the_other, setup, teardown),
        cmocka_unit_test_setup_teardown(an_entry_applies_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_gap_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_change_made_on_a_stale_state_is_made_again, setup, teardown),
        cmocka_unit_test_setup_teardown(a_log_that_stays_stale_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(a_diverged_store_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(local_tables_never_travel, setup, teardown),
        cmocka_unit_test_setup_teardown(without_a_writer_changes_commit_here, setup, teardown),
        cmocka_unit_test_setup_teardown(an_empty_store_takes_the_base, setup, teardown),
        cmocka_unit_test_setup_teardown(the_store_that_made_the_base_takes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(a_store_with_rows_of_its_own_refuses_the_base, setup, teardown),
        cmocka_unit_test_setup_teardown(a_row_that_differs_refuses_the_base, setup, teardown),
        cmocka_unit_test_setup_teardown(entries_wait_for_the_base_and_a_base_comes_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_schema_5_store_that_applied_entries_is_based, setup, teardown),
        cmocka_unit_test_setup_teardown(a_store_starts_again_in_another_log, setup, teardown),
        cmocka_unit_test_setup_teardown(a_base_names_its_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(a_compacted_log_starts_at_a_later_base, setup, teardown),
        cmocka_unit_test_setup_teardown(a_checkpoint_that_differs_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_checkpoint_that_undoes_a_revocation_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_base_missing_a_column_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
