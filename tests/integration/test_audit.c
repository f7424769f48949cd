/*
 * The audit trail against a real server: `membershipd audit` beside it,
 * every secret of a workload absent from the log, the log append-only to
 * SQLite itself, and --audit-syslog mirroring committed entries (and only
 * those) to a Unix datagram socket this test binds.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>
#include "busauth/seedfile.h"
#include "fixture.h"
#include "testutil.h"
#include "unibus.h"

#define OUT_MAX (1024 * 1024)
#define FIXTURE_ENTRIES 4 /* the fixture's four users, added before the server starts */

static fixture F;
static char SOCK_DIR[PATH_MAX], SOCK_PATH[PATH_MAX + 16];
static int SYSLOG_FD = -1;
static char *OUT;
static char SECRETS[64][2 * 1024 + 1];
static size_t N_SECRETS;

static void note_secret(const char *text)
{
    if (N_SECRETS < sizeof SECRETS / sizeof SECRETS[0])
        snprintf(SECRETS[N_SECRETS++], sizeof SECRETS[0], "%s", text);
}

/* A seed as the nkey text and its 32 raw bytes as hex. */
static void note_identity(const busauth_identity *id)
{
    char seed[BUSAUTH_NKEY_SEED_LEN + 1], hex[65];
    uint8_t raw[32];
    busauth_identity_seed_nkey(id, seed);
    busauth_nkey_decode_seed(seed, raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    note_secret(seed);
    note_secret(hex);
    sodium_memzero(raw, sizeof raw);
}

static int bind_syslog_socket(void)
{
    test_make_temp_dir(SOCK_DIR);
    snprintf(SOCK_PATH, sizeof SOCK_PATH, "%s/log", SOCK_DIR);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(SOCK_PATH) >= sizeof addr.sun_path)
        return -1;
    memcpy(addr.sun_path, SOCK_PATH, strlen(SOCK_PATH) + 1);
    SYSLOG_FD = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval timeout = {3, 0};
    setsockopt(SYSLOG_FD, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return bind(SYSLOG_FD, (struct sockaddr *)&addr, sizeof addr);
}

static int setup(void **state)
{
    (void)state;
    OUT = malloc(OUT_MAX);
    if (!OUT || bind_syslog_socket() != 0)
        return -1;
    const char *flags[] = {"--audit-syslog", "--audit-syslog-socket", SOCK_PATH, NULL};
    if (fixture_start(&F, flags) != 0)
        return -1;
    note_identity(F.admin);
    note_identity(F.alice);
    note_identity(F.bob);
    note_identity(F.carol);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(SYSLOG_FD);
    test_remove_tree(SOCK_DIR);
    free(OUT);
    return fixture_stop(&F);
}

/* `membershipd ARGS... --data-dir F` into OUT; returns the exit code. */
static int run_cli(const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    for (; args[n] && n < 12; n++)
        argv[n] = args[n];
    argv[n++] = "--data-dir";
    argv[n++] = F.data_dir;
    argv[n] = NULL;
    return harness_run(argv, OUT, OUT_MAX);
}

static unibus_client *open_as(busauth_identity *id, const char *name)
{
    char seed[PATH_MAX + 48], server[57];
    snprintf(seed, sizeof seed, "%s/%s.seed", F.dir, name);
    busauth_seedfile_create(seed, id);
    busauth_nkey_encode_public(F.server_key, server);
    unibus_config cfg = {.url = F.server.base_url, .identity_file = seed, .server_key = server};
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    return c;
}

static void expect_status(busauth_identity *as, const char *method, const char *target, long status)
{
    http_result r = fixture_call(&F, as, method, target, NULL);
    assert_int_equal(r.status, status);
    http_result_free(&r);
}

/* Rooms, members, keys, a blob, a refused member add (rolled back), three
 * denials (one with a seed pasted into its URL) and a user added by the
 * command line beside the server. */
static void workload(char room_id[33])
{
    unibus_client *alice = open_as(F.alice, "alice");
    unibus_room room;
    assert_int_equal(unibus_room_create(alice, "ops", true, true, &room), UNIBUS_OK);
    snprintf(room_id, 33, "%s", room.id);
    assert_int_equal(unibus_room_add(alice, "ops", F.bob_nkey), UNIBUS_OK);
    assert_int_not_equal(unibus_room_add(alice, "ops", F.bob_nkey), UNIBUS_OK); /* already a member */
    char plain[PATH_MAX + 16], ref[UNIBUS_BLOB_REF_MAX];
    snprintf(plain, sizeof plain, "%s/plain", F.dir);
    FILE *f = fopen(plain, "w");
    fputs("the quarterly numbers", f);
    fclose(f);
    assert_int_equal(unibus_blob_put(alice, "ops", plain, ref), UNIBUS_OK);
    note_secret(strrchr(ref, ':') + 1); /* the blob's key */
    note_secret("the quarterly numbers");
    assert_int_equal(unibus_room_remove(alice, "ops", F.bob_nkey), UNIBUS_OK); /* new epoch, keys put */
    unibus_client_close(alice);

    expect_status(F.alice, "GET", "/v1/users", 403);
    char target[128], seed[BUSAUTH_NKEY_SEED_LEN + 1];
    busauth_identity_seed_nkey(F.carol, seed);
    snprintf(target, sizeof target, "/v1/users?name=%s", seed);
    expect_status(NULL, "GET", target, 401);
    snprintf(target, sizeof target, "/v1/rooms/%s", room_id);
    expect_status(F.carol, "GET", target, 404);

    busauth_identity *dave;
    busauth_identity_generate(&dave);
    char dave_nkey[57];
    busauth_nkey_encode_public(busauth_identity_public_key(dave), dave_nkey);
    note_identity(dave);
    const char *add[] = {"user", "add", "dave", dave_nkey, NULL};
    assert_int_equal(run_cli(add), 0);
    busauth_identity_free(dave);
}

static long db_count(const char *sql, const char *arg)
{
    return fixture_db_count(&F, sql, arg);
}

/* Each sealed key the server stores, as hex, to look for in the log. */
static void note_sealed_keys(void)
{
    char db[PATH_MAX + 64];
    snprintf(db, sizeof db, "%s/membership.db", F.data_dir);
    sqlite3 *conn;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(conn, "SELECT sealed_key FROM room_keys", -1, &stmt, NULL), SQLITE_OK);
    int n = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        char hex[2 * 1024 + 1], b64[1400];
        const void *blob = sqlite3_column_blob(stmt, 0);
        size_t len = (size_t)sqlite3_column_bytes(stmt, 0);
        sodium_bin2hex(hex, sizeof hex, blob, len);
        sodium_bin2base64(b64, sizeof b64, blob, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        note_secret(hex);
        note_secret(b64);
        n++;
    }
    sqlite3_finalize(stmt);
    sqlite3_close(conn);
    assert_true(n >= 3); /* alice at epoch 1, bob at 1, alice at 2 */
}

