/* The store: migrations, reopening, file modes, users, audit, locking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>
#include "membershipd/store/schema.h"
#include "membershipd/store/store.h"
#include "testutil.h"

typedef struct {
    char dir[PATH_MAX];
    char path[PATH_MAX + 32];
    store *s;
} fixture;

static const store_actor ADMIN = {"local:test", NULL, NULL};

static int setup(void **state)
{
    static fixture f;
    char err[512];
    test_make_temp_dir(f.dir);
    snprintf(f.path, sizeof f.path, "%s/membership.db", f.dir);
    if (store_open(f.path, STORE_OPEN_CREATE, &f.s, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->s);
    test_remove_tree(f->dir);
    return 0;
}

/* A second, raw SQLite connection to look behind the store's back. */
static sqlite3 *raw_open(const fixture *f)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_count(const fixture *f, const char *sql)
{
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static void random_key(uint8_t key[32])
{
    randombytes_buf(key, 32);
}

static void migrates_from_empty(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_schema_version(f->s), schema_version_latest());
    const char *tables[] = {"users", "rooms", "room_members", "room_keys", "blobs", "audit_log"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE name = '%s'", tables[i]);
        assert_int_equal(raw_count(f, sql), 1);
    }
    assert_int_equal(test_file_mode(f->path), 0600);
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *stmt;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void creates_0600_even_with_a_lax_umask(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX + 16], err[512];
    snprintf(path, sizeof path, "%s/lax.db", f->dir);
    mode_t old = umask(0);
    store *s;
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s, err, sizeof err), STORE_OK);
    umask(old);
    assert_int_equal(test_file_mode(path), 0600);
    store_close(s);
}

static void reopen_keeps_everything(void **state)
{
    fixture *f = *state;
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(f->s, "alice", key, STORE_ROLE_ADMIN, &ADMIN), STORE_OK);
    store_close(f->s);
    char err[512];
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s, err, sizeof err), STORE_OK);
    store_user u;
    assert_int_equal(store_user_get_by_name(f->s, "alice", &u), STORE_OK);
    assert_memory_equal(u.public_key, key, 32);
    assert_int_equal(u.role, STORE_ROLE_ADMIN);
    assert_int_equal(u.revoked_ms, 0);
    assert_int_equal(store_schema_version(f->s), schema_version_latest());
}

static void open_existing_refuses_a_missing_file(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX + 16], err[512];
    snprintf(path, sizeof path, "%s/absent.db", f->dir);
    store *s = NULL;
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &s, err, sizeof err), STORE_MISSING);
    assert_null(s);
    assert_non_null(strstr(err, path));
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0); /* and did not create it */
}

/* A schema-2 database's blobs (content in one column) come out of the
 * migration in chunks, byte for byte, across chunk boundaries. */
