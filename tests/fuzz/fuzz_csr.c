/*
 * A node's certificate request as POST /v1/join receives it: the input is
 * the PEM text given to pki_csr_public_key.  A key it accepts must be an
 * EC P-256 key (checked here with OpenSSL's own accessors), and the CA
 * must be able to issue a certificate for it that verifies against the
 * CA and holds the key as RFC 5480 says (named curve, uncompressed
 * point).  A refusal is one line.  Input: the PEM text.
 */
#include <string.h>
#include "fuzz.h"
#include "fuzz_world.h"
#include "membershipd/pki/pki.h"

/* A CA made once, in a store of its own; only its certificate and key are
 * used afterwards (issuing does not touch the store). */
static const pki_ca *fuzz_ca(void)
{
    static pki_ca ca;
    if (!ca.key) {
        fuzz_world w = {0};
        fuzz_world_open(&w);
        uint8_t kek[PKI_KEK_BYTES] = {0};
        store_actor by = {"fuzz", NULL, NULL};
        char err[512];
        if (!pki_ca_init(w.st, "fuzz.example", 1, kek, &by, &ca, err, sizeof err))
            abort();
        fuzz_world_close(&w);
    }
    return &ca;
}

static void check_p256(EVP_PKEY *key)
{
    char group[64];
    FUZZ_CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_EC);
    FUZZ_CHECK(EVP_PKEY_get_group_name(key, group, sizeof group, NULL) == 1 && strcmp(group, "prime256v1") == 0);
}

/* The DER SubjectPublicKeyInfo of a P-256 key as RFC 5480 and Go's TLS
 * want it: the named curve, then the uncompressed point (04 || x || y). */
static void check_spki_canonical(X509 *cert)
{
    static const uint8_t prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                     0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
                                     0x04};
    uint8_t *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    FUZZ_CHECK(len == (int)sizeof prefix + 64 && memcmp(der, prefix, sizeof prefix) == 0);
    OPENSSL_free(der);
}

static void check_issuable(EVP_PKEY *key)
{
    const pki_ca *ca = fuzz_ca();
    pki_profile profile = {"node-1", STORE_CERT_NODE, "node-1.example", "127.0.0.1", 1};
    X509 *cert = NULL;
    store_cert record;
    char err[512];
    FUZZ_CHECK(pki_issue(ca, key, &profile, &cert, &record, err, sizeof err));
    FUZZ_CHECK(pki_cert_issued_by(cert, ca->cert));
    FUZZ_CHECK(EVP_PKEY_eq(X509_get0_pubkey(cert), key) == 1);
    check_spki_canonical(cert);
    X509_free(cert);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ca();
    char *pem = malloc(size ? size : 1); /* exactly sized: ASan sees any read past size */
    memcpy(pem, data, size);
    char err[512] = "";
    EVP_PKEY *key = pki_csr_public_key(pem, size, err, sizeof err);
    if (key) {
        check_p256(key);
        check_issuable(key);
        EVP_PKEY_free(key);
    } else {
        FUZZ_CHECK(err[0] && !strchr(err, '\n'));
    }
    free(pem);
    return 0;
}
