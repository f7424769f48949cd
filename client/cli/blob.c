/* unibus blob put FILE --room ROOM | unibus blob get REF --out FILE */
#include <stdio.h>
#include <string.h>
#include "cli.h"

int cmd_blob_put(int argc, char **argv)
{
    peer_flags p = {0};
    const char *room = NULL;
    const cli_flag flags[] = {{"--room", "ROOM", &room, NULL, "the room to share it with (required)"}, PEER_FLAGS(p), {0}};
    const cli_spec spec = {"blob put", "FILE",
                           "Encrypt FILE (up to 16 MiB) with a fresh key, upload it to ROOM, and send\n"
                           "its reference (which holds the key) to ROOM as a message. Prints the reference.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if (!room) {
        cli_error("blob put needs --room ROOM: a blob is shared with one room");
        return EXIT_USAGE;
    }
    unibus_client *c;
    if ((rc = peer_open(&p, &c)) != EXIT_OK)
        return rc;
    char ref[UNIBUS_BLOB_REF_MAX];
    unibus_status s = unibus_blob_put(c, room, args.v[0], ref);
    if (s == UNIBUS_OK)
        s = unibus_room_publish(c, room, ref, strlen(ref));
    if (s == UNIBUS_OK)
        printf("%s\n", ref);
    else
        rc = peer_fail(c, s);
    unibus_client_close(c);
    return rc;
}

int cmd_blob_get(int argc, char **argv)
{
    peer_flags p = {0};
    const char *out = NULL;
    const cli_flag flags[] = {{"--out", "FILE", &out, NULL, "where to write it (required; never overwritten)"},
                              PEER_FLAGS(p), {0}};
    const cli_spec spec = {"blob get", "REF",
                           "Download the blob REF names (as received in its room), check its hash and\n"
                           "decrypt it into a new file.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if (!out) {
        cli_error("blob get needs --out FILE");
        return EXIT_USAGE;
    }
    unibus_client *c;
    if ((rc = peer_open(&p, &c)) != EXIT_OK)
        return rc;
    unibus_status s = unibus_blob_get(c, args.v[0], out);
    if (s != UNIBUS_OK)
        rc = peer_fail(c, s);
    unibus_client_close(c);
    return rc;
}

static const cli_command BLOB_COMMANDS[] = {
    {"put", cmd_blob_put, "encrypt and upload a file, shared with a room"},
    {"get", cmd_blob_get, "download and decrypt a blob"},
};

int cmd_blob(int argc, char **argv)
{
    return cli_dispatch("blob", BLOB_COMMANDS, sizeof BLOB_COMMANDS / sizeof BLOB_COMMANDS[0], argc, argv);
}
