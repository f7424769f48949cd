/* membershipd: the unibus membership daemon and its local administration. */
#include <string.h>
#include <sys/stat.h>
#include "busauth/identity.h"
#include "membershipd/cli/cli.h"
#include "membershipd/doctor/doctor.h"

static const cli_command COMMANDS[] = {
    {"serve", cmd_serve, "serve the signed HTTPS control plane"},
    {"check-config", cmd_check_config, "check a serve configuration against the boot guard"},
    {"doctor", cmd_doctor, "check the posture and health of a configuration and its live server"},
    {"audit", cmd_audit, "list the audit log: who did what, when, from where"},
    {"backup", cmd_backup, "copy the database and server identity, while the server runs"},
    {"restore", cmd_restore, "install a backup into a new data directory"},
    {"user", cmd_user, "add, list and revoke the identities allowed on the bus"},
    {"ca", cmd_ca, "make and show the bus CA"},
    {"cert", cmd_cert, "issue, list, inspect, revoke and renew certificates from the bus CA"},
    {"token", cmd_token, "create, list and revoke single-use join tokens"},
    {"join", cmd_join, "join a bus as a node: a certificate from its CA for a key made here"},
    {"keygen", cmd_keygen, "create a new identity seed file"},
    {"version", cmd_version, "print the version"},
};

int main(int argc, char **argv)
{
    /* Whatever membershipd creates (database, WAL, keys) is the owner's alone. */
    umask(077);
    if (busauth_init() != BUSAUTH_OK) {
        cli_error("libsodium failed to initialise");
        return EXIT_FAILED;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    /* A bare "membershipd --bind ..." is "membershipd serve --bind ...". */
    if (argc >= 2 && strncmp(argv[1], "--", 2) == 0 && strcmp(argv[1], "--help") != 0)
        return cmd_serve(argc, argv);
    return cli_dispatch("", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], argc, argv);
}
