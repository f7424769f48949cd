/*
 * The end-to-end message envelope, version 2 (dev/message-envelope.md),
 * internal to libunibus.  Pure functions; thread-safe.
 *
 *   0  version (2)         1  flags (1, bit 0: signed; bits 1-2: kind)
 *   2  key epoch (4, BE)   6  sender Ed25519 key (32)
 *  38  session id (16)    54  sequence (8, BE)
 *  62  sender time (8, BE, Unix ms)
 *  70  answers (32): the id of the request this answers; zeros otherwise
 * 102  XChaCha20-Poly1305 ciphertext + tag (n + 16), nonce = bytes 38..61
 *  then, when signed, the sender's Ed25519 signature (64) over
 *  BUSAUTH_DOMAIN_MESSAGE followed by all the bytes before it.
 *
 * Associated data: BUSAUTH_DOMAIN_MESSAGE || room id (32 ASCII) || bytes 0..101.
 */
#ifndef UNIBUS_ENVELOPE_H
#define UNIBUS_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "busauth/identity.h"
#include "unibus.h"

#define ENVELOPE_VERSION 2
#define ENVELOPE_FLAG_SIGNED 0x01
#define ENVELOPE_KIND_SHIFT 1
#define ENVELOPE_HEADER_LEN 102
#define ENVELOPE_TAG_LEN 16
#define ENVELOPE_SIG_LEN 64
#define ENVELOPE_SESSION_LEN 16
#define ENVELOPE_ID_LEN 32
#define ENVELOPE_KEY_LEN 32
#define ENVELOPE_ROOM_ID_LEN 32

/* What the sender sent it as: a receiver takes it as nothing else. */
typedef enum { ENVELOPE_MESSAGE = 0, ENVELOPE_REQUEST = 1, ENVELOPE_REPLY = 2 } envelope_kind;

typedef struct {
    uint8_t flags;                     /* ENVELOPE_FLAG_SIGNED or 0 */
    envelope_kind kind;
    uint32_t epoch;
    uint8_t sender[32];
    uint8_t session[ENVELOPE_SESSION_LEN];
    uint64_t sequence;
    uint64_t time_ms;                  /* the sender's clock when it sealed */
    uint8_t answers[ENVELOPE_ID_LEN];  /* envelope_id of the request answered; zeros: none */
} envelope_header;

size_t envelope_sealed_len(size_t plaintext_len, bool sign);

/* Encrypts (and, when signer is given, signs) into out, which holds
 * envelope_sealed_len bytes.  UNIBUS_ERR_NOMEM only when signing a large
 * message finds no memory for the domain-prefixed copy. */
unibus_status envelope_seal(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const envelope_header *h,
                            const busauth_identity *signer, const uint8_t *plaintext, size_t len, uint8_t *out);

/* The id a reply names in `answers`: BLAKE2b-256 of the whole envelope. */
void envelope_id(const uint8_t *in, size_t len, uint8_t id[ENVELOPE_ID_LEN]);

/* Reads the header (no crypto yet): UNIBUS_ERR_MALFORMED when too short or
 * of another version (version 1 included) or with unknown flags or kind. */
unibus_status envelope_peek(const uint8_t *in, size_t len, envelope_header *h);

/* Checks the sender's signature of a signed envelope: UNIBUS_OK, or
 * UNIBUS_ERR_BAD_SIGNATURE (also for an unsigned one). */
unibus_status envelope_verify(const uint8_t *in, size_t len);

/* Decrypts into out only: for a receiver that has checked the signature
 * already (envelope_verify).  UNIBUS_ERR_DECRYPT when the tag fails. */
unibus_status envelope_decrypt(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const uint8_t *in,
                               size_t len, uint8_t *out, size_t *out_len);

/* Verifies the signature (when the envelope is signed) against the header's
 * sender, then decrypts into out (len - overhead bytes).  *out_len is the
 * plaintext length.  UNIBUS_ERR_BAD_SIGNATURE or UNIBUS_ERR_DECRYPT. */
unibus_status envelope_open(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const uint8_t *in,
                            size_t len, uint8_t *out, size_t *out_len);

#endif
