/*
 * membershipd doctor against real setups: a running loopback server, a
 * running TLS server, a public TLS + enforce configuration, and broken
 * ones (world-readable key and seed, expired certificate, wrong SAN, TLS
 * off on a public bind, nats-server missing, a damaged database, a
 * revoked key still connected, an impostor on the data-plane port), each
 * asserting its check's verdict in the JSON report.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "fake_nats.h"
#include "fixture.h"
#include "nats_peer.h"
#include "testutil.h"

#define MAX_FLAGS 24

static fixture F;
static char PKI[PATH_MAX + 64], CA[PATH_MAX + 64], CERT[PATH_MAX + 64], KEY[PATH_MAX + 64];

typedef struct {
    int rc;
    json_t *doc;
} doctor_run;

/* membershipd doctor --json FLAGS... (NULL-terminated). */
static doctor_run doctor_json(const char *first, ...)
{
    const char *args[MAX_FLAGS + 3] = {"doctor", "--json"};
    size_t n = 2;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < MAX_FLAGS + 2; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    static char out[256 * 1024];
    doctor_run r = {.rc = harness_run(args, out, sizeof out)};
    r.doc = json_loads(out, 0, NULL);
    if (!r.doc)
        fprintf(stderr, "doctor printed no JSON: %s\n", out);
    return r;
}

static json_t *check_of(const doctor_run *r, const char *id)
{
    size_t i;
    json_t *check;
    json_array_foreach(json_object_get(r->doc, "checks"), i, check)
        if (strcmp(json_string_value(json_object_get(check, "id")), id) == 0)
            return check;
    fail_msg("no check %s in the report", id);
    return NULL;
}

static void expect(const doctor_run *r, const char *id, const char *verdict)
{
    json_t *check = check_of(r, id);
    const char *got = json_string_value(json_object_get(check, "verdict"));
    if (strcmp(got, verdict) != 0)
        fail_msg("%s: %s, want %s (%s)", id, got, verdict, json_string_value(json_object_get(check, "what")));
}

static void expect_what(const doctor_run *r, const char *id, const char *text)
{
    const char *what = json_string_value(json_object_get(check_of(r, id), "what"));
    if (!strstr(what, text))
        fail_msg("%s: '%s' lacks '%s'", id, what, text);
}

static json_t *details(const doctor_run *r, const char *id)
{
    json_t *d = json_object_get(check_of(r, id), "details");
    assert_non_null(d);
    return d;
}

static void done(doctor_run *r)
{
    json_decref(r->doc);
}

/* A certificate for server.key, issued by the test CA, with san and days. */
static void make_cert(const char *name, const char *san, int days)
{
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && printf 'subjectAltName=%s\\n' > %s.ext && "
             "openssl req -new -key server.key -subj /CN=%s -out %s.csr 2>/dev/null && "
             "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days %d "
             "-extfile %s.ext -out %s.pem 2>/dev/null && cat ca.pem >> %s.pem", /* the chain to its root */
             PKI, san, name, name, name, name, days, name, name, name);
    assert_int_equal(system(cmd), 0);
}

static char *pki_path(const char *file)
{
    static char paths[8][PATH_MAX + 96];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, PATH_MAX + 96, "%s/%s", PKI, file);
    return p;
}

/* A private, empty data dir for configuration-only runs. */
static void fresh_data_dir(char dir[PATH_MAX + 16])
{
    char base[PATH_MAX];
    test_make_temp_dir(base);
    snprintf(dir, PATH_MAX + 16, "%s/data", base);
    assert_int_equal(mkdir(dir, 0700), 0);
}

static int setup_pki(void **state)
{
    (void)state;
    if (fixture_make_pki(CA, CERT, KEY) != 0)
        return -1;
    snprintf(PKI, sizeof PKI, "%.*s", (int)(strrchr(CA, '/') - CA), CA);
    make_cert("long", "DNS:bus.test,IP:127.0.0.1", 90);
    make_cert("wrong", "DNS:wrong.example", 90);
    return 0;
}

static char *port_text(unsigned port)
{
    static char text[2][16];
    static int next;
    char *t = text[next++ % 2];
    snprintf(t, 16, "%u", port);
    return t;
}

