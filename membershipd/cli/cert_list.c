/* membershipd cert list | info: what the bus issued, and what a file is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>
#include "membershipd/cli/pki_cli.h"
#include "membershipd/store/store_pki.h"

static const char *cert_status(const store_cert *cert, int64_t now_ms)
{
    return cert->revoked_ms ? "revoked" : cert->not_after_ms <= now_ms ? "expired" : "valid";
}

typedef struct {
    json_t *rows;
    int64_t now_ms;
} json_ctx;

static int print_row(const store_cert *cert, void *ctx)
{
    char not_after[32];
    cli_format_time(cert->not_after_ms, not_after);
    printf("%-24s %-6s %-32s %-21s %s\n", cert->name, store_cert_role_name(cert->role), cert->serial, not_after,
           cert_status(cert, ((const json_ctx *)ctx)->now_ms));
    return 0;
}

static int append_json(const store_cert *cert, void *ctx)
{
    json_ctx *j = ctx;
    char not_after[32], spki[65];
    cli_format_time(cert->not_after_ms, not_after);
    sodium_bin2hex(spki, sizeof spki, cert->spki_sha256, sizeof cert->spki_sha256);
    json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", cert->name, "role",
                            store_cert_role_name(cert->role), "serial", cert->serial, "not_after", not_after, "status",
                            cert_status(cert, j->now_ms), "dns", cert->dns, "ip", cert->ip, "spki_sha256", spki);
    return row ? json_array_append_new(j->rows, row) : -1;
}

static store_status walk(store *s, json_t *rows)
{
    json_ctx j = {rows, store_now_ms()};
    return store_cert_foreach(s, rows ? append_json : print_row, &j);
}

int cmd_cert_list(int argc, char **argv)
{
    char header[128];
    snprintf(header, sizeof header, "%-24s %-6s %-32s %-21s %s", "NAME", "ROLE", "SERIAL", "NOT AFTER", "STATUS");
    const cli_list list = {"cert list", "List issued certificates: name, role, serial, not after, status.", header,
                           "list certificates", walk};
    return cli_list_run(&list, argc, argv);
}

/* What this bus knows of cert: issued by its CA, revoked. */
static void print_standing(const store_location *loc, X509 *cert)
{
    store *s;
    pki_ca ca;
    char err[512];
    char db[4096];
    if (!cli_db_file(loc, db) || store_open(db, STORE_OPEN_READONLY, &s, err, sizeof err) != STORE_OK) {
        printf("issued by this bus: unknown (no database)\n");
        return;
    }
    if (!pki_ca_load(s, NULL, &ca, err, sizeof err)) {
        printf("issued by this bus: no (this bus has no CA)\n");
        store_close(s);
        return;
    }
    bool ours = pki_cert_issued_by(cert, ca.cert);
    char serial[80];
    pki_cert_serial_hex(cert, serial, sizeof serial);
    store_cert record;
    bool known = ours && store_cert_get_by_serial(s, serial, &record) == STORE_OK;
    printf("issued by this bus: %s\nrevoked: %s\n", ours ? "yes" : "no",
           !ours ? "unknown (not ours)" : !known ? "unknown (not in this database)" : record.revoked_ms ? "yes" : "no");
    pki_ca_free(&ca);
    store_close(s);
}

static void print_info(X509 *cert)
{
    char subject[512], sans[2048], sha[65], spki_hex[65], serial[80];
    uint8_t spki[32];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    pki_cert_sans(cert, sans, sizeof sans);
    pki_cert_sha256_hex(cert, sha);
    pki_spki_sha256(cert, spki);
    sodium_bin2hex(spki_hex, sizeof spki_hex, spki, sizeof spki);
    pki_cert_serial_hex(cert, serial, sizeof serial);
    pki_lifetime life;
    pki_cert_lifetime(cert, 0, &life);
    char not_after[32];
    cli_format_time(life.not_after * 1000, not_after);
    printf("subject %s\nsans %s\nserial %s\nsha256 %s\nspki sha256 %s\nnot after %s\ndays left %lld%s\n", subject,
           sans[0] ? sans : "(none)", serial, sha, spki_hex, not_after, (long long)(life.seconds_left / 86400),
           life.seconds_left < 0 ? " (expired)" : life.renew_due ? " (under a third of its lifetime: renew it)" : "");
}

int cmd_cert_info(int argc, char **argv)
{
    store_location loc = {0};
    const cli_flag flags[] = {STORE_LOCATION_FLAGS(loc), {0}};
    const cli_spec spec = {"cert info", "FILE", "Describe a PEM certificate: subject, SANs, SHA-256 of the certificate\n"
                           "and of its public key, days left, and whether this bus issued and revoked it.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    char err[4200];
    X509 *cert = pki_cert_read(args.v[0], err, sizeof err);
    if (!cert) {
        cli_error("%s", err);
        return EXIT_FAILED;
    }
    print_info(cert);
    print_standing(&loc, cert);
    X509_free(cert);
    return EXIT_OK;
}
