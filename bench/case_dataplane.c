/* Case 1: one publisher -> one subscriber, raw nats.c on an unrestricted
 * nats-server (the ceiling) vs the rooms of libunibus through the
 * membershipd-managed nats-server; libsodium's own rates beside them. */
#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <nats/nats.h>
#include "bench.h"
#include "busauth/domain.h"
#include "envelope.h"
#include "flow.h"
#include "natsd.h"
#include "report.h"
#include "unibus.h"

static const size_t SIZES[] = {128, 4096};
/* Rounds: each runs the ceiling and every room once at each size, and each
 * figure keeps its fastest round.  Noise on a shared machine only ever
 * slows a run down, and in a round a figure and its ceiling are measured
 * seconds apart, under much the same load. */
#define ROUNDS 3

enum { RAW, CLEAR, UNSIGNED, SIGNED, FLOWS }; /* the flows of a round */

/* --- raw nats.c ------------------------------------------------------------ */

typedef struct {
    natsd n;
    natsConnection *pub, *sub;
} raw_plane;

static void raw_open(raw_plane *r, const char *dir)
{
    if (natsd_start_open(&r->n, dir) != 0 || natsConnection_ConnectTo(&r->pub, r->n.url) != NATS_OK ||
        natsConnection_ConnectTo(&r->sub, r->n.url) != NATS_OK) {
        fprintf(stderr, "bench: cannot set up raw nats.c against %s\n", r->n.url);
        exit(1);
    }
}

static void raw_round(raw_plane *r, const bench_opts *o, flow_result out[2])
{
    if (flow_nats(r->pub, r->sub, FLOW_ROOM_SUBJECT, supervisor_pid(r->n.sup), SIZES, 2, o->duration_s, out) != 0)
        exit(1);
}

static void raw_close(raw_plane *r)
{
    natsConnection_Destroy(r->pub);
    natsConnection_Destroy(r->sub);
    natsd_stop(&r->n);
}

/* --- libunibus ------------------------------------------------------------- */

typedef struct {
    unibus_client *c;
    const char *room;
} room_pub;

static int room_publish(void *ctx, const uint8_t *data, size_t len)
{
    room_pub *p = ctx;
    return unibus_room_publish(p->c, p->room, data, len) == UNIBUS_OK ? 0 : -1;
}

static void room_on_msg(const unibus_message *m, void *ctx)
{
    flow_sink_take(ctx, m->len);
}

static void room_on_drop(const char *room, unibus_status why, const char *sender, void *ctx)
{
    (void)room, (void)sender, (void)why;
    flow_sink *s = ctx;
    atomic_fetch_add(&s->wrong, 1);
}

static unibus_client *open_client(fixture *f, const busauth_identity *id, const char *name)
{
    char seed[PATH_MAX + 64], server[57];
    bench_seed_file(f, id, name, seed);
    busauth_nkey_encode_public(f->server_key, server);
    unibus_config cfg = {.url = f->server.base_url, .identity_file = seed, .server_key = server};
    unibus_client *c = NULL;
    if (unibus_client_open(&cfg, &c) != UNIBUS_OK) {
        fprintf(stderr, "bench: libunibus cannot open as %s: %s\n", name, unibus_client_error(c));
        exit(1);
    }
    return c;
}

/* A room alice publishes in and bob listens to. */
typedef struct {
    unibus_room room;
    unibus_subscription *sub;
    flow_sink sink;
    room_pub pub;
    unsigned long wrong; /* over every round */
} room_flow;

static void room_open(room_flow *rf, fixture *f, unibus_client *alice, unibus_client *bob, bool e2e, bool sign)
{
    if (unibus_room_create(alice, e2e ? (sign ? "bench-signed" : "bench-unsigned") : "bench-clear", e2e, sign,
                           &rf->room) != UNIBUS_OK ||
        unibus_room_add(alice, rf->room.id, f->bob_nkey) != UNIBUS_OK ||
        unibus_room_subscribe(bob, rf->room.id, room_on_msg, room_on_drop, &rf->sink, &rf->sub) != UNIBUS_OK) {
        fprintf(stderr, "bench: cannot set up a room: %s / %s\n", unibus_client_error(alice),
                unibus_client_error(bob));
        exit(1);
    }
    rf->pub = (room_pub){alice, rf->room.id};
}

static void room_round(room_flow *rf, const bench_opts *o, flow_result out[2])
{
    for (size_t i = 0; i < 2; i++) {
        out[i] = flow_run(room_publish, &rf->pub, &rf->sink, SIZES[i], o->duration_s);
        rf->wrong += out[i].wrong;
    }
}

