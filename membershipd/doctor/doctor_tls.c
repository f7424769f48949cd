/* The TLS certificate as clients will see it: the minimum version both
 * planes offer, the chain, the names, the days left. */
#include "membershipd/doctor/doctor.h"
#include "membershipd/pki/pki.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define EXPIRY_WARN_DAYS 30

static const char *const TLS_IDS[] = {"tls.min_version", "tls.chain", "tls.san", "tls.expiry"};

/* The certificates of the --tls-cert file, leaf first; NULL when none. */
static STACK_OF(X509) *read_chain(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cert;
    while (chain && (cert = PEM_read_X509(f, NULL, NULL, NULL)))
        sk_X509_push(chain, cert);
    fclose(f);
    ERR_clear_error(); /* the end of the file reads as an error */
    if (chain && sk_X509_num(chain) == 0) {
        sk_X509_free(chain);
        chain = NULL;
    }
    return chain;
}

static void min_version(doctor *d)
{
    if (d->cfg->tls_min == 12)
        doctor_add(d, "tls.min_version", DOCTOR_OK,
                   "--tls-min 1.2: both planes offer TLS 1.2 and 1.3 only", NULL);
    else
        doctor_add(d, "tls.min_version", DOCTOR_WARN,
                   "--tls-min 1.3 holds on the control plane only: nats-server 2.9 has no minimum setting, "
                   "so the data plane still offers TLS 1.2",
                   "accept TLS 1.2 on the data plane, or use --tls-min 1.2 for one floor on both");
}

static X509_STORE *trust_store(doctor *d)
{
    X509_STORE *trust = X509_STORE_new();
    int loaded = !trust ? 0 : d->ca ? X509_STORE_load_file(trust, d->ca) : X509_STORE_set_default_paths(trust);
    if (loaded == 1)
        return trust;
    X509_STORE_free(trust);
    return NULL;
}

