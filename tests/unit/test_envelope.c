/* The end-to-end envelope: round trips, and every way a message can be
 * forged, altered, misdirected or stripped of its signature fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "busauth/domain.h"
#include "envelope.h"

static const char ROOM[] = "0123456789abcdef0123456789abcdef";
static const char OTHER_ROOM[] = "fedcba9876543210fedcba9876543210";
static const uint8_t MSG[] = "meet at the usual place";

typedef struct {
    busauth_identity *sender;
    uint8_t key[32];
    envelope_header h;
    uint8_t *sealed;
    size_t len;
} fixture;

static void make(fixture *f, bool sign)
{
    busauth_identity_generate(&f->sender);
    randombytes_buf(f->key, sizeof f->key);
    memset(&f->h, 0, sizeof f->h);
    f->h.epoch = 3;
    memcpy(f->h.sender, busauth_identity_public_key(f->sender), 32);
    randombytes_buf(f->h.session, sizeof f->h.session);
    f->h.sequence = 42;
    f->h.time_ms = 1700000000123;
    f->h.kind = ENVELOPE_REPLY;
    memset(f->h.answers, 0xa5, sizeof f->h.answers);
    f->len = envelope_sealed_len(sizeof MSG, sign);
    f->sealed = malloc(f->len);
    assert_int_equal(envelope_seal(ROOM, f->key, &f->h, sign ? f->sender : NULL, MSG, sizeof MSG, f->sealed),
                     UNIBUS_OK);
}

static void release(fixture *f)
{
    busauth_identity_free(f->sender);
    free(f->sealed);
}

static unibus_status open_it(const fixture *f, const char *room, const uint8_t *key, const uint8_t *in, size_t len)
{
    uint8_t out[256];
    size_t out_len = 0;
    unibus_status s = envelope_open(room, key, in, len, out, &out_len);
    if (s == UNIBUS_OK) {
        assert_int_equal(out_len, sizeof MSG);
        assert_memory_equal(out, MSG, sizeof MSG);
    }
    (void)f;
    return s;
}

static void round_trips_signed_and_unsigned(void **state)
{
    (void)state;
    for (int sign = 0; sign <= 1; sign++) {
        fixture f;
        make(&f, sign);
        envelope_header h;
        assert_int_equal(envelope_peek(f.sealed, f.len, &h), UNIBUS_OK);
        assert_int_equal(h.epoch, 3);
        assert_int_equal(h.sequence, 42);
        assert_int_equal(h.time_ms, 1700000000123);
        assert_int_equal(h.kind, ENVELOPE_REPLY);
        assert_memory_equal(h.answers, f.h.answers, ENVELOPE_ID_LEN);
        assert_int_equal(h.flags, sign ? ENVELOPE_FLAG_SIGNED : 0);
        assert_memory_equal(h.sender, f.h.sender, 32);
        assert_memory_equal(h.session, f.h.session, 16);
        assert_int_equal(open_it(&f, ROOM, f.key, f.sealed, f.len), UNIBUS_OK);
        release(&f);
    }
}

static void every_flipped_byte_is_caught(void **state)
{
    (void)state;
    fixture f;
    make(&f, true);
    for (size_t i = 0; i < f.len; i++) {
        f.sealed[i] ^= 0x01;
        unibus_status s = open_it(&f, ROOM, f.key, f.sealed, f.len);
        assert_int_not_equal(s, UNIBUS_OK);
        f.sealed[i] ^= 0x01;
    }
    release(&f);
}

static void unsigned_tampering_is_caught_by_the_tag(void **state)
{
    (void)state;
    fixture f;
    make(&f, false);
    for (size_t i = 2; i < f.len; i++) { /* past version and flags: header fields are bound as AD */
        f.sealed[i] ^= 0x80;
        assert_int_equal(open_it(&f, ROOM, f.key, f.sealed, f.len), UNIBUS_ERR_DECRYPT);
        f.sealed[i] ^= 0x80;
    }
    release(&f);
}

static void another_room_or_key_does_not_open_it(void **state)
{
    (void)state;
    fixture f;
    make(&f, true);
    assert_int_equal(open_it(&f, OTHER_ROOM, f.key, f.sealed, f.len), UNIBUS_ERR_DECRYPT);
    uint8_t wrong[32];
    randombytes_buf(wrong, sizeof wrong);
    assert_int_equal(open_it(&f, ROOM, wrong, f.sealed, f.len), UNIBUS_ERR_DECRYPT);
    release(&f);
}

static void a_stripped_signature_is_noticed(void **state)
{
    (void)state;
    fixture f;
    make(&f, true);
    /* Clearing the flag and dropping the signature breaks the AD (flags are bound). */
    f.sealed[1] = 0;
    assert_int_equal(open_it(&f, ROOM, f.key, f.sealed, f.len - ENVELOPE_SIG_LEN), UNIBUS_ERR_DECRYPT);
    release(&f);
}

