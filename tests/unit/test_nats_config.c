/* The generated nats-server configuration: structure, permissions, and
 * refusal of anything that could change the structure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "busauth/nkey.h"
#include "embedded/nats_config.h"
#include "testutil.h"
#include <sys/stat.h>

static char rooms[2][NATSCONF_ROOM_ID_LEN + 1] = {"0123456789abcdef0123456789abcdef",
                                                  "fedcba9876543210fedcba9876543210"};

static natsconf base(natsconf_user *users, size_t n)
{
    natsconf c = {.host = "127.0.0.1", .port = 4250, .max_payload = 1048576, .max_connections = 10,
                  .authorization = true, .users = users, .nusers = n};
    randombytes_buf(c.internal_key, 32);
    randombytes_buf(c.system_key, 32);
    return c;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Rooms both ways; answers to the rooms' requests published, one's own
 * answers in them subscribed; nothing else, and no allow_responses (a
 * self-grant in nats-server 2.9: issue 11). */
static void members_get_their_rooms_and_own_answers_only(void **state)
{
    (void)state;
    natsconf_user u = {.room_ids = rooms, .nrooms = 2};
    randombytes_buf(u.public_key, 32);
    natsconf c = base(&u, 1);
    char *text = natsconf_render(&c, 0);
    assert_non_null(text);
    char nkey[57], user[1024];
    busauth_nkey_encode_public(u.public_key, nkey);
    snprintf(user, sizeof user,
             "    { nkey: \"%s\", permissions: {\n"
             "      publish: { allow: [\"unibus.room.%s.>\", \"unibus.reply.*.%s.>\", \"unibus.room.%s.>\", "
             "\"unibus.reply.*.%s.>\"], deny: [\"$SYS.>\"] }\n"
             "      subscribe: { allow: [\"unibus.room.%s.>\", \"unibus.reply.%s.%s.>\", \"unibus.room.%s.>\", "
             "\"unibus.reply.%s.%s.>\"], deny: [\"$SYS.>\"] }\n"
             "    } }\n",
             nkey, rooms[0], rooms[0], rooms[1], rooms[1], rooms[0], nkey, rooms[0], rooms[1], nkey, rooms[1]);
    assert_non_null(strstr(text, user));
    assert_null(strstr(text, "allow_responses"));
    /* The only inbox grant is the system user's, in its own account. */
    const char *inbox = strstr(text, "_INBOX");
    const char *accounts = strstr(text, "accounts {");
    assert_non_null(inbox);
    assert_non_null(accounts);
    assert_true(inbox > accounts);
    assert_null(strstr(inbox + 1, "_INBOX"));
    assert_null(strstr(text, "allow: [\">\"")); /* no wildcard grant */
    assert_non_null(strstr(text, "max_payload: 1048576"));
    assert_null(strstr(text, "no_auth_user"));
    free(text);
}

static void internal_user_is_always_there(void **state)
{
    (void)state;
    natsconf c = base(NULL, 0);
    char *text = natsconf_render(&c, 0);
    char internal[57];
    busauth_nkey_encode_public(c.internal_key, internal);
    assert_non_null(strstr(text, "authorization {"));
    /* never an empty users list in the peers' account */
    assert_non_null(strstr(strstr(text, "  BUS: {\n    users = [\n"), internal));
    assert_int_equal(count(text, "{ nkey:"), 2); /* it and the system account's user */
    free(text);
}

/* No HTTP monitor (unauthenticated in nats-server 2.9); a system account
 * whose one user may ask for connections, the configuration epoch and the
 * peers' traffic only. */
