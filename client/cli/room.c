/* unibus room create NAME | room add ROOM NKEY | room remove ROOM NKEY | room members ROOM */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"

#define MEMBERS_SHOWN 4096

static const cli_command ROOM_COMMANDS[] = {
    {"create", cmd_room_create, "create a room (end-to-end encrypted unless --cleartext)"},
    {"add", cmd_room_add, "add a member, sealing the room key to them"},
    {"remove", cmd_room_remove, "remove a member; the room moves to a new key"},
    {"members", cmd_room_members, "list who is in a room"},
};

int cmd_room(int argc, char **argv)
{
    return cli_dispatch("room", ROOM_COMMANDS, sizeof ROOM_COMMANDS / sizeof ROOM_COMMANDS[0], argc, argv);
}

int cmd_room_create(int argc, char **argv)
{
    peer_flags p = {0};
    bool cleartext = false, no_sign = false;
    const cli_flag flags[] = {
        {"--cleartext", NULL, NULL, &cleartext, "no encryption (loopback deployments only)"},
        {"--no-sign", NULL, NULL, &no_sign, "unsigned messages: faster, but any member can impersonate any other"},
        PEER_FLAGS(p),
        {0},
    };
    const cli_spec spec = {"room create", "NAME",
                           "Create a room you own. It is end-to-end encrypted with a key only its\n"
                           "members hold; messages are signed unless --no-sign.",
                           flags, 1, 1};
    cli_args args;
    unibus_client *c;
    int rc = peer_start(&spec, argc, argv, &args, &p, &c);
    if (rc != CLI_PROCEED)
        return rc;
    rc = EXIT_OK;
    unibus_room room;
    unibus_status s = unibus_room_create(c, args.v[0], !cleartext, !no_sign, &room);
    if (s == UNIBUS_OK) {
        printf("%s\n", room.id);
        if (no_sign && !cleartext)
            fprintf(stderr, "unibus: room %s is unsigned: any member can impersonate any other member\n",
                    room.name);
    } else {
        rc = peer_fail(c, s);
    }
    unibus_client_close(c);
    return rc;
}

typedef unibus_status (*member_change)(unibus_client *c, const char *room, const char *nkey);

static int change_member(int argc, char **argv, const cli_spec *spec, peer_flags *p, member_change change)
{
    cli_args args;
    unibus_client *c;
    int rc = peer_start(spec, argc, argv, &args, p, &c);
    if (rc != CLI_PROCEED)
        return rc;
    rc = EXIT_OK;
    unibus_status s = change(c, args.v[0], args.v[1]);
    if (s != UNIBUS_OK)
        rc = peer_fail(c, s);
    unibus_client_close(c);
    return rc;
}

int cmd_room_remove(int argc, char **argv)
{
    peer_flags p = {0};
    const cli_flag flags[] = {PEER_FLAGS(p), {0}};
    const cli_spec spec = {"room remove", "ROOM NKEY",
                           "Remove the user NKEY from ROOM (your own key: leave it). In an encrypted\n"
                           "room a new key is made and sealed to the remaining members (by you, or\n"
                           "when you leave, by the next member to publish), so the removed user\n"
                           "cannot read what follows.",
                           flags, 2, 2};
    return change_member(argc, argv, &spec, &p, unibus_room_remove);
}

int cmd_room_add(int argc, char **argv)
{
    peer_flags p = {0};
    const cli_flag flags[] = {PEER_FLAGS(p), {0}};
    const cli_spec spec = {"room add", "ROOM NKEY",
                           "Add the user with public key NKEY to ROOM (a name or id), sealing the\n"
                           "current room key to them.",
                           flags, 2, 2};
    return change_member(argc, argv, &spec, &p, unibus_room_add);
}

int cmd_room_members(int argc, char **argv)
{
    peer_flags p = {0};
    const cli_flag flags[] = {PEER_FLAGS(p), {0}};
    const cli_spec spec = {"room members", "ROOM",
                           "List the members of ROOM (a name or id): nkey, name, and which one owns it.\n"
                           "Everyone listed can read the room.",
                           flags, 1, 1};
    cli_args args;
    unibus_client *c;
    int rc = peer_start(&spec, argc, argv, &args, &p, &c);
    if (rc != CLI_PROCEED)
        return rc;
    rc = EXIT_OK;
    unibus_member *members = malloc(MEMBERS_SHOWN * sizeof *members);
    size_t n = 0;
    unibus_status s = members ? unibus_room_members(c, args.v[0], members, MEMBERS_SHOWN, &n) : UNIBUS_ERR_NOMEM;
    for (size_t i = 0; s == UNIBUS_OK && i < n && i < MEMBERS_SHOWN; i++)
        printf("%s %-5s %s\n", members[i].nkey, members[i].owner ? "owner" : "-", members[i].name);
    if (s != UNIBUS_OK)
        rc = peer_fail(c, s);
    free(members);
    unibus_client_close(c);
    return rc;
}
