/*
 * The data plane at its edges: an empty allowlist still refuses
 * strangers, a user in no room may publish nowhere, kill -9 of membershipd
 * leaves no nats-server behind, with TLS only clients that trust the
 * CA get in, and nats-server runs with the memory limit it was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "fixture.h"
#include "nats_peer.h"
#include "raw_socket.h"
#include "testutil.h"
#include <openssl/ssl.h>

static fixture F;

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static unsigned port_of(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon ? (unsigned)atoi(colon + 1) : 0;
}

static void empty_allowlist_refuses_strangers(void **state)
{
    (void)state;
    char dir[PATH_MAX], data[PATH_MAX + 16];
    test_make_temp_dir(dir);
    snprintf(data, sizeof data, "%s/data", dir);
    const char *args[] = {"--data-dir", data, NULL};
    harness_server h;
    assert_int_equal(harness_start(&h, false, args), 0);
    nats_peer anon, stranger;
    assert_int_not_equal(nats_peer_connect(&anon, h.nats_url, NULL, NULL, false), NATS_OK);
    busauth_identity *nobody;
    busauth_identity_generate(&nobody);
    assert_int_not_equal(nats_peer_connect(&stranger, h.nats_url, nobody, NULL, false), NATS_OK);
    busauth_identity_free(nobody);
    nats_peer_close(&anon);
    nats_peer_close(&stranger);
    assert_int_equal(harness_stop(&h), 0);
    test_remove_tree(dir);
}

static void a_user_in_no_room_may_publish_nowhere(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, NULL), 0);
    nats_peer carol;
    assert_int_equal(nats_peer_connect(&carol, F.server.nats_url, F.carol, NULL, false), NATS_OK);
    const char *subjects[] = {"anything", "unibus.room.00000000000000000000000000000000.x", "_INBOX.x", "$SYS.REQ.SERVER.PING"};
    for (size_t i = 0; i < 4; i++)
        natsConnection_PublishString(carol.nc, subjects[i], "x");
    natsConnection_FlushTimeout(carol.nc, 2000);
    assert_int_equal(nats_peer_wait_permission_errors(&carol, 4, 2000), 4);
    nats_peer_close(&carol);
}

static bool process_alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

static bool port_bindable(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void kill_9_of_membershipd_leaves_no_orphan(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, NULL), 0);
    pid_t child = harness_nats_pid(&F.server);
    unsigned port = port_of(F.server.nats_url);
    assert_true(child > 0 && port > 0);
    kill(F.server.pid, SIGKILL);
    waitpid(F.server.pid, NULL, 0);
    F.server.pid = 0;
    bool gone = false;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = !process_alive(child);
        if (!gone) {
            struct timespec pause = {0, 10 * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    assert_true(gone);
    assert_true(port_bindable(port));
    fixture_stop(&F); /* the server is already gone: only cleanup */
    memset(&F, 0, sizeof F);
    F.server.pid = 0;
}

/* The flag's value replaces whatever limit membershipd inherited; off
 * leaves nats-server with none at all (dev/bench.md, case 4). */
static void nats_server_runs_with_the_memory_limit(void **state)
{
    (void)state;
    char value[64];
    setenv("GOMEMLIMIT", "12345", 1); /* inherited by membershipd: must not reach nats-server */
    const char *limited[] = {"--nats-memory-limit", "200MiB", NULL};
    assert_int_equal(fixture_start(&F, limited), 0);
    pid_t child = harness_nats_pid(&F.server);
    assert_true(child > 0);
    assert_true(harness_process_getenv(child, "GOMEMLIMIT", value, sizeof value));
    assert_string_equal(value, "209715200");
    assert_int_equal(fixture_stop(&F), 0);

    const char *off[] = {"--nats-memory-limit", "off", NULL};
    assert_int_equal(fixture_start(&F, off), 0);
    child = harness_nats_pid(&F.server);
    assert_true(child > 0);
    assert_true(harness_process_getenv(child, "PATH", value, sizeof value));
    assert_false(harness_process_getenv(child, "GOMEMLIMIT", value, sizeof value));
    unsetenv("GOMEMLIMIT");
}

static int no_teardown(void **state)
{
    (void)state;
    return 0;
}

/* NATS sends INFO in clear, then the client starts TLS: reads the INFO
 * line and shakes hands at exactly one protocol version, verifying the
 * server as a client does (ca, the name 127.0.0.1). */
