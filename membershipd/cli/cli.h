/*
 * The membershipd command line: a table of subcommands (main.c), one source
 * file each, sharing the flag parser and error conventions of
 * common/cli_args.h and the data directory of config/datadir.h.
 */
#ifndef MEMBERSHIPD_CLI_H
#define MEMBERSHIPD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "common/cli_args.h"
#include "membershipd/config/datadir.h"

/* A `... list [--json]` command: walk prints each row (rows NULL) or
 * appends it to rows as JSON. */
typedef struct {
    const char *command;   /* "user list" */
    const char *summary;
    const char *header;    /* the table's first line */
    const char *doing;     /* "list users", for a store error */
    store_status (*walk)(store *s, json_t *rows);
} cli_list;
int cli_list_run(const cli_list *l, int argc, char **argv);

/* Parses a typed public key (nkey or hex), printing the reason on failure;
 * returns an exit code. */
int cli_parse_pubkey(const char *text, uint8_t public_key[BUSAUTH_KEY_BYTES]);

int cmd_user(int argc, char **argv);
int cmd_user_add(int argc, char **argv);
int cmd_user_list(int argc, char **argv);
int cmd_user_revoke(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_join(int argc, char **argv);

#endif
