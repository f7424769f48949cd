/* membershipd user revoke NAME|PUBKEY */
#include <stdio.h>
#include "membershipd/cli/store_change.h"
#include "membershipd/cli/cli.h"

/* A typed argument that reads as a key is a key; otherwise a name (names
 * can never read as keys: store_user_name_valid). */
static store_status find_user(store *s, const char *who, store_user *user)
{
    uint8_t public_key[BUSAUTH_KEY_BYTES];
    if (busauth_pubkey_parse(who, public_key) == BUSAUTH_OK)
        return store_user_get_by_key(s, public_key, user);
    return store_user_get_by_name(s, who, user);
}

static int revoke(store *s, const char *who)
{
    store_user user;
    store_status status = find_user(s, who, &user);
    if (status == STORE_NOT_FOUND) {
        cli_error("no user %s (see: membershipd user list)", who);
        return EXIT_FAILED;
    }
    store_actor by = cli_local_actor();
    size_t rooms = 0;
    if (status == STORE_OK)
        status = store_user_revoke(s, user.id, &by, &rooms);
    if (status == STORE_ALREADY_REVOKED) {
        /* Re-read: another process may have revoked it a moment ago. */
        store_user_get_by_name(s, user.name, &user);
        char when[32];
        cli_format_time(user.revoked_ms, when);
        printf("%s was already revoked (at %s); nothing changed\n", user.name, when);
        return EXIT_OK;
    }
    if (status != STORE_OK)
        return cli_store_error(s, status, "revoke user");
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(user.public_key, nkey);
    printf("revoked %s %s; removed from %zu room%s (each moves to a new key epoch)\n", user.name, nkey, rooms,
           rooms == 1 ? "" : "s");
    return EXIT_OK;
}

int cmd_user_revoke(int argc, char **argv)
{
    store_location loc = {0};
    const cli_flag flags[] = {STORE_LOCATION_FLAGS(loc), {0}};
    const cli_spec spec = {"user revoke", "NAME|PUBKEY",
                           "Revoke a user by name or public key. The user can no longer\n"
                           "authenticate and leaves every room (each moves to a new key\n"
                           "epoch, keyed by the next member to publish); the record stays for\n"
                           "the audit trail. Revoking a revoked user changes nothing and\n"
                           "succeeds.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    uint8_t public_key[BUSAUTH_KEY_BYTES];
    if (!store_user_name_valid(args.v[0]) && busauth_pubkey_parse(args.v[0], public_key) != BUSAUTH_OK) {
        if (busauth_nkey_is_wellformed(args.v[0]))
            return cli_parse_pubkey(args.v[0], public_key); /* says why, never echoes it */
        cli_error("invalid user: give a user name or a public key (U... or 64 hex characters)");
        return EXIT_USAGE;
    }
    store *s;
    rc = cli_open_store_for_change(&loc, STORE_OPEN_EXISTING, &s);
    if (rc != EXIT_OK)
        return rc;
    rc = revoke(s, args.v[0]);
    cli_close_store_for_change(s);
    return rc;
}
