/* Case 1: one publisher -> one subscriber, raw nats.c on an unrestricted
 * nats-server (the ceiling) vs the rooms of libunibus through the
 * membershipd-managed nats-server; libsodium's own rates beside them. */
#include <math.h>
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

static void measure_raw(const char *dir, const bench_opts *o, flow_result out[2])
{
    natsd n;
    natsConnection *pub = NULL, *sub = NULL;
    if (natsd_start_open(&n, dir) != 0 || natsConnection_ConnectTo(&pub, n.url) != NATS_OK ||
        natsConnection_ConnectTo(&sub, n.url) != NATS_OK ||
        flow_nats(pub, sub, "bench.raw", SIZES, 2, o->duration_s, out) != 0) {
        fprintf(stderr, "bench: cannot set up raw nats.c against %s\n", n.url);
        exit(1);
    }
    natsConnection_Destroy(pub);
    natsConnection_Destroy(sub);
    natsd_stop(&n);
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

static void measure_room(fixture *f, unibus_client *alice, unibus_client *bob, bool e2e, bool sign,
                         const bench_opts *o, flow_result out[2])
{
    unibus_room room;
    unibus_subscription *sub = NULL;
    flow_sink s = {0};
    if (unibus_room_create(alice, e2e ? (sign ? "bench-signed" : "bench-unsigned") : "bench-clear", e2e, sign,
                           &room) != UNIBUS_OK ||
        unibus_room_add(alice, room.id, f->bob_nkey) != UNIBUS_OK ||
        unibus_room_subscribe(bob, room.id, room_on_msg, room_on_drop, &s, &sub) != UNIBUS_OK) {
        fprintf(stderr, "bench: cannot set up a room: %s / %s\n", unibus_client_error(alice),
                unibus_client_error(bob));
        exit(1);
    }
    room_pub p = {alice, room.id};
    for (size_t i = 0; i < 2; i++) {
        out[i] = flow_run(room_publish, &p, &s, SIZES[i], o->duration_s);
        if (out[i].wrong)
            report_note("data plane: %lu messages dropped or damaged in room %s", out[i].wrong, room.name);
    }
    unibus_subscription_close(sub);
}

/* --- libsodium ------------------------------------------------------------- */

static double aead_rate(size_t len, double duration_s)
{
    uint8_t key[32], nonce[24], *m = calloc(1, len), *c = malloc(len + 16);
    randombytes_buf(key, sizeof key);
    unsigned long n = 0;
    double t0 = bench_now(), t;
    do {
        for (int i = 0; i < 64; i++, n++) {
            randombytes_buf(nonce, sizeof nonce);
            crypto_aead_xchacha20poly1305_ietf_encrypt(c, NULL, m, len, nonce, 24, NULL, nonce, key);
        }
    } while ((t = bench_now() - t0) < duration_s);
    free(m);
    free(c);
    return (double)n / t;
}

/* Pairs (sign one message, verify it) per second on one core. */
static double sign_verify_rate(size_t len, double duration_s)
{
    uint8_t pk[32], sk[64], sig[64], *m = calloc(1, len);
    crypto_sign_keypair(pk, sk);
    unsigned long n = 0, bad = 0;
    double t0 = bench_now(), t;
    do {
        for (int i = 0; i < 16; i++, n++) {
            crypto_sign_detached(sig, NULL, m, len, sk);
            bad += crypto_sign_verify_detached(sig, m, len, pk) != 0;
        }
    } while ((t = bench_now() - t0) < duration_s);
    free(m);
    return bad ? 0 : (double)n / t;
}

/* --- the case -------------------------------------------------------------- */

static void add_flow_row(const char *measure, const flow_result *r, double ceiling, const char *ceiling_name,
                         double min_ratio)
{
    bench_row row = row_make(1, measure, r->msgs_per_s, "msg/s", ceiling, ceiling_name);
    if (min_ratio > 0)
        row_target_ratio(&row, min_ratio);
    snprintf(row.detail, sizeof row.detail, "%.1f MB/s, %lu messages delivered", r->mb_per_s, r->delivered);
    report_add(&row);
}

void case_dataplane(const bench_opts *o)
{
    fixture f;
    bench_start_server(&f, NULL, NULL, NULL);
    flow_result raw[2], clear[2], unsigned_[2], signed_[2];
    measure_raw(f.dir, o, raw);
    unibus_client *alice = open_client(&f, f.alice, "alice"), *bob = open_client(&f, f.bob, "bob");
    measure_room(&f, alice, bob, false, false, o, clear);
    measure_room(&f, alice, bob, true, false, o, unsigned_);
    measure_room(&f, alice, bob, true, true, o, signed_);
    unibus_client_close(alice);
    unibus_client_close(bob);
    double crypto_s = o->quick ? 0.05 : 0.5;
    static char names[2][6][64];
    for (size_t i = 0; i < 2; i++) {
        size_t len = SIZES[i], /* what a signature covers: */
               wire = sizeof BUSAUTH_DOMAIN_MESSAGE - 1 + ENVELOPE_HEADER_LEN + len + ENVELOPE_TAG_LEN;
        double aead = aead_rate(len, crypto_s), pair = sign_verify_rate(wire, crypto_s);
        snprintf(names[i][0], 64, "raw nats.c, open nats-server, %zu B", len);
        snprintf(names[i][1], 64, "cleartext room, %zu B", len);
        snprintf(names[i][2], 64, "e2e room sign=false, %zu B", len);
        snprintf(names[i][3], 64, "e2e room signed, %zu B", len);
        snprintf(names[i][4], 64, "libsodium XChaCha20-Poly1305 seal, %zu B", len);
        snprintf(names[i][5], 64, "libsodium Ed25519 sign+verify, %zu B", wire);
        add_flow_row(names[i][0], &raw[i], NAN, NULL, 0);
        add_flow_row(names[i][1], &clear[i], raw[i].msgs_per_s, "raw nats.c msg/s", len == 128 ? 0.90 : 0);
        add_flow_row(names[i][2], &unsigned_[i], raw[i].msgs_per_s, "raw nats.c msg/s", len == 128 ? 0.50 : 0.80);
        add_flow_row(names[i][3], &signed_[i], pair, "sodium sign+verify/s", 0.80);
        bench_row a = row_make(1, names[i][4], aead, "op/s", NAN, NULL);
        snprintf(a.detail, sizeof a.detail, "%.1f MB/s, one core", aead * (double)len / 1e6);
        report_add(&a);
        bench_row p = row_make(1, names[i][5], pair, "pair/s", NAN, NULL);
        snprintf(p.detail, sizeof p.detail, "one core; the ceiling of a signed room's publisher+subscriber");
        report_add(&p);
    }
    if (fixture_stop(&f) != 0)
        report_note("data plane: membershipd did not stop cleanly");
}
