/* The data plane's configuration rendered from a real store, including one
 * whose room ids were tampered with (found by tests/fuzz/fuzz_nats_config). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "membershipd/dataplane/dataplane_render.h"
#include "membershipd/store/store_pki.h"
#include "testutil.h"

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 32];
    store *st;
    busauth_identity *internal, *system;
    store_room room;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    test_make_temp_dir(f->dir);
    snprintf(f->db, sizeof f->db, "%s/membership.db", f->dir);
    char err[256];
    uint8_t key[BUSAUTH_KEY_BYTES] = {1};
    store_actor by = {"test", NULL, NULL};
    store_user alice;
    assert_int_equal(busauth_identity_generate(&f->internal), BUSAUTH_OK);
    assert_int_equal(busauth_identity_generate(&f->system), BUSAUTH_OK);
    assert_int_equal(store_open(f->db, STORE_OPEN_CREATE, &f->st, err, sizeof err), STORE_OK);
    assert_int_equal(store_user_add(f->st, "alice", key, STORE_ROLE_MEMBER, &by), STORE_OK);
    assert_int_equal(store_user_get_by_name(f->st, "alice", &alice), STORE_OK);
    assert_int_equal(store_room_create(f->st, "ops", STORE_ROOM_CLEARTEXT, false, alice.id, 0, NULL, 0, &by, &f->room),
                     STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    busauth_identity_free(f->internal);
    busauth_identity_free(f->system);
    test_remove_tree(f->dir);
    free(f);
    return 0;
}

static char *render(const fixture *f)
{
    const dataplane_config cfg = {.host = "127.0.0.1", .port = 4250, .max_payload = 1048576,
                                  .authorization = true, .internal = f->internal, .system = f->system};
    return dataplane_render(f->st, &cfg);
}

static void members_get_their_room(void **state)
{
    fixture *f = *state;
    char *text = render(f), subject[64];
    assert_non_null(text);
    snprintf(subject, sizeof subject, "\"unibus.room.%s.>\"", f->room.id);
    assert_non_null(strstr(text, subject));
    free(text);
}

/* A room id one character too long was cut to 32 and rendered: the
 * members of the tampered room got the subjects of the room it prefixes. */
static void a_tampered_long_room_id_is_refused_not_cut(void **state)
{
    fixture *f = *state;
    sqlite3 *db;
    char sql[512];
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "PRAGMA ignore_check_constraints = ON;"
             "INSERT INTO rooms (id, name, mode, owner_id, created_at) VALUES ('%sx', 'x', 'cleartext', 1, 1);"
             "INSERT INTO room_members (room_id, user_id, added_at) VALUES ('%sx', 1, 1);",
             f->room.id, f->room.id);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(render(f));
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* A user row carrying the monitoring user's key (as an admin could add,
 * had it leaked) is left out: a second entry would make nats-server refuse
 * the file, and the peers' list must not grant that key anything. */
static void the_system_users_key_is_never_a_peer(void **state)
{
    fixture *f = *state;
    store_actor by = {"test", NULL, NULL};
    assert_int_equal(store_user_add(f->st, "mallory", busauth_identity_public_key(f->system), STORE_ROLE_MEMBER, &by),
                     STORE_OK);
    char *text = render(f), nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(f->system), nkey);
    assert_non_null(text);
    assert_int_equal(count(text, nkey), 2); /* the system account's user and its inbox, nothing more */
    assert_null(strstr(strstr(text, "authorization {"), nkey));
    free(text);
}

/* A node certificate of the bus, as `cert issue --role node` records it. */
static void add_node_cert(store *st, const char *name, const char *serial)
{
    store_cert c = {.role = STORE_CERT_NODE, .not_before_ms = 1, .not_after_ms = INT64_MAX / 2, .issued_ms = 1};
    snprintf(c.serial, sizeof c.serial, "%s", serial);
    snprintf(c.name, sizeof c.name, "%s", name);
    memset(c.spki_sha256, 0x42, sizeof c.spki_sha256);
    const store_actor by = {"local:test", NULL, NULL};
    assert_int_equal(store_cert_add(st, &c, "-----BEGIN CERTIFICATE-----\n", false, &by), STORE_OK);
}

/* A node joining (its store knows no node key) dials no other node: one
 * its route-pins name may have been revoked since, and would learn the
 * route secret from the dial.  Once it knows the bus's node keys, it
 * dials them. */