static void migration_splits_blob_content_into_chunks(void **state)
{
    fixture *f = *state;
    store_close(f->s);
    f->s = NULL;
    char path[PATH_MAX + 16], err[512];
    snprintf(path, sizeof path, "%s/v2.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    for (int v = 1; v <= 2; v++)
        assert_int_equal(sqlite3_exec(db, schema_migration(v), NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "INSERT INTO users (id, name, public_key, role, created_at) VALUES (1, 'a', zeroblob(32), 'admin', 0);"
        "INSERT INTO rooms (id, name, mode, owner_id, created_at) VALUES ('00000000000000000000000000000001', 'r',"
        " 'e2e', 1, 0);", NULL, NULL, NULL), SQLITE_OK);
    const size_t sizes[] = {0, 1, STORE_BLOB_CHUNK, 2 * STORE_BLOB_CHUNK + 7};
    uint8_t *content[4], hash[4][32];
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO blobs (room_id, sha256, size, owner_id, created_at, content)"
                                            " VALUES ('00000000000000000000000000000001', ?, ?, 1, 0, ?)", -1, &stmt,
                                        NULL), SQLITE_OK);
    for (int i = 0; i < 4; i++) {
        content[i] = malloc(sizes[i] + 1);
        randombytes_buf(content[i], sizes[i]);
        crypto_hash_sha256(hash[i], content[i], sizes[i]);
        sqlite3_bind_blob(stmt, 1, hash[i], 32, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)sizes[i]);
        sqlite3_bind_blob(stmt, 3, content[i], (int)sizes[i], SQLITE_STATIC);
        if (sizes[i] == 0)
            sqlite3_bind_zeroblob(stmt, 3, 0);
        assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    chmod(path, 0600);
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &f->s, err, sizeof err), STORE_OK);
    assert_int_equal(store_schema_version(f->s), schema_version_latest());
    uint8_t *back = malloc(3 * STORE_BLOB_CHUNK);
    for (int i = 0; i < 4; i++) {
        uint64_t size, got = 0;
        assert_int_equal(store_blob_size(f->s, "00000000000000000000000000000001", hash[i], &size), STORE_OK);
        assert_int_equal(size, sizes[i]);
        while (got < size) {
            size_t n;
            assert_int_equal(store_blob_read(f->s, "00000000000000000000000000000001", hash[i], got, back + got,
                                             3 * STORE_BLOB_CHUNK, &n), STORE_OK);
            assert_true(n > 0 && n <= STORE_BLOB_CHUNK);
            got += n;
        }
        assert_int_equal(got, sizes[i]);
        if (sizes[i])
            assert_memory_equal(back, content[i], sizes[i]);
        free(content[i]);
    }
    free(back);
}

static void refuses_a_newer_schema(void **state)
{
    fixture *f = *state;
    sqlite3 *db = raw_open(f);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", schema_version_latest() + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store *s = NULL;
    char err[512];
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s, err, sizeof err), STORE_TOO_NEW);
    assert_non_null(strstr(err, "upgrade membershipd"));
}

static void refuses_an_exposed_database(void **state)
{
    fixture *f = *state;
    chmod(f->path, 0640);
    store *s = NULL;
    char err[512];
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s, err, sizeof err), STORE_ERROR);
    assert_non_null(strstr(err, "chmod 600"));
    chmod(f->path, 0600);
}

static void duplicates_change_nothing(void **state)
{
    fixture *f = *state;
    uint8_t k1[32], k2[32];
    random_key(k1);
    random_key(k2);
    assert_int_equal(store_user_add(f->s, "alice", k1, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    int64_t audit = raw_count(f, "SELECT count(*) FROM audit_log");
    assert_int_equal(store_user_add(f->s, "alice", k2, STORE_ROLE_MEMBER, &ADMIN), STORE_DUPLICATE_NAME);
    assert_int_equal(store_user_add(f->s, "bob", k1, STORE_ROLE_ADMIN, &ADMIN), STORE_DUPLICATE_KEY);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users"), 1);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log"), audit);
    store_user u;
    assert_int_equal(store_user_get_by_name(f->s, "bob", &u), STORE_NOT_FOUND);
}

static void every_change_is_audited(void **state)
{
    fixture *f = *state;
    uint8_t key[32];
    random_key(key);
    store_actor remote = {"UABC", "192.0.2.7", "req-1"};
    assert_int_equal(store_user_add(f->s, "carol", key, STORE_ROLE_ADMIN, &remote), STORE_OK);
    store_user u;
    assert_int_equal(store_user_get_by_key(f->s, key, &u), STORE_OK);
    assert_int_equal(store_user_revoke(f->s, u.id, &ADMIN, NULL), STORE_OK);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log WHERE actor = 'UABC' AND "
                                  "action = 'user.add_admin' AND target = 'user:carol' AND "
                                  "outcome = 'ok' AND peer_ip = '192.0.2.7' AND request_id = 'req-1'"), 1);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log WHERE actor = 'local:test' AND "
                                  "action = 'user.revoke' AND target = 'user:carol'"), 1);
}

