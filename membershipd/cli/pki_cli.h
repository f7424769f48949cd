/* The ca, cert, token and join subcommands (dev/pki.md). */
#ifndef MEMBERSHIPD_PKI_CLI_H
#define MEMBERSHIPD_PKI_CLI_H

#include "membershipd/cli/cli.h"
#include "membershipd/pki/pki.h"

#define CA_KEK_FLAG(var)                                                                \
    {"--ca-kek-file", "PATH", &(var), NULL,                                             \
     "the CA key-encryption key (default DATA-DIR/" PKI_KEK_FILE "; keep a copy apart from backups)"}

/* --ca-kek-file, else DATA-DIR/ca.kek; returns an exit code. */
int cli_kek_path(const store_location *loc, const char *flag, store_open_mode mode, char out[4096]);
/* Opens the store and loads its CA, with its key when with_key (reading
 * the KEK file); prints the reason on failure; returns an exit code. */
int cli_ca_open(const store_location *loc, const char *kek_flag, bool with_key, store **s, pki_ca *ca);
/* --days: 1 to PKI_DAYS_MAX, fallback when absent; returns an exit code. */
int cli_days(const char *text, int fallback, int *days);
/* Opens --out DIR (made 0700 when missing) for cli_cert_files_write:
 * refused when a symlink, not ours, writable by group or others, or inside
 * a directory someone else may write (cli_dir_chain_problem), or while
 * another command holds it (an exclusive flock, held until *fd is closed:
 * two renewals interleaving their renames would leave one's certificate
 * with the other's key); prints the reason on failure; returns an exit
 * code. */
int cli_out_dir_open(const char *dir, int *fd);
/* Writes NAME.crt, NAME.key (0600) and ca.crt (once) in the directory open
 * as dir: new files, or with replace renamed over the old as a pair (both
 * new, or both old when it fails); false with one line in err. */
bool cli_cert_files_write(int dir, const char *name, X509 *cert, EVP_PKEY *key, X509 *ca, bool replace, char *err,
                          size_t errlen);
/* Whether the ca.crt in the directory open as dir can stay beside a
 * certificate of ca: there is none yet, or it is ca's.  Else says so in err. */
bool cli_ca_file_fits(int dir, X509 *ca, char *err, size_t errlen);
/* Prints the paths of DIR/NAME.crt, DIR/NAME.key and DIR/ca.crt. */
void cli_cert_files_print(const char *dir, const char *name);

/* DIR/route-pins: the route keys the bus pinned when a node's certificate
 * was issued, one hex SPKI hash a line, for that node to pin until it has
 * the bus's state (dev/cluster.md, "A node joining").  Replaced. */
#define CLI_ROUTE_PINS_FILE "route-pins"
bool cli_route_pins_write(int dir, const char (*pins)[65], size_t n, char *err, size_t errlen);

int cmd_ca_init(int argc, char **argv);
int cmd_ca_show(int argc, char **argv);
int cmd_cert_issue(int argc, char **argv);
int cmd_cert_list(int argc, char **argv);
int cmd_cert_info(int argc, char **argv);
int cmd_cert_revoke(int argc, char **argv);
int cmd_cert_renew(int argc, char **argv);
int cmd_token_create(int argc, char **argv);
int cmd_token_list(int argc, char **argv);
int cmd_token_revoke(int argc, char **argv);
int cmd_join(int argc, char **argv);

#endif
