/* Subcommand tables, in the manner of wireguard-tools' wg.c. */
#include <stdio.h>
#include <string.h>
#include "membershipd/cli.h"

static void show_usage(FILE *out, const char *group, const cli_command *table, size_t n)
{
    fprintf(out, "usage: membershipd %s%sCOMMAND [ARGS] [flags]\n\ncommands:\n", group,
            group[0] ? " " : "");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-10s %s\n", table[i].name, table[i].summary);
    fprintf(out, "\n'membershipd %s%sCOMMAND --help' describes each command.\n", group,
            group[0] ? " " : "");
}

int cli_dispatch(const char *group, const cli_command *table, size_t n, int argc, char **argv)
{
    if (argc < 2) {
        cli_error("no command given; see: membershipd %s%s--help", group, group[0] ? " " : "");
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        show_usage(stdout, group, table, n);
        return EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, table[i].name) == 0)
            return table[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s%s%.64s'; see: membershipd %s%s--help", group,
              group[0] ? " " : "", name, group, group[0] ? " " : "");
    return EXIT_USAGE;
}