static void audit_log_is_append_only(void **state)
{
    fixture *f = *state;
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(f->s, "dave", key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    sqlite3 *db = raw_open(f);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_log SET actor = 'x'", NULL, NULL, NULL), SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_log", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log"), 1);
}

static void revoke_keeps_the_row_and_is_idempotent(void **state)
{
    fixture *f = *state;
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(f->s, "erin", key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    store_user u;
    assert_int_equal(store_user_get_by_name(f->s, "erin", &u), STORE_OK);
    assert_int_equal(store_user_revoke(f->s, u.id, &ADMIN, NULL), STORE_OK);
    assert_int_equal(store_user_revoke(f->s, u.id, &ADMIN, NULL), STORE_ALREADY_REVOKED);
    assert_int_equal(store_user_revoke(f->s, u.id + 1000, &ADMIN, NULL), STORE_NOT_FOUND);
    assert_int_equal(store_user_get_by_name(f->s, "erin", &u), STORE_OK);
    assert_true(u.revoked_ms > 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log WHERE action = 'user.revoke'"), 1);
    /* A revoked key can never come back under another name. */
    assert_int_equal(store_user_add(f->s, "erin2", key, STORE_ROLE_MEMBER, &ADMIN), STORE_DUPLICATE_KEY);
}

static void validates_names(void **state)
{
    fixture *f = *state;
    const char *good[] = {"a", "alice", "Bob.Smith", "x_1-2", "0day",
                          "z234567890123456789012345678901234567890123456789012345678901234"};
    const char *bad[] = {"", "-alice", ".a", "_a", "al ice", "al/ice", "al\nice", "é",
                         "a2345678901234567890123456789012345678901234567890123456789012345",
                         "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y",
                         "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK",
                         "46ae8f0fcb836e00d9e26c4a3ea40d7bcd42defb5de1725a42951587518f9c4a"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(store_user_name_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t key[32];
        random_key(key);
        assert_false(store_user_name_valid(bad[i]));
        assert_int_equal(store_user_add(f->s, bad[i], key, STORE_ROLE_MEMBER, &ADMIN), STORE_INVALID_NAME);
    }
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users"), 0);
}

static int collect_names(const store_user *u, void *ctx)
{
    strcat(ctx, u->name);
    strcat(ctx, ",");
    return 0;
}

static int stop_at_first(const store_user *u, void *ctx)
{
    (void)u;
    ++*(int *)ctx;
    return 1;
}

static void lists_in_creation_order(void **state)
{
    fixture *f = *state;
    const char *names[] = {"zed", "amy", "mo"};
    for (size_t i = 0; i < 3; i++) {
        uint8_t key[32];
        random_key(key);
        assert_int_equal(store_user_add(f->s, names[i], key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    }
    char seen[64] = "";
    assert_int_equal(store_user_foreach(f->s, collect_names, seen), STORE_OK);
    assert_string_equal(seen, "zed,amy,mo,");
    int calls = 0;
    assert_int_equal(store_user_foreach(f->s, stop_at_first, &calls), STORE_ERROR);
    assert_int_equal(calls, 1);
}

/* Another process holding the write lock past the busy timeout: the add
 * fails with STORE_BUSY and leaves nothing behind. */
static void busy_database_fails_cleanly(void **state)
{
    fixture *f = *state;
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(f->s, "frank", key, STORE_ROLE_MEMBER, &ADMIN), STORE_BUSY);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store_user u;
    assert_int_equal(store_user_get_by_name(f->s, "frank", &u), STORE_NOT_FOUND);
    assert_int_equal(store_user_add(f->s, "frank", key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
}

static void readers_do_not_block_writers(void **state)
{
    fixture *f = *state;
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_prepare_v2(db, "SELECT count(*) FROM users", -1, &stmt, NULL);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW); /* read snapshot open */
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(f->s, "gina", key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    sqlite3_finalize(stmt);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
}

static int64_t user_named(fixture *f, const char *name)
{
    uint8_t key[32];
    random_key(key);
    assert_int_equal(store_user_add(f->s, name, key, STORE_ROLE_MEMBER, &ADMIN), STORE_OK);
    store_user u;
    assert_int_equal(store_user_get_by_name(f->s, name, &u), STORE_OK);
    return u.id;
}

static void e2e_room(fixture *f, int64_t owner, store_room *room)
{
    uint8_t sealed[STORE_SEALED_KEY_MIN] = {1};
    assert_int_equal(store_room_create(f->s, "r", STORE_ROOM_E2E, true, owner, 0, sealed, sizeof sealed, &ADMIN, room),
                     STORE_OK);
}

static void join(fixture *f, const store_room *room, int64_t user)
{
    uint8_t sealed[STORE_SEALED_KEY_MIN] = {2};
    store_sealed_key k = {user, sealed, sizeof sealed};
    assert_int_equal(store_room_add_member(f->s, room->id, &k, 0, &ADMIN), STORE_OK);
}

static void raw_exec(fixture *f, const char *sql)
{
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Revoking takes the user out of every room it is in, its own included,
 * each to a new key epoch, with the audit rows, in one transaction: a
 * failure halfway changes nothing. */
static void revocation_leaves_every_room_at_once(void **state)
{
    fixture *f = *state;
    int64_t olga = user_named(f, "olga"), mia = user_named(f, "mia");
    store_room rooms[3];
    e2e_room(f, olga, &rooms[0]);
    e2e_room(f, olga, &rooms[1]);
    e2e_room(f, mia, &rooms[2]); /* mia owns this one */
    join(f, &rooms[0], mia);
    join(f, &rooms[1], mia);
    join(f, &rooms[2], olga);

    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TRIGGER fail_last BEFORE INSERT ON audit_log WHEN NEW.target LIKE 'room:%s/%%'"
             " BEGIN SELECT RAISE(ABORT, 'injected'); END", rooms[2].id);
    raw_exec(f, sql);
    size_t left = 99;
    assert_int_equal(store_user_revoke(f->s, mia, &ADMIN, &left), STORE_ERROR);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users WHERE name = 'mia' AND revoked_at IS NULL"), 1);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM room_members m JOIN users u ON u.id = m.user_id"
                                  " WHERE u.name = 'mia'"), 3);
    assert_int_equal(raw_count(f, "SELECT max(key_epoch) FROM rooms"), 1);
    raw_exec(f, "DROP TRIGGER fail_last");

    assert_int_equal(store_user_revoke(f->s, mia, &ADMIN, &left), STORE_OK);
    assert_int_equal(left, 3);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM room_members m JOIN users u ON u.id = m.user_id"
                                  " WHERE u.name = 'mia'"), 0);
    for (int i = 0; i < 3; i++) {
        store_room now;
        assert_int_equal(store_room_get(f->s, rooms[i].id, &now), STORE_OK);
        assert_int_equal(now.key_epoch, 2);
        assert_true(now.key_pending); /* the next member to publish keys it */
    }
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log WHERE action = 'room.member_remove'"
                                  " AND target LIKE '%/user:mia' AND actor = 'local:test'"), 3);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log WHERE action = 'user.revoke'"
                                  " AND id < (SELECT min(id) FROM audit_log WHERE action = 'room.member_remove')"), 1);
    assert_int_equal(store_user_revoke(f->s, mia, &ADMIN, &left), STORE_ALREADY_REVOKED);
    assert_int_equal(left, 0);

    /* A user revoked before revocation left rooms: revoking again does. */
    snprintf(sql, sizeof sql, "INSERT INTO room_members (room_id, user_id, added_at) VALUES ('%s', %lld, 0)",
             rooms[0].id, (long long)mia);
    raw_exec(f, sql);
    assert_int_equal(store_user_revoke(f->s, mia, &ADMIN, &left), STORE_OK);
    assert_int_equal(left, 1);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit_log WHERE action = 'user.revoke'"), 1);
}

