/*
 * SIGHUP rotates the TLS certificate and key without a restart: a client
 * connected before keeps its connection (control plane and data plane),
 * a client connecting after sees the new certificate; a rotation to files
 * that would not work is refused and changes nothing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include "fixture.h"
#include "nats_peer.h"
#include "tls_client.h"
#include "testutil.h"

static fixture F;
static char CA1[PATH_MAX + 64], CERT1[PATH_MAX + 64], KEY1[PATH_MAX + 64];
static char CA2[PATH_MAX + 64], CERT2[PATH_MAX + 64], KEY2[PATH_MAX + 64];
static char DIR[PATH_MAX], LIVE_CERT[PATH_MAX + 16], LIVE_KEY[PATH_MAX + 16], BOTH_CAS[PATH_MAX + 16];

/* As an operator's deploy tool would: whole files, mode 0600. */
static void copy_file(const char *from, const char *to)
{
    assert_int_equal(test_replace_file(from, to, 0600), 0);
}

static void append_file(const char *from, FILE *out)
{
    char buf[65536];
    FILE *in = fopen(from, "r");
    assert_non_null(in);
    fwrite(buf, 1, fread(buf, 1, sizeof buf, in), out);
    fclose(in);
}

static int setup(void **state)
{
    (void)state;
    if (fixture_make_pki(CA1, CERT1, KEY1) != 0 || fixture_make_pki(CA2, CERT2, KEY2) != 0)
        return -1;
    test_make_temp_dir(DIR);
    snprintf(LIVE_CERT, sizeof LIVE_CERT, "%s/server.pem", DIR);
    snprintf(LIVE_KEY, sizeof LIVE_KEY, "%s/server.key", DIR);
    snprintf(BOTH_CAS, sizeof BOTH_CAS, "%s/cas.pem", DIR);
    copy_file(CERT1, LIVE_CERT);
    copy_file(KEY1, LIVE_KEY);
    FILE *cas = fopen(BOTH_CAS, "w");
    append_file(CA1, cas);
    append_file(CA2, cas);
    fclose(cas);
    const char *flags[] = {"--tls-cert", LIVE_CERT, "--tls-key", LIVE_KEY, NULL};
    if (fixture_start(&F, flags) != 0)
        return -1;
    F.ca_file = BOTH_CAS;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = fixture_stop(&F);
    test_remove_tree(DIR);
    return rc;
}

static void tls_open(tls_client *c, const fixture *f, const char *ca_file)
{
    assert_int_equal(tls_client_open(c, f->server.port, ca_file), 0);
}

/* GET /v1/health on the open connection, kept alive: true on a 200, with
 * the whole response read (headers, then Content-Length bytes). */
static bool tls_health(tls_client *c)
{
    const char req[] = "GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (SSL_write(c->ssl, req, (int)strlen(req)) <= 0)
        return false;
    char buf[8192];
    size_t got = 0;
    const char *end = NULL;
    long body = -1;
    while (got < sizeof buf - 1) {
        if (end && body >= 0 && got >= (size_t)(end + 4 - buf) + (size_t)body)
            break;
        int n = SSL_read(c->ssl, buf + got, (int)(sizeof buf - 1 - got));
        if (n <= 0)
            return false;
        got += (size_t)n;
        buf[got] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *length = strcasestr(buf, "Content-Length:");
            body = length && length < end ? strtol(length + 15, NULL, 10) : 0;
        }
    }
    return strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

static bool same_certificate(X509 *peer, const char *pem_path)
{
    FILE *f = fopen(pem_path, "r");
    X509 *want = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    bool same = want && peer && X509_cmp(peer, want) == 0;
    X509_free(want);
    return same;
}

/* What a new connection to f, trusting ca_file, is served. */
static bool serves_certificate(const fixture *f, const char *ca_file, const char *pem_path)
{
    tls_client c;
    tls_open(&c, f, ca_file);
    X509 *peer = SSL_get1_peer_certificate(c.ssl);
    bool same = same_certificate(peer, pem_path);
    X509_free(peer);
    tls_client_close(&c);
    return same;
}

