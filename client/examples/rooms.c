/*
 * The smallest unibus peer: lists the rooms of the identity in
 * $UNIBUS_IDENTITY on the bus at $UNIBUS_URL (trusting the server key on
 * first use, recorded in ./known_servers).  Builds with nothing but:
 *   cc rooms.c $(pkg-config --cflags --libs unibus)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unibus.h>

int main(void)
{
    unibus_config cfg = {
        .url = getenv("UNIBUS_URL"),
        .ca_file = getenv("UNIBUS_CA"),
        .identity_file = getenv("UNIBUS_IDENTITY"),
        .known_servers = "known_servers",
    };
    if (!cfg.url || !cfg.identity_file) {
        fprintf(stderr, "rooms: set UNIBUS_URL and UNIBUS_IDENTITY\n");
        return 2;
    }
    unibus_client *c;
    unibus_status s = unibus_client_open(&cfg, &c);
    unibus_room rooms[64];
    size_t n = 0;
    if (s == UNIBUS_OK)
        s = unibus_rooms_list(c, rooms, 64, &n);
    if (s != UNIBUS_OK) {
        fprintf(stderr, "rooms: %s\n", unibus_client_error(c));
        unibus_client_close(c);
        return 1;
    }
    for (size_t i = 0; i < n && i < 64; i++)
        printf("%s %s\n", rooms[i].id, rooms[i].name);
    unibus_client_close(c);
    return 0;
}
