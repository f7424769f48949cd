/* Certificate signing requests: what a joining node sends (dev/pki.md). */
#include "membershipd/pki/pki_internal.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#define P256_POINT_MAX 65 /* 04 || x || y */

/* The same public key as P-256 keys are made here: a named curve and an
 * uncompressed point.  A CSR may carry the curve's explicit parameters
 * (RFC 5480 forbids them in certificates) or a compressed point; Go's TLS,
 * nats-server's, refuses a certificate with either. */
static EVP_PKEY *canonical_p256(EVP_PKEY *key)
{
    uint8_t point[P256_POINT_MAX];
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) != 1)
        return NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, len),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *out = NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_PUBLIC_KEY, params) != 1)
        out = NULL;
    EVP_PKEY_CTX_free(ctx);
    return out;
}

EVP_PKEY *pki_csr_public_key(const char *pem, size_t len, char *err, size_t errlen)
{
    if (len > PKI_PEM_MAX) {
        pki_fail(err, errlen, "the certificate request is over %d bytes", PKI_PEM_MAX);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    EVP_PKEY *key = req ? X509_REQ_get_pubkey(req) : NULL;
    const char *why = !req ? "is not a PEM certificate request"
                    : !key ? "has no public key"
                    : X509_REQ_verify(req, key) != 1 ? "is not signed by its own key"
                    : !pki_key_is_p256(key) ? "is not for an EC P-256 key"
                    : NULL;
    X509_REQ_free(req);
    EVP_PKEY *canonical = why ? NULL : canonical_p256(key);
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!canonical)
        pki_fail(err, errlen, "the certificate request %s", why ? why : "has a P-256 key OpenSSL cannot copy");
    return canonical;
}

char *pki_csr_make(EVP_PKEY *key, const char *name)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subject = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    bool ok = req && subject && bio &&
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1, -1, 0) &&
              X509_REQ_set_subject_name(req, subject) && X509_REQ_set_pubkey(req, key) &&
              X509_REQ_sign(req, key, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(bio, req) == 1;
    X509_NAME_free(subject);
    X509_REQ_free(req);
    return bio ? pki_bio_text(bio, ok) : NULL;
}
