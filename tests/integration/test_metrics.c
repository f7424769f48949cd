/*
 * GET /metrics on the real server (--metrics-addr): off by default, every
 * counter moved by exactly what a scripted workload did, nats-server's
 * own numbers read through, the TLS rules of the listener, and every
 * scrape accepted by promtool check metrics (the Prometheus tool).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "fixture.h"
#include "testutil.h"
#include "nats_peer.h"

#define SCRAPE_TIMEOUT_MS 15000

static fixture F;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int start(const char *const *flags)
{
    return fixture_start(&F, flags);
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

/* The port of the metrics listener, from its log line; 0 when none. */
static unsigned metrics_port(void)
{
    FILE *f = fopen(F.server.log_path, "r");
    char line[2048];
    unsigned port = 0;
    while (f && !port && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "msg=metrics_listening");
        p = p ? strstr(p, " port=") : NULL;
        port = p ? (unsigned)strtoul(p + 6, NULL, 10) : 0;
    }
    if (f)
        fclose(f);
    return port;
}

/* promtool's verdict on an exposition: 0 when it parses and lints clean
 * (1: not the format; 3: lint problems, such as a counter without _total). */
static int promtool_check(const char *text)
{
    const char *promtool = getenv("PROMTOOL");
    assert_non_null(promtool);
    char command[PATH_MAX + 32];
    snprintf(command, sizeof command, "'%s' check metrics", promtool);
    FILE *p = popen(command, "w");
    assert_non_null(p);
    fputs(text, p);
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One scrape over scheme; the body (the caller frees it), checked by
 * promtool; NULL when the listener did not answer 200. */
static char *scrape_via(const char *scheme, const char *ca_file)
{
    char base[64];
    snprintf(base, sizeof base, "%s://127.0.0.1:%u", scheme, metrics_port());
    http_opts opts = {.ca_file = ca_file};
    http_result r;
    http_call(base, "GET", "/metrics", NULL, 0, &opts, &r);
    char *text = r.status == 200 ? strdup(r.body) : NULL;
    http_result_free(&r);
    if (text)
        assert_int_equal(promtool_check(text), 0);
    return text;
}

static char *scrape(void)
{
    char *text = scrape_via("http", NULL);
    assert_non_null(text);
    return text;
}

/* The value of one series ("name" or "name{labels}" exactly as rendered);
 * -1 when the scrape does not hold it. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    return -1;
}

static double delta(const char *before, const char *after, const char *series)
{
    double a = value_of(after, series), b = value_of(before, series);
    return a - (b < 0 ? 0 : b);
}

/* Sockets in LISTEN state that process pid holds (IPv4 and IPv6). */
static int listening_sockets(pid_t pid)
{
    char inodes[64][32];
    int listening = 0;
    const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        char line[512];
        unsigned long inode;
        char state[8];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "%*s %*s %*s %7s %*s %*s %*s %*s %*s %lu", state, &inode) == 2 &&
                strcmp(state, "0A") == 0 && listening < 64)
                snprintf(inodes[listening++], sizeof inodes[0], "socket:[%lu]", inode);
        if (f)
            fclose(f);
    }
    char dir[64], path[320], target[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int held = 0;
    for (struct dirent *e; (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        for (int i = 0; i < listening; i++)
            held += strcmp(target, inodes[i]) == 0;
    }
    closedir(d);
    return held;
}

static void off_by_default(void **state)
{
    (void)state;
    assert_int_equal(start(NULL), 0);
    assert_false(harness_log_contains(&F.server, "msg=metrics_listening"));
    /* The control plane's socket and nothing else (nats-server is another process). */
    assert_int_equal(listening_sockets(F.server.pid), 1);
}

static char *wait_for_value(const char *series, double wanted)
{
    for (int waited = 0; waited < SCRAPE_TIMEOUT_MS; waited += 100) {
        char *text = scrape();
        if (value_of(text, series) == wanted)
            return text;
        free(text);
        sleep_ms(100);
    }
    fail_msg("%s never reached %g", series, wanted);
    return NULL;
}

static void expect_status(busauth_identity *id, tamper_kind tamper, const char *target, long status)
{
    http_opts o = {.id = id, .tamper = tamper};
    http_result r = fixture_call_opts(&F, &o, "GET", target, NULL, 0);
    assert_int_equal(r.status, status);
    http_result_free(&r);
}

/* The same request twice, byte for byte: 200, then replay_detected. */
static void replay_once(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    http_opts o = {.id = F.alice, .nonce = "00112233445566778899aabbccddeeff",
                   .time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    http_result first = fixture_call_opts(&F, &o, "GET", "/v1/me", NULL, 0);
    http_result again = fixture_call_opts(&F, &o, "GET", "/v1/me", NULL, 0);
    assert_int_equal(first.status, 200);
    assert_int_equal(again.status, 401);
    assert_string_equal(http_error_code(&again), "replay_detected");
    http_result_free(&first);
    http_result_free(&again);
}

/* Unsigned health checks until the burst is spent, then two more: how
 * many were answered 200; *limited counts the 429s. */
static int exhaust_burst(int burst, int *limited)
{
    int ok = 0;
    *limited = 0;
    for (int i = 0; i < burst + 10 && *limited < 3; i++) {
        http_result r = fixture_call(&F, NULL, "GET", "/v1/health", NULL);
        ok += r.status == 200;
        *limited += r.status == 429;
        assert_true(r.status == 200 || r.status == 429);
        assert_true(r.status == 200 || !strcmp(http_error_code(&r), "rate_limited"));
        http_result_free(&r);
    }
    return ok;
}

#define ME(status) "unibus_http_requests_total{route=\"/v1/me\",method=\"GET\",status=\"" #status "\"}"
#define ERRORS(code) "unibus_http_errors_total{code=\"" code "\"}"

static void counters_follow_the_workload(void **state)
{
    (void)state;
    const int burst = 40, signed_ok = 4, forged = 3;
    const char *flags[] = {"--metrics-addr", "127.0.0.1:0", "--rate", "0.01", "--burst", "40", NULL};
    time_t started = time(NULL);
    assert_int_equal(start(flags), 0);
    assert_int_equal(listening_sockets(F.server.pid), 2);
    char *before = scrape();
    for (int i = 0; i < signed_ok; i++)
        expect_status(F.alice, TAMPER_NONE, "/v1/me", 200);
    for (int i = 0; i < forged; i++)
        expect_status(F.alice, TAMPER_SIGNATURE, "/v1/me", 401);
    replay_once();
    char room[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "ops", room), 0);
    int limited, health_ok = exhaust_burst(burst, &limited);
    assert_int_equal(limited, 3);
    /* A request is counted when libmicrohttpd calls it complete, just
     * after the client has its answer: in flight 0 means all are in. */
    char *after = wait_for_value("unibus_http_requests_in_flight", 0);

    assert_int_equal(delta(before, after, ME(200)), signed_ok + 1);
    assert_int_equal(delta(before, after, ME(401)), forged + 1);
    assert_int_equal(delta(before, after, ERRORS("auth_failed")), forged);
    assert_int_equal(delta(before, after, ERRORS("replay_detected")), 1);
    assert_int_equal(delta(before, after, ERRORS("rate_limited")), limited);
    assert_int_equal(delta(before, after, ERRORS("other")), 0);
    /* Refused before routing: counted under route "none". */
    assert_int_equal(delta(before, after, "unibus_http_requests_total{route=\"none\",method=\"none\",status=\"429\"}"),
                     limited);
    assert_int_equal(delta(before, after, "unibus_http_requests_total{route=\"/v1/health\",method=\"GET\",status=\"200\"}"),
                     health_ok);
    assert_int_equal(delta(before, after, "unibus_http_requests_total{route=\"/v1/rooms\",method=\"POST\",status=\"201\"}"), 1);
    /* The room gave its owner new permissions: one reload, in the histogram too. */
    assert_int_equal(delta(before, after, "unibus_dataplane_reloads_total"), 1);
    assert_int_equal(delta(before, after, "unibus_dataplane_reload_duration_seconds_count"), 1);
    assert_int_equal(delta(before, after, "unibus_dataplane_reload_duration_seconds_bucket{le=\"+Inf\"}"), 1);
    assert_true(delta(before, after, "unibus_dataplane_reload_duration_seconds_sum") > 0);
    assert_int_equal(value_of(after, "unibus_dataplane_reload_failures_total"), 0);
    /* Nonces of verified requests only: the signed 200s, the replayed one's first, the room. */
    assert_int_equal(delta(before, after, "unibus_nonce_cache_entries"), signed_ok + 1 + 1);
    assert_int_equal(value_of(after, "unibus_http_connections_evicted_total"), 0);
    assert_int_equal(value_of(after, "unibus_http_connections_refused_total"), 0);
    assert_int_equal(value_of(after, "unibus_build_info{version=\"" UNIBUS_VERSION "\"}"), 1);
    assert_true(value_of(after, "unibus_process_start_time_seconds") >= (double)started);
    assert_true(value_of(after, "unibus_process_start_time_seconds") <= (double)time(NULL) + 1);
    /* Without TLS there is no certificate to expire. */
    assert_int_equal(value_of(after, "unibus_tls_cert_not_after_timestamp_seconds"), -1);
    /* Scraping is not a control-plane request. */
    char *again = scrape();
    assert_int_equal(delta(after, again, ME(200)), 0);
    free(before);
    free(after);
    free(again);
}

static void dataplane_numbers_come_from_nats_server(void **state)
{
    (void)state;
    const char *flags[] = {"--metrics-addr", "127.0.0.1:0", NULL};
    assert_int_equal(start(flags), 0);
    char room[33], subject[96];
    assert_int_equal(fixture_make_room(&F, F.alice, "ops", room), 0);
    fixture_room_subject(room, subject);
    nats_peer peer;
    assert_int_equal(nats_peer_connect(&peer, F.server.nats_url, F.alice, NULL, true), NATS_OK);
    natsSubscription *sub = nats_peer_subscribe(&peer, subject);
    assert_non_null(sub);
    char *before = scrape();
    assert_int_equal(value_of(before, "unibus_dataplane_monitor_up"), 1);
    assert_true(value_of(before, "unibus_dataplane_connections") >= 1);
    const int sent = 6;
    for (int i = 0; i < sent; i++) {
        char payload[16], other[33];
        snprintf(payload, sizeof payload, "m%d", i);
        assert_int_equal(natsConnection_PublishString(peer.nc, subject, payload), NATS_OK);
        assert_true(nats_peer_receives(sub, payload, 5000));
        /* Halfway, a reload: nats-server starts its accounts' counters
         * again at each one; the figures must not. */
        if (i == sent / 2 - 1)
            assert_int_equal(fixture_make_room(&F, F.bob, "elsewhere", other), 0);
    }
    char *after = scrape();
    /* Our peer is the only one publishing; it hears its own messages.
     * membershipd's own requests to nats-server are not in the figures. */
    assert_int_equal(delta(before, after, "unibus_dataplane_in_msgs_total"), sent);
    assert_int_equal(delta(before, after, "unibus_dataplane_out_msgs_total"), sent);
    assert_int_equal(delta(before, after, "unibus_dataplane_in_bytes_total"), 2 * sent);
    natsSubscription_Destroy(sub);
    nats_peer_close(&peer);

    assert_int_equal(value_of(after, "unibus_nats_restarts_total"), 0);
    pid_t nats = harness_nats_pid(&F.server);
    assert_true(nats > 0);
    kill(nats, SIGKILL);
    char *restarted = wait_for_value("unibus_nats_restarts_total", 1);
    free(restarted);
    char *back = wait_for_value("unibus_dataplane_monitor_up", 1);
    /* Counters do not go back when nats-server starts its own again. */
    assert_true(value_of(back, "unibus_dataplane_in_msgs_total") >= value_of(after, "unibus_dataplane_in_msgs_total"));
    assert_true(value_of(back, "unibus_dataplane_out_msgs_total") >= value_of(after, "unibus_dataplane_out_msgs_total"));
    free(back);
    free(before);
    free(after);
}

static int64_t cert_not_after(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(cert);
    struct tm tm;
    assert_true(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm));
    X509_free(cert);
    return (int64_t)timegm(&tm);
}

