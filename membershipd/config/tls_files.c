#include "membershipd/config/tls_files.h"
#include "embedded/nats_config.h"
#include "common/log.h"
#include "membershipd/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#define PEM_MAX_BYTES (1024 * 1024)

/* Encrypted keys would need a passphrase on the command line or a prompt;
 * neither fits a daemon, so they are refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

static int check_key_mode(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "TLS key %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "TLS key %s is not a regular file", path);
        return -1;
    }
    if (store_owner_problem("TLS key", path, st.st_uid, err, errlen))
        return -1;
    if (st.st_mode & 077) {
        snprintf(err, errlen, "TLS key %s is accessible to group or others; fix with: chmod 600 %s",
                 path, path);
        return -1;
    }
    return 0;
}

static X509 *read_cert(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "TLS certificate %s: %s", path, strerror(errno));
        return NULL;
    }
    X509 *cert = PEM_read_X509(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!cert)
        snprintf(err, errlen, "TLS certificate %s is not a PEM certificate", path);
    return cert;
}

static EVP_PKEY *read_key(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "TLS key %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!key)
        snprintf(err, errlen, "TLS key %s is not an unencrypted PEM private key", path);
    return key;
}

int tls_files_check(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    if (check_key_mode(key_path, err, errlen) != 0)
        return -1;
    X509 *cert = read_cert(cert_path, err, errlen);
    EVP_PKEY *key = cert ? read_key(key_path, err, errlen) : NULL;
    int rc = cert && key ? 0 : -1;
    if (rc == 0 && X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        snprintf(err, errlen, "TLS certificate %s has expired: renew it", cert_path);
        rc = -1;
    }
    if (rc == 0 && X509_check_private_key(cert, key) != 1) {
        snprintf(err, errlen, "TLS key %s does not match certificate %s", key_path, cert_path);
        rc = -1;
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    ERR_clear_error();
    return rc;
}

static char *tls_pem_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= PEM_MAX_BYTES)
        buf = sodium_malloc((size_t)st.st_size + 1);
    size_t len = 0;
    while (buf && len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sodium_free(buf);
            buf = NULL;
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

bool tls_pem_read_pair(const char *cert_path, const char *key_path, char **cert, char **key)
{
    *cert = tls_pem_read(cert_path);
    *key = tls_pem_read(key_path);
    if (*cert && *key)
        return true;
    tls_pem_free(*cert);
    tls_pem_free(*key);
    *cert = *key = NULL;
    return false;
}

char *tls_pem_copy(const char *pem)
{
    size_t len = strlen(pem);
    char *copy = sodium_malloc(len + 1);
    if (copy)
        memcpy(copy, pem, len + 1);
    return copy;
}

void tls_pem_free(char *pem)
{
    sodium_free(pem);
}

void tls_pem_lifetime(const char *pem, pki_lifetime *out)
{
    memset(out, 0, sizeof *out);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
    if (cert)
        pki_cert_lifetime(cert, 0, out);
    X509_free(cert);
    BIO_free(bio);
}

void tls_warn_if_revoked(store *s, const char *cert_path, const char *pem)
{
    char err[512], serial[80];
    pki_ca ca;
    X509 *cert = pki_cert_parse(pem, strlen(pem));
    store_cert record;
    if (cert && pki_ca_load(s, NULL, &ca, err, sizeof err)) {
        pki_cert_serial_hex(cert, serial, sizeof serial);
        if (pki_cert_issued_by(cert, ca.cert) && store_cert_get_by_serial(s, serial, &record) == STORE_OK &&
            record.revoked_ms)
            log_event(LOG_WARN, "tls_cert_revoked", "cert=%s serial=%s detail=\"this bus revoked the certificate the "
                      "control plane serves: issue a new one (membershipd cert issue), then SIGHUP\"", cert_path, serial);
        pki_ca_free(&ca);
    }
    X509_free(cert);
}

bool tls_warn_if_renew_due(const char *cert_path, int64_t not_after, int64_t renew_at, int64_t now)
{
    if (!not_after || now < renew_at)
        return false;
    log_event(LOG_WARN, "tls_cert_renew_due", "cert=%s days_left=%lld detail=\"under a third of its lifetime is "
              "left: renew it (membershipd cert renew NAME --out DIR, for one from the bus CA), then SIGHUP\"",
              cert_path, (long long)((not_after - now) / 86400));
    return true;
}

const char *tls_priorities(int tls_min)
{
    /* AEAD ciphers with forward secrecy only; never TLS 1.1 or older. */
    return tls_min == 13
        ? "SECURE128:-VERS-ALL:+VERS-TLS1.3:%SERVER_PRECEDENCE"
        : "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305:"
          "+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE";
}