static void loopback_server_is_healthy(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, NULL), 0);
    doctor_run r = doctor_json("--data-dir", F.data_dir, "--http-port", port_text(F.server.port), NULL);
    assert_non_null(r.doc);
    assert_int_equal(r.rc, 0);
    assert_int_equal(json_integer_value(json_object_get(r.doc, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.doc, "summary"), "fail")), 0);
    const char *ok[] = {"guard.public_tls", "guard.public_auth", "guard.tls_files", "guard.data_dir",
                        "guard.server_identity", "guard.nats_binary", "posture.bus_auth", "files.private",
                        "nats.version", "store.integrity", "store.wal_size", "live.dataplane_login",
                        "live.revoked_connections"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect(&r, ok[i], "ok");
    const char *skipped[] = {"tls.chain", "tls.san", "tls.expiry", "live.controlplane_tls"};
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        expect(&r, skipped[i], "skip");
    const char *cluster[] = {"cluster.routes", "cluster.route_tls", "cluster.quorum", "cluster.follower_lag",
                             "cluster.clock_skew"};
    for (size_t i = 0; i < sizeof cluster / sizeof cluster[0]; i++) {
        expect(&r, cluster[i], "skip");
        expect_what(&r, cluster[i], "no cluster configured");
    }
    assert_string_equal(json_string_value(json_object_get(details(&r, "nats.version"), "version")), "2.9.10");
    done(&r);

    /* The same report as lines: "verdict  id  what[; fix]". */
    char out[64 * 1024];
    const char *args[] = {"doctor", "--data-dir", F.data_dir, "--http-port", port_text(F.server.port), NULL};
    assert_int_equal(harness_run(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "ok    live.dataplane_login  membershipd's own identity logs in at nats://127.0.0.1:"));
    assert_non_null(strstr(out, "skip  cluster.clock_skew  no cluster configured\n"));
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        assert_true(strncmp(line, "ok    ", 6) == 0 || strncmp(line, "warn  ", 6) == 0 ||
                    strncmp(line, "fail  ", 6) == 0 || strncmp(line, "skip  ", 6) == 0);
    assert_int_equal(fixture_stop(&F), 0);
}

static void tls_server_is_healthy(void **state)
{
    (void)state;
    const char *flags[] = {"--tls-cert", CERT, "--tls-key", KEY, NULL};
    assert_int_equal(fixture_start(&F, flags), 0);
    doctor_run r = doctor_json("--data-dir", F.data_dir, "--http-port", port_text(F.server.port), "--tls-cert", CERT,
                               "--tls-key", KEY, "--ca", CA, NULL);
    assert_non_null(r.doc);
    assert_int_equal(r.rc, 0);
    const char *ok[] = {"guard.tls_files", "tls.min_version", "tls.chain", "tls.san", "live.dataplane_login",
                        "live.controlplane_tls", "live.revoked_connections"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect(&r, ok[i], "ok");
    expect_what(&r, "live.controlplane_tls", "completes TLS 1.2 and refuses TLS 1.1");
    expect_what(&r, "live.dataplane_login", "tls://127.0.0.1:");
    /* make_test_pki.sh's certificates live two days: near expiry warns. */
    expect(&r, "tls.expiry", "warn");
    assert_true(json_integer_value(json_object_get(details(&r, "tls.expiry"), "days_left")) <= 2);
    done(&r);

    /* --tls-min 1.3 against a server running 1.2: its floor is below. */
    r = doctor_json("--data-dir", F.data_dir, "--http-port", port_text(F.server.port), "--tls-cert", CERT,
                    "--tls-key", KEY, "--ca", CA, "--tls-min", "1.3", NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "live.controlplane_tls", "fail");
    expect_what(&r, "live.controlplane_tls", "completes a TLS 1.2 handshake, below --tls-min 1.3");
    expect(&r, "tls.min_version", "warn");
    done(&r);
    assert_int_equal(fixture_stop(&F), 0);
}

static void public_tls_enforce_is_healthy(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16];
    fresh_data_dir(dir);
    doctor_run r = doctor_json("--data-dir", dir, "--bind", "0.0.0.0", "--tls-cert", pki_path("long.pem"),
                               "--tls-key", KEY, "--ca", CA, "--advertise", "bus.test,127.0.0.1", NULL);
    assert_non_null(r.doc);
    assert_int_equal(r.rc, 0);
    const char *ok[] = {"guard.public_tls", "guard.public_auth", "guard.tls_auth", "guard.tls_files",
                        "tls.min_version", "tls.chain", "tls.san", "tls.expiry", "files.private"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect(&r, ok[i], "ok");
    expect_what(&r, "tls.san", "bus.test, 127.0.0.1");
    assert_true(json_integer_value(json_object_get(details(&r, "tls.expiry"), "days_left")) >= 89);
    expect(&r, "live.dataplane_login", "skip");
    done(&r);

    /* Without --advertise nobody can say which names clients dial. */
    r = doctor_json("--data-dir", dir, "--bind", "0.0.0.0", "--tls-cert", pki_path("long.pem"), "--tls-key", KEY,
                    NULL);
    expect(&r, "tls.san", "warn");
    expect(&r, "tls.chain", "warn"); /* a private CA, not in the system's store */
    assert_int_equal(r.rc, 0);
    done(&r);
}

static void world_readable_key_fails(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16], cmd[3 * PATH_MAX];
    fresh_data_dir(dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 644 '%s'", KEY, pki_path("open.key"), pki_path("open.key"));
    assert_int_equal(system(cmd), 0);
    doctor_run r = doctor_json("--data-dir", dir, "--tls-cert", CERT, "--tls-key", pki_path("open.key"), NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "guard.tls_files", "fail");
    expect_what(&r, "guard.tls_files", "chmod 600");
    done(&r);
}

static void world_readable_seed_and_data_dir_fail(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16], seed[PATH_MAX + 32];
    fresh_data_dir(dir);
    snprintf(seed, sizeof seed, "%s/server.seed", dir);
    const char *keygen[] = {"keygen", "--out", seed, NULL};
    assert_int_equal(harness_run(keygen, NULL, 0), 0);
    chmod(seed, 0644);
    doctor_run r = doctor_json("--data-dir", dir, NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "guard.server_identity", "fail");
    expect(&r, "files.private", "fail");
    expect_what(&r, "files.private", seed);
    done(&r);
    chmod(seed, 0600);
    chmod(dir, 0755);
    r = doctor_json("--data-dir", dir, NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "guard.data_dir", "fail");
    expect(&r, "files.private", "ok");
    done(&r);
}