static json_t *audit_json(const char *const *extra)
{
    const char *args[8] = {"audit", "--json"};
    size_t n = 2;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(run_cli(args), 0);
    json_error_t err;
    json_t *doc = json_loads(OUT, 0, &err);
    if (!doc)
        fprintf(stderr, "not JSON (%s): %s\n", err.text, OUT);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
    return doc;
}

static json_t *find_entry(json_t *entries, const char *action, const char *actor)
{
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "action")), action) == 0 &&
            strcmp(json_string_value(json_object_get(e, "actor")), actor) == 0)
            return e;
    }
    return NULL;
}

static const char *field(json_t *e, const char *key)
{
    return json_string_value(json_object_get(e, key));
}

static void audit_lists_a_workload_beside_the_server(void **state)
{
    (void)state;
    char room[33];
    workload(room);

    json_t *doc = audit_json(NULL);
    json_t *entries = json_object_get(doc, "entries");
    assert_int_equal((long)json_array_size(entries), db_count("SELECT count(*) FROM audit_log", NULL));
    for (size_t i = 1; i < json_array_size(entries); i++)
        assert_true(json_integer_value(json_object_get(json_array_get(entries, i), "id")) >
                    json_integer_value(json_object_get(json_array_get(entries, i - 1), "id")));

    json_t *created = find_entry(entries, "room.create", F.alice_nkey);
    assert_non_null(created);
    char target[64];
    snprintf(target, sizeof target, "room:%s", room);
    assert_string_equal(field(created, "target"), target);
    assert_string_equal(field(created, "outcome"), "ok");
    assert_string_equal(field(created, "peer_ip"), "127.0.0.1");
    assert_int_equal(strlen(field(created, "request_id")), 16);
    assert_non_null(find_entry(entries, "room.member_add", F.alice_nkey));
    assert_non_null(find_entry(entries, "room.keys_put", F.alice_nkey));
    assert_non_null(find_entry(entries, "blob.put", F.alice_nkey));
    json_t *forbidden = find_entry(entries, "GET /v1/users", F.alice_nkey);
    assert_non_null(forbidden);
    assert_string_equal(field(forbidden, "outcome"), "denied");
    json_t *anonymous = find_entry(entries, "GET /v1/users", "anonymous");
    assert_non_null(anonymous);
    assert_non_null(strstr(field(anonymous, "target"), "[REDACTED]"));
    assert_non_null(find_entry(entries, "GET /v1/rooms/{room}", F.carol_nkey));
    /* The refused second add was rolled back with its audit row. */
    snprintf(target, sizeof target, "room:%s/user:bob", room);
    assert_int_equal(db_count("SELECT count(*) FROM audit_log WHERE action = 'room.member_add' AND target = ?",
                              target), 1);
    json_decref(doc);

    /* --actor takes the key as nkey or hex; local:<login> for the command line. */
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, busauth_identity_public_key(F.alice), 32);
    const char *by_alice[] = {"--actor", hex, NULL};
    doc = audit_json(by_alice);
    entries = json_object_get(doc, "entries");
    assert_int_equal((long)json_array_size(entries),
                     db_count("SELECT count(*) FROM audit_log WHERE actor = ?", F.alice_nkey));
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) assert_string_equal(field(e, "actor"), F.alice_nkey);
    json_decref(doc);

    const char *recent[] = {"--since", "1h", NULL};
    doc = audit_json(recent);
    assert_int_equal((long)json_array_size(json_object_get(doc, "entries")),
                     db_count("SELECT count(*) FROM audit_log", NULL));
    json_decref(doc);
    const char *future[] = {"--since", "2099-01-01T00:00:00Z", NULL};
    doc = audit_json(future);
    assert_int_equal(json_array_size(json_object_get(doc, "entries")), 0);
    json_decref(doc);

    /* The text form: one key=value line per entry. */
    const char *text[] = {"audit", "--actor", F.carol_nkey, NULL};
    assert_int_equal(run_cli(text), 0);
    char want[256];
    snprintf(want, sizeof want, "actor=%s action=\"GET /v1/rooms/{room}\" target=/v1/rooms/%s outcome=denied "
             "peer_ip=127.0.0.1 request_id=", F.carol_nkey, room);
    assert_non_null(strstr(OUT, want));
    assert_int_equal(strchr(OUT, '\n') - OUT + 1, (long)strlen(OUT)); /* one line */
}

