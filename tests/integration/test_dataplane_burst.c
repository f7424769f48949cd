/*
 * 1,050 membership changes in a burst from 16 concurrent API clients: the
 * final nats-server permissions are exactly what the database says, and
 * the changes share reloads instead of costing one each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "embedded/nats_config.h"
#include "fixture.h"
#include "nats_peer.h"

#define USERS 250
#define THREADS 16

static fixture F;
static busauth_identity *ids[USERS];
static char nkeys[USERS][57];
static char room1[33], room2[33];

typedef enum { CREATE, ADD1, ADD2, REMOVE1, REMOVE2, REVOKE } step;
typedef struct {
    step what;
    int from, to;
    atomic_int next;
    atomic_int failures;
} phase;

static void change(step what, int i)
{
    char target[256], body[512], sealed[128];
    busauth_identity *by = F.alice;
    const char *method = "POST";
    const char *room = what == ADD1 || what == REMOVE1 ? room1 : room2;
    fixture_fake_sealed_key(sealed);
    body[0] = '\0';
    if (what == CREATE) {
        by = F.admin;
        snprintf(target, sizeof target, "/v1/users");
        snprintf(body, sizeof body, "{\"name\":\"u%d\",\"public_key\":\"%s\"}", i, nkeys[i]);
    } else if (what == ADD1 || what == ADD2) {
        snprintf(target, sizeof target, "/v1/rooms/%s/members", room);
        snprintf(body, sizeof body, "{\"public_key\":\"%s\",\"sealed_key\":\"%s\"}", nkeys[i], sealed);
    } else if (what == REVOKE) {
        by = F.admin;
        method = "DELETE";
        snprintf(target, sizeof target, "/v1/users/%s", nkeys[i]);
    } else {
        method = "DELETE";
        snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room, nkeys[i]);
    }
    http_result r = fixture_call(&F, by, method, target, body[0] ? body : NULL);
    if (r.status != 200 && r.status != 201)
        fprintf(stderr, "%s %s -> %ld %s\n", method, target, r.status, r.body ? r.body : "");
    assert_true(r.status == 200 || r.status == 201);
    http_result_free(&r);
}

static void *worker(void *arg)
{
    phase *p = arg;
    for (int i; (i = atomic_fetch_add(&p->next, 1) + p->from) < p->to;)
        change(p->what, i);
    return NULL;
}

static void run_phase(step what, int from, int to)
{
    phase p = {.what = what, .from = from, .to = to};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, &p);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

static void make_room(char id[33])
{
    assert_int_equal(fixture_make_room(&F, F.alice, "burst", id), 0);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[4 * 1024 * 1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The permissions block of one user in the generated file, or NULL. */
static const char *block_of(const char *conf, const char *nkey, char *out, size_t cap)
{
    /* The file escapes each string's first character (nats_config.c). */
    char needle[80];
    snprintf(needle, sizeof needle, "{ nkey: \"\\x%02x%.55s\"", (unsigned char)nkey[0], nkey + 1);
    const char *start = strstr(conf, needle);
    if (!start)
        return NULL;
    const char *end = strstr(start, "\n    } }\n");
    snprintf(out, cap, "%.*s", (int)(end - start), start);
    return out;
}

static int last_reload_count(void)
{
    FILE *f = fopen(F.server.log_path, "r");
    char line[2048];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "msg=nats_reloaded count=");
        if (p)
            count = atoi(p + strlen("msg=nats_reloaded count="));
    }
    fclose(f);
    return count;
}

static void check_final_permissions(void)
{
    char path[PATH_MAX + 32], block[8192];
    /* The peers' users are in the file nats.conf includes. */
    snprintf(path, sizeof path, "%s/nats.conf" NATSCONF_USERS_SUFFIX, F.data_dir);
    const char *conf = read_file(path);
    for (int i = 0; i < USERS; i++) {
        const char *b = block_of(conf, nkeys[i], block, sizeof block);
        if (i >= 200) {
            assert_null(b); /* revoked: gone from the allowlist */
            continue;
        }
        assert_non_null(b);
        assert_true((strstr(b, room1) != NULL) == (i >= 125));
        assert_true((strstr(b, room2) != NULL) == (i < 125));
    }
}

static void burst_of_changes_is_exact_and_coalesced(void **state)
{
    (void)state;
    const char *flags[] = {"--rate", "100000", "--burst", "100000", "--member-rate", "100000", "--member-burst", "100000",
                           NULL}; /* one client IP, few members here */
    assert_int_equal(fixture_start(&F, flags), 0);
    for (int i = 0; i < USERS; i++) {
        busauth_identity_generate(&ids[i]);
        busauth_nkey_encode_public(busauth_identity_public_key(ids[i]), nkeys[i]);
    }
    make_room(room1);
    make_room(room2);
    int before = last_reload_count();
    run_phase(CREATE, 0, USERS);
    run_phase(ADD1, 0, USERS);
    run_phase(ADD2, 0, USERS);
    run_phase(REMOVE1, 0, 125);
    run_phase(REMOVE2, 125, USERS);
    run_phase(REVOKE, 200, USERS);
    int changes = USERS * 3 + 125 + 125 + 50;
    int reloads = last_reload_count() - before;
    fprintf(stderr, "%d membership changes from %d clients: %d reloads\n", changes, THREADS, reloads);
    assert_true(reloads > 0);
    /* Each reload carries what arrived while the one before ran, so the
     * share depends on how long a reload (and membershipd's login after
     * it) takes against how fast changes come through the bus log, which
     * takes them one at a time (dev/control-log.md): 330-380 reloads when
     * the login after each reload waited 40 ms for a delayed ACK, 570-630
     * since (loaded machine).  One per change would be 1,050. */
    assert_true(reloads <= changes * 3 / 4);
    check_final_permissions();

    /* And the server itself agrees, for a sample. */
    char s1[96], s2[96];
    snprintf(s1, sizeof s1, "unibus.room.%s.x", room1);
    snprintf(s2, sizeof s2, "unibus.room.%s.x", room2);
    nats_peer in1, in2, revoked;
    assert_int_equal(nats_peer_connect(&in1, F.server.nats_url, ids[150], NULL, false), NATS_OK);
    natsSubscription *a = nats_peer_subscribe(&in1, s1);
    assert_int_equal(nats_peer_permission_errors(&in1), 0);
    natsSubscription *b = nats_peer_subscribe(&in1, s2);
    assert_int_equal(nats_peer_wait_permission_errors(&in1, 1, 2000), 1);
    assert_int_equal(nats_peer_connect(&in2, F.server.nats_url, ids[10], NULL, false), NATS_OK);
    natsSubscription *c = nats_peer_subscribe(&in2, s2);
    assert_int_equal(nats_peer_permission_errors(&in2), 0);
    assert_int_not_equal(nats_peer_connect(&revoked, F.server.nats_url, ids[220], NULL, false), NATS_OK);
    natsSubscription_Destroy(a);
    natsSubscription_Destroy(b);
    natsSubscription_Destroy(c);
    nats_peer_close(&in1);
    nats_peer_close(&in2);
    nats_peer_close(&revoked);
    for (int i = 0; i < USERS; i++)
        busauth_identity_free(ids[i]);
    assert_int_equal(fixture_stop(&F), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test(burst_of_changes_is_exact_and_coalesced)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_CloseAndWait(5000); /* nats.c threads done before OpenSSL cleans up at exit */
    curl_global_cleanup();
    return rc;
}
