/* membershipd token create | list | revoke: join tokens (dev/pki.md). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "membershipd/cli/store_change.h"
#include "membershipd/cli/pki_cli.h"
#include "membershipd/config/server_identity.h"

#define TOKEN_TTL_DEFAULT_MS (24 * 3600 * 1000LL)
#define TOKEN_TTL_MAX_MS (30 * 24 * 3600 * 1000LL)

static const cli_command TOKEN_COMMANDS[] = {
    {"create", cmd_token_create, "make a single-use join token (shown once; only its public key is kept)"},
    {"list", cmd_token_list, "list join tokens: id, role, name, created, expires, used by"},
    {"revoke", cmd_token_revoke, "revoke a join token by a prefix of its id"},
};

int cmd_token(int argc, char **argv)
{
    return cli_dispatch("token", TOKEN_COMMANDS, sizeof TOKEN_COMMANDS / sizeof TOKEN_COMMANDS[0], argc, argv);
}

typedef struct {
    const char *role, *name, *ttl, *dns, *ip;
} token_flags;

/* Everything about the token but its secret, checked. */
static int token_from_flags(const token_flags *f, store_token *t)
{
    memset(t, 0, sizeof *t);
    int64_t ttl = TOKEN_TTL_DEFAULT_MS;
    char err[512];
    if (!f->role || !store_token_role_parse(f->role, &t->role)) {
        cli_error("give --role node|member");
        return EXIT_USAGE;
    }
    if (f->ttl && (!cli_duration_ms(f->ttl, &ttl) || ttl < 60000 || ttl > TOKEN_TTL_MAX_MS))
        return cli_bad_value("--ttl", f->ttl, "a duration from 1m to 30d, such as 15m, 24h or 7d");
    if (t->role == STORE_TOKEN_MEMBER && (!f->name || f->dns || f->ip)) {
        cli_error("a member token needs --name (the user it makes) and takes no --dns or --ip");
        return EXIT_USAGE;
    }
    pki_profile p = {f->name ? f->name : "node", STORE_CERT_NODE, f->dns ? f->dns : "", f->ip ? f->ip : "", 1};
    if (!pki_profile_valid(&p, err, sizeof err)) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    snprintf(t->name, sizeof t->name, "%s", f->name ? f->name : "");
    snprintf(t->dns, sizeof t->dns, "%s", p.dns);
    snprintf(t->ip, sizeof t->ip, "%s", p.ip);
    t->created_ms = store_now_ms();
    t->expires_ms = t->created_ms + ttl;
    return EXIT_OK;
}

/* The token to --out (a new 0600 file, made before the token is recorded,
 * so a token is never recorded that went nowhere), else to stdout. */
static int hand_out(const char *out, const char *text, char *err, size_t errlen)
{
    char line[BUSAUTH_JOIN_TOKEN_LEN + 2];
    snprintf(line, sizeof line, "%s\n", text);
    bool ok = out ? pki_write_file_at(AT_FDCWD, out, line, 0600, err, errlen) : printf("%s", line) > 0;
    sodium_memzero(line, sizeof line);
    return ok ? EXIT_OK : EXIT_FAILED;
}

static int record(const store_location *loc, const store_token *t, const char *out)
{
    store *s;
    int rc = cli_open_store_for_change(loc, STORE_OPEN_EXISTING, &s);
    if (rc != EXIT_OK)
        return rc;
    store_actor by = cli_local_actor();
    store_status status = store_token_add(s, t, &by);
    if (status == STORE_OK) {
        char expires[32];
        cli_format_time(t->expires_ms, expires);
        fprintf(stderr, "%s join token%s%s, single use, expires %s%s%s; keep it secret\n",
                store_token_role_name(t->role), t->name[0] ? " for " : "", t->name, expires, out ? ", in " : "",
                out ? out : "");
    } else {
        rc = cli_store_error(s, status, "record the token");
    }
    cli_close_store_for_change(s);
    return rc;
}

static int create(const store_location *loc, store_token *t, const char *out)
{
    char dir[4096], err[4200];
    int rc = cli_data_dir(loc, STORE_OPEN_EXISTING, dir);
    busauth_identity *server = rc == EXIT_OK ? server_identity_load_or_create(dir) : NULL;
    if (!server)
        return rc == EXIT_OK ? EXIT_FAILED : rc;
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], text[BUSAUTH_JOIN_TOKEN_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(server), nkey);
    busauth_identity_free(server);
    if (!busauth_join_token_make(nkey, text, t->key)) {
        cli_error("cannot make a token: libsodium failed");
        return EXIT_FAILED;
    }
    rc = out ? hand_out(out, text, err, sizeof err) : EXIT_OK;
    if (rc != EXIT_OK)
        cli_error("%s", err);
    if (rc == EXIT_OK)
        rc = record(loc, t, out);
    if (rc == EXIT_OK && !out)
        rc = hand_out(NULL, text, err, sizeof err);
    else if (rc != EXIT_OK && out && access(out, F_OK) == 0)
        unlink(out);
    sodium_memzero(text, sizeof text);
    return rc;
}