/* Time is tls.expiry's business: the chain is checked as if valid today. */
static void chain(doctor *d, STACK_OF(X509) *certs)
{
    const char *trusted = d->ca ? d->ca : "the system trust store";
    X509_STORE *trust = trust_store(d);
    if (!trust) {
        doctor_addf(d, "tls.chain", DOCTOR_FAIL, "give --ca a PEM file of CA certificates",
                    "cannot read the CA certificates in %s", trusted);
        return;
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *rest = sk_X509_dup(certs);
    X509 *leaf = sk_X509_shift(rest);
    X509_STORE_CTX_init(ctx, trust, leaf, rest);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx) == 1)
        doctor_addf(d, "tls.chain", DOCTOR_OK, NULL, "%s verifies against %s", d->cfg->tls_cert, trusted);
    else if (d->ca)
        doctor_addf(d, "tls.chain", DOCTOR_FAIL,
                    "put the leaf, then its intermediates, in --tls-cert, issued under that CA",
                    "%s does not verify against %s: %s", d->cfg->tls_cert, trusted,
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    else
        doctor_addf(d, "tls.chain", DOCTOR_WARN, "if clients trust a private CA, check against it with --ca CA.pem",
                    "%s does not verify against %s: %s", d->cfg->tls_cert, trusted,
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    sk_X509_free(rest);
    X509_STORE_free(trust);
}

static bool is_wildcard(const char *bind)
{
    return strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
}

static bool cert_names(X509 *leaf, const char *name)
{
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    return literal ? X509_check_ip_asc(leaf, name, 0) == 1 : X509_check_host(leaf, name, 0, 0, NULL) == 1;
}

/* The bind address (unless a wildcard) and every --advertise name. */
static void names(doctor *d, X509 *leaf)
{
    char wanted[1024], missing[1024] = "", checked[1024] = "";
    snprintf(wanted, sizeof wanted, "%s%s%s", is_wildcard(d->cfg->bind) ? "" : d->cfg->bind,
             d->advertise && !is_wildcard(d->cfg->bind) ? "," : "", d->advertise ? d->advertise : "");
    char *save = NULL;
    for (char *name = strtok_r(wanted, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        char *list = cert_names(leaf, name) ? checked : missing;
        size_t used = strlen(list);
        snprintf(list + used, sizeof checked - used, "%s%s", used ? ", " : "", name);
    }
    if (missing[0])
        doctor_addf(d, "tls.san", DOCTOR_FAIL, "reissue it with a subjectAltName for each (DNS:name or IP:address)",
                    "%s has no subject alternative name for %s", d->cfg->tls_cert, missing);
    else if (!checked[0])
        doctor_addf(d, "tls.san", DOCTOR_WARN, "give --advertise with the names clients dial (bus.example.org,192.0.2.7)",
                    "--bind %s is a wildcard: doctor cannot tell which names clients dial", d->cfg->bind);
    else
        doctor_addf(d, "tls.san", DOCTOR_OK, NULL, "%s names %s", d->cfg->tls_cert, checked);
}

/* The certificate in the file that expires first; the leaf is also
 * renewed once under a third of its lifetime is left (dev/pki.md). */
static void expiry(doctor *d, STACK_OF(X509) *certs)
{
    pki_lifetime leaf;
    pki_cert_lifetime(sk_X509_value(certs, 0), 0, &leaf);
    int least_days = 0, least_secs = 0;
    const ASN1_TIME *first = NULL;
    for (int i = 0; i < sk_X509_num(certs); i++) {
        const ASN1_TIME *not_after = X509_get0_notAfter(sk_X509_value(certs, i));
        int days, secs;
        if (ASN1_TIME_diff(&days, &secs, NULL, not_after) &&
            (!first || days < least_days || (days == least_days && secs < least_secs))) {
            first = not_after;
            least_days = days;
            least_secs = secs;
        }
    }
    char when[32] = "?";
    struct tm tm;
    if (first && ASN1_TIME_to_tm(first, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *check;
    if (!first || least_days < 0 || least_secs < 0 || (least_days == 0 && least_secs == 0))
        check = doctor_addf(d, "tls.expiry", DOCTOR_FAIL, "renew it, then: systemctl reload membershipd (SIGHUP)",
                            "a certificate in %s expired at %s", d->cfg->tls_cert, when);
    else if (least_days < EXPIRY_WARN_DAYS)
        check = doctor_addf(d, "tls.expiry", DOCTOR_WARN, "renew it before then: systemctl reload membershipd (SIGHUP)",
                            "a certificate in %s expires in %d days, at %s", d->cfg->tls_cert, least_days, when);
    else if (leaf.renew_due)
        check = doctor_addf(d, "tls.expiry", DOCTOR_WARN,
                            "renew it (membershipd cert renew NAME --out DIR for one from the bus CA), then SIGHUP",
                            "%s has under a third of its lifetime left (%d days, until %s)", d->cfg->tls_cert,
                            least_days, when);
    else
        check = doctor_addf(d, "tls.expiry", DOCTOR_OK, NULL, "%s is valid for %d more days, until %s",
                            d->cfg->tls_cert, least_days, when);
    json_object_set_new(check, "details", json_pack("{s:s, s:i}", "not_after", when, "days_left", least_days));
}

void doctor_tls(doctor *d)
{
    const char *skipped = NULL;
    STACK_OF(X509) *certs = NULL;
    if (!serve_config_tls(d->cfg))
        skipped = "TLS is off";
    else if (!d->cfg->tls_cert || !d->cfg->tls_key)
        skipped = "TLS is half configured (see guard.tls_pair)";
    else if (!(certs = read_chain(d->cfg->tls_cert)))
        skipped = "the certificate file holds no PEM certificate (see guard.tls_files)";
    if (skipped) {
        for (size_t i = 0; i < sizeof TLS_IDS / sizeof TLS_IDS[0]; i++)
            doctor_add(d, TLS_IDS[i], DOCTOR_SKIP, skipped, NULL);
        return;
    }
    min_version(d);
    chain(d, certs);
    names(d, sk_X509_value(certs, 0));
    expiry(d, certs);
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();
}