static int nats_tls_handshake(unsigned port, int version, const char *ca)
{
    int fd = raw_connect(port, NULL);
    char info[4096];
    if (fd < 0 || raw_read(fd, info, sizeof info, 2000) <= 0)
        return -2;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_load_verify_locations(ctx, ca, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set1_host(ssl, "127.0.0.1");
    SSL_set_fd(ssl, fd);
    int rc = SSL_connect(ssl) == 1 ? 0 : -1;
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return rc;
}

/* Strangers whose client name spells the lines membershipd waits for, and
 * the server's own key added as a user offline: neither may make a
 * revocation look applied when it is not. */
static void the_data_plane_cannot_be_fooled(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, NULL), 0);
    char server_key[57];
    busauth_nkey_encode_public(F.server_key, server_key);
    const char *args[] = {"user", "add", "impostor", server_key, "--data-dir", F.data_dir, NULL};
    assert_int_equal(harness_run(args, NULL, 0), 0);
    http_result r = fixture_call(&F, F.admin, "POST", "/v1/users", NULL);
    http_result_free(&r);
    char body[160];
    snprintf(body, sizeof body, "{\"name\":\"impostor2\",\"public_key\":\"%s\"}", server_key);
    r = fixture_call(&F, F.admin, "POST", "/v1/users", body);
    assert_int_equal(r.status, 400); /* the API refuses it outright */
    http_result_free(&r);

    const char *names[] = {"[INF] Reloaded server configuration", "x] [INF] Server is ready", "Reloaded server configuration"};
    for (int i = 0; i < 9; i++) {
        natsOptions *o;
        natsConnection *nc = NULL;
        natsOptions_Create(&o);
        natsOptions_SetURL(o, F.server.nats_url);
        natsOptions_SetName(o, names[i % 3]);
        natsOptions_SetAllowReconnect(o, false);
        assert_int_not_equal(natsConnection_Connect(&nc, o), NATS_OK);
        natsOptions_Destroy(o);
    }
    nats_peer bob;
    assert_int_equal(nats_peer_connect(&bob, F.server.nats_url, F.bob, NULL, false), NATS_OK);
    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", F.bob_nkey);
    r = fixture_call(&F, F.admin, "DELETE", target, NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_true(nats_peer_wait_closed(&bob, 2000));
    nats_peer_close(&bob);
}

static void tls_data_plane_wants_the_ca(void **state)
{
    (void)state;
    char dir[PATH_MAX], pki[PATH_MAX + 16], ca[PATH_MAX + 32], cert[PATH_MAX + 32], key[PATH_MAX + 32];
    test_make_temp_dir(dir);
    snprintf(pki, sizeof pki, "%s/pki", dir);
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "sh '%s' '%s'", getenv("UNIBUS_MAKE_TEST_PKI"), pki);
    assert_int_equal(system(cmd), 0);
    snprintf(ca, sizeof ca, "%s/ca.pem", pki);
    snprintf(cert, sizeof cert, "%s/server.pem", pki);
    snprintf(key, sizeof key, "%s/server.key", pki);
    const char *flags[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    assert_int_equal(fixture_start(&F, flags), 0);
    assert_int_equal(strncmp(F.server.nats_url, "tls://", 6), 0);

    nats_peer trusting, untrusting, plain;
    assert_int_equal(nats_peer_connect(&trusting, F.server.nats_url, F.alice, ca, false), NATS_OK);
    nats_peer_close(&trusting);
    char self_signed[PATH_MAX + 48];
    snprintf(self_signed, sizeof self_signed, "%s/selfsigned.pem", pki);
    assert_int_not_equal(nats_peer_connect(&untrusting, F.server.nats_url, F.alice, self_signed, false), NATS_OK);
    nats_peer_close(&untrusting);
    char plain_url[160];
    snprintf(plain_url, sizeof plain_url, "nats://127.0.0.1:%u", port_of(F.server.nats_url));
    assert_int_not_equal(nats_peer_connect(&plain, plain_url, F.alice, NULL, false), NATS_OK);
    nats_peer_close(&plain);

    /* nats-server 2.9 has no min_version setting: prove it offers no TLS 1.1
     * to a client willing to speak it, and does speak TLS 1.2. */
    unsigned port = port_of(F.server.nats_url);
    assert_int_equal(nats_tls_handshake(port, TLS1_1_VERSION, ca), -1);
    assert_int_equal(nats_tls_handshake(port, TLS1_2_VERSION, ca), 0);
    test_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_allowlist_refuses_strangers),
        cmocka_unit_test_teardown(a_user_in_no_room_may_publish_nowhere, teardown),
        cmocka_unit_test_teardown(kill_9_of_membershipd_leaves_no_orphan, no_teardown),
        cmocka_unit_test_teardown(the_data_plane_cannot_be_fooled, teardown),
        cmocka_unit_test_teardown(tls_data_plane_wants_the_ca, teardown),
        cmocka_unit_test_teardown(nats_server_runs_with_the_memory_limit, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_CloseAndWait(5000); /* nats.c threads done before OpenSSL cleans up at exit */
    return rc;
}