/* Runs after the workload: the whole log, through the command and straight
 * from SQLite, holds none of the secrets the test used. */
static void no_secret_reaches_the_log(void **state)
{
    (void)state;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/server.seed", F.data_dir);
    busauth_identity *server;
    assert_int_equal(busauth_seedfile_load(path, &server), BUSAUTH_OK);
    note_identity(server);
    busauth_identity_free(server);
    note_sealed_keys();

    const char *all[] = {"audit", NULL};
    assert_int_equal(run_cli(all), 0);
    char *text = strdup(OUT);
    json_t *doc = audit_json(NULL);
    char *json = json_dumps(doc, JSON_COMPACT);
    long raw = 0;
    for (size_t i = 0; i < N_SECRETS; i++) {
        if (strstr(text, SECRETS[i]) || strstr(json, SECRETS[i]))
            fail_msg("secret %zu (of %zu) appears in the audit log", i, N_SECRETS);
        raw += db_count("SELECT count(*) FROM audit_log WHERE instr(actor || action || target || outcome || "
                        "coalesce(peer_ip, '') || coalesce(request_id, ''), ?) > 0", SECRETS[i]);
    }
    assert_int_equal(raw, 0);
    assert_true(N_SECRETS >= 20);
    assert_true(json_array_size(json_object_get(doc, "entries")) >= 12);
    free(json);
    free(text);
    json_decref(doc);
}

