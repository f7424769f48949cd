/* The key-encryption key and the sealed CA key (dev/pki.md, "The CA key"). */
#include "membershipd/pki/pki_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/x509.h>
#include <sodium.h>

#define KEK_HEADER "unibus-ca-kek-1\n"
#define KEK_TEXT_LEN (sizeof KEK_HEADER - 1 + 2 * PKI_KEK_BYTES + 1)
/* What the sealed key's AEAD binds besides the trust domain. */
#define SEAL_DOMAIN "unibus-ca-key-v1\n"

bool pki_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

bool pki_kek_create(const char *path, uint8_t kek[PKI_KEK_BYTES], char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return pki_fail(err, errlen, "cannot create the CA key-encryption key %s: %s%s", path, strerror(errno),
                        errno == EEXIST ? " (a CA was made with it? move it away only if you mean to)" : "");
    char text[KEK_TEXT_LEN + 1];
    randombytes_buf(kek, PKI_KEK_BYTES);
    memcpy(text, KEK_HEADER, sizeof KEK_HEADER - 1);
    sodium_bin2hex(text + sizeof KEK_HEADER - 1, 2 * PKI_KEK_BYTES + 1, kek, PKI_KEK_BYTES);
    text[KEK_TEXT_LEN - 1] = '\n';
    bool ok = write(fd, text, KEK_TEXT_LEN) == (ssize_t)KEK_TEXT_LEN && fsync(fd) == 0;
    sodium_memzero(text, sizeof text);
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        unlink(path);
        return pki_fail(err, errlen, "cannot write the CA key-encryption key %s: %s", path, strerror(errno));
    }
    return true;
}

static bool kek_file_ok(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return pki_fail(err, errlen, "the CA key-encryption key %s is not a regular file", path);
    if (store_owner_problem("CA key-encryption key", path, st.st_uid, err, errlen))
        return false;
    if (st.st_mode & 077)
        return pki_fail(err, errlen, "the CA key-encryption key %s is reachable by group or others (mode %03o); "
                        "run: chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
    return true;
}

bool pki_kek_load(const char *path, uint8_t kek[PKI_KEK_BYTES], char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO in its place must not hang us (it is refused below). */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return pki_fail(err, errlen, "cannot read the CA key-encryption key %s: %s (the CA cannot sign without "
                        "it; give --ca-kek-file, or restore it from where you keep it)", path, strerror(errno));
    char text[KEK_TEXT_LEN + 2];
    ssize_t n = kek_file_ok(fd, path, err, errlen) ? read(fd, text, sizeof text) : -2;
    close(fd);
    bool ok = n == (ssize_t)KEK_TEXT_LEN && memcmp(text, KEK_HEADER, sizeof KEK_HEADER - 1) == 0 &&
              text[KEK_TEXT_LEN - 1] == '\n' &&
              sodium_hex2bin(kek, PKI_KEK_BYTES, text + sizeof KEK_HEADER - 1, 2 * PKI_KEK_BYTES, NULL, NULL,
                             NULL) == 0;
    sodium_memzero(text, sizeof text);
    if (n == -2)
        return false;
    if (!ok) {
        sodium_memzero(kek, PKI_KEK_BYTES);
        return pki_fail(err, errlen, "%s is not a CA key-encryption key (made by membershipd ca init)", path);
    }
    return true;
}

static void seal_ad(const char *trust_domain, char *ad, size_t cap, size_t *len)
{
    *len = (size_t)snprintf(ad, cap, SEAL_DOMAIN "%s", trust_domain);
}

uint8_t *pki_key_seal(const uint8_t kek[PKI_KEK_BYTES], const char *trust_domain, EVP_PKEY *key, size_t *len)
{
    unsigned char *der = NULL;
    int der_len = i2d_PrivateKey(key, &der);
    if (der_len <= 0)
        return NULL;
    size_t n = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)der_len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *sealed = malloc(n);
    char ad[STORE_TRUST_DOMAIN_MAX + 32];
    size_t ad_len;
    seal_ad(trust_domain, ad, sizeof ad, &ad_len);
    if (sealed) {
        randombytes_buf(sealed, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, der,
                                                   (size_t)der_len, (const uint8_t *)ad, ad_len, NULL, sealed, kek);
        *len = n;
    }
    OPENSSL_clear_free(der, (size_t)der_len);
    return sealed;
}

EVP_PKEY *pki_key_open(const uint8_t kek[PKI_KEK_BYTES], const char *trust_domain, const uint8_t *sealed,
                       size_t len)
{
    size_t overhead = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    if (len <= overhead || len > overhead + 4096)
        return NULL;
    uint8_t der[4096];
    unsigned long long der_len;
    char ad[STORE_TRUST_DOMAIN_MAX + 32];
    size_t ad_len;
    seal_ad(trust_domain, ad, sizeof ad, &ad_len);
    EVP_PKEY *key = NULL;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(der, &der_len, NULL,
                                                   sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                                   len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                                   (const uint8_t *)ad, ad_len, sealed, kek) == 0) {
        const unsigned char *p = der;
        key = d2i_AutoPrivateKey(NULL, &p, (long)der_len);
    }
    sodium_memzero(der, sizeof der);
    return key;
}
