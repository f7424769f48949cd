/*
 * Abuse shed before authentication, against the real server: declared and
 * undeclared oversize bodies, a 400 MB upload with the server's memory
 * watched, slow-header clients (a thousand of them, and one that dribbles),
 * lying Content-Length, request floods, oversize headers, slow readers of
 * a large blob, blob uploads past the quota.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "fixture.h"
#include "testutil.h"
#include "raw_socket.h"

#define MIB (1024 * 1024)

static fixture F;

static void start(const char *const *flags)
{
    assert_int_equal(fixture_start(&F, flags), 0);
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

static void declared_oversize_is_refused_before_the_body(void **state)
{
    (void)state;
    start(NULL);
    int fd = raw_connect(F.server.port, NULL);
    assert_true(fd >= 0);
    const char head[] = "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n";
    raw_send(fd, head, strlen(head));
    char buf[4096];
    assert_true(raw_read(fd, buf, sizeof buf, 3000) > 0); /* answered without any body sent */
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    assert_non_null(strstr(buf, "message_too_large"));
    close(fd);
    fd = raw_connect(F.server.port, NULL);
    const char blob[] = "PUT /v1/blobs/0000000000000000000000000000000000000000000000000000000000000000 HTTP/1.1\r\n"
                        "Host: t\r\nContent-Length: 17825792\r\n\r\n";
    raw_send(fd, blob, strlen(blob));
    assert_true(raw_read(fd, buf, sizeof buf, 3000) > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    close(fd);
}

/* The server answers 413 at the cap and hangs up; the client may see the
 * 413 or, when the kernel resets the connection over its unsent body, only
 * the hang-up.  The server's log says which status it sent. */
static void chunked_bodies_are_cut_at_the_cap(void **state)
{
    (void)state;
    start(NULL);
    const struct { const char *method, *target, *logged; size_t len; } cases[] = {
        {"POST", "/v1/rooms", "route=/v1/rooms status=413 code=message_too_large", MIB + 4096},
        {"PUT", "/v1/blobs/0000000000000000000000000000000000000000000000000000000000000000",
         "route=/v1/blobs/{sha256} status=413 code=message_too_large", 17 * MIB},
    };
    for (size_t i = 0; i < 2; i++) {
        char *body = malloc(cases[i].len);
        memset(body, ' ', cases[i].len);
        http_opts o = {.id = F.alice, .chunked = true};
        http_result r = fixture_call_opts(&F, &o, cases[i].method, cases[i].target, body, cases[i].len);
        assert_true(r.status == 413 || r.status == 0);
        if (r.status == 413)
            assert_string_equal(http_error_code(&r), "message_too_large");
        http_result_free(&r);
        free(body);
        test_sleep_ms(100);
        assert_true(harness_log_contains(&F.server, cases[i].logged));
    }
    http_result ok = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(ok.status, 200);
    http_result_free(&ok);
}

/* Streams up to 400 MB of chunked body at a JSON route, sampling the
 * server's RSS; the server must cut it off and stay within a few MiB. */
static void streamed_400mb_upload_does_not_grow_the_server(void **state)
{
    (void)state;
    start(NULL);
    long baseline, peak;
    size_t sent = harness_stream_upload(&F.server, NULL, 400UL * MIB, &baseline, &peak);
    fprintf(stderr, "sent %zu MiB before the server hung up; RSS %ld -> peak %ld KiB\n", sent / MIB, baseline, peak);
    assert_true(sent < 400UL * MIB);
    assert_true(peak - baseline < 8 * 1024);
    http_result ok = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(ok.status, 200);
    http_result_free(&ok);
}

/* Clients that send half a header and stall hold at most their per-IP
 * share of connections; a signed client elsewhere is still served. */
