/* membershipd check-config: the boot guard without the start. */
#include <stdio.h>
#include "membershipd/cli.h"
#include "membershipd/guard.h"

int cmd_check_config(int argc, char **argv)
{
    serve_flags f = {0};
    cli_flag flags[SERVE_FLAG_COUNT + 1] = {{0}};
    serve_flags_table(&f, flags);
    const cli_spec spec = {"check-config", "",
                           "Run the boot guard of 'membershipd serve' on these flags and exit:\n"
                           "0 when serve would start, 78 (with the rule) when it would refuse.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    serve_config cfg;
    rc = serve_config_parse(&f, &cfg);
    if (rc == EXIT_OK)
        rc = guard_check(&cfg);
    if (rc == EXIT_OK)
        printf("configuration ok: %s on %s port %u, bus-auth %s, TLS %s\n", "control plane", cfg.bind,
               cfg.http_port, bus_auth_name(cfg.bus_auth), serve_config_tls(&cfg) ? "on" : "off");
    return rc;
}
