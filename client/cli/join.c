/* unibus join URL --token-file FILE | --token-env NAME */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"

#define TOKEN_TEXT_MAX 256

/* The identity to join with, made when there is none. */
static int ensure_identity(const peer_flags *p, char path[PATH_MAX])
{
    if (!peer_identity_path(p, path)) {
        cli_error("cannot find a home for the identity: give --identity FILE");
        return EXIT_USAGE;
    }
    if (access(path, F_OK) == 0)
        return EXIT_OK;
    char nkey[57];
    if (unibus_identity_create(path, nkey) != UNIBUS_OK) {
        cli_error("cannot create the identity %s: %s", path, strerror(errno));
        return EXIT_FAILED;
    }
    fprintf(stderr, "unibus: made a new identity %s (%s); its seed never leaves this machine\n", path, nkey);
    return EXIT_OK;
}

static int join_with(peer_flags *p, const char *token)
{
    char server_key[57];
    if (unibus_join_token_server_key(token, server_key) != UNIBUS_OK) {
        cli_error("that is not a join token (ubj1....); ask the operator for the output of membershipd token create");
        return EXIT_USAGE;
    }
    p->server_key = server_key; /* the token names its server: pinned before it is sent */
    unibus_client *c;
    int rc = peer_open(p, &c);
    if (rc != EXIT_OK)
        return rc;
    unibus_user me;
    unibus_status s = unibus_client_join(c, token, &me);
    if (s == UNIBUS_OK)
        printf("joined %s as %s (%s), member; server key %s pinned\n", p->url, me.name, me.nkey, server_key);
    else
        rc = peer_fail(c, s);
    unibus_client_close(c);
    return rc;
}

int cmd_join(int argc, char **argv)
{
    peer_flags p = {0};
    const char *token_file = NULL, *token_env = NULL;
    const cli_flag flags[] = {
        {"--token-file", "FILE", &token_file, NULL, "the join token, in a file of yours (mode 0600)"},
        {"--token-env", "NAME", &token_env, NULL, "the environment variable holding the join token"},
        {"--ca", "FILE", &p.ca, NULL, "PEM CA certificate to trust (the bus CA's ca.crt)"},
        {"--identity", "FILE", &p.identity, NULL, "seed file (default ~/.config/unibus/identity.seed; made if missing)"},
        {0},
    };
    const cli_spec spec = {"join", "URL", "Join a bus with a member join token: makes this peer's identity if there\n"
                           "is none, proves it holds the key, and pins the server key the token names.\n"
                           "The key never leaves this machine; no admin handles it.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    p.url = args.v[0];
    char token[TOKEN_TEXT_MAX + 1], identity[PATH_MAX];
    rc = cli_read_secret("token", token_file, token_env, token, sizeof token);
    if (rc == EXIT_OK)
        rc = ensure_identity(&p, identity);
    if (rc == EXIT_OK) {
        p.identity = identity;
        rc = join_with(&p, token);
    }
    sodium_memzero(token, sizeof token);
    return rc;
}