static bool log_shows_within(const fixture *f, const char *text, int ms)
{
    for (int waited = 0; waited < ms; waited += 50) {
        if (harness_log_contains(&f->server, text))
            return true;
        usleep(50 * 1000);
    }
    return false;
}

static void sighup_rotates_the_certificate_and_keeps_clients_connected(void **state)
{
    (void)state;
    char room[33], subject[96];
    assert_int_equal(fixture_make_room(&F, F.alice, "rotating", room), 0);
    fixture_room_subject(room, subject);
    tls_client before;
    tls_open(&before, &F, BOTH_CAS);
    assert_true(tls_health(&before));
    nats_peer peer;
    assert_int_equal(nats_peer_connect(&peer, F.server.nats_url, F.alice, BOTH_CAS, true), NATS_OK);
    natsSubscription *sub = nats_peer_subscribe(&peer, subject);
    assert_true(serves_certificate(&F, BOTH_CAS, CERT1));

    copy_file(CERT2, LIVE_CERT);
    copy_file(KEY2, LIVE_KEY);
    kill(F.server.pid, SIGHUP);
    assert_true(log_shows_within(&F, "msg=reloaded tls=rotated dataplane=reloaded", 10000));

    assert_true(tls_health(&before));      /* the same connection, still served */
    X509 *kept = SSL_get1_peer_certificate(before.ssl);
    assert_true(same_certificate(kept, CERT1));
    X509_free(kept);
    assert_true(serves_certificate(&F, BOTH_CAS, CERT2)); /* a new connection: the new certificate */

    assert_true(nats_peer_echoes(&peer, sub, subject, "after the rotation", 3000));
    assert_int_equal(peer.reconnects, 0);
    nats_peer only_new;
    assert_int_equal(nats_peer_connect(&only_new, F.server.nats_url, F.bob, CA2, false), NATS_OK);
    nats_peer_close(&only_new);
    nats_peer only_old;
    assert_int_not_equal(nats_peer_connect(&only_old, F.server.nats_url, F.bob, CA1, false), NATS_OK);
    nats_peer_close(&only_old);

    natsSubscription_Destroy(sub);
    nats_peer_close(&peer);
    assert_false(harness_log_contains(&F.server, "msg=tls_retired"));
    tls_client_close(&before); /* the last connection on the old certificate */
    assert_true(log_shows_within(&F, "msg=tls_retired", 5000));
    http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
}

/* A key that does not match the certificate: refused as at boot, in one
 * log line; the certificate in use stays, nothing stops. */
static void a_broken_rotation_is_refused_and_changes_nothing(void **state)
{
    (void)state;
    const char *serving = serves_certificate(&F, BOTH_CAS, CERT1) ? CERT1 : CERT2;
    copy_file(serving == CERT1 ? CERT2 : CERT1, LIVE_CERT); /* the other certificate, this key */
    kill(F.server.pid, SIGHUP);
    assert_true(log_shows_within(&F, "msg=reload_refused", 10000));
    assert_true(harness_log_contains(&F.server, "kept=\"the certificate in use\""));
    assert_true(serves_certificate(&F, BOTH_CAS, serving));
    http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
}

/* A bus CA of its own (membershipd ca init in ca_dir) and a node
 * certificate from it for NAME in out_dir, as an operator makes them. */
static void bus_ca_certificate(const char *ca_dir, const char *out_dir)
{
    const char *init[] = {"ca", "init", "--trust-domain", "reload.test", "--data-dir", ca_dir, NULL};
    const char *issue[] = {"cert", "issue", "server", "--role", "node", "--dns", "localhost", "--ip", "127.0.0.1",
                           "--out", out_dir, "--data-dir", ca_dir, NULL};
    assert_int_equal(harness_run(init, NULL, 0), 0);
    assert_int_equal(harness_run(issue, NULL, 0), 0);
}

static int serial_cmp(const char *pem_a, const char *pem_b)
{
    X509 *a = NULL, *b = NULL;
    FILE *fa = fopen(pem_a, "r"), *fb = fopen(pem_b, "r");
    if (fa)
        a = PEM_read_X509(fa, NULL, NULL, NULL);
    if (fb)
        b = PEM_read_X509(fb, NULL, NULL, NULL);
    assert_true(a && b);
    int cmp = ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b));
    X509_free(a);
    X509_free(b);
    fclose(fa);
    fclose(fb);
    return cmp;
}

