/*
 * The bus PKI's records (dev/pki.md): the CA (its certificate, and its
 * private key sealed under a key-encryption key that is never in the
 * database), the certificates it issued, and join tokens (only the
 * public half of each token's key: busauth/join_token.h).  Every change writes its audit entry in the same transaction.
 */
#ifndef MEMBERSHIPD_STORE_PKI_H
#define MEMBERSHIPD_STORE_PKI_H

#include "membershipd/store/store.h"

#define STORE_TRUST_DOMAIN_MAX 253
#define STORE_CERT_SERIAL_LEN 32   /* lowercase hex of 16 random bytes */
#define STORE_SANS_MAX 1024        /* DNS or IP SANs, comma-separated */

typedef enum { STORE_CERT_NODE, STORE_CERT_CLIENT } store_cert_role;
typedef enum { STORE_TOKEN_NODE, STORE_TOKEN_MEMBER } store_token_role;

/* The CA: heap copies, released by store_ca_free. */
typedef struct {
    char trust_domain[STORE_TRUST_DOMAIN_MAX + 1];
    char *cert_pem;
    uint8_t *key_sealed;
    size_t key_sealed_len;
    int64_t created_ms;
} store_ca;

/* Records the CA, once: STORE_CONFLICT when there is one already. */
store_status store_ca_put(store *s, const char *trust_domain, const char *cert_pem, const uint8_t *key_sealed,
                          size_t key_sealed_len, const store_actor *by);
/* STORE_NOT_FOUND before `membershipd ca init`. */
store_status store_ca_get(store *s, store_ca *out);
void store_ca_free(store_ca *ca);

typedef struct store_cert {
    char serial[STORE_CERT_SERIAL_LEN + 1];
    char name[STORE_USER_NAME_MAX + 1];
    store_cert_role role;
    char dns[STORE_SANS_MAX + 1];
    char ip[STORE_SANS_MAX + 1];
    int64_t not_before_ms, not_after_ms, issued_ms;
    int64_t revoked_ms; /* 0 while valid */
    uint8_t spki_sha256[32];
} store_cert;

const char *store_cert_role_name(store_cert_role role);
bool store_cert_role_parse(const char *text, store_cert_role *out);
const char *store_token_role_name(store_token_role role);
bool store_token_role_parse(const char *text, store_token_role *out);

/* Records an issued certificate (cert_pem is kept for `cert list` and the
 * cluster's pinned keys).  STORE_DUPLICATE_NAME when, and it is not a
 * renewal, a valid certificate of that name exists: a name is one identity. */
store_status store_cert_add(store *s, const store_cert *cert, const char *cert_pem, bool renewal,
                            const store_actor *by);
/* The most recently issued certificate of a name (valid_only: of those
 * not revoked). */
store_status store_cert_get_latest(store *s, const char *name, bool valid_only, store_cert *out);
/* serial: hex, any case, leading zeros optional. */
store_status store_cert_get_by_serial(store *s, const char *serial, store_cert *out);
/* STORE_ALREADY_REVOKED when it is. */
store_status store_cert_revoke(store *s, const char *serial, const store_actor *by);
/* Revokes every valid certificate of a name; *count says how many
 * (STORE_NOT_FOUND when the name has none, STORE_ALREADY_REVOKED when
 * none is valid). */
store_status store_cert_revoke_name(store *s, const char *name, const store_actor *by, int *count);
typedef int (*store_cert_fn)(const store_cert *cert, void *ctx);
store_status store_cert_foreach(store *s, store_cert_fn fn, void *ctx);

/* The route keys the bus pins now: every node certificate neither revoked
 * nor expired at now_ms, as hex of its SubjectPublicKeyInfo's SHA-256, at
 * most cap into out (dev/cluster.md, "A node joining").  *n how many. */
#define STORE_PIN_HEX_LEN 64
store_status store_cert_node_pins(store *s, int64_t now_ms, char (*out)[STORE_PIN_HEX_LEN + 1], size_t cap,
                                  size_t *n);

typedef struct {
    uint8_t key[32];           /* the token key's public half: verifies its proofs */
    store_token_role role;
    char name[STORE_USER_NAME_MAX + 1]; /* member: the user it makes; node: "" lets the joiner name itself */
    char dns[STORE_SANS_MAX + 1];       /* node tokens: the SANs its certificate gets */
    char ip[STORE_SANS_MAX + 1];
    int64_t created_ms, expires_ms;
    int64_t used_ms, revoked_ms;        /* 0 when not */
    char used_by[STORE_USER_NAME_MAX + 1];
} store_token;

store_status store_token_add(store *s, const store_token *token, const store_actor *by);
/* id_prefix: at least 8 lowercase hex characters of the token key;
 * STORE_CONFLICT when it names more than one token, STORE_ALREADY_REVOKED
 * when it is. */
store_status store_token_revoke(store *s, const char *id_prefix, const store_actor *by);
typedef int (*store_token_fn)(const store_token *token, void *ctx);
store_status store_token_foreach(store *s, store_token_fn fn, void *ctx);
/* The token with this key, whatever its state. */
store_status store_token_get(store *s, const uint8_t key[32], store_token *out);

/* Why a token was refused: the caller always hears the same answer, the
 * audit log hears this. */
typedef enum {
    STORE_REDEEM_OK,
    STORE_REDEEM_UNKNOWN,
    STORE_REDEEM_USED,
    STORE_REDEEM_EXPIRED,
    STORE_REDEEM_REVOKED,
    STORE_REDEEM_WRONG_ROLE,
    STORE_REDEEM_TAKEN /* member: the name or key is on the allowlist already */
} store_redeem_outcome;

const char *store_redeem_outcome_name(store_redeem_outcome outcome);

/* Spends a member token and allowlists public_key under the token's name,
 * in one transaction: either both happen or neither.  A refusal is
 * *outcome with STORE_OK; the caller audits it (store_audit_append). */
store_status store_token_redeem_member(store *s, const uint8_t key[32],
                                       const uint8_t public_key[BUSAUTH_KEY_BYTES], const store_actor *by,
                                       store_redeem_outcome *outcome);
/* Spends a node token and records the certificate issued for it, in one
 * transaction; a refusal as above (STORE_REDEEM_TAKEN: the name has a
 * valid certificate). */
store_status store_token_redeem_node(store *s, const uint8_t key[32], const store_cert *cert,
                                     const char *cert_pem, const store_actor *by, store_redeem_outcome *outcome);
/* Whether the token may be spent for role now, without spending it (so a node's
 * certificate is issued only for a token that can pay for it). */
store_status store_token_check(store *s, const uint8_t key[32], store_token_role role, store_token *out,
                               store_redeem_outcome *outcome);

#endif