static void start_tls(const char *metrics_addr, char cert[PATH_MAX + 64])
{
    static char ca[PATH_MAX + 64], key[PATH_MAX + 64];
    assert_int_equal(fixture_make_pki(ca, cert, key), 0);
    const char *flags[] = {"--tls-cert", cert, "--tls-key", key, "--metrics-addr", metrics_addr, NULL};
    assert_int_equal(start(flags), 0);
    F.ca_file = ca;
}

/* Off loopback (allowed with TLS and enforce): HTTPS with the control
 * plane's certificate, and never plain HTTP. */
static void public_metrics_speak_tls(void **state)
{
    (void)state;
    char cert[PATH_MAX + 64];
    start_tls("0.0.0.0:0", cert);
    assert_true(harness_log_contains(&F.server, "msg=metrics_listening addr=0.0.0.0"));
    assert_null(scrape_via("http", NULL));
    char *text = scrape_via("https", F.ca_file);
    assert_non_null(text);
    assert_int_equal(value_of(text, "unibus_tls_cert_not_after_timestamp_seconds"), cert_not_after(cert));
    free(text);
}

/* On loopback the metrics stay plain HTTP even when the control plane
 * has TLS: a local Prometheus needs no TLS configuration. */
static void loopback_metrics_stay_plain(void **state)
{
    (void)state;
    char cert[PATH_MAX + 64];
    start_tls("127.0.0.1:0", cert);
    char *text = scrape();
    assert_int_equal(value_of(text, "unibus_tls_cert_not_after_timestamp_seconds"), cert_not_after(cert));
    free(text);
}