static void monitoring_is_a_system_account_user_with_three_requests(void **state)
{
    (void)state;
    natsconf c = base(NULL, 0);
    char *text = natsconf_render(&c, 0);
    char system[57], account[512];
    busauth_nkey_encode_public(c.system_key, system);
    snprintf(account, sizeof account,
             "accounts {\n  SYS: {\n    users = [\n      { nkey: \"%s\", permissions: {\n"
             "        publish: { allow: [\"$SYS.REQ.SERVER.*.CONNZ\", \"$SYS.REQ.SERVER.*.VARZ\", \"$SYS.REQ.SERVER.*.ROUTEZ\", "
             "\"$SYS.REQ.ACCOUNT.PING.STATZ\"] }\n"
             "        subscribe: { allow: [\"_INBOX.%s.>\"] }\n      } }\n    ]\n  }\n"
             "  BUS: {\n",
             system, system);
    assert_non_null(strstr(text, account));
    /* SYS, BUS and the global one: with two accounts, anonymous clients get
     * in (server.go:851-872); every user is in SYS or BUS. */
    assert_non_null(strstr(text, "}\nsystem_account: SYS\nauthorization {\n  timeout: 2\n}\n"));
    assert_int_equal(count(text, ": {\n    users = ["), 2);
    assert_int_equal(count(text, system), 2);
    assert_null(strstr(text, "http"));
    assert_null(strstr(text, "monitor"));
    assert_null(strstr(text, "no_sys_acc"));
    free(text);
}

static void a_user_without_rooms_is_denied_everything(void **state)
{
    (void)state;
    natsconf_user u = {0};
    randombytes_buf(u.public_key, 32);
    natsconf c = base(&u, 1);
    char *text = natsconf_render(&c, 0);
    assert_null(strstr(text, "allow: []")); /* nats-server reads an empty allow as "everything" */
    assert_int_equal(count(text, "publish: { deny: [\">\"] }"), 2); /* the internal user and this one */
    assert_int_equal(count(text, "subscribe: { deny: [\">\"] }"), 2);
    free(text);
}

static void auth_off_has_no_authorization_block(void **state)
{
    (void)state;
    natsconf c = base(NULL, 0);
    c.authorization = false;
    char *text = natsconf_render(&c, 0);
    assert_null(strstr(text, "authorization"));
    /* A system account user would turn authentication on for everyone. */
    assert_null(strstr(text, "accounts"));
    assert_null(strstr(text, "system_account"));
    assert_non_null(strstr(text, "\nno_sys_acc: true\n"));
    assert_null(strstr(text, "http"));
    free(text);
}

static void tls_and_ipv6_render(void **state)
{
    (void)state;
    natsconf c = base(NULL, 0);
    c.host = "::1";
    c.tls_cert = "/etc/unibus/cert.pem";
    c.tls_key = "/etc/unibus/key.pem";
    char *text = natsconf_render(&c, 0);
    assert_non_null(strstr(text, "listen: \"[::1]:4250\""));
    assert_non_null(strstr(text, "cert_file: \"/etc/unibus/cert.pem\""));
    free(text);
}

static void hostile_values_are_refused(void **state)
{
    (void)state;
    char bad_rooms[][NATSCONF_ROOM_ID_LEN + 1] = {
        "0123456789abcdef0123456789abcde\"", "0123456789ABCDEF0123456789ABCDEF", "x",
        "0123456789abcdef0123456789abc.>}", "0123456789abcdef0123456789abcd\n",
    };
    for (size_t i = 0; i < sizeof bad_rooms / sizeof bad_rooms[0]; i++) {
        natsconf_user u = {.room_ids = &bad_rooms[i], .nrooms = 1};
        natsconf c = base(&u, 1);
        assert_null(natsconf_render(&c, 0));
    }
    const char *bad_paths[] = {"/a\"b", "/a\nb", "/a\\b", "/$HOME/x", ""};
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        natsconf c = base(NULL, 0);
        c.tls_cert = bad_paths[i];
        c.tls_key = "/ok";
        assert_null(natsconf_render(&c, 0));
        assert_false(natsconf_path_ok(bad_paths[i]));
    }
    const char *bad_hosts[] = {"example.com", "127.0.0.1\"", "0.0.0.0 }", ""};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        natsconf c = base(NULL, 0);
        c.host = bad_hosts[i];
        assert_null(natsconf_render(&c, 0));
    }
    natsconf partial = base(NULL, 0);
    partial.tls_cert = "/only/cert";
    assert_null(natsconf_render(&partial, 0));
}