/* One upload keys an epoch, for exactly its active members, once. */
static void an_epoch_is_keyed_once_for_exactly_its_members(void **state)
{
    fixture *f = *state;
    int64_t olga = user_named(f, "olga"), mia = user_named(f, "mia"), ned = user_named(f, "ned");
    store_room room;
    e2e_room(f, olga, &room);
    join(f, &room, mia);
    join(f, &room, ned);
    int64_t epoch;
    assert_int_equal(store_room_remove_member(f->s, room.id, ned, &ADMIN, &epoch), STORE_OK);
    assert_int_equal(epoch, 2);
    uint8_t sealed[STORE_SEALED_KEY_MIN] = {3};
    uint8_t other[STORE_SEALED_KEY_MIN] = {4};
    store_sealed_key k = {ned, sealed, sizeof sealed};
    assert_int_equal(store_room_add_member(f->s, room.id, &k, 0, &ADMIN), STORE_CONFLICT); /* not keyed yet */
    store_sealed_key keys[3] = {{olga, sealed, sizeof sealed}, {mia, sealed, sizeof sealed}, {ned, sealed, sizeof sealed}};
    assert_int_equal(store_room_put_keys(f->s, room.id, 2, keys, 1, &ADMIN), STORE_CONFLICT); /* mia left out */
    assert_int_equal(store_room_put_keys(f->s, room.id, 2, keys, 3, &ADMIN), STORE_CONFLICT); /* ned is gone */
    keys[1] = (store_sealed_key){olga, other, sizeof other};
    assert_int_equal(store_room_put_keys(f->s, room.id, 2, keys, 2, &ADMIN), STORE_CONFLICT); /* olga twice */
    keys[1] = (store_sealed_key){mia, sealed, sizeof sealed};
    assert_int_equal(store_room_put_keys(f->s, room.id, 1, keys, 2, &ADMIN), STORE_CONFLICT); /* old epoch */
    assert_int_equal(raw_count(f, "SELECT count(*) FROM room_keys WHERE epoch = 2"), 0);
    assert_int_equal(store_room_put_keys(f->s, room.id, 2, keys, 2, &ADMIN), STORE_OK);
    assert_int_equal(store_room_put_keys(f->s, room.id, 2, keys, 2, &ADMIN), STORE_CONFLICT); /* once */
    assert_int_equal(store_room_add_member(f->s, room.id, &k, 1, &ADMIN), STORE_CONFLICT); /* sealed from epoch 1 */
    assert_int_equal(store_room_add_member(f->s, room.id, &k, 2, &ADMIN), STORE_OK);
}