static void room_close(room_flow *rf)
{
    if (rf->wrong)
        report_note("data plane: %lu messages dropped or damaged in room %s", rf->wrong, rf->room.name);
    unibus_subscription_close(rf->sub);
}

/* --- libsodium ------------------------------------------------------------- */

/* What the AEAD authenticates beside the plaintext (client/envelope.c). */
#define AEAD_AD_LEN (sizeof BUSAUTH_DOMAIN_MESSAGE - 1 + ENVELOPE_ROOM_ID_LEN + ENVELOPE_HEADER_LEN)
#define RATE_WINDOWS 5

typedef bool (*crypto_op)(void *ctx); /* one operation; false when it failed */

/* Operations a second on one core: the best of a few windows, since other
 * work on a shared machine only ever slows a window down.  0 if one failed. */
static double best_rate(crypto_op op, void *ctx, double duration_s)
{
    double best = 0;
    for (int w = 0; w < RATE_WINDOWS; w++) {
        unsigned long n = 0;
        double t0 = bench_now(), t;
        do {
            for (int i = 0; i < 16; i++, n++)
                if (!op(ctx))
                    return 0;
        } while ((t = bench_now() - t0) < duration_s / RATE_WINDOWS);
        best = (double)n / t > best ? (double)n / t : best;
    }
    return best;
}

typedef struct {
    uint8_t key[32], nonce[24], ad[AEAD_AD_LEN], pk[32], sk[64], sig[64], *plain, *sealed;
    size_t len;
} crypto_bench;

/* The nonce counts up, as an envelope's sequence does. */
static bool seal_one(void *ctx)
{
    crypto_bench *b = ctx;
    sodium_increment(b->nonce, sizeof b->nonce);
    return crypto_aead_xchacha20poly1305_ietf_encrypt(b->sealed, NULL, b->plain, b->len, b->ad, sizeof b->ad, NULL,
                                                      b->nonce, b->key) == 0;
}

static bool open_one(void *ctx)
{
    crypto_bench *b = ctx;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(b->plain, NULL, NULL, b->sealed, b->len + 16, b->ad,
                                                      sizeof b->ad, b->nonce, b->key) == 0;
}

static bool sign_verify_one(void *ctx)
{
    crypto_bench *b = ctx;
    crypto_sign_detached(b->sig, NULL, b->plain, b->len, b->sk);
    return crypto_sign_verify_detached(b->sig, b->plain, b->len, b->pk) == 0;
}

typedef struct {
    double seal, open; /* of len bytes with an envelope's associated data */
    double pair;       /* sign + verify of wire bytes */
} crypto_rates;

static crypto_rates crypto_measure(size_t len, size_t wire, double duration_s)
{
    crypto_bench b = {.len = len, .plain = calloc(1, wire > len ? wire : len), .sealed = malloc(len + 16)};
    randombytes_buf(b.key, sizeof b.key);
    crypto_sign_keypair(b.pk, b.sk);
    crypto_rates r = {.seal = best_rate(seal_one, &b, duration_s)};
    r.open = best_rate(open_one, &b, duration_s); /* the last message sealed */
    b.len = wire;
    r.pair = best_rate(sign_verify_one, &b, duration_s);
    free(b.plain);
    free(b.sealed);
    return r;
}

/* --- the case -------------------------------------------------------------- */

static void add_flow_row(const char *measure, const flow_result *r, double ceiling, const char *ceiling_name,
                         double min_ratio, const char *why)
{
    bench_row row = row_make(1, measure, r->msgs_per_s, "msg/s", ceiling, ceiling_name);
    if (min_ratio > 0)
        row_target_ratio(&row, min_ratio);
    snprintf(row.detail, sizeof row.detail, "%.1f MB/s, %lu delivered%s%s", r->mb_per_s, r->delivered,
             why ? "; " : "", why ? why : "");
    report_add(&row);
}

/* The cores the raw run kept busy: its CPU time (publisher, subscriber and
 * nats-server) over its wall time, at most the machine's. */
static double busy_cores(const flow_result *raw)
{
    double nproc = (double)sysconf(_SC_NPROCESSORS_ONLN);
    return isfinite(raw->busy_cores) && raw->busy_cores < nproc ? raw->busy_cores : nproc;
}

/* An e2e room without signatures does what raw does plus one seal and one
 * open per message: with n cores busy, raw costs n/raw core-seconds a
 * message, so n / (n/raw + 1/seal + 1/open) messages a second at most. */
static double e2e_ceiling(double raw, double cores, crypto_rates a, char *why, size_t why_len)
{
    double ceiling = cores / (cores / raw + 1 / a.seal + 1 / a.open);
    snprintf(why, why_len, "ceiling n/(n/raw+1/seal+1/open), n = %.2f cores (%s), raw %.0f, seal %.0f, open %.0f/s",
             cores, cores < (double)sysconf(_SC_NPROCESSORS_ONLN) ? "measured busy" : "nproc", raw, a.seal, a.open);
    return ceiling;
}

