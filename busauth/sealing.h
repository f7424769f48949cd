/*
 * Sealing small secrets (room keys) to an identity: crypto_box_seal to the
 * X25519 key derived from the recipient's Ed25519 key, so one identity
 * serves for signing, NATS login and receiving room keys.
 */
#ifndef BUSAUTH_SEALING_H
#define BUSAUTH_SEALING_H

#include <stddef.h>
#include <stdint.h>
#include "busauth/identity.h"

#define BUSAUTH_SEAL_OVERHEAD 48 /* crypto_box_SEALBYTES */

/* out holds len + BUSAUTH_SEAL_OVERHEAD bytes. */
busauth_status busauth_seal_to(const uint8_t recipient[BUSAUTH_KEY_BYTES], const uint8_t *msg, size_t len,
                               uint8_t *out);
/* out holds len - BUSAUTH_SEAL_OVERHEAD bytes; BUSAUTH_ERR_SIGNATURE when
 * it was not sealed to id or was altered. */
busauth_status busauth_identity_unseal(const busauth_identity *id, const uint8_t *sealed, size_t len,
                                       uint8_t *out);

#endif
