/* unibus version */
#include <stdio.h>
#include <nats/nats.h>
#include <sodium.h>
#include "cli.h"

int cmd_version(int argc, char **argv)
{
    const cli_flag flags[] = {{0}};
    const cli_spec spec = {"version", "", "Print the version of unibus and its libraries.", flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    printf("unibus %s (libunibus %s, nats.c %s, libsodium %s)\n", UNIBUS_VERSION, unibus_version_string(),
           nats_GetVersion(), sodium_version_string());
    return EXIT_OK;
}