static void a_joining_node_dials_only_itself(void **state)
{
    fixture *f = *state;
    const natsconf_route routes[] = {{.host = "127.0.0.2", .port = 6250}};
    const char pins[][NATSCONF_PIN_LEN + 1] = {
        "1111111111111111111111111111111111111111111111111111111111111111"};
    natsconf_cluster cluster = {.name = "bus", .server_name = "n2", .port = 6250, .routes = routes, .nroutes = 1,
                                .password = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                .tls_cert = "/t/n2.crt", .tls_key = "/t/n2.key", .tls_ca = "/t/ca.crt"};
    const natsconf_route self = {.host = "127.0.0.3", .port = 6250};
    dataplane_config cfg = {.host = "127.0.0.1", .port = 4250, .max_payload = 1048576, .authorization = true,
                            .internal = f->internal, .system = f->system, .cluster = &cluster,
                            .self_pin = pins[0], .join_pins = pins, .njoin_pins = 1, .self_route = &self};
    natsconf_cluster block;
    assert_int_equal(dataplane_cluster_block(f->st, &cfg, &block), 0);
    assert_int_equal(block.nroutes, 1); /* itself: JetStream needs a route */
    assert_string_equal(block.routes[0].host, "127.0.0.3");
    assert_int_equal(block.npins, 1); /* the route-pins: who may dial it */
    dataplane_cluster_free(&block);
    add_node_cert(f->st, "n1", "0123456789abcdef0123456789abcdef");
    assert_int_equal(dataplane_cluster_block(f->st, &cfg, &block), 0);
    assert_int_equal(block.nroutes, 1);
    assert_string_equal(block.routes[0].host, "127.0.0.2");
    dataplane_cluster_free(&block);
}

/* The first half of a route bounce (dev/cluster.md, "Route interest"):
 * no route URL and one pin no key hashes to, so every route closes and
 * none is redialled; never "pinned_certs: []", which pins nothing. */
static void dropped_routes_pin_no_key_and_name_no_route(void **state)
{
    fixture *f = *state;
    const natsconf_route routes[] = {{.host = "127.0.0.2", .port = 6250}};
    const char pins[][NATSCONF_PIN_LEN + 1] = {
        "1111111111111111111111111111111111111111111111111111111111111111"};
    natsconf_cluster cluster = {.name = "bus", .server_name = "n1", .port = 6250, .routes = routes, .nroutes = 1,
                                .password = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                .tls_cert = "/t/n1.crt", .tls_key = "/t/n1.key", .tls_ca = "/t/ca.crt",
                                .pins = pins, .npins = 1};
    dataplane_config cfg = {.host = "127.0.0.1", .port = 4250, .max_payload = 1048576, .authorization = true,
                            .internal = f->internal, .system = f->system, .cluster = &cluster,
                            .self_pin = pins[0]};
    natsconf_cluster block;
    add_node_cert(f->st, "n2", "0123456789abcdef0123456789abcdef");
    assert_int_equal(dataplane_cluster_block(f->st, &cfg, &block), 0);
    assert_int_equal(block.nroutes, 1);
    dataplane_cluster_free(&block);
    cfg.routes_dropped = true;
    assert_int_equal(dataplane_cluster_block(f->st, &cfg, &block), 0);
    assert_int_equal(block.nroutes, 0);
    assert_int_equal(block.npins, 1);
    assert_string_equal(block.pins[0], "0000000000000000000000000000000000000000000000000000000000000000");
    dataplane_cluster_free(&block);
    char *text = dataplane_render(f->st, &cfg);
    assert_non_null(text);
    assert_null(strstr(text, "nats-route://"));
    assert_non_null(strstr(text, "pinned_certs: [\"0000000000000000000000000000000000000000000000000000000000000000\"]"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(members_get_their_room, setup, teardown),
        cmocka_unit_test_setup_teardown(a_tampered_long_room_id_is_refused_not_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(the_system_users_key_is_never_a_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(dropped_routes_pin_no_key_and_name_no_route, setup, teardown),
        cmocka_unit_test_setup_teardown(a_joining_node_dials_only_itself, setup, teardown),
    };
    return busauth_init() == BUSAUTH_OK ? cmocka_run_group_tests(tests, NULL, NULL) : 1;
}
