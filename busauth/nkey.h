/*
 * NATS nkeys for user identities: the text form of an Ed25519 public key
 * ("U...", 56 characters) and of its 32-byte seed ("SU...", 58 characters),
 * byte-for-byte what the NATS tools read and write.  See dev/identity-format.md.
 *
 * All functions are pure and thread-safe.  Decoders write their output only
 * on BUSAUTH_OK; seed buffers are the caller's to wipe.
 */
#ifndef BUSAUTH_NKEY_H
#define BUSAUTH_NKEY_H

#include <stdbool.h>
#include <stdint.h>
#include "busauth/status.h"

#define BUSAUTH_KEY_BYTES        32 /* Ed25519 public key and seed */
#define BUSAUTH_NKEY_PUBLIC_LEN  56
#define BUSAUTH_NKEY_SEED_LEN    58
#define BUSAUTH_PUBKEY_HEX_LEN   64

void busauth_nkey_encode_public(const uint8_t pk[BUSAUTH_KEY_BYTES],
                                char out[BUSAUTH_NKEY_PUBLIC_LEN + 1]);
void busauth_nkey_encode_seed(const uint8_t seed[BUSAUTH_KEY_BYTES],
                              char out[BUSAUTH_NKEY_SEED_LEN + 1]);

/* Validates length, alphabet, checksum and prefix, in that order, and says
 * which failed.  A seed passed to decode_public gives BUSAUTH_ERR_IS_SEED. */
busauth_status busauth_nkey_decode_public(const char *text, uint8_t pk[BUSAUTH_KEY_BYTES]);
busauth_status busauth_nkey_decode_seed(const char *text, uint8_t seed[BUSAUTH_KEY_BYTES]);

/* True for any well-formed nkey (any type, public or seed): length,
 * alphabet and checksum.  For refusing names that could be keys. */
bool busauth_nkey_is_wellformed(const char *text);

/* A public key as a person types it: a user nkey or 64 hex characters. */
busauth_status busauth_pubkey_parse(const char *text, uint8_t pk[BUSAUTH_KEY_BYTES]);

void busauth_pubkey_to_hex(const uint8_t pk[BUSAUTH_KEY_BYTES],
                           char out[BUSAUTH_PUBKEY_HEX_LEN + 1]);

/* The longest NATS login nonce an identity key signs.  nats-server 2.9
 * sends 15 characters (server/nkey.go:22-24, server.go:2518-2523); the
 * margin lets a later server lengthen it without letting anyone have a
 * longer text signed. */
#define BUSAUTH_NATS_NONCE_MAX 64

/* True only for what a NATS server sends as a login nonce: 1 to
 * BUSAUTH_NATS_NONCE_MAX base64url characters (A-Z a-z 0-9 - _).  Never
 * true for anything else unibus signs, each of which starts with a domain
 * line ending in '\n' (busauth/domain.h).  NULL: false. */
bool busauth_nats_nonce_signable(const char *nonce);

#endif