/* Issue 11, finding 6: another user's files in the data dir, or the data
 * dir itself, whatever their modes.  Giving files away needs root. */
static void files_another_user_owns_fail(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char dir[PATH_MAX + 16], seed[PATH_MAX + 32];
    fresh_data_dir(dir);
    snprintf(seed, sizeof seed, "%s/server.seed", dir);
    const char *keygen[] = {"keygen", "--out", seed, NULL};
    assert_int_equal(harness_run(keygen, NULL, 0), 0);
    assert_int_equal(chown(seed, 65534, (gid_t)-1), 0);
    doctor_run r = doctor_json("--data-dir", dir, NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "guard.server_identity", "fail");
    expect(&r, "files.private", "fail");
    expect_what(&r, "files.private", seed);
    expect_what(&r, "files.private", "another user owns");
    done(&r);
    assert_int_equal(chown(seed, 0, (gid_t)-1), 0);
    assert_int_equal(chown(dir, 65534, (gid_t)-1), 0);
    r = doctor_json("--data-dir", dir, NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "guard.data_dir", "fail");
    expect_what(&r, "guard.data_dir", "chown -R 0");
    done(&r);
    assert_int_equal(chown(dir, 0, (gid_t)-1), 0);
}

static void expired_certificate_fails(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16];
    fresh_data_dir(dir);
    doctor_run r = doctor_json("--data-dir", dir, "--tls-cert", pki_path("expired.pem"), "--tls-key",
                               pki_path("expired.key"), NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "tls.expiry", "fail");
    expect_what(&r, "tls.expiry", "expired at");
    expect(&r, "guard.tls_files", "fail");
    done(&r);
}

static void wrong_san_fails(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16];
    fresh_data_dir(dir);
    doctor_run r = doctor_json("--data-dir", dir, "--tls-cert", pki_path("wrong.pem"), "--tls-key", KEY, "--ca", CA,
                               NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "tls.san", "fail");
    expect_what(&r, "tls.san", "no subject alternative name for 127.0.0.1");
    expect(&r, "tls.chain", "ok"); /* a good chain, for the wrong names */
    done(&r);
    r = doctor_json("--data-dir", dir, "--bind", "0.0.0.0", "--tls-cert", pki_path("long.pem"), "--tls-key", KEY,
                    "--advertise", "bus.example.org", NULL);
    expect(&r, "tls.san", "fail");
    expect_what(&r, "tls.san", "bus.example.org");
    done(&r);
    /* A chain checked against a CA that did not issue it. */
    r = doctor_json("--data-dir", dir, "--tls-cert", pki_path("selfsigned.pem"), "--tls-key", KEY, "--ca", CA, NULL);
    expect(&r, "tls.chain", "fail");
    done(&r);
}

