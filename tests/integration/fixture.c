#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sodium.h>
#include <sqlite3.h>
#include "busauth/seedfile.h"
#include "membershipd/store/store.h"
#include "testutil.h"

void fixture_record_secret(const char *text)
{
    const char *dir = getenv("UNIBUS_TEST_SECRETS_DIR");
    if (!dir || !dir[0])
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/secrets-%d.txt", dir, (int)getpid());
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
}

void fixture_record_identity(const busauth_identity *id)
{
    char seed[BUSAUTH_NKEY_SEED_LEN + 1];
    busauth_identity_seed_nkey(id, seed);
    fixture_record_secret(seed);
    uint8_t raw[32];
    char hex[65];
    busauth_nkey_decode_seed(seed, raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    fixture_record_secret(hex);
}

static busauth_identity *add_user(store *s, const char *name, store_role role, char nkey[57])
{
    busauth_identity *id;
    busauth_identity_generate(&id);
    store_actor by = {"local:fixture", NULL, NULL};
    store_user_add(s, name, busauth_identity_public_key(id), role, &by);
    busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    fixture_record_identity(id);
    return id;
}

static int read_server_key(fixture *f)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/server.seed", f->data_dir);
    busauth_identity *server;
    if (busauth_seedfile_load(path, &server) != BUSAUTH_OK)
        return -1;
    memcpy(f->server_key, busauth_identity_public_key(server), 32);
    busauth_nkey_encode_public(f->server_key, f->server_nkey);
    fixture_record_identity(server);
    busauth_identity_free(server);
    return 0;
}

int fixture_start(fixture *f, const char *const *flags)
{
    return fixture_start_seeded(f, flags, NULL, NULL);
}

int fixture_start_seeded(fixture *f, const char *const *flags, fixture_seed_fn seed, void *ctx)
{
    return fixture_prepare(f, seed, ctx) == 0 ? fixture_restart(f, flags) : -1;
}

int fixture_prepare(fixture *f, fixture_seed_fn seed, void *ctx)
{
    memset(f, 0, sizeof *f);
    test_make_temp_dir(f->dir);
    snprintf(f->data_dir, sizeof f->data_dir, "%s/data", f->dir);
    char db[PATH_MAX + 64], err[256];
    snprintf(db, sizeof db, "%s/membership.db", f->data_dir);
    mkdir(f->data_dir, 0700);
    store *s;
    if (store_open(db, STORE_OPEN_CREATE, &s, err, sizeof err) != STORE_OK)
        return -1;
    f->admin = add_user(s, "root", STORE_ROLE_ADMIN, f->admin_nkey);
    f->alice = add_user(s, "alice", STORE_ROLE_MEMBER, f->alice_nkey);
    f->bob = add_user(s, "bob", STORE_ROLE_MEMBER, f->bob_nkey);
    f->carol = add_user(s, "carol", STORE_ROLE_MEMBER, f->carol_nkey);
    int seeded = seed ? seed(s, ctx) : 0;
    store_close(s);
    return seeded;
}

/* A restarted server refuses request times at or below the floor its
 * store holds (up to a second ahead of the last request before the
 * restart: dev/signed-requests.md, "Restarts"); libunibus waits past it
 * when told, and so do the tests' requests, before they are signed. */
static void wait_past_request_floor(fixture *f)
{
    long floor_ms = fixture_db_count(f, "SELECT time_ms FROM request_time_floor", NULL);
    struct timespec now;
    for (;;) {
        clock_gettime(CLOCK_REALTIME, &now);
        long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        if (floor_ms < 0 || now_ms > floor_ms)
            return;
        test_sleep_ms((int)(floor_ms - now_ms) + 1);
    }
}

int fixture_restart(fixture *f, const char *const *flags)
{
    return fixture_launch(f, flags) == 0 ? fixture_await(f, 10000) : -1;
}

int fixture_launch(fixture *f, const char *const *flags)
{
    const char *args[48] = {"--data-dir", f->data_dir};
    size_t n = 2;
    for (size_t i = 0; flags && flags[i] && n < 47; i++)
        args[n++] = flags[i];
    bool tls = false;
    for (size_t i = 0; i < n; i++)
        tls = tls || strcmp(args[i], "--tls-cert") == 0;
    return harness_launch(&f->server, tls, args);
}

