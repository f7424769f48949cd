/* membershipd cert revoke NAME|SERIAL */
#include <stdio.h>
#include "membershipd/cli/store_change.h"
#include "membershipd/cli/pki_cli.h"

static int revoke_serial(store *s, const char *serial, const store_actor *by, bool *found)
{
    store_cert cert;
    *found = store_cert_get_by_serial(s, serial, &cert) == STORE_OK;
    if (!*found)
        return EXIT_OK;
    store_status status = store_cert_revoke(s, cert.serial, by);
    if (status == STORE_OK)
        printf("revoked certificate %s of %s\n", cert.serial, cert.name);
    else if (status == STORE_ALREADY_REVOKED)
        cli_error("certificate %s of %s is revoked already; nothing changed", cert.serial, cert.name);
    else
        return cli_store_error(s, status, "revoke the certificate");
    return status == STORE_OK ? EXIT_OK : EXIT_FAILED;
}

static int revoke_name(store *s, const char *name, const store_actor *by)
{
    int count = 0;
    store_status status = store_cert_revoke_name(s, name, by, &count);
    if (status == STORE_OK) {
        printf("revoked %d certificate%s of %s\n", count, count == 1 ? "" : "s", name);
        return EXIT_OK;
    }
    if (status == STORE_NOT_FOUND)
        cli_error("no certificate named or numbered %s (see: membershipd cert list)", name);
    else if (status == STORE_ALREADY_REVOKED)
        cli_error("every certificate of %s is revoked already; nothing changed", name);
    else
        return cli_store_error(s, status, "revoke the certificates");
    return EXIT_FAILED;
}

int cmd_cert_revoke(int argc, char **argv)
{
    store_location loc = {0};
    const cli_flag flags[] = {STORE_LOCATION_FLAGS(loc), {0}};
    const cli_spec spec = {"cert revoke", "NAME|SERIAL", "Revoke one certificate by serial, or every valid one of a\n"
                           "name.  Recorded and audited; doctor fails a server still using it.  Routes\n"
                           "will refuse it once the cluster is built (dev/pki.md).",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    store *s;
    if ((rc = cli_open_store_for_change(&loc, STORE_OPEN_EXISTING, &s)) != EXIT_OK)
        return rc;
    store_actor by = cli_local_actor();
    bool found;
    rc = revoke_serial(s, args.v[0], &by, &found);
    if (!found)
        rc = revoke_name(s, args.v[0], &by);
    cli_close_store_for_change(s);
    return rc;
}
