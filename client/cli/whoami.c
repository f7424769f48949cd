/* unibus whoami */
#include <stdio.h>
#include "cli.h"

int cmd_whoami(int argc, char **argv)
{
    peer_flags p = {0};
    const cli_flag flags[] = {PEER_FLAGS(p), {0}};
    const cli_spec spec = {"whoami", "", "Show the name, key and role the server has for this identity.",
                           flags, 0, 0};
    cli_args args;
    unibus_client *c;
    int rc = peer_start(&spec, argc, argv, &args, &p, &c);
    if (rc != CLI_PROCEED)
        return rc;
    rc = EXIT_OK;
    unibus_user me;
    unibus_status s = unibus_client_whoami(c, &me);
    if (s == UNIBUS_OK)
        printf("%s %s %s\n", me.name, me.nkey, me.admin ? "admin" : "member");
    else
        rc = peer_fail(c, s);
    unibus_client_close(c);
    return rc;
}
