/* membershipd keygen --out FILE */
#include <errno.h>
#include <stdio.h>
#include "busauth/seedfile.h"
#include "membershipd/cli/cli.h"

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    const cli_flag flags[] = {
        {"--out", "FILE", &out, NULL, "where to write the seed (created 0600, never overwritten)"},
        {0},
    };
    const cli_spec spec = {"keygen", "",
                           "Create a new identity: an Ed25519 key pair whose seed is written to\n"
                           "FILE as a NATS user seed (SU...). Prints the public key as a NATS\n"
                           "user nkey and as hex; the seed is never printed.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if (!out) {
        cli_error("keygen needs --out FILE (the seed is never printed)");
        return EXIT_USAGE;
    }

    busauth_identity *id = NULL;
    busauth_status status = busauth_identity_generate(&id);
    if (status == BUSAUTH_OK)
        status = busauth_seedfile_create(out, id);
    if (status != BUSAUTH_OK) {
        char why[1024];
        busauth_seedfile_describe_error(why, sizeof why, out, status, errno);
        cli_error("%s", why);
        busauth_identity_free(id);
        return EXIT_FAILED;
    }
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], hex[BUSAUTH_PUBKEY_HEX_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    busauth_pubkey_to_hex(busauth_identity_public_key(id), hex);
    busauth_identity_free(id);
    printf("nkey %s\nhex  %s\n", nkey, hex);
    fprintf(stderr, "membershipd: wrote the seed to %s (mode 0600); keep it secret\n", out);
    return EXIT_OK;
}
