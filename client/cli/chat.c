/* unibus chat ROOM: type lines to send them; the room's messages appear as they come. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli.h"

#define LINE_MAX_BYTES 4096

typedef struct {
    const char *self;     /* our nkey: our own lines are on screen already */
} chat_state;

static void on_message(const unibus_message *m, void *ctx)
{
    chat_state *st = ctx;
    if (strcmp(m->sender_nkey, st->self) == 0)
        return;
    char when[16];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    printf("%s %s%s: ", when, m->sender_name[0] ? m->sender_name : "?", m->verified || !m->sender_name[0] ? "" : "?");
    for (size_t i = 0; i < m->len; i++) /* no terminal control from others */
        putchar(m->data[i] < 0x20 || m->data[i] == 0x7f ? '?' : m->data[i]);
    putchar('\n');
    fflush(stdout);
}

static void on_drop(const char *room, unibus_status why, const char *sender, void *ctx)
{
    (void)room, (void)ctx;
    fprintf(stderr, "unibus: dropped a message from %s: %s\n", sender[0] ? sender : "?", unibus_strerror(why));
}

static int talk(unibus_client *c, const char *room)
{
    char line[LINE_MAX_BYTES];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\n");
        if (len == 0)
            continue;
        unibus_status s = unibus_room_publish(c, room, line, len);
        if (s != UNIBUS_OK)
            return peer_fail(c, s);
    }
    return EXIT_OK;
}

int cmd_chat(int argc, char **argv)
{
    peer_flags p = {0};
    const cli_flag flags[] = {PEER_FLAGS(p), {0}};
    const cli_spec spec = {"chat", "ROOM",
                           "Talk in ROOM: each line you type is sent; what others send appears as it\n"
                           "comes. Ctrl-D leaves.",
                           flags, 1, 1};
    cli_args args;
    unibus_client *c;
    int rc = peer_start(&spec, argc, argv, &args, &p, &c);
    if (rc != CLI_PROCEED)
        return rc;
    rc = EXIT_OK;
    unibus_user me;
    chat_state st = {.self = me.nkey};
    unibus_subscription *sub = NULL;
    unibus_status s = unibus_client_whoami(c, &me);
    if (s == UNIBUS_OK)
        s = unibus_room_subscribe(c, args.v[0], on_message, on_drop, &st, &sub);
    if (s == UNIBUS_OK) {
        fprintf(stderr, "unibus: in %s as %s; type to talk, Ctrl-D to leave\n", args.v[0], me.name);
        rc = talk(c, args.v[0]);
    } else {
        rc = peer_fail(c, s);
    }
    unibus_subscription_close(sub);
    unibus_client_close(c);
    return rc;
}
