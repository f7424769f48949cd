/* membershipd version */
#include <stdio.h>
#include <sodium.h>
#include <sqlite3.h>
#include "membershipd/cli/cli.h"
#include "membershipd/store/schema.h"

int cmd_version(int argc, char **argv)
{
    const cli_flag flags[] = {{0}};
    const cli_spec spec = {"version", "", "Print the version of membershipd and its libraries.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    printf("membershipd %s (schema %d, sqlite %s, libsodium %s)\n", UNIBUS_VERSION,
           schema_version_latest(), sqlite3_libversion(), sodium_version_string());
    return EXIT_OK;
}