static void slow_header_clients_do_not_starve_others(void **state)
{
    (void)state;
    const char *flags[] = {"--max-conns", "100", "--max-conns-per-ip", "4", NULL};
    start(flags);
    enum { IPS = 12, PER_IP = 8 };
    int fds[IPS * PER_IP];
    size_t n = 0;
    for (int ip = 0; ip < IPS; ip++) {
        char source[32];
        snprintf(source, sizeof source, "127.0.1.%d", ip + 1);
        for (int k = 0; k < PER_IP; k++) {
            int fd = raw_connect(F.server.port, source);
            if (fd >= 0) {
                const char partial[] = "GET /v1/health HTTP/1.1\r\nHost: slow\r\n";
                raw_send(fd, partial, strlen(partial));
                fds[n++] = fd;
            }
        }
    }
    test_sleep_ms(300);
    int refused = 0;
    for (size_t i = 0; i < n; i++)
        refused += raw_closed(fds[i], 50);
    fprintf(stderr, "%zu slow connections opened, %d closed by the server\n", n, refused);
    assert_true(refused >= IPS * (PER_IP - 4)); /* past 4 per IP, each is dropped */
    for (int i = 0; i < 20; i++) {
        http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
        assert_int_equal(r.status, 200);
        http_result_free(&r);
    }
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* A thousand connections from 125 addresses, each sending half a header
 * and stalling, with the server at its default caps: a signed client on
 * another address is answered every time throughout. */
static void a_thousand_slow_headers_do_not_starve_a_signed_client(void **state)
{
    (void)state;
    start(NULL);
    enum { SLOW = 1000, PER_IP = 8 };
    static int fds[SLOW];
    int opened = 0, answered = 0, asked = 0;
    for (int i = 0; i < SLOW; i++) {
        char source[32];
        snprintf(source, sizeof source, "127.0.2.%d", i / PER_IP + 1);
        fds[i] = raw_connect(F.server.port, source);
        if (fds[i] >= 0) {
            const char partial[] = "GET /v1/health HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
            raw_send(fds[i], partial, strlen(partial));
            opened++;
        }
        if (i % 50 == 49) {
            http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
            answered += r.status == 200;
            asked++;
            http_result_free(&r);
        }
    }
    for (int i = 0; i < 20; i++, asked++) {
        http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
        answered += r.status == 200;
        http_result_free(&r);
        test_sleep_ms(100);
    }
    int still_open = 0;
    for (int i = 0; i < SLOW; i++)
        if (fds[i] >= 0) {
            still_open += !raw_closed(fds[i], 0);
            close(fds[i]);
        }
    fprintf(stderr, "%d slow connections opened, %d still open at the end; signed client: %d/%d answered\n",
            opened, still_open, answered, asked);
    assert_int_equal(answered, asked);
    assert_true(still_open <= 512); /* --max-conns: the newest displaced the longest waiting */
}

/* A client that keeps sending a header byte now and then is never idle,
 * so only the header deadline (10 s from connect) ends it. */
static void a_dribbled_header_is_cut_at_the_deadline(void **state)
{
    (void)state;
    start(NULL);
    int fd = raw_connect(F.server.port, NULL);
    const char head[] = "GET /v1/health HTTP/1.1\r\nHost: t\r\nX-Dribble: ";
    raw_send(fd, head, strlen(head));
    int sent = 0;
    while (sent < 60 && !raw_closed(fd, 0)) { /* 60 bytes, one per 500 ms: 30 s if never cut */
        raw_send(fd, "x", 1);
        sent++;
        test_sleep_ms(500);
    }
    fprintf(stderr, "dribbled %d bytes before the server hung up\n", sent);
    assert_true(sent < 60);
    assert_true(sent >= 18); /* not before the 10 s deadline */
    close(fd);
    http_result ok = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(ok.status, 200);
    http_result_free(&ok);
}

/* Sends a signed room creation by hand, declaring declared bytes of body
 * and sending body plus trailing; returns what came back. */
static void send_lying(const char *body, size_t declared, const char *trailing, char *answer, size_t cap)
{
    char sig[1024], req[4096];
    http_signed_headers(F.alice, F.server_nkey, "POST", "/v1/rooms", body, strlen(body), sig, sizeof sig, NULL);
    int n = snprintf(req, sizeof req,
                     "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s\r\n%s%s", declared, sig, body, trailing);
    int fd = raw_connect(F.server.port, NULL);
    raw_send(fd, req, (size_t)n);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = raw_read(fd, answer + got, cap - got, 2000)) > 0)
        got += (size_t)r;
    answer[got] = '\0';
    close(fd);
}