static void tls_off_on_public_bind_fails(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16];
    fresh_data_dir(dir);
    doctor_run r = doctor_json("--data-dir", dir, "--bind", "0.0.0.0", NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "guard.public_tls", "fail");
    expect_what(&r, "guard.public_tls", "serve would refuse to start: --bind 0.0.0.0 is not loopback and TLS is off");
    expect(&r, "guard.public_auth", "ok");
    done(&r);
    r = doctor_json("--data-dir", dir, "--bus-auth", "off", NULL);
    assert_int_equal(r.rc, 0); /* loopback may run without auth, with a warning */
    expect(&r, "posture.bus_auth", "warn");
    done(&r);
}

static void missing_nats_server_fails(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16];
    fresh_data_dir(dir);
    doctor_run r = doctor_json("--data-dir", dir, "--nats-server", "/nonexistent/nats-server", NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "guard.nats_binary", "fail");
    expect(&r, "nats.version", "skip");
    done(&r);
    /* Something that runs but is not nats-server. */
    r = doctor_json("--data-dir", dir, "--nats-server", "/bin/true", NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "nats.version", "fail");
    done(&r);
}

static void damaged_database_fails(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16], db[PATH_MAX + 32];
    fresh_data_dir(dir);
    for (int i = 0; i < 40; i++) {
        char name[16], nkey[64], out[256];
        snprintf(name, sizeof name, "user%d", i);
        busauth_identity *id;
        busauth_identity_generate(&id);
        busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
        busauth_identity_free(id);
        const char *add[] = {"user", "add", name, nkey, "--data-dir", dir, NULL};
        assert_int_equal(harness_run(add, out, sizeof out), 0);
    }
    snprintf(db, sizeof db, "%s/membership.db", dir);
    doctor_run r = doctor_json("--data-dir", dir, NULL);
    expect(&r, "store.integrity", "ok");
    done(&r);
    /* Garbage over the middle of the file, past the header. */
    FILE *f = fopen(db, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 4096, SEEK_SET);
    for (long i = 4096; i < size - 1; i++)
        fputc(0xA5, f);
    fclose(f);
    r = doctor_json("--data-dir", dir, NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "store.integrity", "fail");
    done(&r);
}

static bool revoked_lists(const doctor_run *r, const char *nkey)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(details(r, "live.revoked_connections"), "revoked"), i, k)
        if (strcmp(json_string_value(k), nkey) == 0)
            return true;
    return false;
}

/* Revoked through the API: the connection goes, doctor finds none.  Then
 * membershipd is frozen (SIGSTOP) so it cannot reload nats-server, and bob
 * is revoked with the offline CLI: his live connection is exactly what
 * doctor must report, until membershipd runs again and drops it. */
static void revoked_user_with_live_connection(void **state)
{
    (void)state;
    assert_int_equal(fixture_start(&F, NULL), 0);
    nats_peer alice, bob;
    assert_int_equal(nats_peer_connect(&alice, F.server.nats_url, F.alice, NULL, false), NATS_OK);
    assert_int_equal(nats_peer_connect(&bob, F.server.nats_url, F.bob, NULL, false), NATS_OK);
    char target[80];
    snprintf(target, sizeof target, "/v1/users/%s", F.alice_nkey);
    http_result res = fixture_call(&F, F.admin, "DELETE", target, NULL);
    assert_int_equal(res.status, 200);
    http_result_free(&res);
    assert_true(nats_peer_wait_closed(&alice, 5000));

    doctor_run r = doctor_json("--data-dir", F.data_dir, NULL);
    expect(&r, "live.revoked_connections", "ok");
    assert_true(json_integer_value(json_object_get(details(&r, "live.revoked_connections"), "connections")) >= 1);
    assert_false(revoked_lists(&r, F.alice_nkey));
    done(&r);

    assert_int_equal(kill(F.server.pid, SIGSTOP), 0);
    const char *revoke[] = {"user", "revoke", "bob", "--data-dir", F.data_dir, NULL};
    char out[512];
    assert_int_equal(harness_run(revoke, out, sizeof out), 0);
    assert_false(nats_peer_wait_closed(&bob, 500));
    r = doctor_json("--data-dir", F.data_dir, NULL);
    assert_int_equal(r.rc, 1);
    expect(&r, "live.revoked_connections", "fail");
    assert_true(revoked_lists(&r, F.bob_nkey));
    done(&r);

    assert_int_equal(kill(F.server.pid, SIGCONT), 0);
    assert_true(nats_peer_wait_closed(&bob, 5000));
    r = doctor_json("--data-dir", F.data_dir, NULL);
    expect(&r, "live.revoked_connections", "ok");
    assert_int_equal(r.rc, 0);
    done(&r);
    nats_peer_close(&alice);
    nats_peer_close(&bob);
    assert_int_equal(fixture_stop(&F), 0);
}

