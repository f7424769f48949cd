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
#include "testutil.h"

#define MAX_ENTRIES 64

typedef struct {
    void *data;
    size_t len;
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
    for (int64_t seq = applied + 1; seq <= w->n; seq++)
        assert_int_equal(store_log_apply(s, seq, seq, w->log[seq - 1].data, w->log[seq - 1].len), STORE_OK);
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
    assert_int_equal(w->n, 1);
    int64_t applied;
    assert_int_equal(store_log_applied(w->b, &applied), STORE_OK);
    assert_int_equal(applied, 1);
}

/* An entry applied twice (a restart between apply and ack) is once. */
static void an_entry_applies_exactly_once(void **state)
{
    world *w = *state;
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(w->a, "bob", key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    int64_t audit = count_in(w, "a", "audit_log");
    assert_int_equal(store_log_apply(w->a, 1, 1, w->log[0].data, w->log[0].len), STORE_OK);
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
    assert_int_equal(store_log_apply(w->b, 2, 2, w->log[1].data, w->log[1].len), STORE_CONFLICT);
    assert_int_equal(count_in(w, "b", "users"), 0);
    int64_t applied;
    assert_int_equal(store_log_applied(w->b, &applied), STORE_OK);
    assert_int_equal(applied, 0);
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
    /* b has not applied a's entry: its change is made at 0, refused. */
    assert_int_equal(store_user_add(w->b, "carol", k2, STORE_ROLE_MEMBER, &ADMIN), STORE_DUPLICATE_NAME);
    assert_int_equal(w->n, 1);
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
    assert_int_equal(store_log_apply(w->b, 1, 1, w->log[0].data, w->log[0].len), STORE_CONFLICT);
    assert_int_equal(count_in(w, "b", "audit_log"), audit);
    int64_t applied;
    assert_int_equal(store_log_applied(w->b, &applied), STORE_OK);
    assert_int_equal(applied, 0);
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
    assert_int_equal(w->n, 2); /* an audit row alone is an entry too */
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
    assert_int_equal(w->n, 0);
    assert_int_equal(count_in(w, "a", "users"), 1);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