/* The server acts on exactly the bytes a Content-Length declares, and the
 * signature covers exactly those: a body longer or shorter than declared
 * never creates anything it was not asked to, and bytes past the declared
 * end are a new (malformed) request, which libmicrohttpd drops. */
static void a_lying_content_length_creates_nothing_unsigned(void **state)
{
    (void)state;
    start(NULL);
    const char body[] = "{\"name\":\"honest\",\"mode\":\"cleartext\"}";
    char answer[8192];

    send_lying(body, strlen(body) - 8, "", answer, sizeof answer); /* declares less than it signed */
    assert_non_null(strstr(answer, "HTTP/1.1 401"));
    assert_non_null(strstr(answer, "signature does not verify"));
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms", NULL), 0);

    send_lying(body, strlen(body), "{\"name\":\"smuggled\",\"mode\":\"cleartext\"}\r\n\r\n", answer, sizeof answer);
    assert_non_null(strstr(answer, "HTTP/1.1 201"));                /* the declared request */
    assert_null(strstr(strstr(answer, "HTTP/1.1 201") + 1, "HTTP/1.1 2")); /* and nothing more */
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms WHERE name = ?", "honest"), 1);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms WHERE name = ?", "smuggled"), 0);

    /* Declares more than it sends, then stalls: dropped at the idle
     * timeout, and the half body is never acted on. */
    char sig[1024], req[4096];
    const char other[] = "{\"name\":\"half\",\"mode\":\"cleartext\"}";
    http_signed_headers(F.alice, F.server_nkey, "POST", "/v1/rooms", other, strlen(other), sig, sizeof sig, NULL);
    int n = snprintf(req, sizeof req, "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n%s\r\n%.10s",
                     strlen(other) + 100, sig, other);
    int fd = raw_connect(F.server.port, NULL);
    raw_send(fd, req, (size_t)n);
    assert_true(raw_closed(fd, 15000));
    close(fd);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms WHERE name = ?", "half"), 0);
}

static void floods_are_rate_limited_per_ip(void **state)
{
    (void)state;
    const char *flags[] = {"--rate", "5", "--burst", "10", NULL};
    start(flags);
    int ok = 0, limited = 0;
    char retry_after[16] = "";
    for (int i = 0; i < 40; i++) {
        http_result r = fixture_call(&F, i % 2 ? F.alice : NULL, "GET", i % 2 ? "/v1/me" : "/v1/health", NULL);
        ok += r.status == 200;
        if (r.status == 429) {
            limited++;
            assert_string_equal(http_error_code(&r), "rate_limited");
            snprintf(retry_after, sizeof retry_after, "%s", r.retry_after);
        }
        http_result_free(&r);
    }
    fprintf(stderr, "flood: %d answered, %d rate limited\n", ok, limited);
    assert_true(ok >= 10 && ok <= 14);
    assert_int_equal(ok + limited, 40);
    assert_true(atoi(retry_after) >= 1);
    test_sleep_ms(1200);
    http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(r.status, 200); /* the bucket refills */
    http_result_free(&r);
}

/* POST /v1/rooms as who from 127.0.0.source, naming the room name. */
static long create_room_from(busauth_identity *who, int source, const char *name, http_result *out)
{
    char body[128], ip[16];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"mode\":\"cleartext\"}", name);
    snprintf(ip, sizeof ip, "127.0.0.%d", source);
    http_opts o = {.id = who, .source_ip = ip};
    *out = fixture_call_opts(&F, &o, "POST", "/v1/rooms", body, strlen(body));
    return out->status;
}

/* The eighth adversarial pass stalled a 10,000-user cluster with one
 * member looping changes from six addresses: changes are counted per
 * member, whatever the address; her reads, other members and admins go
 * on. */
