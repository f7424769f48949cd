/*
 * An identity: one Ed25519 key pair, the same on the control plane (signed
 * HTTPS requests) and the data plane (NATS nkey authentication).
 *
 * The secret half lives in sodium_malloc'd memory (guard pages, locked,
 * read-only after creation) and is wiped by busauth_identity_free.  An
 * identity is immutable once made, so one may be shared between threads.
 */
#ifndef BUSAUTH_IDENTITY_H
#define BUSAUTH_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include "busauth/nkey.h"
#include "busauth/status.h"

#define BUSAUTH_SIGNATURE_BYTES 64

typedef struct busauth_identity busauth_identity;

/* Call once before anything else in busauth (idempotent, thread-safe). */
busauth_status busauth_init(void);

/* On success *out is the caller's, to release with busauth_identity_free. */
busauth_status busauth_identity_generate(busauth_identity **out);
busauth_status busauth_identity_from_seed(const uint8_t seed[BUSAUTH_KEY_BYTES],
                                          busauth_identity **out);
/* A second identity made from id's seed with libsodium's crypto_kdf
 * (context: exactly 8 characters naming its use): the same id and context
 * always give the same identity, and it reveals nothing of id's seed. */
busauth_status busauth_identity_derive(const busauth_identity *id, const char context[8],
                                       busauth_identity **out);
/* NULL is accepted. */
void busauth_identity_free(busauth_identity *id);

const uint8_t *busauth_identity_public_key(const busauth_identity *id);
/* The seed as an nkey, into a buffer the caller wipes (sodium_memzero). */
void busauth_identity_seed_nkey(const busauth_identity *id,
                                char out[BUSAUTH_NKEY_SEED_LEN + 1]);

void busauth_identity_sign(const busauth_identity *id, const uint8_t *msg, size_t len,
                           uint8_t sig[BUSAUTH_SIGNATURE_BYTES]);
busauth_status busauth_signature_verify(const uint8_t pk[BUSAUTH_KEY_BYTES],
                                        const uint8_t *msg, size_t len,
                                        const uint8_t sig[BUSAUTH_SIGNATURE_BYTES]);

#endif
