/* Certificates and keys as PEM text and files; fingerprints and lifetimes. */
#include "membershipd/pki/pki_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>

char *pki_bio_text(BIO *bio, bool ok)
{
    char *data;
    long len = ok ? BIO_get_mem_data(bio, &data) : 0;
    char *text = len > 0 ? malloc((size_t)len + 1) : NULL;
    if (text) {
        memcpy(text, data, (size_t)len);
        text[len] = '\0';
        OPENSSL_cleanse(data, (size_t)len);
    }
    BIO_free(bio);
    return text;
}

char *pki_cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    return bio ? pki_bio_text(bio, PEM_write_bio_X509(bio, cert) == 1) : NULL;
}

char *pki_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    return bio ? pki_bio_text(bio, PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) : NULL;
}

void pki_pem_free(char *pem)
{
    if (pem)
        sodium_memzero(pem, strlen(pem));
    free(pem);
}

static bool write_new(int dir, const char *name, const char *text, int mode)
{
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return false;
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok)
        saved = errno, ok = false;
    if (!ok)
        unlinkat(dir, name, 0);
    errno = saved;
    return ok;
}

bool pki_write_file_at(int dir, const char *name, const char *text, int mode, char *err, size_t errlen)
{
    if (write_new(dir, name, text, mode))
        return true;
    return pki_fail(err, errlen, "cannot write %s: %s%s", name, strerror(errno),
                    errno == EEXIST ? " (an existing file is never replaced: move it away, or choose another)" : "");
}

X509 *pki_cert_parse(const char *pem, size_t len)
{
    if (len > PKI_PEM_MAX)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return cert;
}

/* A regular file: a FIFO put there must not hang the command (O_NONBLOCK
 * opens it at once, and it is refused); inside a directory we write
 * (dir not AT_FDCWD), not through a link either. */
static FILE *open_regular(int dir, const char *name, char *err, size_t errlen)
{
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (dir == AT_FDCWD ? 0 : O_NOFOLLOW));
    struct stat st;
    bool regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    FILE *f = regular ? fdopen(fd, "r") : NULL;
    if (!f) {
        pki_fail(err, errlen, "cannot read %s: %s", name, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
    }
    return f;
}

X509 *pki_cert_read_at(int dir, const char *name, char *err, size_t errlen)
{
    FILE *f = open_regular(dir, name, err, errlen);
    if (!f)
        return NULL;
    char *text = malloc(PKI_PEM_MAX + 1);
    size_t n = text ? fread(text, 1, PKI_PEM_MAX + 1, f) : 0;
    fclose(f);
    X509 *cert = n <= PKI_PEM_MAX ? pki_cert_parse(text, n) : NULL;
    free(text);
    if (!cert)
        pki_fail(err, errlen, "%s holds no PEM certificate%s", name, n > PKI_PEM_MAX ? " (over 64 KiB)" : "");
    return cert;
}

X509 *pki_cert_read(const char *path, char *err, size_t errlen)
{
    return pki_cert_read_at(AT_FDCWD, path, err, errlen);
}

void pki_cert_sha256_hex(X509 *cert, char out[65])
{
    unsigned char md[32];
    unsigned len = 0;
    X509_digest(cert, EVP_sha256(), md, &len);
    sodium_bin2hex(out, 65, md, sizeof md);
}

void pki_spki_sha256(X509 *cert, uint8_t out[32])
{
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    crypto_hash_sha256(out, der, len > 0 ? (size_t)len : 0);
    OPENSSL_free(der);
}

bool pki_key_spki_sha256_hex(EVP_PKEY *key, char out[65])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    uint8_t md[32];
    if (len > 0)
        crypto_hash_sha256(md, der, (size_t)len);
    OPENSSL_free(der);
    if (len > 0)
        sodium_bin2hex(out, 65, md, sizeof md);
    return len > 0;
}

void pki_cert_serial_hex(X509 *cert, char *out, size_t len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    size_t n = hex ? strlen(hex) : 0;
    /* Ours are 16 bytes: zero-padded to 32 digits, as the store keeps them. */
    size_t pad = n < STORE_CERT_SERIAL_LEN ? STORE_CERT_SERIAL_LEN - n : 0;
    snprintf(out, len, "%.*s%s", (int)pad, "00000000000000000000000000000000", hex ? hex : "");
    for (char *c = out; *c; c++)
        if (*c >= 'A' && *c <= 'F')
            *c = (char)(*c + 32);
    OPENSSL_free(hex);
    BN_free(bn);
}

static void append_san(const GENERAL_NAME *gn, char *out, size_t cap, size_t *n)
{
    const char *kind = gn->type == GEN_DNS ? "DNS" : gn->type == GEN_URI ? "URI" : gn->type == GEN_IPADD ? "IP" : NULL;
    if (!kind)
        return;
    char value[512] = "";
    if (gn->type == GEN_IPADD) {
        int len = ASN1_STRING_length(gn->d.iPAddress);
        if (len == 4 || len == 16)
            inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress), value, sizeof value);
    } else {
        const ASN1_IA5STRING *text = gn->type == GEN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
        snprintf(value, sizeof value, "%.*s", ASN1_STRING_length(text), (const char *)ASN1_STRING_get0_data(text));
    }
    if (*n < cap)
        *n += (size_t)snprintf(out + *n, cap - *n, "%s%s:%s", *n ? ", " : "", kind, value);
}

void pki_cert_sans(X509 *cert, char *out, size_t cap)
{
    out[0] = '\0';
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    size_t n = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++)
        append_san(sk_GENERAL_NAME_value(names, i), out, cap, &n);
    GENERAL_NAMES_free(names);
}

bool pki_cert_issued_by(X509 *cert, X509 *ca)
{
    EVP_PKEY *key = X509_get0_pubkey(ca);
    return key && X509_check_issued(ca, cert) == X509_V_OK && X509_verify(cert, key) == 1;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    return ASN1_TIME_to_tm(t, &tm) == 1 ? (int64_t)timegm(&tm) : 0;
}

bool pki_cert_lifetime(X509 *cert, int64_t now, pki_lifetime *out)
{
    out->not_before = asn1_unix(X509_get0_notBefore(cert));
    out->not_after = asn1_unix(X509_get0_notAfter(cert));
    if (now == 0)
        now = (int64_t)time(NULL);
    out->seconds_left = out->not_after - now;
    out->renew_at = out->not_after - (out->not_after - out->not_before) / 3;
    out->renew_due = now >= out->renew_at;
    return out->not_before != 0 && out->not_after != 0;
}
