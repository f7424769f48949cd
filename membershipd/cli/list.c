/* What every `membershipd ... list [--json]` shares. */
#include <stdio.h>
#include "membershipd/cli/cli.h"

int cli_list_run(const cli_list *l, int argc, char **argv)
{
    store_location loc = {0};
    bool json = false;
    const cli_flag flags[] = {
        {"--json", NULL, NULL, &json, "print a JSON array instead of a table"},
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {l->command, "", l->summary, flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    store *s;
    if ((rc = cli_open_store(&loc, STORE_OPEN_EXISTING, &s)) != EXIT_OK)
        return rc;
    json_t *rows = json ? json_array() : NULL;
    if (!json)
        printf("%s\n", l->header);
    store_status status = json && !rows ? STORE_ERROR : l->walk(s, rows);
    rc = status == STORE_OK ? EXIT_OK : cli_store_error(s, status, l->doing);
    if (rows && rc == EXIT_OK && json_dumpf(rows, stdout, JSON_INDENT(2)) == 0)
        putchar('\n');
    json_decref(rows);
    store_close(s);
    return rc;
}
