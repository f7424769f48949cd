/*
 * The bus PKI (dev/pki.md): an ECDSA P-256 root CA that membershipd keeps,
 * the certificates it issues to nodes and clients, and join tokens.
 *
 * The CA's private key is in the database only sealed (XChaCha20-Poly1305)
 * under a key-encryption key (KEK) kept in a file of its own: a stolen
 * database alone does not sign.  Every function that fails writes one line
 * saying what was wrong and what to do into err.
 */
#ifndef MEMBERSHIPD_PKI_H
#define MEMBERSHIPD_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "busauth/join_token.h"
#include "membershipd/store/store_pki.h"

#define PKI_KEK_BYTES 32
#define PKI_KEK_FILE "ca.kek"          /* in the data directory, by default */
#define PKI_CA_DAYS_DEFAULT 3650
#define PKI_CERT_DAYS_DEFAULT 90
#define PKI_DAYS_MAX 36500
#define PKI_PEM_MAX (64 * 1024)        /* a certificate or CSR we read */

/* ---- the key-encryption key ---------------------------------------------- */

/* Creates the KEK file at path (0600, O_EXCL: never replacing one) with
 * fresh random bytes, and gives them in kek. */
bool pki_kek_create(const char *path, uint8_t kek[PKI_KEK_BYTES], char *err, size_t errlen);
/* Reads the KEK file: a regular file of this user's, reachable by no one
 * else, holding exactly a KEK. */
bool pki_kek_load(const char *path, uint8_t kek[PKI_KEK_BYTES], char *err, size_t errlen);

/* ---- the CA --------------------------------------------------------------- */

typedef struct {
    char trust_domain[STORE_TRUST_DOMAIN_MAX + 1];
    X509 *cert;
    EVP_PKEY *key; /* NULL when loaded without the KEK: it can show, not sign */
} pki_ca;

/* Lowercase letters, digits, '.', '-' and '_', 1-253 characters, as a
 * SPIFFE trust domain. */
bool pki_trust_domain_valid(const char *name);

/* Makes a new CA (key and self-signed certificate valid for days) and
 * records it, its key sealed under kek.  Refuses when there is one. */
bool pki_ca_init(store *s, const char *trust_domain, int days, const uint8_t kek[PKI_KEK_BYTES],
                 const store_actor *by, pki_ca *out, char *err, size_t errlen);
/* Loads the CA; with kek its key too (else out->key is NULL). */
bool pki_ca_load(store *s, const uint8_t *kek, pki_ca *out, char *err, size_t errlen);
void pki_ca_free(pki_ca *ca);

/* ---- issuing --------------------------------------------------------------- */

typedef struct {
    const char *name;       /* a user-name-shaped name: the CN and the SPIFFE path */
    store_cert_role role;
    const char *dns;        /* comma-separated DNS names, or "" */
    const char *ip;         /* comma-separated IPv4/IPv6 addresses, or "" */
    int days;
} pki_profile;

/* Checks a profile's names, addresses and lifetime. */
bool pki_profile_valid(const pki_profile *p, char *err, size_t errlen);
/* Signs a certificate for subject_key (which must be EC P-256) with the CA
 * (which must hold its key): random 128-bit serial, the SANs of the profile
 * plus spiffe://<trust-domain>/<role>/<name>, key usage digitalSignature,
 * extended key usage serverAuth and clientAuth for a node, clientAuth for
 * a client; valid for p->days but never past the CA's end (an expired CA
 * signs nothing).  Fills record for the store. */
bool pki_issue(const pki_ca *ca, EVP_PKEY *subject_key, const pki_profile *p, X509 **out, store_cert *record,
               char *err, size_t errlen);
/* A fresh EC P-256 key. */
EVP_PKEY *pki_key_generate(void);

/* ---- files and encodings ----------------------------------------------------- */

/* PEM text (heap; the caller frees it) of a certificate or a private key. */
char *pki_cert_pem(X509 *cert);
char *pki_key_pem(EVP_PKEY *key); /* wiped by pki_pem_free */
void pki_pem_free(char *pem);
/* Writes text, fsynced, to a new file name in the directory open as dir
 * (O_EXCL|O_NOFOLLOW: never through a link, never over a file). */
bool pki_write_file_at(int dir, const char *name, const char *text, int mode, char *err, size_t errlen);
/* The first certificate of a PEM file (at most PKI_PEM_MAX bytes); _at:
 * name in the directory open as dir. */
X509 *pki_cert_read(const char *path, char *err, size_t errlen);
X509 *pki_cert_read_at(int dir, const char *name, char *err, size_t errlen);
X509 *pki_cert_parse(const char *pem, size_t len);
/* Lowercase hex of the SHA-256 of the DER certificate, and of its
 * SubjectPublicKeyInfo. */
void pki_cert_sha256_hex(X509 *cert, char out[65]);
void pki_spki_sha256(X509 *cert, uint8_t out[32]);
/* The serial as 32 lowercase hex digits (our serials), or as many as it
 * takes. */
void pki_cert_serial_hex(X509 *cert, char *out, size_t len);
/* The subject alternative names: "DNS:a, IP:10.0.0.1, URI:spiffe://..." */
void pki_cert_sans(X509 *cert, char *out, size_t cap);
/* Whether ca signed cert (name chain and signature). */
bool pki_cert_issued_by(X509 *cert, X509 *ca);

/* How much of a certificate's lifetime is left, at now (unix seconds). */
typedef struct {
    int64_t not_before, not_after;  /* unix seconds */
    int64_t renew_at;               /* when a third of its lifetime is left */
    int64_t seconds_left;           /* negative once expired */
    bool renew_due;                 /* now >= renew_at */
} pki_lifetime;

bool pki_cert_lifetime(X509 *cert, int64_t now, pki_lifetime *out);

/* ---- certificate signing requests ---------------------------------------------- */

/* Parses a PEM CSR (at most PKI_PEM_MAX bytes): its self-signature must
 * verify (the joiner holds the key) and its key must be EC P-256.  Returns
 * the public key (the caller's) as keys are made here, a named curve and an
 * uncompressed point, however the CSR encoded it; nothing else of the CSR
 * is used. */
EVP_PKEY *pki_csr_public_key(const char *pem, size_t len, char *err, size_t errlen);
/* A PEM CSR for key (heap; the caller frees it). */
char *pki_csr_make(EVP_PKEY *key, const char *name);

/* ---- join proofs (busauth/join_token.h has tokens) ------------------------------- */

/* What a node's join proof binds: the lowercase hex SHA-256 of the key's
 * DER SubjectPublicKeyInfo. */
bool pki_key_spki_sha256_hex(EVP_PKEY *key, char out[65]);

/* ---- the join request ----------------------------------------------------------- */

/* POST /v1/join's body: {"role": "member"|"node", "token_key": 64 hex,
 * "proof": base64url signature, "name": "...", "csr": "PEM"} (node: name and
 * csr required; member: neither, as the token names the user and the
 * request's signature is the key).  Nothing but these fields, each a
 * string within its bound.  The token itself is never sent: the proof
 * (busauth_join_prove) is. */
typedef struct {
    store_token_role role;
    uint8_t token_key[BUSAUTH_KEY_BYTES];
    char proof[BUSAUTH_SIG_B64_LEN + 1];
    char name[STORE_USER_NAME_MAX + 1];            /* "" for a member */
    char *csr_pem;                                 /* node: heap */
} pki_join_request;

bool pki_join_request_parse(const char *text, size_t len, pki_join_request *out, char *err, size_t errlen);
void pki_join_request_free(pki_join_request *r);

#endif