static void add_size_rows(size_t i, const flow_result *raw, const flow_result *clear, const flow_result *unsigned_,
                          const flow_result *signed_, double crypto_s)
{
    size_t len = SIZES[i], /* what a signature covers: */
           wire = sizeof BUSAUTH_DOMAIN_MESSAGE - 1 + ENVELOPE_HEADER_LEN + len + ENVELOPE_TAG_LEN;
    crypto_rates aead = crypto_measure(len, wire, crypto_s);
    double pair = aead.pair, cores = busy_cores(raw);
    char raw_why[64], e2e_why[160];
    snprintf(raw_why, sizeof raw_why, "%.2f cores busy (CPU time / wall time)", raw->busy_cores);
    double e2e = e2e_ceiling(raw->msgs_per_s, cores, aead, e2e_why, sizeof e2e_why);
    add_flow_row(report_name("raw nats.c, open nats-server, ", len, " B"), raw, NAN, NULL, 0, raw_why);
    add_flow_row(report_name("cleartext room, ", len, " B"), clear, raw->msgs_per_s, "raw nats.c msg/s",
                 len == 128 ? 0.95 : 0, NULL);
    add_flow_row(report_name("e2e room sign=false, ", len, " B"), unsigned_, e2e, "raw + seal + open msg/s", 0.85,
                 e2e_why);
    add_flow_row(report_name("e2e room signed, ", len, " B"), signed_, pair, "sodium sign+verify/s", 0.90, NULL);
    bench_row a = row_make(1, report_name("libsodium XChaCha20-Poly1305 seal, ", len, " B"), aead.seal, "op/s", NAN,
                           NULL);
    snprintf(a.detail, sizeof a.detail, "%.1f MB/s, one core, with the envelope's %zu B of associated data",
             aead.seal * (double)len / 1e6, AEAD_AD_LEN);
    report_add(&a);
    bench_row op = row_make(1, report_name("libsodium XChaCha20-Poly1305 open, ", len, " B"), aead.open, "op/s", NAN,
                            NULL);
    snprintf(op.detail, sizeof op.detail, "%.1f MB/s, one core, with the envelope's %zu B of associated data",
             aead.open * (double)len / 1e6, AEAD_AD_LEN);
    report_add(&op);
    bench_row p = row_make(1, report_name("libsodium Ed25519 sign+verify, ", wire, " B"), pair, "pair/s", NAN, NULL);
    snprintf(p.detail, sizeof p.detail, "one core; the ceiling of a signed room's publisher+subscriber");
    report_add(&p);
}

/* Every flow, ROUNDS times, each figure its fastest round (best[flow][size]). */
static void measure_flows(fixture *f, const bench_opts *o, flow_result best[FLOWS][2])
{
    raw_plane raw = {0};
    room_flow rooms[SIGNED] = {0}; /* CLEAR, UNSIGNED, SIGNED at [flow - 1] */
    raw_open(&raw, f->dir);
    unibus_client *alice = open_client(f, f->alice, "alice"), *bob = open_client(f, f->bob, "bob");
    for (int k = CLEAR; k < FLOWS; k++)
        room_open(&rooms[k - 1], f, alice, bob, k != CLEAR, k == SIGNED);
    flow_result runs[FLOWS][2][ROUNDS], round[2];
    for (size_t r = 0; r < ROUNDS; r++)
        for (int k = RAW; k < FLOWS; k++) {
            if (k == RAW)
                raw_round(&raw, o, round);
            else
                room_round(&rooms[k - 1], o, round);
            for (size_t i = 0; i < 2; i++)
                runs[k][i][r] = round[i];
        }
    for (int k = RAW; k < FLOWS; k++)
        for (size_t i = 0; i < 2; i++)
            best[k][i] = flow_best(runs[k][i], ROUNDS);
    for (int k = CLEAR; k < FLOWS; k++)
        room_close(&rooms[k - 1]);
    unibus_client_close(alice);
    unibus_client_close(bob);
    raw_close(&raw);
}

void case_dataplane(const bench_opts *o)
{
    fixture f;
    bench_start_server(&f, NULL, NULL, NULL);
    flow_result best[FLOWS][2];
    measure_flows(&f, o, best);
    for (size_t i = 0; i < 2; i++)
        add_size_rows(i, &best[RAW][i], &best[CLEAR][i], &best[UNSIGNED][i], &best[SIGNED][i], o->quick ? 0.05 : 0.5);
    if (fixture_stop(&f) != 0)
        report_note("data plane: membershipd did not stop cleanly");
}