/* SIGHUP with new files: the expiry gauge follows, and the public metrics
 * listener serves the new certificate (only the new CA trusts it). */
static void sighup_rotates_the_metrics_certificate(void **state)
{
    (void)state;
    static char ca1[PATH_MAX + 64], cert1[PATH_MAX + 64], key1[PATH_MAX + 64];
    static char ca2[PATH_MAX + 64], cert2[PATH_MAX + 64], key2[PATH_MAX + 64];
    char live_cert[PATH_MAX + 80], live_key[PATH_MAX + 80];
    assert_int_equal(fixture_make_pki(ca1, cert1, key1), 0);
    snprintf(live_cert, sizeof live_cert, "%s.live", cert1);
    snprintf(live_key, sizeof live_key, "%s.live", key1);
    assert_int_equal(test_replace_file(cert1, live_cert, 0600), 0);
    assert_int_equal(test_replace_file(key1, live_key, 0600), 0);
    const char *flags[] = {"--tls-cert", live_cert, "--tls-key", live_key, "--metrics-addr", "0.0.0.0:0", NULL};
    assert_int_equal(start(flags), 0);
    F.ca_file = ca1;
    sleep_ms(1100); /* the second certificate expires a second or more later */
    assert_int_equal(fixture_make_pki(ca2, cert2, key2), 0);
    assert_true(cert_not_after(cert2) > cert_not_after(cert1));
    assert_int_equal(test_replace_file(cert2, live_cert, 0600), 0);
    assert_int_equal(test_replace_file(key2, live_key, 0600), 0);
    kill(F.server.pid, SIGHUP);
    char *text = NULL;
    for (int waited = 0; waited < SCRAPE_TIMEOUT_MS && !text; waited += 100) {
        text = scrape_via("https", ca2);
        if (!text)
            sleep_ms(100);
    }
    assert_non_null(text);
    assert_int_equal(value_of(text, "unibus_tls_cert_not_after_timestamp_seconds"), cert_not_after(cert2));
    assert_null(scrape_via("https", ca1));
    free(text);
}

static void only_get_metrics_is_served(void **state)
{
    (void)state;
    const char *flags[] = {"--metrics-addr", "[::1]:0", NULL};
    assert_int_equal(start(flags), 0);
    char base[64];
    snprintf(base, sizeof base, "http://[::1]:%u", metrics_port());
    http_opts opts = {0};
    struct { const char *method, *target; long status; } cases[] = {
        {"GET", "/metrics", 200}, {"GET", "/", 404}, {"GET", "/v1/health", 404}, {"POST", "/metrics", 405},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_result r;
        http_call(base, cases[i].method, cases[i].target, NULL, 0, &opts, &r);
        assert_int_equal(r.status, cases[i].status);
        http_result_free(&r);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
    const struct CMUnitTest tests[] = {
        T(off_by_default),
        T(counters_follow_the_workload),
        T(dataplane_numbers_come_from_nats_server),
        T(public_metrics_speak_tls),
        T(loopback_metrics_stay_plain),
        T(sighup_rotates_the_metrics_certificate),
        T(only_get_metrics_is_served),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