static void a_member_s_changes_are_limited_per_member_from_any_address(void **state)
{
    (void)state;
    const char *flags[] = {"--member-rate", "1", "--member-burst", "5", NULL};
    start(flags);
    int created = 0, limited = 0;
    char retry_after[16] = "";
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof name, "churn%d", i);
        http_result r;
        long status = create_room_from(F.alice, 2 + i % 6, name, &r);
        created += status == 201;
        if (status == 429) {
            limited++;
            assert_string_equal(http_error_code(&r), "rate_limited");
            assert_non_null(strstr(r.body, "--member-rate"));
            snprintf(retry_after, sizeof retry_after, "%s", r.retry_after);
        }
        http_result_free(&r);
    }
    fprintf(stderr, "one member, six addresses: %d created, %d limited\n", created, limited);
    assert_true(created >= 5 && created <= 7); /* the burst, and what refilled meanwhile */
    assert_int_equal(created + limited, 12);
    assert_true(atoi(retry_after) >= 1);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms WHERE name LIKE 'churn%'", NULL), created);
    http_result r = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(r.status, 200); /* reads are not changes */
    http_result_free(&r);
    assert_int_equal(create_room_from(F.bob, 2, "bobs", &r), 201); /* another member */
    http_result_free(&r);
    for (int i = 0; i < 12; i++) { /* an admin's bulk changes */
        char name[16];
        snprintf(name, sizeof name, "admin%d", i);
        assert_int_equal(create_room_from(F.admin, 2, name, &r), 201);
        http_result_free(&r);
    }
    test_sleep_ms(1200);
    assert_int_equal(create_room_from(F.alice, 9, "again", &r), 201); /* the bucket refills */
    http_result_free(&r);
}

/* Every room is grants in every node's nats.conf, rendered and reloaded
 * on every change: a member owns --member-rooms at most, from whatever
 * address she asks, and a refusal creates nothing; an admin is not
 * bounded. */
static void a_member_owns_member_rooms_rooms_at_most(void **state)
{
    (void)state;
    const char *flags[] = {"--member-rooms", "3", NULL};
    start(flags);
    http_result r;
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "mine%d", i);
        assert_int_equal(create_room_from(F.alice, 2, name, &r), 201);
        http_result_free(&r);
    }
    int created = 0, refused = 0;
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "more%d", i);
        long status = create_room_from(F.alice, 3 + i, name, &r);
        created += status == 201;
        if (status == 403) {
            refused++;
            assert_string_equal(http_error_code(&r), "quota_exceeded");
            assert_non_null(strstr(r.body, "--member-rooms"));
        }
        http_result_free(&r);
    }
    assert_int_equal(created, 1);
    assert_int_equal(refused, 3);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms WHERE owner_id = "
                                          "(SELECT id FROM users WHERE name = 'alice')", NULL), 3);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "admins%d", i);
        assert_int_equal(create_room_from(F.admin, 2, name, &r), 201);
        http_result_free(&r);
    }
}

/* A member's refusals are audit rows, and in a cluster each is a bus-log
 * entry every node applies: past her --member-rate they go to the request
 * log only, counted (the tenth adversarial pass wrote 39 entries a second
 * with refused GETs, whatever the change limit).  Replays of her request,
 * which whoever holds a copy may send, come out of the server-wide budget
 * and leave her own untouched. */
