/* Flag parsing and help for every subcommand. */
#include "common/cli_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cli_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void print_help(const cli_spec *spec)
{
    printf("usage: %s %s%s%s [flags]\n\n%s\n\nflags:\n", cli_program, spec->command,
           spec->arguments[0] ? " " : "", spec->arguments, spec->summary);
    for (const cli_flag *f = spec->flags; f->name; f++) {
        char left[48];
        snprintf(left, sizeof left, "%s%s%s", f->name, f->value_name ? " " : "",
                 f->value_name ? f->value_name : "");
        printf("  %-22s %s\n", left, f->help);
    }
    printf("  %-22s %s\n", "-h, --help", "show this help");
}

static const cli_flag *find_flag(const cli_spec *spec, const char *name, size_t len)
{
    for (const cli_flag *f = spec->flags; f->name; f++)
        if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

static bool flag_already_set(const cli_flag *f)
{
    return f->value_name ? *f->value != NULL : *f->on;
}

/* Consumes argv[*i] (and maybe the next) as a flag. */
static int parse_flag(const cli_spec *spec, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    const cli_flag *f = find_flag(spec, arg, name_len);
    if (!f) {
        cli_error("unknown flag %.*s for '%s'; see: %s %s --help", (int)name_len, arg,
                  spec->command, cli_program, spec->command);
        return EXIT_USAGE;
    }
    if (flag_already_set(f)) {
        cli_error("%s given twice; give it once", f->name);
        return EXIT_USAGE;
    }
    if (!f->value_name) {
        if (eq) {
            cli_error("%s takes no value", f->name);
            return EXIT_USAGE;
        }
        *f->on = true;
        return CLI_PROCEED;
    }
    const char *value = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!value || !value[0]) {
        cli_error("%s needs a value (%s)", f->name, f->value_name);
        return EXIT_USAGE;
    }
    *f->value = value;
    return CLI_PROCEED;
}

static int check_count(const cli_spec *spec, size_t n)
{
    if (n >= spec->min_args && n <= spec->max_args)
        return CLI_PROCEED;
    if (n < spec->min_args)
        cli_error("'%s' needs %s; see: %s %s --help", spec->command, spec->arguments,
                  cli_program, spec->command);
    else
        cli_error("too many arguments for '%s' (expected %s); see: %s %s --help",
                  spec->command, spec->arguments[0] ? spec->arguments : "none", cli_program, spec->command);
    return EXIT_USAGE;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *args)
{
    size_t n = 0;
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!flags_done && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            print_help(spec);
            return EXIT_OK;
        }
        if (!flags_done && strcmp(arg, "--") == 0) {
            flags_done = true;
        } else if (!flags_done && arg[0] == '-' && arg[1] != '\0') {
            int r = parse_flag(spec, argc, argv, &i);
            if (r != CLI_PROCEED)
                return r;
        } else if (n < CLI_MAX_ARGS && n < spec->max_args) {
            args->v[n++] = arg;
        } else {
            return check_count(spec, spec->max_args + 1);
        }
    }
    args->n = n;
    return check_count(spec, n);
}
