/* unibus keygen [--out FILE] */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    const cli_flag flags[] = {
        {"--out", "FILE", &out, NULL, "where to write the seed (default ~/.config/unibus/identity.seed)"},
        {0},
    };
    const cli_spec spec = {"keygen", "",
                           "Create this peer's identity: an Ed25519 key pair whose seed goes to a file\n"
                           "(mode 0600, never overwritten). Prints the public key (U...), which an\n"
                           "admin adds with: membershipd user add NAME KEY. The seed is never printed.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    char path[PATH_MAX];
    if (!out && peer_config_path("identity.seed", path) != 0) {
        cli_error("cannot find a home for the seed: give --out FILE");
        return EXIT_USAGE;
    }
    if (!out)
        out = path;
    char nkey[57];
    unibus_status s = unibus_identity_create(out, nkey);
    if (s != UNIBUS_OK) {
        cli_error("cannot create %s: %s (it may exist already: a key file is never overwritten)", out,
                  errno ? strerror(errno) : unibus_strerror(s));
        return EXIT_FAILED;
    }
    printf("%s\n", nkey);
    fprintf(stderr, "unibus: wrote the seed to %s (mode 0600); keep it secret\n", out);
    return EXIT_OK;
}