static void a_member_s_refusals_are_audited_within_her_budget(void **state)
{
    (void)state;
    const char *flags[] = {"--member-rate", "0.01", "--member-burst", "5", NULL};
    start(flags);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    http_opts o = {.id = F.alice, .time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000};
    char nonce[BUSAUTH_NONCE_HEX_LEN + 1];
    busauth_nonce_new(nonce);
    o.nonce = nonce;
    for (int i = 0; i < 20; i++) {
        http_result r = fixture_call_opts(&F, &o, "GET", "/v1/me", NULL, 0);
        assert_int_equal(r.status, i ? 401 : 200);
        http_result_free(&r);
    }
    http_result r;
    assert_int_equal(create_room_from(F.alice, 3, "still", &r), 201); /* the replays spent none of her budget */
    http_result_free(&r);
    for (int i = 0; i < 20; i++) {
        r = fixture_call(&F, F.alice, "GET", "/v1/users", NULL);
        assert_int_equal(r.status, 403);
        http_result_free(&r);
    }
    long refusals = fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND action = ?",
                                     "GET /v1/users");
    long replays = fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND action = ?",
                                    "GET /v1/me");
    fprintf(stderr, "19 replays and 20 refusals of one member: %ld and %ld audit rows\n", replays, refusals);
    assert_int_equal(replays, 19); /* within the server-wide burst of 50 */
    assert_int_equal(refusals, 4); /* her burst of 5, less the room she made */
    assert_true(harness_log_contains(&F.server, "msg=audit_suppressed"));
    http_opts admin = {.id = F.admin, .source_ip = "127.0.0.5"}; /* 127.0.0.1 spent its own --rate */
    r = fixture_call_opts(&F, &admin, "GET", "/v1/users", NULL, 0);
    assert_int_equal(r.status, 200); /* nobody else is touched */
    http_result_free(&r);
}

static void oversize_headers_are_refused(void **state)
{
    (void)state;
    start(NULL);
    char *req = malloc(20000);
    for (int size = 7000; size <= 9000; size += 2000) {
        int fd = raw_connect(F.server.port, NULL);
        int n = snprintf(req, 20000, "GET /v1/health HTTP/1.1\r\nHost: t\r\nX-Pad: %0*d\r\n\r\n", size, 0);
        raw_send(fd, req, (size_t)n);
        char buf[4096];
        raw_read(fd, buf, sizeof buf, 3000);
        assert_non_null(strstr(buf, size < 8192 ? "HTTP/1.1 200" : "HTTP/1.1 431"));
        close(fd);
    }
    free(req);
}

/* Random content of len bytes stored by id in room; hex gets its SHA-256
 * and target its path.  Returns the HTTP status of the PUT. */
static long put_blob(busauth_identity *id, const char *room, size_t len, uint8_t **content, char hex[65],
                     char target[160])
{
    *content = malloc(len + 1);
    randombytes_buf(*content, len);
    uint8_t hash[32];
    crypto_hash_sha256(hash, *content, len);
    sodium_bin2hex(hex, 65, hash, sizeof hash);
    snprintf(target, 160, "/v1/blobs/%s?room=%s", hex, room);
    http_opts o = {.id = id};
    http_result r = fixture_call_opts(&F, &o, "PUT", target, *content, len);
    long status = r.status;
    http_result_free(&r);
    return status;
}

/* A signed GET of target sent by hand, whose answer nobody reads yet. */
static int stalled_get(const char *target)
{
    int fd = raw_connect(F.server.port, NULL);
    assert_true(fd >= 0);
    char head[4096];
    int n = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: t\r\n", target);
    n += http_signed_headers(F.alice, F.server_nkey, "GET", target, NULL, 0, head + n, sizeof head - (size_t)n,
                             NULL);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    raw_send(fd, head, (size_t)n);
    return fd;
}

/* The body of the response on fd (headers skipped) hashes to hex. */
static void read_body_hashing_to(int fd, size_t len, const char *hex)
{
    size_t cap = len + 8192, got = 0;
    char *buf = malloc(cap + 1), *body = NULL;
    while ((!body || got - (size_t)(body - buf) < len) && got < cap) {
        ssize_t n = raw_read(fd, buf + got, cap - got + 1, 5000);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        char *end = body ? body : strstr(buf, "\r\n\r\n");
        body = end && !body ? end + 4 : body;
    }
    assert_non_null(body);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    assert_int_equal(got - (size_t)(body - buf), len);
    uint8_t hash[32];
    char got_hex[65];
    crypto_hash_sha256(hash, (uint8_t *)body, len);
    sodium_bin2hex(got_hex, sizeof got_hex, hash, sizeof hash);
    assert_string_equal(got_hex, hex);
    free(buf);
}

/* Readers of a 16 MiB blob that read nothing: each GET costs the server a
 * bounded buffer, not the blob (the old code held the whole blob per GET:
 * 40 readers, 640 MiB). */