int fixture_await(fixture *f, int timeout_ms)
{
    if (harness_await(&f->server, timeout_ms) != 0)
        return -1;
    wait_past_request_floor(f);
    return read_server_key(f);
}

int fixture_stop(fixture *f)
{
    int status = harness_stop(&f->server);
    if (status != 0)
        fprintf(stderr, "membershipd exited with %d; its log: %s\n", status, f->server.log_path);
    fixture_release(f);
    return status == 0 ? 0 : -1;
}

void fixture_release(fixture *f)
{
    busauth_identity_free(f->admin);
    busauth_identity_free(f->alice);
    busauth_identity_free(f->bob);
    busauth_identity_free(f->carol);
    test_remove_tree(f->dir);
}

http_result fixture_call_opts(fixture *f, const http_opts *opts, const char *method, const char *target,
                              const void *body, size_t len)
{
    http_result r;
    http_opts o = *opts;
    o.server_nkey = o.server_nkey ? o.server_nkey : f->server_nkey;
    http_call(f->server.base_url, method, target, body, len, &o, &r);
    return r;
}

http_result fixture_call(fixture *f, busauth_identity *id, const char *method, const char *target,
                         const char *body)
{
    http_opts opts = {.id = id, .ca_file = f->ca_file};
    return fixture_call_opts(f, &opts, method, target, body, body ? strlen(body) : 0);
}

void fixture_fake_sealed_key(char out[128])
{
    uint8_t raw[80];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, 128, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

long fixture_db_count(fixture *f, const char *sql, const char *arg)
{
    char db[PATH_MAX + 64];
    snprintf(db, sizeof db, "%s/membership.db", f->data_dir);
    sqlite3 *conn;
    sqlite3_stmt *stmt = NULL;
    long n = -1;
    /* Waits out a write lock: membershipd may be writing or checkpointing. */
    if (sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(conn, 5000) == SQLITE_OK && sqlite3_prepare_v2(conn, sql, -1, &stmt, NULL) == SQLITE_OK) {
        if (arg)
            sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) == SQLITE_ROW)
            n = (long)sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(conn);
    return n;
}

void fixture_record_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "-----", 5) != 0 && strlen(line) > 16)
            fixture_record_secret(line);
    }
    if (f)
        fclose(f);
}

int fixture_make_pki(char ca[PATH_MAX + 64], char cert[PATH_MAX + 64], char key[PATH_MAX + 64])
{
    char dir[PATH_MAX], cmd[2 * PATH_MAX + 64];
    test_make_temp_dir(dir);
    snprintf(cmd, sizeof cmd, "sh '%s' '%s/pki'", getenv("UNIBUS_MAKE_TEST_PKI"), dir);
    snprintf(ca, PATH_MAX + 64, "%s/pki/ca.pem", dir);
    snprintf(cert, PATH_MAX + 64, "%s/pki/server.pem", dir);
    snprintf(key, PATH_MAX + 64, "%s/pki/server.key", dir);
    if (system(cmd) != 0)
        return -1;
    fixture_record_key_file(key);
    return 0;
}

int fixture_make_room(fixture *f, busauth_identity *owner, const char *name, char id[33])
{
    char sealed[128], body[256];
    fixture_fake_sealed_key(sealed);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"sealed_key\":\"%s\"}", name, sealed);
    http_result r = fixture_call(f, owner, "POST", "/v1/rooms", body);
    const char *room = json_string_value(json_object_get(r.json, "id"));
    int rc = r.status == 201 && room ? 0 : -1;
    snprintf(id, 33, "%s", rc == 0 ? room : "");
    http_result_free(&r);
    return rc;
}

long fixture_add_member(fixture *f, busauth_identity *owner, const char *room, const char *nkey)
{
    char sealed[128], body[256], target[96];
    fixture_fake_sealed_key(sealed);
    snprintf(body, sizeof body, "{\"public_key\":\"%s\",\"sealed_key\":\"%s\"}", nkey, sealed);
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
    http_result r = fixture_call(f, owner, "POST", target, body);
    long status = r.status;
    http_result_free(&r);
    return status;
}

void fixture_room_subject(const char *room, char out[96])
{
    snprintf(out, 96, "unibus.room.%s.chat", room);
}

unsigned fixture_nats_port(const fixture *f)
{
    return (unsigned)atoi(strrchr(f->server.nats_url, ':') + 1);
}
