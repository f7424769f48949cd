/* Issuing certificates with the CA (dev/pki.md, "Certificates"). */
#include "membershipd/pki/pki_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/x509v3.h>
#include <sodium.h>

EVP_PKEY *pki_key_generate(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

bool pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

bool pki_sign(X509 *cert, EVP_PKEY *key)
{
    return X509_set_version(cert, X509_VERSION_3) && X509_sign(cert, key, EVP_sha256()) > 0;
}

static bool dns_label_ok(const char *label, size_t len)
{
    if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = label[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static bool dns_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    for (size_t at = 0; at <= len;) {
        size_t label = strcspn(name + at, ".,");
        if (at + label > len)
            label = len - at;
        if (!dns_label_ok(name + at, label))
            return false;
        at += label + 1;
    }
    return true;
}

static bool ip_ok(const char *text, size_t len)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned char addr[sizeof(struct in6_addr)];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* Each comma-separated item of list passes ok; "" is an empty list. */
static bool list_ok(const char *list, bool (*ok)(const char *, size_t))
{
    if (!list[0])
        return true;
    if (strlen(list) > STORE_SANS_MAX)
        return false;
    for (const char *at = list;; at++) {
        size_t len = strcspn(at, ",");
        if (!ok(at, len))
            return false;
        at += len;
        if (!*at)
            return true;
    }
}

bool pki_profile_valid(const pki_profile *p, char *err, size_t errlen)
{
    if (!store_user_name_valid(p->name))
        return pki_fail(err, errlen, "invalid certificate name %s: use 1-%d letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit", p->name, STORE_USER_NAME_MAX);
    if (strcasecmp(p->name, "ca") == 0) /* its files would be ca.crt and ca.key, beside the bus CA's ca.crt */
        return pki_fail(err, errlen, "invalid certificate name %s: ca.crt beside it is the bus CA; choose another "
                        "name", p->name);
    if (!list_ok(p->dns, dns_name_ok))
        return pki_fail(err, errlen, "invalid --dns %s: give DNS names (letters, digits, '-', dots), "
                        "comma-separated", p->dns);
    if (!list_ok(p->ip, ip_ok))
        return pki_fail(err, errlen, "invalid --ip %s: give IPv4 or IPv6 addresses, comma-separated", p->ip);
    if (p->days < 1 || p->days > PKI_DAYS_MAX)
        return pki_fail(err, errlen, "invalid --days %d: give 1 to %d", p->days, PKI_DAYS_MAX);
    return true;
}

/* "DNS:a,DNS:b,IP:1.2.3.4,URI:spiffe://td/node/name" */
static void san_text(const pki_ca *ca, const pki_profile *p, char *out, size_t cap)
{
    size_t n = 0;
    const char *lists[2] = {p->dns, p->ip}, *kinds[2] = {"DNS:", "IP:"};
    for (int k = 0; k < 2; k++)
        for (const char *at = lists[k]; *at;) {
            size_t len = strcspn(at, ",");
            n += (size_t)snprintf(out + n, cap - n, "%s%.*s,", kinds[k], (int)len, at);
            at += len + (at[len] == ',');
        }
    snprintf(out + n, cap - n, "URI:spiffe://%s/%s/%s", ca->trust_domain, store_cert_role_name(p->role), p->name);
}

/* CN "<role> <name>": with a space in it, never a host name that a client
 * falling back to the CN (there being no DNS SAN) could match; the names
 * a certificate serves are its SANs alone. */
static bool set_subject(X509 *cert, const pki_ca *ca, const pki_profile *p)
{
    char cn[STORE_USER_NAME_MAX + 16];
    snprintf(cn, sizeof cn, "%s %s", store_cert_role_name(p->role), p->name);
    X509_NAME *subject = X509_NAME_new();
    bool ok = subject &&
              X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8, (const unsigned char *)ca->trust_domain, -1,
                                         -1, 0) &&
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) &&
              X509_set_subject_name(cert, subject) && X509_set_issuer_name(cert, X509_get_subject_name(ca->cert));
    X509_NAME_free(subject);
    return ok;
}

/* 128 random bits; positive whatever the top bit (DER adds the zero). */
static bool set_serial(X509 *cert, store_cert *record)
{
    uint8_t serial[16];
    do
        randombytes_buf(serial, sizeof serial);
    while (sodium_is_zero(serial, sizeof serial));
    sodium_bin2hex(record->serial, sizeof record->serial, serial, sizeof serial);
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    return ok;
}

bool pki_key_is_p256(EVP_PKEY *key)
{
    char group[32];
    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, NULL) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

static void fill_record(X509 *cert, const pki_profile *p, store_cert *record)
{
    snprintf(record->name, sizeof record->name, "%s", p->name);
    record->role = p->role;
    snprintf(record->dns, sizeof record->dns, "%s", p->dns);
    snprintf(record->ip, sizeof record->ip, "%s", p->ip);
    pki_lifetime life;
    pki_cert_lifetime(cert, 0, &life);
    record->not_before_ms = life.not_before * 1000;
    record->not_after_ms = life.not_after * 1000;
    pki_spki_sha256(cert, record->spki_sha256);
}

/* From five minutes ago (clocks differ) for days, but never past the CA's
 * own end: no chain verifies after it, and a certificate that seemed to
 * have time left would hide that. */
static bool set_validity(X509 *cert, const pki_ca *ca, int days)
{
    const ASN1_TIME *ca_end = X509_get0_notAfter(ca->cert);
    return X509_gmtime_adj(X509_getm_notBefore(cert), -300) &&
           X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) &&
           (ASN1_TIME_compare(X509_get0_notAfter(cert), ca_end) <= 0 || X509_set1_notAfter(cert, ca_end));
}

bool pki_issue(const pki_ca *ca, EVP_PKEY *subject_key, const pki_profile *p, X509 **out, store_cert *record,
               char *err, size_t errlen)
{
    *out = NULL;
    memset(record, 0, sizeof *record);
    if (!pki_profile_valid(p, err, errlen))
        return false;
    if (!ca->key)
        return pki_fail(err, errlen, "the CA key is not loaded (give the key-encryption key)");
    if (!pki_key_is_p256(subject_key))
        return pki_fail(err, errlen, "the certificate's key must be an EC P-256 key");
    if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0)
        return pki_fail(err, errlen, "the bus CA has expired: nothing it signs would verify; it needs replacing");
    char sans[2 * STORE_SANS_MAX + 512];
    san_text(ca, p, sans, sizeof sans);
    X509 *cert = X509_new();
    bool ok = cert && set_serial(cert, record) && set_subject(cert, ca, p) && X509_set_pubkey(cert, subject_key) &&
              set_validity(cert, ca, p->days) &&
              pki_add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
              pki_add_ext(cert, ca->cert, NID_key_usage, "critical,digitalSignature") &&
              pki_add_ext(cert, ca->cert, NID_ext_key_usage,
                          p->role == STORE_CERT_NODE ? "serverAuth,clientAuth" : "clientAuth") &&
              pki_add_ext(cert, ca->cert, NID_subject_key_identifier, "hash") &&
              pki_add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid:always") &&
              pki_add_ext(cert, ca->cert, NID_subject_alt_name, sans) && pki_sign(cert, ca->key);
    if (!ok) {
        X509_free(cert);
        return pki_fail(err, errlen, "OpenSSL could not make the certificate");
    }
    fill_record(cert, p, record);
    *out = cert;
    return true;
}