static void slow_blob_readers_do_not_grow_the_server(void **state)
{
    (void)state;
    const char *flags[] = {"--max-conns-per-ip", "64", "--rate", "1000", "--burst", "1000", NULL};
    start(flags);
    char room[33], hex[65], target[160];
    assert_int_equal(fixture_make_room(&F, F.alice, "big", room), 0);
    uint8_t *content;
    assert_int_equal(put_blob(F.alice, room, 16 * MIB, &content, hex, target), 201);
    free(content);
    enum { READERS = 40 };
    int fds[READERS];
    long baseline = harness_rss_kib(&F.server), peak = baseline;
    for (int i = 0; i < READERS; i++)
        fds[i] = stalled_get(target);
    for (int i = 0; i < 20; i++) {
        test_sleep_ms(100);
        long rss = harness_rss_kib(&F.server);
        peak = rss > peak ? rss : peak;
    }
    fprintf(stderr, "%d stalled readers of a 16 MiB blob: RSS %ld -> peak %ld KiB\n", READERS, baseline, peak);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine and shadow memory make RSS meaningless */
    assert_true(peak - baseline < 48 * 1024);
#endif
    read_body_hashing_to(fds[0], 16 * MIB, hex); /* a reader that reads gets the whole blob */
    for (int i = 0; i < READERS; i++)
        close(fds[i]);
    http_result ok = fixture_call(&F, F.alice, "GET", "/v1/me", NULL);
    assert_int_equal(ok.status, 200);
    http_result_free(&ok);
}

/* Past --blob-quota an upload is refused and nothing is stored; what the
 * user stored below it still downloads, signed; a blob is charged once per
 * room, and each user has a quota of their own. */
/* What a member's refusals cost: a key on the allowlist whose
 * authentication failed (a bad signature; a revoked member) is audited
 * from its own budget, which strangers' unknown keys cannot spend
 * (eleventh adversarial pass F1: a revoked admin's attempts went
 * unrecorded); a refused change costs one token, not two (F4); her own
 * quota's 507 gives no token back (F2). */
static void refusals_of_known_keys_are_audited_and_cost_one_token(void **state)
{
    (void)state;
    const char *flags[] = {"--member-rate", "0.01", "--member-burst", "5", "--blob-quota", "1000", NULL};
    start(flags);
    for (int i = 0; i < 60; i++) { /* strangers spend the server-wide budget */
        busauth_identity *stranger = NULL;
        assert_int_equal(busauth_identity_generate(&stranger), BUSAUTH_OK);
        char ip[16];
        snprintf(ip, sizeof ip, "127.0.0.%d", 30 + i % 6); /* under each address's --burst */
        http_opts o = {.id = stranger, .source_ip = ip};
        http_result r = fixture_call_opts(&F, &o, "GET", "/v1/me", NULL, 0);
        assert_int_equal(r.status, 401);
        http_result_free(&r);
        busauth_identity_free(stranger);
    }
    for (int i = 0; i < 5; i++) {
        http_opts forged = {.id = F.carol, .tamper = TAMPER_SIGNATURE, .source_ip = "127.0.0.8"};
        http_result r = fixture_call_opts(&F, &forged, "GET", "/v1/me", NULL, 0);
        assert_int_equal(r.status, 401);
        http_result_free(&r);
    }
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND actor = ?",
                                      F.carol_nkey), 5);

    char room[33], target[160], hex[65];
    assert_int_equal(fixture_make_room(&F, F.alice, "mine", room), 0); /* alice: token 1 of 5 */
    uint8_t *blob;
    for (int i = 0; i < 2; i++) { /* tokens 2 and 3, kept */
        assert_int_equal(put_blob(F.alice, room, 2000, &blob, hex, target), 507);
        free(blob);
    }
    http_opts bob = {.id = F.bob, .source_ip = "127.0.0.9"};
    char members[128];
    snprintf(members, sizeof members, "/v1/rooms/%s/members/%s", room, F.carol_nkey);
    http_result r = fixture_call_opts(&F, &bob, "DELETE", members, NULL, 0);
    assert_int_equal(r.status, 404); /* hidden from bob: his token 1 of 5, and no second for its audit row */
    http_result_free(&r);
    for (int i = 0; i < 4; i++) { /* his tokens 2 to 5 */
        char name[16];
        snprintf(name, sizeof name, "bob%d", i);
        assert_int_equal(create_room_from(F.bob, 10 + i, name, &r), 201);
        http_result_free(&r);
    }
    assert_int_equal(create_room_from(F.alice, 20, "fourth", &r), 201); /* alice: token 4 */
    http_result_free(&r);
    assert_int_equal(create_room_from(F.alice, 21, "fifth", &r), 201);  /* token 5 */
    http_result_free(&r);
    assert_int_equal(create_room_from(F.alice, 22, "sixth", &r), 429);  /* the 507s gave none back */
    http_result_free(&r);
}

