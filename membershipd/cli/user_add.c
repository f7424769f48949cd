/* membershipd user add NAME PUBKEY [--admin] */
#include <stdio.h>
#include "membershipd/cli/store_change.h"
#include "membershipd/cli/cli.h"

static int report_failure(store *s, store_status status, const char *name,
                          const uint8_t *public_key)
{
    store_user holder;
    switch (status) {
    case STORE_INVALID_NAME:
        cli_error("invalid user name: use 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit",
                  STORE_USER_NAME_MAX);
        return EXIT_USAGE;
    case STORE_DUPLICATE_NAME:
        cli_error("a user named %s already exists (see: membershipd user list); nothing changed", name);
        return EXIT_FAILED;
    case STORE_DUPLICATE_KEY:
        if (store_user_get_by_key(s, public_key, &holder) == STORE_OK)
            cli_error("that public key already belongs to user %s; nothing changed", holder.name);
        else
            cli_error("that public key is already on the allowlist; nothing changed");
        return EXIT_FAILED;
    default:
        return cli_store_error(s, status, "add user");
    }
}

int cmd_user_add(int argc, char **argv)
{
    store_location loc = {0};
    bool admin = false;
    const cli_flag flags[] = {
        {"--admin", NULL, NULL, &admin, "give the user the admin role"},
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"user add", "NAME PUBKEY",
                           "Allow an identity on the bus. PUBKEY is a NATS user nkey (U...)\n"
                           "or 64 hex characters of an Ed25519 public key.",
                           flags, 2, 2};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;

    const char *name = args.v[0];
    uint8_t public_key[BUSAUTH_KEY_BYTES];
    rc = cli_parse_pubkey(args.v[1], public_key);
    if (rc != EXIT_OK)
        return rc;
    if (!store_user_name_valid(name))
        return report_failure(NULL, STORE_INVALID_NAME, name, public_key);

    store *s;
    rc = cli_open_store_for_change(&loc, STORE_OPEN_CREATE, &s);
    if (rc != EXIT_OK)
        return rc;
    store_actor by = cli_local_actor();
    store_role role = admin ? STORE_ROLE_ADMIN : STORE_ROLE_MEMBER;
    store_status status = store_user_add(s, name, public_key, role, &by);
    if (status == STORE_OK) {
        char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
        busauth_nkey_encode_public(public_key, nkey);
        printf("added %s (%s) %s\n", name, store_role_name(role), nkey);
    } else {
        rc = report_failure(s, status, name, public_key);
    }
    cli_close_store_for_change(s);
    return rc;
}
