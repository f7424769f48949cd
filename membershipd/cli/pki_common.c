/* What the ca, cert and token subcommands share: the KEK file and the CA. */
#include "membershipd/cli/store_change.h"
#include "membershipd/cli/pki_cli.h"

#include <stdio.h>
#include <sodium.h>

int cli_kek_path(const store_location *loc, const char *flag, store_open_mode mode, char out[4096])
{
    if (flag) {
        snprintf(out, 4096, "%s", flag);
        return EXIT_OK;
    }
    char dir[4096];
    int rc = cli_data_dir(loc, mode, dir);
    if (rc == EXIT_OK && snprintf(out, 4096, "%s/" PKI_KEK_FILE, dir) >= 4096) {
        cli_error("data directory path too long");
        rc = EXIT_USAGE;
    }
    return rc;
}

int cli_ca_open(const store_location *loc, const char *kek_flag, bool with_key, store **s, pki_ca *ca)
{
    /* With the key, it is to issue: a change to the bus. */
    int rc = with_key ? cli_open_store_for_change(loc, STORE_OPEN_EXISTING, s) : cli_open_store(loc, STORE_OPEN_EXISTING, s);
    if (rc != EXIT_OK)
        return rc;
    char kek_path[4096], err[512];
    uint8_t kek[PKI_KEK_BYTES];
    bool ok = false;
    if (!with_key)
        ok = pki_ca_load(*s, NULL, ca, err, sizeof err);
    else if ((rc = cli_kek_path(loc, kek_flag, STORE_OPEN_EXISTING, kek_path)) == EXIT_OK)
        ok = pki_kek_load(kek_path, kek, err, sizeof err) && pki_ca_load(*s, kek, ca, err, sizeof err);
    sodium_memzero(kek, sizeof kek);
    if (!ok) {
        if (rc == EXIT_OK)
            cli_error("%s", err);
        cli_close_store_for_change(*s);
        *s = NULL;
        return rc == EXIT_OK ? EXIT_FAILED : rc;
    }
    return EXIT_OK;
}

int cli_days(const char *text, int fallback, int *days)
{
    uint64_t v;
    int rc = cli_parse_u64("--days", text, 1, PKI_DAYS_MAX, (uint64_t)fallback, &v);
    *days = (int)v;
    return rc;
}
