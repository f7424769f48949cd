#include "envelope.h"

#include <string.h>
#include <sodium.h>

#define AD_PREFIX "unibus-msg-v1"
#define NONCE_OFFSET 62
_Static_assert(ENVELOPE_SESSION_LEN + 8 == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "the nonce is the session id and the sequence number");
#define AD_LEN (sizeof AD_PREFIX - 1 + ENVELOPE_ROOM_ID_LEN + ENVELOPE_HEADER_LEN)

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)(v & 0xff);
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

size_t envelope_sealed_len(size_t plaintext_len, bool sign)
{
    return ENVELOPE_HEADER_LEN + plaintext_len + ENVELOPE_TAG_LEN + (sign ? ENVELOPE_SIG_LEN : 0);
}

static void write_header(const envelope_header *h, bool sign, uint8_t *out)
{
    out[0] = ENVELOPE_VERSION;
    out[1] = sign ? ENVELOPE_FLAG_SIGNED : 0;
    put_be(out + 2, h->epoch, 4);
    memcpy(out + 6, h->sender, 32);
    memcpy(out + 38, h->session, ENVELOPE_SESSION_LEN);
    put_be(out + 54, h->sequence, 8);
    /* The nonce is the session and sequence again: unique under a room key
     * as long as (session, sequence) is, which the replay check already
     * needs, and no call to the kernel's RNG per message. */
    memcpy(out + NONCE_OFFSET, out + 38, ENVELOPE_SESSION_LEN + 8);
}

static void associated_data(const char *room_id, const uint8_t *header, uint8_t ad[AD_LEN])
{
    memcpy(ad, AD_PREFIX, sizeof AD_PREFIX - 1);
    memcpy(ad + sizeof AD_PREFIX - 1, room_id, ENVELOPE_ROOM_ID_LEN);
    memcpy(ad + sizeof AD_PREFIX - 1 + ENVELOPE_ROOM_ID_LEN, header, ENVELOPE_HEADER_LEN);
}

void envelope_seal(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const envelope_header *h,
                   const busauth_identity *signer, const uint8_t *plaintext, size_t len, uint8_t *out)
{
    write_header(h, signer != NULL, out);
    uint8_t ad[AD_LEN];
    associated_data(room_id, out, ad);
    unsigned long long ct_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + ENVELOPE_HEADER_LEN, &ct_len, plaintext, len, ad,
                                               sizeof ad, NULL, out + NONCE_OFFSET, key);
    if (signer)
        busauth_identity_sign(signer, out, ENVELOPE_HEADER_LEN + (size_t)ct_len,
                              out + ENVELOPE_HEADER_LEN + ct_len);
}

unibus_status envelope_peek(const uint8_t *in, size_t len, envelope_header *h)
{
    if (len < ENVELOPE_HEADER_LEN + ENVELOPE_TAG_LEN || in[0] != ENVELOPE_VERSION ||
        (in[1] & ~ENVELOPE_FLAG_SIGNED) != 0)
        return UNIBUS_ERR_MALFORMED;
    if ((in[1] & ENVELOPE_FLAG_SIGNED) && len < ENVELOPE_HEADER_LEN + ENVELOPE_TAG_LEN + ENVELOPE_SIG_LEN)
        return UNIBUS_ERR_MALFORMED;
    h->flags = in[1];
    h->epoch = (uint32_t)get_be(in + 2, 4);
    memcpy(h->sender, in + 6, 32);
    memcpy(h->session, in + 38, ENVELOPE_SESSION_LEN);
    h->sequence = get_be(in + 54, 8);
    return UNIBUS_OK;
}

unibus_status envelope_verify(const uint8_t *in, size_t len)
{
    envelope_header h;
    if (envelope_peek(in, len, &h) != UNIBUS_OK || !(h.flags & ENVELOPE_FLAG_SIGNED))
        return UNIBUS_ERR_BAD_SIGNATURE;
    size_t body_end = len - ENVELOPE_SIG_LEN;
    return busauth_signature_verify(h.sender, in, body_end, in + body_end) == BUSAUTH_OK ? UNIBUS_OK
                                                                                       : UNIBUS_ERR_BAD_SIGNATURE;
}

unibus_status envelope_decrypt(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const uint8_t *in,
                               size_t len, uint8_t *out, size_t *out_len)
{
    envelope_header h;
    unibus_status status = envelope_peek(in, len, &h);
    if (status != UNIBUS_OK)
        return status;
    size_t body_end = len - ((h.flags & ENVELOPE_FLAG_SIGNED) ? ENVELOPE_SIG_LEN : 0);
    uint8_t ad[AD_LEN];
    associated_data(room_id, in, ad);
    unsigned long long pt_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &pt_len, NULL, in + ENVELOPE_HEADER_LEN,
                                                   body_end - ENVELOPE_HEADER_LEN, ad, sizeof ad,
                                                   in + NONCE_OFFSET, key) != 0)
        return UNIBUS_ERR_DECRYPT;
    *out_len = (size_t)pt_len;
    return UNIBUS_OK;
}

unibus_status envelope_open(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const uint8_t *in,
                            size_t len, uint8_t *out, size_t *out_len)
{
    envelope_header h;
    unibus_status status = envelope_peek(in, len, &h);
    if (status == UNIBUS_OK && (h.flags & ENVELOPE_FLAG_SIGNED))
        status = envelope_verify(in, len);
    return status == UNIBUS_OK ? envelope_decrypt(room_id, key, in, len, out, out_len) : status;
}