static void sqlite_itself_cannot_change_the_log(void **state)
{
    (void)state;
    char db[PATH_MAX + 64];
    snprintf(db, sizeof db, "%s/membership.db", F.data_dir);
    long before = db_count("SELECT count(*) FROM audit_log", NULL);
    sqlite3 *conn;
    assert_int_equal(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(conn, 5000);
    assert_int_equal(sqlite3_exec(conn, "UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'denied'", NULL, NULL,
                                  NULL), SQLITE_CONSTRAINT);
    assert_non_null(strstr(sqlite3_errmsg(conn), "append-only"));
    assert_int_equal(sqlite3_exec(conn, "DELETE FROM audit_log WHERE id > 4", NULL, NULL, NULL), SQLITE_CONSTRAINT);
    assert_non_null(strstr(sqlite3_errmsg(conn), "append-only"));
    sqlite3_close(conn);
    assert_int_equal(db_count("SELECT count(*) FROM audit_log", NULL), before);
    assert_int_equal(db_count("SELECT count(*) FROM audit_log WHERE outcome = 'denied'", NULL), 3);
}

/* Every entry committed while the server ran, once each, in order, as the
 * same key=value line the command prints, at authpriv.notice (ok) or
 * authpriv.warning (denied). */
static void syslog_mirrors_each_committed_entry(void **state)
{
    (void)state;
    long last = db_count("SELECT max(id) FROM audit_log", NULL);
    const char *all[] = {"audit", NULL};
    assert_int_equal(run_cli(all), 0);
    char *lines = strdup(OUT);
    long want = FIXTURE_ENTRIES + 1;
    char dgram[9000];
    while (want <= last) {
        ssize_t n = recv(SYSLOG_FD, dgram, sizeof dgram - 1, 0);
        if (n <= 0)
            fail_msg("no datagram for audit entry %ld (of %ld)", want, last);
        dgram[n] = '\0';
        char id[32];
        snprintf(id, sizeof id, "audit id=%ld ", want);
        const char *body = strstr(dgram, id);
        if (!body)
            fail_msg("datagram out of order, wanted entry %ld: %s", want, dgram);
        body += strlen("audit ");
        bool denied = strstr(body, " outcome=denied ") != NULL;
        assert_int_equal(strncmp(dgram, denied ? "<84>" : "<85>", 4), 0);
        assert_non_null(strstr(dgram, " membershipd["));
        char line[9000];
        snprintf(line, sizeof line, "%s\n", body);
        assert_non_null(strstr(lines, line));
        want++;
    }
    free(lines);
    /* Nothing else: no entry for the rolled-back add, none twice. */
    struct timeval brief = {0, 600 * 1000};
    setsockopt(SYSLOG_FD, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof brief);
    assert_true(recv(SYSLOG_FD, dgram, sizeof dgram, 0) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(audit_lists_a_workload_beside_the_server),
        cmocka_unit_test(no_secret_reaches_the_log),
        cmocka_unit_test(sqlite_itself_cannot_change_the_log),
        cmocka_unit_test(syslog_mirrors_each_committed_entry),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
