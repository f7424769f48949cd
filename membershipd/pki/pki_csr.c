/* Certificate signing requests: what a joining node sends (dev/pki.md). */
#include "membershipd/pki/pki_internal.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>

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
                    : !pki_key_is_p256(key) ? "is not for an EC P-256 key (named curve)"
                    : NULL;
    X509_REQ_free(req);
    ERR_clear_error();
    if (why) {
        EVP_PKEY_free(key);
        pki_fail(err, errlen, "the certificate request %s", why);
        return NULL;
    }
    return key;
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