static void blob_uploads_past_the_quota_are_refused(void **state)
{
    (void)state;
    const char *flags[] = {"--blob-quota", "300000", NULL};
    start(flags);
    char room[33], other[33], hex[65], target[160];
    assert_int_equal(fixture_make_room(&F, F.alice, "q", room), 0);
    assert_int_equal(fixture_make_room(&F, F.alice, "q2", other), 0);
    assert_int_equal(fixture_add_member(&F, F.alice, room, F.bob_nkey), 201);
    uint8_t *a, *b, *c;
    char a_hex[65], a_target[160];
    assert_int_equal(put_blob(F.alice, room, 100000, &a, a_hex, a_target), 201);
    assert_int_equal(put_blob(F.alice, room, 150000, &b, hex, target), 201);
    http_opts alice = {.id = F.alice};
    http_result r = fixture_call_opts(&F, &alice, "PUT", a_target, a, 100000);
    assert_int_equal(r.status, 200); /* already stored: no charge */
    http_result_free(&r);
    assert_int_equal(put_blob(F.alice, room, 100000, &c, hex, target), 507);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM blobs WHERE room_id = ?", room), 2);
    char a_elsewhere[160];
    snprintf(a_elsewhere, sizeof a_elsewhere, "/v1/blobs/%s?room=%s", a_hex, other);
    r = fixture_call_opts(&F, &alice, "PUT", a_elsewhere, a, 100000);
    assert_int_equal(r.status, 507); /* another room: another copy, charged */
    assert_string_equal(http_error_code(&r), "quota_exceeded");
    assert_non_null(strstr(r.body, "--blob-quota"));
    http_result_free(&r);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM blobs WHERE room_id = ?", other), 0);
    http_opts bob = {.id = F.bob};
    r = fixture_call_opts(&F, &bob, "PUT", target, c, 100000);
    assert_int_equal(r.status, 201); /* bob's own quota */
    http_result_free(&r);
    r = fixture_call(&F, F.alice, "GET", a_target, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 100000);
    assert_memory_equal(r.body, a, 100000);
    assert_true(http_response_verifies(F.server_key, &r));
    http_result_free(&r);
    free(a), free(b), free(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
    const struct CMUnitTest tests[] = {
        T(declared_oversize_is_refused_before_the_body),
        T(chunked_bodies_are_cut_at_the_cap),
        T(streamed_400mb_upload_does_not_grow_the_server),
        T(slow_header_clients_do_not_starve_others),
        T(a_thousand_slow_headers_do_not_starve_a_signed_client),
        T(a_dribbled_header_is_cut_at_the_deadline),
        T(a_lying_content_length_creates_nothing_unsigned),
        T(floods_are_rate_limited_per_ip),
        T(a_member_s_changes_are_limited_per_member_from_any_address),
        T(a_member_owns_member_rooms_rooms_at_most),
        T(a_member_s_refusals_are_audited_within_her_budget),
        T(refusals_of_known_keys_are_audited_and_cost_one_token),
        T(oversize_headers_are_refused),
        T(slow_blob_readers_do_not_grow_the_server),
        T(blob_uploads_past_the_quota_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