/* A signed GET /v1/me on the kept-alive handle: its status, and whether
 * curl reused the connection it had (no new connection for this call). */
static long me_on(fixture *f, CURL *kept, bool *reused)
{
    http_opts opts = {.id = f->alice, .ca_file = f->ca_file, .keep_alive = kept};
    http_result r = fixture_call_opts(f, &opts, "GET", "/v1/me", NULL, 0);
    long status = r.status, connects = -1;
    http_result_free(&r);
    curl_easy_getinfo(kept, CURLINFO_NUM_CONNECTS, &connects);
    *reused = connects == 0;
    return status;
}

/* `membershipd cert renew` of the certificate serve uses, then SIGHUP:
 * the connections open before stay served, on the old certificate; a new
 * connection gets the renewed one. */
static void a_bus_ca_certificate_renewed_under_load_keeps_connections(void **state)
{
    (void)state;
    char dir[PATH_MAX], ca_dir[PATH_MAX + 16], out[PATH_MAX + 16], crt[PATH_MAX + 32], key[PATH_MAX + 32],
        ca[PATH_MAX + 32], old[PATH_MAX + 32];
    test_make_temp_dir(dir);
    snprintf(ca_dir, sizeof ca_dir, "%s/ca", dir);
    snprintf(out, sizeof out, "%s/tls", dir);
    snprintf(crt, sizeof crt, "%s/server.crt", out);
    snprintf(key, sizeof key, "%s/server.key", out);
    snprintf(ca, sizeof ca, "%s/ca.crt", out);
    snprintf(old, sizeof old, "%s/old.crt", dir);
    assert_int_equal(mkdir(ca_dir, 0700), 0);
    assert_int_equal(mkdir(out, 0700), 0);
    bus_ca_certificate(ca_dir, out);
    fixture_record_key_file(key);
    copy_file(crt, old);

    fixture g;
    const char *flags[] = {"--tls-cert", crt, "--tls-key", key, NULL};
    assert_int_equal(fixture_start(&g, flags), 0);
    g.ca_file = ca;
    tls_client held, stranger;
    assert_int_not_equal(tls_client_open(&stranger, g.server.port, CA1), 0); /* another CA's trust: refused */
    tls_open(&held, &g, ca);
    assert_true(tls_health(&held));
    CURL *kept = curl_easy_init();
    bool reused;
    assert_int_equal(me_on(&g, kept, &reused), 200);
    assert_int_equal(me_on(&g, kept, &reused), 200);
    assert_true(reused); /* the handle does keep its connection */

    const char *renew[] = {"cert", "renew", "server", "--out", out, "--data-dir", ca_dir, NULL};
    assert_int_equal(harness_run(renew, NULL, 0), 0);
    fixture_record_key_file(key);
    assert_int_not_equal(serial_cmp(crt, old), 0);
    kill(g.server.pid, SIGHUP);
    assert_true(log_shows_within(&g, "msg=reloaded tls=rotated", 10000));

    assert_true(tls_health(&held)); /* the same TLS connection, still served */
    X509 *kept_cert = SSL_get1_peer_certificate(held.ssl);
    assert_true(same_certificate(kept_cert, old));
    X509_free(kept_cert);
    assert_int_equal(me_on(&g, kept, &reused), 200);
    assert_true(reused);             /* and curl's, still the one it had */
    assert_true(serves_certificate(&g, ca, crt));
    assert_false(serves_certificate(&g, ca, old));

    curl_easy_cleanup(kept);
    tls_client_close(&held);
    assert_int_equal(fixture_stop(&g), 0);
    test_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sighup_rotates_the_certificate_and_keeps_clients_connected),
        cmocka_unit_test(a_broken_rotation_is_refused_and_changes_nothing),
        cmocka_unit_test(a_bus_ca_certificate_renewed_under_load_keeps_connections),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
