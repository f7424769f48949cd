/* The bus CA: present or not, and if so whether its key-encryption key
 * opens it and how long it has left (dev/pki.md).  Read-only. */
#include "membershipd/doctor/doctor.h"

#include <stdio.h>
#include <sodium.h>
#include "membershipd/pki/pki.h"

static void ca_with_kek(doctor *d, store *s, const pki_ca *ca)
{
    char kek_path[PATH_MAX + 16], err[PATH_MAX + 512];
    uint8_t kek[PKI_KEK_BYTES];
    pki_ca keyed;
    snprintf(kek_path, sizeof kek_path, "%s", d->cfg->ca_kek_file ? d->cfg->ca_kek_file : "");
    if (!d->cfg->ca_kek_file)
        snprintf(kek_path, sizeof kek_path, "%s/" PKI_KEK_FILE, d->data_dir);
    bool ok = pki_kek_load(kek_path, kek, err, sizeof err) && pki_ca_load(s, kek, &keyed, err, sizeof err);
    sodium_memzero(kek, sizeof kek);
    if (ok)
        pki_ca_free(&keyed);
    pki_lifetime life;
    pki_cert_lifetime(ca->cert, 0, &life);
    if (!ok)
        doctor_addf(d, "pki.ca", DOCTOR_WARN, "restore the KEK file from where you keep it, or give --ca-kek-file",
                    "the CA of %s cannot sign (node joins and cert issue fail): %s", ca->trust_domain, err);
    else if (life.renew_due)
        doctor_addf(d, "pki.ca", DOCTOR_WARN, "plan a new CA and re-issue (dev/pki.md, \"CA lifetime\")",
                    "the CA of %s has under a third of its lifetime left (%lld days)", ca->trust_domain,
                    (long long)(life.seconds_left / 86400));
    else
        doctor_addf(d, "pki.ca", DOCTOR_OK, NULL, "the CA of %s opens with %s and has %lld days left",
                    ca->trust_domain, kek_path, (long long)(life.seconds_left / 86400));
}

/* The control plane's certificate, when this bus issued it: not revoked. */
static void serving_cert(doctor *d, store *s, const pki_ca *ca)
{
    char err[PATH_MAX + 64], serial[80] = "";
    X509 *cert = d->cfg->tls_cert ? pki_cert_read(d->cfg->tls_cert, err, sizeof err) : NULL;
    bool read = cert != NULL, ours = read && pki_cert_issued_by(cert, ca->cert);
    store_cert record;
    if (ours)
        pki_cert_serial_hex(cert, serial, sizeof serial);
    X509_free(cert);
    if (!ours)
        doctor_add(d, "pki.serving_cert", DOCTOR_SKIP, read ? "--tls-cert is not from this bus's CA" : "no --tls-cert",
                   NULL);
    else if (store_cert_get_by_serial(s, serial, &record) == STORE_OK && record.revoked_ms)
        doctor_addf(d, "pki.serving_cert", DOCTOR_FAIL, "issue a new one (membershipd cert issue), put it in place, then "
                    "SIGHUP", "%s (serial %s) is revoked", d->cfg->tls_cert, serial);
    else
        doctor_addf(d, "pki.serving_cert", DOCTOR_OK, NULL, "%s (serial %s) is not revoked", d->cfg->tls_cert, serial);
}

void doctor_pki(doctor *d)
{
    store *s = NULL;
    char err[512];
    pki_ca ca;
    if (!d->data_dir_exists || store_open(d->db_path, STORE_OPEN_READONLY, &s, err, sizeof err) != STORE_OK) {
        doctor_add(d, "pki.ca", DOCTOR_SKIP, "no database", NULL);
        doctor_add(d, "pki.serving_cert", DOCTOR_SKIP, "no database", NULL);
    } else if (!pki_ca_load(s, NULL, &ca, err, sizeof err)) {
        doctor_add(d, "pki.ca", DOCTOR_SKIP, "this bus has no CA (membershipd ca init makes one)", NULL);
        doctor_add(d, "pki.serving_cert", DOCTOR_SKIP, "this bus has no CA", NULL);
    } else {
        ca_with_kek(d, s, &ca);
        serving_cert(d, s, &ca);
        pki_ca_free(&ca);
    }
    store_close(s);
}
