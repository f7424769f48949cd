/* membershipd user list [--json] */
#include <stdio.h>
#include <jansson.h>
#include "membershipd/cli/cli.h"

static int print_row(const store_user *user, void *ctx)
{
    (void)ctx;
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], created[32];
    busauth_nkey_encode_public(user->public_key, nkey);
    cli_format_time(user->created_ms, created);
    printf("%-24s %-7s %-8s %-21s %s\n", user->name, store_role_name(user->role),
           user->revoked_ms ? "revoked" : "active", created, nkey);
    return 0;
}

static int append_json(const store_user *user, void *ctx)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], hex[BUSAUTH_PUBKEY_HEX_LEN + 1];
    char created[32], revoked[32];
    busauth_nkey_encode_public(user->public_key, nkey);
    busauth_pubkey_to_hex(user->public_key, hex);
    cli_format_time(user->created_ms, created);
    cli_format_time(user->revoked_ms, revoked);
    json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
                            "name", user->name, "role", store_role_name(user->role),
                            "status", user->revoked_ms ? "revoked" : "active",
                            "nkey", nkey, "public_key_hex", hex, "created", created,
                            "revoked", user->revoked_ms ? json_string(revoked) : json_null());
    return row ? json_array_append_new(ctx, row) : -1;
}

static int list_json(store *s)
{
    json_t *users = json_array();
    store_status status = users ? store_user_foreach(s, append_json, users) : STORE_ERROR;
    int rc = status == STORE_OK ? EXIT_OK : cli_store_error(s, status, "list users");
    if (rc == EXIT_OK && json_dumpf(users, stdout, JSON_INDENT(2)) == 0)
        putchar('\n');
    json_decref(users);
    return rc;
}

static int list_text(store *s)
{
    printf("%-24s %-7s %-8s %-21s %s\n", "NAME", "ROLE", "STATUS", "CREATED", "NKEY");
    store_status status = store_user_foreach(s, print_row, NULL);
    return status == STORE_OK ? EXIT_OK : cli_store_error(s, status, "list users");
}

int cmd_user_list(int argc, char **argv)
{
    store_location loc = {0};
    bool json = false;
    const cli_flag flags[] = {
        {"--json", NULL, NULL, &json, "print a JSON array instead of a table"},
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"user list", "", "List users: name, role, status, created, nkey.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;

    store *s;
    rc = cli_open_store(&loc, STORE_OPEN_EXISTING, &s);
    if (rc != EXIT_OK)
        return rc;
    rc = json ? list_json(s) : list_text(s);
    store_close(s);
    return rc;
}
