/* unibus rooms */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"

#define ROOMS_SHOWN 4096

static void print_room(const unibus_room *r)
{
    printf("%s %-9s %-8s epoch %-4u %s\n", r->id, r->e2e ? "e2e" : "cleartext",
           r->e2e ? (r->sign ? "signed" : "unsigned") : "-", r->epoch, r->name);
}

int cmd_rooms(int argc, char **argv)
{
    peer_flags p = {0};
    const cli_flag flags[] = {PEER_FLAGS(p), {0}};
    const cli_spec spec = {"rooms", "", "List your rooms: id, mode, signing, key epoch, name.", flags, 0, 0};
    cli_args args;
    unibus_client *c;
    int rc = peer_start(&spec, argc, argv, &args, &p, &c);
    if (rc != CLI_PROCEED)
        return rc;
    rc = EXIT_OK;
    unibus_room *rooms = malloc(ROOMS_SHOWN * sizeof *rooms);
    size_t n = 0;
    unibus_status s = rooms ? unibus_rooms_list(c, rooms, ROOMS_SHOWN, &n) : UNIBUS_ERR_NOMEM;
    for (size_t i = 0; s == UNIBUS_OK && i < n && i < ROOMS_SHOWN; i++)
        print_room(&rooms[i]);
    if (s == UNIBUS_OK && n > ROOMS_SHOWN)
        fprintf(stderr, "unibus: %zu more rooms not shown (%zu in all); name one by its id\n", n - ROOMS_SHOWN, n);
    if (s != UNIBUS_OK)
        rc = peer_fail(c, s);
    free(rooms);
    unibus_client_close(c);
    return rc;
}
