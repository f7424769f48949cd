/* membershipd user: the allowlist. */
#include "membershipd/cli/cli.h"

static const cli_command USER_COMMANDS[] = {
    {"add", cmd_user_add, "allow an identity on the bus"},
    {"list", cmd_user_list, "list users with role and status"},
    {"revoke", cmd_user_revoke, "revoke a user (the record stays for the audit trail)"},
};

int cmd_user(int argc, char **argv)
{
    return cli_dispatch("user", USER_COMMANDS, sizeof USER_COMMANDS / sizeof USER_COMMANDS[0],
                        argc, argv);
}
