/* Subcommand tables, in the manner of wireguard-tools' wg.c. */
#include <stdio.h>
#include <string.h>
#include "common/cli_args.h"

const char *cli_program = "membershipd";

static void show_usage(FILE *out, const char *group, const cli_command *table, size_t n)
{
    const char *sep = group[0] ? " " : "";
    fprintf(out, "usage: %s %s%sCOMMAND [ARGS] [flags]\n\ncommands:\n", cli_program, group, sep);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-10s %s\n", table[i].name, table[i].summary);
    fprintf(out, "\n'%s %s%sCOMMAND --help' describes each command.\n", cli_program, group, sep);
}

int cli_dispatch(const char *group, const cli_command *table, size_t n, int argc, char **argv)
{
    const char *sep = group[0] ? " " : "";
    if (argc < 2) {
        cli_error("no command given; see: %s %s%s--help", cli_program, group, sep);
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
    cli_error("unknown command '%s%s%.64s'; see: %s %s%s--help", group, sep, name, cli_program, group, sep);
    return EXIT_USAGE;
}
