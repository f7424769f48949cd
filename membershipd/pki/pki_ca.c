/* The CA: made once, its key sealed in the store (dev/pki.md). */
#include "membershipd/pki/pki_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509v3.h>
#include <sodium.h>

bool pki_trust_domain_valid(const char *name)
{
    size_t len = strnlen(name, STORE_TRUST_DOMAIN_MAX + 1);
    return len >= 1 && len <= STORE_TRUST_DOMAIN_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == len && name[0] != '.' && name[len - 1] != '.';
}

static X509 *ca_certificate(const char *trust_domain, EVP_PKEY *key, int days)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    char cn[STORE_TRUST_DOMAIN_MAX + 16], uri[STORE_TRUST_DOMAIN_MAX + 16];
    snprintf(cn, sizeof cn, "unibus CA %s", trust_domain);
    snprintf(uri, sizeof uri, "URI:spiffe://%s", trust_domain);
    uint8_t serial[16];
    randombytes_buf(serial, sizeof serial);
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    bool ok = cert && name && bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) &&
              X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"unibus", -1, -1, 0) &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) &&
              X509_set_subject_name(cert, name) && X509_set_issuer_name(cert, name) && X509_set_pubkey(cert, key) &&
              X509_gmtime_adj(X509_getm_notBefore(cert), -300) &&
              X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) &&
              pki_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
              pki_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
              pki_add_ext(cert, cert, NID_subject_key_identifier, "hash") &&
              pki_add_ext(cert, cert, NID_subject_alt_name, uri) && pki_sign(cert, key);
    BN_free(bn);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

bool pki_ca_init(store *s, const char *trust_domain, int days, const uint8_t kek[PKI_KEK_BYTES],
                 const store_actor *by, pki_ca *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->trust_domain, sizeof out->trust_domain, "%s", trust_domain);
    out->key = pki_key_generate();
    out->cert = out->key ? ca_certificate(trust_domain, out->key, days) : NULL;
    char *pem = out->cert ? pki_cert_pem(out->cert) : NULL;
    size_t sealed_len = 0;
    uint8_t *sealed = pem ? pki_key_seal(kek, trust_domain, out->key, &sealed_len) : NULL;
    store_status status = sealed ? store_ca_put(s, trust_domain, pem, sealed, sealed_len, by) : STORE_ERROR;
    free(pem);
    free(sealed);
    if (status == STORE_OK)
        return true;
    pki_ca_free(out);
    if (status == STORE_CONFLICT)
        return pki_fail(err, errlen, "this bus has a CA already (see: membershipd ca show); nothing changed");
    return pki_fail(err, errlen, "cannot make the CA: %s", sealed ? store_errmsg(s) : "OpenSSL failed");
}

bool pki_ca_load(store *s, const uint8_t *kek, pki_ca *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    store_ca row;
    store_status status = store_ca_get(s, &row);
    if (status == STORE_NOT_FOUND)
        return pki_fail(err, errlen, "this bus has no CA yet; make one with: membershipd ca init --trust-domain NAME");
    if (status != STORE_OK)
        return pki_fail(err, errlen, "cannot read the CA: %s", store_errmsg(s));
    snprintf(out->trust_domain, sizeof out->trust_domain, "%s", row.trust_domain);
    out->cert = pki_cert_parse(row.cert_pem, strlen(row.cert_pem));
    if (kek && out->cert)
        out->key = pki_key_open(kek, row.trust_domain, row.key_sealed, row.key_sealed_len);
    store_ca_free(&row);
    if (!out->cert) {
        pki_ca_free(out);
        return pki_fail(err, errlen, "the CA certificate in the database does not parse");
    }
    if (kek && (!out->key || X509_check_private_key(out->cert, out->key) != 1)) {
        pki_ca_free(out);
        return pki_fail(err, errlen, "the CA key does not open with this key-encryption key (another bus's "
                        "--ca-kek-file?)");
    }
    return true;
}

void pki_ca_free(pki_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    ca->cert = NULL;
    ca->key = NULL;
}