int cmd_token_create(int argc, char **argv)
{
    store_location loc = {0};
    token_flags f = {0};
    const char *out = NULL;
    const cli_flag flags[] = {
        {"--role", "node|member", &f.role, NULL, "member: allowlists a new key; node: gets a node certificate"},
        {"--name", "NAME", &f.name, NULL,
         "member: the user's name (required); node: the node's (else the joiner's, if no valid certificate has it)"},
        {"--ttl", "DURATION", &f.ttl, NULL, "how long it may be used (default 24h, at most 30d)"},
        {"--dns", "NAMES", &f.dns, NULL, "node: DNS names its certificate gets, comma-separated"},
        {"--ip", "ADDRS", &f.ip, NULL, "node: IP addresses its certificate gets, comma-separated"},
        {"--out", "FILE", &out, NULL, "write the token to a new file (0600) instead of stdout"},
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"token create", "", "Make a join token: 256 random bits, single use, expiring, written\n"
                           "once to --out FILE (0600) or stdout; the store keeps only the public half of\n"
                           "the key the token's secret makes.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    store_token t;
    if ((rc = token_from_flags(&f, &t)) != EXIT_OK)
        return rc;
    return create(&loc, &t, out);
}

static const char *token_status(const store_token *t, int64_t now)
{
    return t->revoked_ms ? "revoked" : t->used_ms ? "used" : t->expires_ms <= now ? "expired" : "usable";
}

typedef struct {
    json_t *rows;
    int64_t now;
} json_ctx;

static int print_row(const store_token *t, void *ctx)
{
    char id[65], created[32], expires[32];
    sodium_bin2hex(id, sizeof id, t->key, sizeof t->key);
    cli_format_time(t->created_ms, created);
    cli_format_time(t->expires_ms, expires);
    printf("%-16.16s %-6s %-20s %-21s %-21s %-8s %s\n", id, store_token_role_name(t->role),
           t->name[0] ? t->name : "-", created, expires, token_status(t, ((const json_ctx *)ctx)->now),
           t->used_by[0] ? t->used_by : "-");
    return 0;
}

static int append_json(const store_token *t, void *ctx)
{
    json_ctx *j = ctx;
    char id[65], created[32], expires[32];
    sodium_bin2hex(id, sizeof id, t->key, sizeof t->key);
    cli_format_time(t->created_ms, created);
    cli_format_time(t->expires_ms, expires);
    json_t *row = json_pack("{s:s%, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, (size_t)16, "role",
                            store_token_role_name(t->role), "name", t->name, "created", created, "expires", expires,
                            "status", token_status(t, j->now), "used_by", t->used_by);
    return row ? json_array_append_new(j->rows, row) : -1;
}

static store_status walk(store *s, json_t *rows)
{
    json_ctx j = {rows, store_now_ms()};
    return store_token_foreach(s, rows ? append_json : print_row, &j);
}

int cmd_token_list(int argc, char **argv)
{
    char header[128];
    snprintf(header, sizeof header, "%-16s %-6s %-20s %-21s %-21s %-8s %s", "ID", "ROLE", "NAME", "CREATED",
             "EXPIRES", "STATUS", "USED BY");
    const cli_list list = {"token list", "List join tokens (never the tokens themselves: a prefix of their public key).",
                           header, "list tokens", walk};
    return cli_list_run(&list, argc, argv);
}

int cmd_token_revoke(int argc, char **argv)
{
    store_location loc = {0};
    const cli_flag flags[] = {STORE_LOCATION_FLAGS(loc), {0}};
    const cli_spec spec = {"token revoke", "ID-PREFIX", "Revoke a join token, named by at least 8 hex digits of "
                           "its id\n(see: membershipd token list).", flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    store *s;
    if ((rc = cli_open_store_for_change(&loc, STORE_OPEN_EXISTING, &s)) != EXIT_OK)
        return rc;
    store_actor by = cli_local_actor();
    store_status status = store_token_revoke(s, args.v[0], &by);
    if (status == STORE_OK)
        printf("revoked token %s\n", args.v[0]);
    else if (status == STORE_NOT_FOUND)
        cli_error("no token whose id starts with %.64s (give at least 8 lowercase hex digits; see: membershipd token list)",
                  args.v[0]);
    else if (status == STORE_CONFLICT)
        cli_error("%.64s names more than one token; give more of the id", args.v[0]);
    else if (status == STORE_ALREADY_REVOKED)
        cli_error("that token is revoked already; nothing changed");
    else
        rc = cli_store_error(s, status, "revoke the token");
    rc = rc != EXIT_OK ? rc : status == STORE_OK ? EXIT_OK : EXIT_FAILED;
    cli_close_store_for_change(s);
    return rc;
}