/* doctor reads back what serve wrote: listen, system account, TLS, auth. */
static void listeners_read_back(void **state)
{
    (void)state;
    natsconf c = base(NULL, 0);
    char *text = natsconf_render(&c, 0);
    natsconf_listeners l;
    assert_int_equal(natsconf_parse_listeners(text, &l), 0);
    assert_string_equal(l.host, "127.0.0.1");
    assert_int_equal(l.port, 4250);
    assert_true(l.system_account);
    assert_true(l.authorization);
    assert_false(l.tls);
    free(text);
    c.host = "::1";
    c.authorization = false;
    c.tls_cert = "/etc/unibus/tls.pem";
    c.tls_key = "/etc/unibus/tls.key";
    text = natsconf_render(&c, 0);
    assert_int_equal(natsconf_parse_listeners(text, &l), 0);
    assert_string_equal(l.host, "::1");
    assert_false(l.system_account);
    assert_true(l.tls);
    assert_false(l.authorization);
    free(text);
    assert_int_equal(natsconf_parse_listeners("listen: \"127.0.0.1:99999\"\n", &l), -1);
    assert_int_equal(natsconf_parse_listeners("# nothing\n", &l), -1);
}

static char pins[2][NATSCONF_PIN_LEN + 1] = {
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"};
static const char password[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static natsconf_route routes[2] = {{"127.0.0.2", 6250}, {"::1", 6251}};

static natsconf_cluster cluster_base(void)
{
    return (natsconf_cluster){.name = "bus", .server_name = "n1", .port = 6250, .routes = routes, .nroutes = 2,
                              .password = password, .tls_cert = "/t/n1.crt", .tls_key = "/t/n1.key",
                              .tls_ca = "/t/ca.crt", .pins = pins, .npins = 2};
}

/* Routes: the secret and mutual TLS with pinned keys, always both; the
 * route URLs carry the password (never a flag: dev/cluster.md). */
static void a_cluster_has_secret_mutual_tls_and_pins(void **state)
{
    (void)state;
    natsconf c = base(NULL, 0);
    natsconf_cluster cl = cluster_base();
    c.cluster = &cl;
    char *text = natsconf_render(&c, 0);
    assert_non_null(text);
    char want[2048];
    snprintf(want, sizeof want,
             "server_name: \"n1\"\ncluster {\n  name: \"bus\"\n  listen: \"127.0.0.1:6250\"\n"
             "  authorization {\n    user: \"unibus-route\"\n    password: \"%s\"\n    timeout: 2\n  }\n"
             "  tls {\n    cert_file: \"/t/n1.crt\"\n    key_file: \"/t/n1.key\"\n    ca_file: \"/t/ca.crt\"\n"
             "    verify: true\n    timeout: 2\n    pinned_certs: [\"%s\", \"%s\"]\n  }\n"
             "  routes = [\n    \"nats-route://unibus-route:%s@127.0.0.2:6250\"\n"
             "    \"nats-route://unibus-route:%s@[::1]:6251\"\n  ]\n}\n",
             password, pins[0], pins[1], password, password);
    assert_non_null(strstr(text, want));
    free(text);
}

/* Each of these would open a route to strangers or break the file. */
static void a_cluster_that_would_be_open_is_refused(void **state)
{
    (void)state;
    natsconf c = base(NULL, 0);
    natsconf_cluster cl = cluster_base();
    c.cluster = &cl;
    cl.npins = 0; /* nats-server 2.9: an empty list pins nothing */
    assert_null(natsconf_render(&c, 0));
    cl = cluster_base();
    c.authorization = false; /* routes carry every account */
    assert_null(natsconf_render(&c, 0));
    c.authorization = true;
    const char *bad_passwords[] = {NULL, "", "0123", "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                                   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\""};
    for (size_t i = 0; i < sizeof bad_passwords / sizeof bad_passwords[0]; i++) {
        cl = cluster_base();
        cl.password = bad_passwords[i];
        assert_null(natsconf_render(&c, 0));
    }
    char bad_pin[1][NATSCONF_PIN_LEN + 1] = {"00112233445566778899aabbccddeeff00112233445566778899aabbccddee\"}"};
    cl = cluster_base();
    cl.pins = bad_pin;
    cl.npins = 1;
    assert_null(natsconf_render(&c, 0));
    const char *bad_names[] = {"", "a b", "n\"1", "n}", NULL};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        cl = cluster_base();
        cl.server_name = bad_names[i];
        assert_null(natsconf_render(&c, 0));
    }
    natsconf_route bad_route[1] = {{"a\"b", 6250}};
    cl = cluster_base();
    cl.routes = bad_route;
    cl.nroutes = 1;
    assert_null(natsconf_render(&c, 0));
    cl = cluster_base();
    cl.tls_ca = NULL;
    assert_null(natsconf_render(&c, 0));
}

/* The first reload of a removal: the user stays, denied everything. */
static void retiring_users_stay_denied_everything(void **state)
{
    (void)state;
    natsconf_user u = {.room_ids = rooms, .nrooms = 1};
    randombytes_buf(u.public_key, 32);
    uint8_t gone[1][32];
    randombytes_buf(gone[0], 32);
    natsconf c = base(&u, 1);
    c.retiring = (const uint8_t (*)[32])gone;
    c.nretiring = 1;
    char *text = natsconf_render(&c, 0);
    char nkey[57], want[256];
    busauth_nkey_encode_public(gone[0], nkey);
    snprintf(want, sizeof want,
             "    { nkey: \"%s\", permissions: { publish: { deny: [\">\"] }, subscribe: { deny: [\">\"] } } }\n", nkey);
    assert_non_null(strstr(strstr(text, "  BUS: {\n"), want));
    assert_int_equal(count(text, nkey), 1);
    free(text);
}

static char *slurp(const char *path, mode_t *mode)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    if (!f || fstat(fileno(f), &st) != 0) {
        if (f)
            fclose(f);
        return NULL;
    }
    char *text = calloc(1, (size_t)st.st_size + 1);
    size_t n = fread(text, 1, (size_t)st.st_size, f);
    fclose(f);
    text[n] = '\0';
    *mode = st.st_mode & 0777;
    return text;
}