/* The floor of signed-request times only ever rises, and outlives the
 * process (dev/signed-requests.md, "Restarts"). */
static void request_floor_only_rises(void **state)
{
    fixture *f = *state;
    int64_t floor = -1;
    assert_int_equal(store_request_floor_get(f->s, &floor), STORE_OK);
    assert_int_equal(floor, 0);
    assert_int_equal(store_request_floor_raise(f->s, 1700000001000), STORE_OK);
    assert_int_equal(store_request_floor_raise(f->s, 1700000000000), STORE_OK);
    store_close(f->s);
    char err[512];
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s, err, sizeof err), STORE_OK);
    assert_int_equal(store_request_floor_get(f->s, &floor), STORE_OK);
    assert_int_equal(floor, 1700000001000);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(migrates_from_empty),
        T(creates_0600_even_with_a_lax_umask),
        T(reopen_keeps_everything),
        T(open_existing_refuses_a_missing_file),
        T(migration_splits_blob_content_into_chunks),
        T(refuses_a_newer_schema),
        T(refuses_an_exposed_database),
        T(duplicates_change_nothing),
        T(every_change_is_audited),
        T(audit_log_is_append_only),
        T(revoke_keeps_the_row_and_is_idempotent),
        T(validates_names),
        T(lists_in_creation_order),
        T(busy_database_fails_cleanly),
        T(readers_do_not_block_writers),
        T(revocation_leaves_every_room_at_once),
        T(an_epoch_is_keyed_once_for_exactly_its_members),
        T(request_floor_only_rises),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