static void impersonation_needs_the_sender_key(void **state)
{
    (void)state;
    fixture f;
    make(&f, true);
    busauth_identity *mallory;
    busauth_identity_generate(&mallory);
    /* A member who holds the room key writes a message claiming f.sender. */
    uint8_t *forged = malloc(f.len);
    envelope_seal(ROOM, f.key, &f.h, mallory, MSG, sizeof MSG, forged);
    assert_int_equal(open_it(&f, ROOM, f.key, forged, f.len), UNIBUS_ERR_BAD_SIGNATURE);
    free(forged);
    busauth_identity_free(mallory);
    release(&f);
}

/* The nonce is (session, sequence), not carried: distinct for every
 * message a client sends, with no RNG call per message. */
static void the_nonce_is_the_session_and_sequence(void **state)
{
    (void)state;
    fixture f;
    make(&f, false);
    uint8_t *next = malloc(f.len);
    f.h.sequence = 43;
    envelope_seal(ROOM, f.key, &f.h, NULL, MSG, sizeof MSG, next);
    assert_memory_not_equal(next + ENVELOPE_HEADER_LEN, f.sealed + ENVELOPE_HEADER_LEN, sizeof MSG);
    assert_int_equal(open_it(&f, ROOM, f.key, next, f.len), UNIBUS_OK);
    free(next);
    release(&f);
}

/* The signature is over BUSAUTH_DOMAIN_MESSAGE then the envelope: not a
 * signature of the bare bytes, so it means nothing in another context. */
static void the_signature_covers_the_message_domain(void **state)
{
    (void)state;
    fixture f;
    make(&f, true);
    size_t body = f.len - ENVELOPE_SIG_LEN, prefix = strlen(BUSAUTH_DOMAIN_MESSAGE);
    const uint8_t *sig = f.sealed + body;
    assert_int_not_equal(busauth_signature_verify(f.h.sender, f.sealed, body, sig), BUSAUTH_OK);
    uint8_t *domained = malloc(prefix + body);
    memcpy(domained, BUSAUTH_DOMAIN_MESSAGE, prefix);
    memcpy(domained + prefix, f.sealed, body);
    assert_int_equal(busauth_signature_verify(f.h.sender, domained, prefix + body, sig), BUSAUTH_OK);
    free(domained);
    release(&f);
}

/* What a reply names: the whole request envelope, so any change to the
 * request gives another id. */
static void the_id_is_of_the_whole_envelope(void **state)
{
    (void)state;
    fixture f;
    make(&f, true);
    uint8_t id[ENVELOPE_ID_LEN], again[ENVELOPE_ID_LEN];
    envelope_id(f.sealed, f.len, id);
    envelope_id(f.sealed, f.len, again);
    assert_memory_equal(id, again, sizeof id);
    f.sealed[f.len - 1] ^= 1;
    envelope_id(f.sealed, f.len, again);
    assert_memory_not_equal(id, again, sizeof id);
    release(&f);
}

static void malformed_input_is_refused(void **state)
{
    (void)state;
    fixture f;
    make(&f, true);
    envelope_header h;
    for (size_t len = 0; len < ENVELOPE_HEADER_LEN + ENVELOPE_TAG_LEN + ENVELOPE_SIG_LEN; len++)
        assert_int_equal(envelope_peek(f.sealed, len, &h), UNIBUS_ERR_MALFORMED);
    for (uint8_t version = 0; version < 4; version++) { /* version 1 included: its replays had no end */
        f.sealed[0] = version;
        assert_int_equal(envelope_peek(f.sealed, f.len, &h), version == 2 ? UNIBUS_OK : UNIBUS_ERR_MALFORMED);
    }
    f.sealed[0] = ENVELOPE_VERSION;
    f.sealed[1] = 0x81;
    assert_int_equal(envelope_peek(f.sealed, f.len, &h), UNIBUS_ERR_MALFORMED);
    f.sealed[1] = ENVELOPE_FLAG_SIGNED | 3 << ENVELOPE_KIND_SHIFT; /* no fourth kind */
    assert_int_equal(envelope_peek(f.sealed, f.len, &h), UNIBUS_ERR_MALFORMED);
    release(&f);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_signed_and_unsigned),
        cmocka_unit_test(every_flipped_byte_is_caught),
        cmocka_unit_test(unsigned_tampering_is_caught_by_the_tag),
        cmocka_unit_test(another_room_or_key_does_not_open_it),
        cmocka_unit_test(a_stripped_signature_is_noticed),
        cmocka_unit_test(impersonation_needs_the_sender_key),
        cmocka_unit_test(the_nonce_is_the_session_and_sequence),
        cmocka_unit_test(the_signature_covers_the_message_domain),
        cmocka_unit_test(the_id_is_of_the_whole_envelope),
        cmocka_unit_test(malformed_input_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