/* The peers' users go to a file of their own that the main file includes
 * by name, each string's first character escaped (nats_config.c: so that
 * what nats-server keeps of old configurations after reloads does not pin
 * whole files). */
static void users_are_written_to_an_included_file(void **state)
{
    (void)state;
    natsconf_user u = {.room_ids = rooms, .nrooms = 1};
    randombytes_buf(u.public_key, 32);
    natsconf c = base(&u, 1);
    char *text = natsconf_render(&c, 0), dir[PATH_MAX], path[PATH_MAX + 16], users_path[PATH_MAX + 32];
    char nkey[57], internal[57], escaped[256];
    busauth_nkey_encode_public(u.public_key, nkey);
    busauth_nkey_encode_public(c.internal_key, internal);
    test_make_temp_dir(dir);
    snprintf(path, sizeof path, "%s/nats.conf", dir);
    assert_int_equal(natsconf_write(path, text), 0);
    assert_int_equal(natsconf_users_path(path, users_path, sizeof users_path), 0);
    mode_t main_mode = 0, users_mode = 0;
    char *main_text = slurp(path, &main_mode), *users = slurp(users_path, &users_mode);
    assert_non_null(main_text);
    assert_non_null(users);
    assert_int_equal(main_mode, 0600);
    assert_int_equal(users_mode, 0600);
    assert_non_null(strstr(main_text, "  BUS: {\n    include \"nats.conf.users\"\n  }\n"));
    assert_null(strstr(main_text, nkey + 1));
    assert_null(strstr(main_text, internal + 1));
    /* The main file is the text with the list replaced by the include. */
    const char *block = strstr(text, "  BUS: {\n") + strlen("  BUS: {\n"), *block_end = strstr(block, "\n    ]\n");
    size_t block_len = (size_t)(block_end - block) + strlen("\n    ]\n");
    assert_int_equal(strncmp(main_text, text, (size_t)(block - text)), 0);
    assert_string_equal(strstr(main_text, "    include") + strlen("    include \"nats.conf.users\"\n"),
                        block + block_len);
    /* The list, each string escaped once at its start, nothing else. */
    snprintf(escaped, sizeof escaped, "{ nkey: \"\\x55%s\", permissions: {", nkey + 1);
    assert_non_null(strstr(users, escaped));
    snprintf(escaped, sizeof escaped,
             "allow: [\"\\x75nibus.room.%s.>\", \"\\x75nibus.reply.*.%s.>\"], deny: [\"\\x24SYS.>\"]", rooms[0],
             rooms[0]);
    assert_non_null(strstr(users, escaped));
    assert_non_null(strstr(users, "deny: [\"\\x3e\"]"));
    assert_int_equal(count(users, "\\x"), count(users, "\"") / 2);
    assert_int_equal(strlen(users), block_len + 3 * (count(users, "\"") / 2));
    free(main_text);
    free(users);
    free(text);
    test_remove_tree(dir);
}