/* The first SAN of a kind ("DNS:" or "IP:") in pki_cert_sans's text. */
static bool first_san(const char *sans, const char *kind, char *out, size_t cap)
{
    for (const char *p = strstr(sans, kind); p; p = strstr(p + 1, kind)) {
        if (p != sans && p[-1] != ' ')
            continue;
        p += strlen(kind);
        size_t n = strcspn(p, ", ");
        if (n == 0 || n >= cap)
            continue;
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

void tls_dataplane_target(const char *cert_path, const char *bind, unsigned port, char url[128], char expected[256])
{
    bool v6 = strchr(bind, ':') != NULL;
    bool wildcard = strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
    char host[64], err[512], sans[2048] = "";
    snprintf(host, sizeof host, "%s", wildcard ? (v6 ? "::1" : "127.0.0.1") : bind);
    expected[0] = '\0';
    X509 *cert = cert_path ? pki_cert_read(cert_path, err, sizeof err) : NULL;
    if (cert)
        pki_cert_sans(cert, sans, sizeof sans);
    X509_free(cert);
    if (cert_path && !first_san(sans, "DNS:", expected, 256))
        first_san(sans, "IP:", host, sizeof host);
    natsconf_url(cert_path != NULL, host, port, url, 128);
}

/* Every certificate in a PEM file, in order (the caller frees the stack). */
static STACK_OF(X509) *read_chain(const char *path)
{
    FILE *f = fopen(path, "r");
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cert;
    while (f && chain && (cert = PEM_read_X509(f, NULL, no_passphrase, NULL)))
        sk_X509_push(chain, cert);
    ERR_clear_error(); /* the end of the file reads as an error */
    if (f)
        fclose(f);
    return chain;
}

int tls_chain_check(const char *cert_path, const char *ca_pem, char *err, size_t errlen)
{
    STACK_OF(X509) *chain = read_chain(cert_path);
    X509_STORE *trust = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *bus_ca = ca_pem ? pki_cert_parse(ca_pem, strlen(ca_pem)) : NULL;
    int rc = -1;
    if (chain && sk_X509_num(chain) > 0 && trust && ctx && X509_STORE_set_default_paths(trust) == 1) {
        for (int i = 0; i < sk_X509_num(chain); i++) /* the file's own root (or a self-signed certificate) */
            if (X509_check_issued(sk_X509_value(chain, i), sk_X509_value(chain, i)) == X509_V_OK)
                X509_STORE_add_cert(trust, sk_X509_value(chain, i));
        if (bus_ca)
            X509_STORE_add_cert(trust, bus_ca);
        if (X509_STORE_CTX_init(ctx, trust, sk_X509_value(chain, 0), chain) == 1 && X509_verify_cert(ctx) == 1)
            rc = 0;
        else
            snprintf(err, errlen, "--tls-cert %s does not verify against its own chain, the bus CA or the system's "
                     "trust store (%s): membershipd's own clients of nats-server verify it so; put the chain up "
                     "to its root in the file (cat cert.pem ca.pem > chain.pem)", cert_path,
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    } else {
        snprintf(err, errlen, "--tls-cert %s holds no PEM certificate", cert_path);
    }
    X509_free(bus_ca);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(trust);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}
