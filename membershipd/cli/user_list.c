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

static store_status walk(store *s, json_t *rows)
{
    return rows ? store_user_foreach(s, append_json, rows) : store_user_foreach(s, print_row, NULL);
}

int cmd_user_list(int argc, char **argv)
{
    char header[128];
    snprintf(header, sizeof header, "%-24s %-7s %-8s %-21s %s", "NAME", "ROLE", "STATUS", "CREATED", "NKEY");
    const cli_list list = {"user list", "List users: name, role, status, created, nkey.", header, "list users", walk};
    return cli_list_run(&list, argc, argv);
}