/* Another program holds the data-plane port (taken while nats-server
 * restarted) and speaks NATS over TLS well enough to take a login, with a
 * certificate for the same names from another CA: doctor must not call
 * that the data plane; nor, on the control-plane port, the control plane. */
static void impostor_on_a_server_port_fails(void **state)
{
    (void)state;
    const char *flags[] = {"--tls-cert", CERT, "--tls-key", KEY, NULL};
    assert_int_equal(fixture_start(&F, flags), 0);
    const char *nonces[] = {"AbCdEfGh-_01234"};
    fake_nats_script script = {.nonces = nonces, .nonce_count = 1, .tls_cert = pki_path("impostor.pem"),
                               .tls_key = pki_path("impostor.key")};
    fake_nats impostor;
    unsigned port = fixture_nats_port(&F);
    assert_int_equal(fake_nats_take_over(&impostor, &F.server, port, &script), 0);
    doctor_run r = doctor_json("--data-dir", F.data_dir, "--http-port", port_text(F.server.port), "--tls-cert", CERT,
                               "--tls-key", KEY, "--ca", CA, NULL);
    int signed_logins = fake_nats_signed_connects(&impostor);
    fake_nats_stop(&impostor);
    assert_int_equal(r.rc, 1);
    expect(&r, "live.dataplane_login", "fail");
    expect_what(&r, "live.dataplane_login", "does not present the certificate in");
    assert_int_equal(signed_logins, 0);
    done(&r);
    assert_int_equal(fixture_stop(&F), 0);

    /* The same on the control-plane port, once membershipd is gone. */
    script.tls_first = true;
    assert_int_equal(fake_nats_start(&impostor, F.server.port, &script), 0);
    r = doctor_json("--data-dir", F.data_dir, "--http-port", port_text(F.server.port), "--tls-cert", CERT,
                    "--tls-key", KEY, "--ca", CA, NULL);
    fake_nats_stop(&impostor);
    assert_int_equal(r.rc, 1);
    expect(&r, "live.controlplane_tls", "fail");
    expect_what(&r, "live.controlplane_tls", "presents a certificate other than the one in");
    done(&r);
}

static void usage_errors_exit_2(void **state)
{
    (void)state;
    const char *unknown[] = {"doctor", "--no-such-flag", NULL};
    assert_int_equal(harness_run(unknown, NULL, 0), 2);
    const char *bad[] = {"doctor", "--tls-min", "1.1", NULL};
    assert_int_equal(harness_run(bad, NULL, 0), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loopback_server_is_healthy),
        cmocka_unit_test(tls_server_is_healthy),
        cmocka_unit_test(public_tls_enforce_is_healthy),
        cmocka_unit_test(world_readable_key_fails),
        cmocka_unit_test(world_readable_seed_and_data_dir_fail),
        cmocka_unit_test(files_another_user_owns_fail),
        cmocka_unit_test(expired_certificate_fails),
        cmocka_unit_test(wrong_san_fails),
        cmocka_unit_test(tls_off_on_public_bind_fails),
        cmocka_unit_test(missing_nats_server_fails),
        cmocka_unit_test(damaged_database_fails),
        cmocka_unit_test(revoked_user_with_live_connection),
        cmocka_unit_test(impostor_on_a_server_port_fails),
        cmocka_unit_test(usage_errors_exit_2),
    };
    int rc = cmocka_run_group_tests(tests, setup_pki, NULL);
    nats_CloseAndWait(2000);
    return rc;
}
