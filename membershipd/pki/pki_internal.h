/* Shared by the pki layer's source files only. */
#ifndef MEMBERSHIPD_PKI_INTERNAL_H
#define MEMBERSHIPD_PKI_INTERNAL_H

#include "membershipd/pki/pki.h"

/* The CA key sealed under kek, bound to the trust domain: nonce || box
 * (heap; the caller frees it). */
uint8_t *pki_key_seal(const uint8_t kek[PKI_KEK_BYTES], const char *trust_domain, EVP_PKEY *key, size_t *len);
/* The CA key, or NULL when kek or the trust domain is not the one it was
 * sealed with. */
EVP_PKEY *pki_key_open(const uint8_t kek[PKI_KEK_BYTES], const char *trust_domain, const uint8_t *sealed,
                       size_t len);
/* Sets err to one line and returns false. */
bool pki_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Signs cert with key, SHA-256; fills in the validity window from now. */
bool pki_sign(X509 *cert, EVP_PKEY *key);
/* Adds an X.509v3 extension given in OpenSSL's configuration syntax. */
bool pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* The text a memory BIO holds, NUL-ended (heap; NULL when !ok or empty),
 * the BIO's copy wiped and the BIO freed. */
char *pki_bio_text(BIO *bio, bool ok);
/* An EC key on P-256 (prime256v1), and nothing else. */
bool pki_key_is_p256(EVP_PKEY *key);

#endif
