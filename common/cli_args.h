/*
 * The command-line conventions shared by membershipd and unibus: a table of
 * subcommands, flags before or after positionals, one-line errors, and the
 * exit codes of README.md.  The program's name comes from cli_program.
 */
#ifndef MEMBERSHIPD_CLI_ARGS_H
#define MEMBERSHIPD_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "membershipd" or "unibus": set once by main. */
extern const char *cli_program;

/* Exit codes, documented in README.md. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,   /* the operation could not be done (duplicate, not found, store error) */
    EXIT_USAGE = 2,    /* bad flags, arguments or input */
    EXIT_CONFIG = 78   /* a configuration refused before start (sysexits EX_CONFIG) */
};

typedef struct {
    const char *name;       /* "--db" */
    const char *value_name; /* "PATH"; NULL for a switch */
    const char **value;     /* where a value flag's argument goes */
    bool *on;               /* where a switch goes */
    const char *help;
} cli_flag;

typedef struct {
    const char *command;    /* "user add" */
    const char *arguments;  /* "NAME PUBKEY" */
    const char *summary;
    const cli_flag *flags;  /* terminated by an entry with name NULL */
    size_t min_args, max_args;
} cli_spec;

#define CLI_MAX_ARGS 8

typedef struct {
    const char *v[CLI_MAX_ARGS];
    size_t n;
} cli_args;

/* Not an exit code: parsing succeeded and the command should run. */
#define CLI_PROCEED (-1)

/* Fills the flags' targets and args.  Flags may stand before or after
 * positionals; "--" ends the flags.  Returns CLI_PROCEED, or the exit code
 * to return at once: EXIT_OK after printing help to stdout, EXIT_USAGE after
 * one line to stderr. */
int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *args);

/* "<program>: <message>" on one line to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "FLAG VALUE: expected WHAT" (one line); returns EXIT_USAGE. */
int cli_bad_value(const char *flag, const char *value, const char *expected);
/* A whole number from min to max, or fallback when text is NULL; returns
 * an exit code, having said what was wrong. */
int cli_parse_u64(const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t fallback, uint64_t *out);
/* A secret (what: "token") from the file --WHAT-file names, which must be
 * a regular file of this user's that no one else may read, or from the
 * environment variable --WHAT-env names; exactly one of file and env.
 * Returns an exit code, having said what was wrong. */
int cli_read_secret(const char *what, const char *file, const char *env, char *out, size_t cap);
/* The file's bytes (at most cap - 1, NUL-terminated; *len of them) under
 * the rules above; 0, or -1 with one line in why. */
int cli_secret_file_read(const char *what, const char *path, char *out, size_t cap, size_t *len, char *why,
                         size_t whylen);
/* A whole number and s, m, h or d ("30s", "24h", "7d"). */
bool cli_duration_ms(const char *text, int64_t *ms);

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Runs the command named by argv[1] from table, with argv shifted so the
 * command sees its own name as argv[0].  group is "" or a subcommand group such as "user". */
int cli_dispatch(const char *group, const cli_command *table, size_t n, int argc, char **argv);

#endif
