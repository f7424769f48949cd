/* A public key typed on the command line. */
#include "membershipd/cli/cli.h"

int cli_parse_pubkey(const char *text, uint8_t public_key[BUSAUTH_KEY_BYTES])
{
    busauth_status status = busauth_pubkey_parse(text, public_key);
    if (status == BUSAUTH_OK)
        return EXIT_OK;
    /* Never echo the text: it may be a seed pasted by mistake. */
    cli_error("invalid public key: expected 64 hex characters (32-byte Ed25519) or a NATS user nkey (U...): %s",
              busauth_strerror(status));
    return EXIT_USAGE;
}
