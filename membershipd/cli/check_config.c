/* membershipd check-config: the boot guard without the start. */
#include <stdio.h>
#include "membershipd/cli/cli.h"
#include "membershipd/config/guard.h"

int cmd_check_config(int argc, char **argv)
{
    serve_config cfg;
    int rc = serve_config_from_args("check-config",
                                    "Run the boot guard of 'membershipd serve' on these flags and exit:\n"
                                    "0 when serve would start, 78 (with the rule) when it would refuse.",
                                    NULL, argc, argv, &cfg);
    if (rc != CLI_PROCEED)
        return rc;
    rc = guard_check(&cfg);
    if (rc == EXIT_OK)
        printf("configuration ok: control plane on %s port %u, bus-auth %s, TLS %s\n", cfg.bind,
               cfg.http_port, bus_auth_name(cfg.bus_auth), serve_config_tls(&cfg) ? "on" : "off");
    return rc;
}
