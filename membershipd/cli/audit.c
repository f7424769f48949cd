/* membershipd audit [--since T] [--actor WHO] [--json]: the audit log, oldest first. */
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "membershipd/audit/audit_format.h"
#include "membershipd/audit/audit_since.h"
#include "membershipd/cli/cli.h"

#define LOCAL_PREFIX "local:"
#define ACTOR_MAX (BUSAUTH_NKEY_PUBLIC_LEN + 64)

static int print_line(const store_audit_entry *e, void *ctx)
{
    (void)ctx;
    char line[AUDIT_LINE_MAX];
    audit_format_line(e, line, sizeof line);
    return puts(line) < 0 ? -1 : 0;
}

/* One document, written as the rows come so a long log never sits in
 * memory: {"version":1,"entries":[...]}. */
static int print_json(const store_audit_entry *e, void *ctx)
{
    bool *first = ctx;
    json_t *row = audit_entry_json(e);
    int rc = row && fputs(*first ? "\n  " : ",\n  ", stdout) >= 0 && json_dumpf(row, stdout, JSON_COMPACT) == 0
                 ? 0 : -1;
    *first = false;
    json_decref(row);
    return rc;
}

static int list(store *s, const store_audit_filter *filter, bool as_json)
{
    bool first = true;
    if (as_json)
        printf("{\"version\": %d, \"entries\": [", AUDIT_JSON_VERSION);
    store_status status = store_audit_foreach(s, filter, as_json ? print_json : print_line, &first);
    if (as_json)
        printf("%s]}\n", first ? "" : "\n");
    return status == STORE_OK ? EXIT_OK : cli_store_error(s, status, "read the audit log");
}

/* An actor as the log records it: a user's nkey (typed as nkey or hex),
 * "local:<login>" for the command line, or "anonymous". */
static int parse_actor(const char *text, char out[ACTOR_MAX + 1])
{
    bool local = strncmp(text, LOCAL_PREFIX, strlen(LOCAL_PREFIX)) == 0;
    if (strcmp(text, "anonymous") == 0 ||
        (local && text[strlen(LOCAL_PREFIX)] && strlen(text) <= ACTOR_MAX)) {
        snprintf(out, ACTOR_MAX + 1, "%s", text);
        return EXIT_OK;
    }
    uint8_t key[BUSAUTH_KEY_BYTES];
    int rc = cli_parse_pubkey(text, key);
    if (rc == EXIT_OK)
        busauth_nkey_encode_public(key, out);
    return rc;
}

static int parse_filter(const char *since, const char *actor, store_audit_filter *filter,
                        char actor_buf[ACTOR_MAX + 1])
{
    if (since && audit_parse_since(since, store_now_ms(), &filter->since_ms) != 0) {
        cli_error("--since %.64s: expected a UTC time such as 2026-11-23T10:00:00Z or a duration such as "
                  "15m, 2h or 7d", since);
        return EXIT_USAGE;
    }
    if (!actor)
        return EXIT_OK;
    filter->actor = actor_buf;
    return parse_actor(actor, actor_buf);
}

int cmd_audit(int argc, char **argv)
{
    store_location loc = {0};
    const char *since = NULL, *actor = NULL;
    bool as_json = false;
    const cli_flag flags[] = {
        {"--since", "T", &since, NULL, "entries from T on: 2026-11-23T10:00:00Z, or 15m, 2h, 7d ago"},
        {"--actor", "WHO", &actor, NULL, "entries by one actor: a user's nkey, local:<login> or anonymous"},
        {"--json", NULL, NULL, &as_json, "print one JSON document (schema: dev/audit.md)"},
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"audit", "",
                           "List the audit log, oldest first: who did what to which target, the outcome,\n"
                           "peer IP and request id. Read-only: safe beside a running server.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    store_audit_filter filter = {0};
    char actor_buf[ACTOR_MAX + 1];
    rc = parse_filter(since, actor, &filter, actor_buf);
    store *s = NULL;
    if (rc == EXIT_OK)
        rc = cli_open_store(&loc, STORE_OPEN_READONLY, &s);
    if (rc == EXIT_OK)
        rc = list(s, &filter, as_json);
    store_close(s);
    return rc;
}
