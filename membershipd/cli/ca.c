/* membershipd ca init | show: the bus CA (dev/pki.md). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "membershipd/cli/pki_cli.h"
#include "membershipd/cli/store_change.h"

static const cli_command CA_COMMANDS[] = {
    {"init", cmd_ca_init, "make the bus CA (ECDSA P-256), its key sealed under a key-encryption key"},
    {"show", cmd_ca_show, "print the CA certificate and its SHA-256 fingerprint"},
};

int cmd_ca(int argc, char **argv)
{
    return cli_dispatch("ca", CA_COMMANDS, sizeof CA_COMMANDS / sizeof CA_COMMANDS[0], argc, argv);
}

static int init_with(store *s, const char *trust_domain, int days, const char *kek_path)
{
    store_ca existing;
    if (store_ca_get(s, &existing) == STORE_OK) {
        store_ca_free(&existing);
        cli_error("this bus has a CA already (see: membershipd ca show); nothing changed");
        return EXIT_FAILED;
    }
    uint8_t kek[PKI_KEK_BYTES];
    char err[512];
    pki_ca ca;
    store_actor by = cli_local_actor();
    bool made = pki_kek_create(kek_path, kek, err, sizeof err);
    bool ok = made && pki_ca_init(s, trust_domain, days, kek, &by, &ca, err, sizeof err);
    sodium_memzero(kek, sizeof kek);
    if (!ok) {
        if (made)
            unlink(kek_path);
        cli_error("%s", err);
        return EXIT_FAILED;
    }
    char fingerprint[65];
    pki_cert_sha256_hex(ca.cert, fingerprint);
    printf("made the CA of trust domain %s (ECDSA P-256, %d days)\n"
           "sha256 %s\n"
           "key-encryption key: %s (keep a copy apart from the database and its backups)\n",
           trust_domain, days, fingerprint, kek_path);
    pki_ca_free(&ca);
    return EXIT_OK;
}

int cmd_ca_init(int argc, char **argv)
{
    store_location loc = {0};
    const char *trust_domain = NULL, *days_text = NULL, *kek_flag = NULL;
    const cli_flag flags[] = {
        {"--trust-domain", "NAME", &trust_domain, NULL, "the bus's name in certificates (spiffe://NAME/...)"},
        {"--days", "N", &days_text, NULL, "the CA's lifetime (default 3650)"},
        CA_KEK_FLAG(kek_flag),
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"ca init", "", "Make the bus CA: an ECDSA P-256 root whose key is kept only sealed\n"
                           "under a key-encryption key, in a file of its own (created here).",
                           flags, 0, 0};
    cli_args args;
    int days, rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if (!trust_domain || !pki_trust_domain_valid(trust_domain)) {
        cli_error("give --trust-domain NAME: 1-253 lowercase letters, digits, '.', '-' or '_' (e.g. bus.example.org)");
        return EXIT_USAGE;
    }
    if ((rc = cli_days(days_text, PKI_CA_DAYS_DEFAULT, &days)) != EXIT_OK)
        return rc;
    store *s;
    char kek_path[4096];
    if ((rc = cli_open_store_for_change(&loc, STORE_OPEN_CREATE, &s)) != EXIT_OK)
        return rc;
    rc = cli_kek_path(&loc, kek_flag, STORE_OPEN_CREATE, kek_path);
    if (rc == EXIT_OK)
        rc = init_with(s, trust_domain, days, kek_path);
    cli_close_store_for_change(s);
    return rc;
}

static int show(const pki_ca *ca, bool json)
{
    char fingerprint[65];
    pki_cert_sha256_hex(ca->cert, fingerprint);
    char *pem = pki_cert_pem(ca->cert);
    pki_lifetime life;
    pki_cert_lifetime(ca->cert, 0, &life);
    char not_after[32];
    cli_format_time(life.not_after * 1000, not_after);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "trust_domain", ca->trust_domain, "sha256", fingerprint,
                              "not_after", not_after, "certificate", pem ? pem : "");
        if (o && json_dumpf(o, stdout, JSON_INDENT(2)) == 0)
            putchar('\n');
        json_decref(o);
    } else {
        printf("trust domain %s\nsha256 %s\nnot after %s\n%s", ca->trust_domain, fingerprint, not_after,
               pem ? pem : "");
    }
    free(pem);
    return pem ? EXIT_OK : EXIT_FAILED;
}

int cmd_ca_show(int argc, char **argv)
{
    store_location loc = {0};
    bool json = false;
    const cli_flag flags[] = {
        {"--json", NULL, NULL, &json, "print JSON: trust_domain, sha256, not_after, certificate"},
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"ca show", "", "Print the CA certificate (PEM) and its SHA-256 fingerprint.", flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    store *s;
    pki_ca ca;
    if ((rc = cli_ca_open(&loc, NULL, false, &s, &ca)) != EXIT_OK)
        return rc;
    rc = show(&ca, json);
    pki_ca_free(&ca);
    store_close(s);
    return rc;
}