/* Blocks kept from one rendering to the next give the text a fresh
 * rendering gives, through every kind of change: a member's rooms added,
 * removed or reordered, users gone and new, and the tricks that would
 * hand one user another's grants: two users with the same rooms, a key
 * moved to another user's rooms. */
#define KEPT_USERS 40
#define KEPT_ROOMS 6
static void kept_blocks_render_what_a_fresh_rendering_does(void **state)
{
    (void)state;
    static char pool[KEPT_ROOMS][NATSCONF_ROOM_ID_LEN + 1];
    for (int r = 0; r < KEPT_ROOMS; r++)
        snprintf(pool[r], sizeof pool[r], "%032x", 0xabc0 + r);
    static char ids[KEPT_USERS][KEPT_ROOMS][NATSCONF_ROOM_ID_LEN + 1];
    natsconf_user users[KEPT_USERS];
    for (int i = 0; i < KEPT_USERS; i++) {
        randombytes_buf(users[i].public_key, 32);
        users[i].room_ids = ids[i];
        users[i].nrooms = 0;
    }
    natsconf c = base(users, KEPT_USERS);
    natsconf_blocks *kept = natsconf_blocks_new();
    assert_non_null(kept);
    for (int step = 0; step < 400; step++) {
        natsconf_user *u = &users[randombytes_uniform(KEPT_USERS)];
        switch (randombytes_uniform(5)) {
        case 0: /* a room more, or one fewer */
            if (u->nrooms < KEPT_ROOMS && randombytes_uniform(2))
                memcpy(u->room_ids[u->nrooms++], pool[randombytes_uniform(KEPT_ROOMS)], NATSCONF_ROOM_ID_LEN + 1);
            else if (u->nrooms)
                u->nrooms--;
            break;
        case 1: /* the same rooms in another order */
            if (u->nrooms > 1) {
                char first[NATSCONF_ROOM_ID_LEN + 1];
                memcpy(first, u->room_ids[0], sizeof first);
                memcpy(u->room_ids[0], u->room_ids[u->nrooms - 1], sizeof first);
                memcpy(u->room_ids[u->nrooms - 1], first, sizeof first);
            }
            break;
        case 2: /* another user's rooms exactly */
            memcpy(u->room_ids, users[0].room_ids, sizeof ids[0]);
            u->nrooms = users[0].nrooms;
            break;
        case 3: /* her key to another user, who keeps his rooms */
            memcpy(users[randombytes_uniform(KEPT_USERS)].public_key, u->public_key, 32);
            randombytes_buf(u->public_key, 32);
            break;
        default: /* fewer users listed, or all again */
            c.nusers = randombytes_uniform(2) ? KEPT_USERS : 1 + randombytes_uniform(KEPT_USERS);
        }
        c.blocks = kept;
        char *from_kept = natsconf_render(&c, 0);
        c.blocks = NULL;
        char *fresh = natsconf_render(&c, 0);
        assert_non_null(from_kept);
        assert_non_null(fresh);
        assert_string_equal(from_kept, fresh);
        free(from_kept);
        free(fresh);
    }
    natsconf_blocks_free(kept);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(members_get_their_rooms_and_own_answers_only),
        cmocka_unit_test(internal_user_is_always_there),
        cmocka_unit_test(a_user_without_rooms_is_denied_everything),
        cmocka_unit_test(monitoring_is_a_system_account_user_with_three_requests),
        cmocka_unit_test(auth_off_has_no_authorization_block),
        cmocka_unit_test(tls_and_ipv6_render),
        cmocka_unit_test(hostile_values_are_refused),
        cmocka_unit_test(listeners_read_back),
        cmocka_unit_test(a_cluster_has_secret_mutual_tls_and_pins),
        cmocka_unit_test(a_cluster_that_would_be_open_is_refused),
        cmocka_unit_test(retiring_users_stay_denied_everything),
        cmocka_unit_test(users_are_written_to_an_included_file),
        cmocka_unit_test(kept_blocks_render_what_a_fresh_rendering_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
