/* The unibus peer CLI: one file per subcommand, settings shared here. */
#ifndef UNIBUS_CLI_H
#define UNIBUS_CLI_H

#include "common/cli_args.h"
#include "unibus.h"

/* Where to connect, as typed; unset fields come from UNIBUS_URL, UNIBUS_CA,
 * UNIBUS_IDENTITY, then ~/.config/unibus/config (url=, ca=, identity=,
 * server_key= lines). */
typedef struct {
    const char *url, *ca, *identity, *server_key;
} peer_flags;

#define PEER_FLAGS(p)                                                                       \
    {"--url", "URL", &(p).url, NULL, "control plane https://HOST:8470, or nodes: https://a:8470,https://b:8470"}, \
    {"--ca", "FILE", &(p).ca, NULL, "PEM CA certificate to trust"},                          \
    {"--identity", "FILE", &(p).identity, NULL, "seed file (default ~/.config/unibus/identity.seed)"}, \
    {"--server-key", "NKEY", &(p).server_key, NULL, "pin the server's key instead of trusting it on first use"}

/* Parses the command line and opens a client: returns CLI_PROCEED with
 * *c open (the caller closes it), or the exit code to return now. */
int peer_start(const cli_spec *spec, int argc, char **argv, cli_args *args, const peer_flags *p,
               unibus_client **c);
/* Opens a client, saying on stderr when a server key is trusted for the
 * first time; on failure prints one line and returns the exit code. */
int peer_open(const peer_flags *flags, unibus_client **out);
/* Prints c's last error as one line; returns the exit code for status. */
int peer_fail(unibus_client *c, unibus_status status);
/* Runs sub (already open) until SIGINT or SIGTERM, then closes it. */
void peer_run_until_signal(unibus_subscription *sub);
/* Makes peer_run_until_signal return, as a signal would (async-signal-safe). */
void peer_stop(void);
/* The identity file the flags, environment or config name, else
 * ~/.config/unibus/identity.seed (in out); NULL when there is no home. */
const char *peer_identity_path(const peer_flags *flags, char out[4096]);
/* ~/.config/unibus/NAME, creating the directory (0700). */
int peer_config_path(const char *name, char out[4096]);

int cmd_keygen(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_rooms(int argc, char **argv);
int cmd_room(int argc, char **argv);
int cmd_room_create(int argc, char **argv);
int cmd_room_add(int argc, char **argv);
int cmd_room_remove(int argc, char **argv);
int cmd_room_members(int argc, char **argv);
int cmd_pub(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_req(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_blob(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_blob_put(int argc, char **argv);
int cmd_blob_get(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
