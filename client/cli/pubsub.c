/* unibus pub ROOM [MESSAGE] | unibus sub ROOM [--json] [--count N] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"

#define STDIN_MAX (1024 * 1024)

/* MESSAGE, or all of stdin when it is absent. */
static char *message_text(const cli_args *args, size_t *len)
{
    if (args->n == 2) {
        *len = strlen(args->v[1]);
        return strdup(args->v[1]);
    }
    char *buf = malloc(STDIN_MAX + 1);
    *len = buf ? fread(buf, 1, STDIN_MAX + 1, stdin) : 0;
    if (buf && *len > STDIN_MAX) {
        free(buf);
        return NULL;
    }
    return buf;
}

int cmd_pub(int argc, char **argv)
{
    peer_flags p = {0};
    const cli_flag flags[] = {PEER_FLAGS(p), {0}};
    const cli_spec spec = {"pub", "ROOM [MESSAGE]",
                           "Send MESSAGE (or stdin, up to 1 MiB) to ROOM, end-to-end encrypted\n"
                           "unless the room is cleartext.",
                           flags, 1, 2};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    size_t len;
    char *text = message_text(&args, &len);
    if (!text) {
        cli_error("the message on stdin is over %d bytes", STDIN_MAX);
        return EXIT_USAGE;
    }
    unibus_client *c;
    if ((rc = peer_open(&p, &c)) == EXIT_OK) {
        unibus_status s = unibus_room_publish(c, args.v[0], text, len);
        if (s != UNIBUS_OK)
            rc = peer_fail(c, s);
        unibus_client_close(c);
    }
    free(text);
    return rc;
}

typedef struct {
    bool json;
    long remaining;       /* messages still wanted; -1: forever */
} sub_state;

static void now_text(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Control characters would let a sender drive the reader's terminal. */
static void print_safely(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        putchar(data[i] < 0x20 && data[i] != '\t' ? '?' : data[i] == 0x7f ? '?' : data[i]);
}

static void print_json(const unibus_message *m, const char *when)
{
    json_t *text = json_stringn((const char *)m->data, m->len);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "time", when, "room", m->room_id, "sender", m->sender_name,
                          "sender_nkey", m->sender_nkey, "verified", m->verified);
    json_object_set_new(o, "text", text ? text : json_null());
    char *line = json_dumps(o, JSON_COMPACT);
    if (line)
        puts(line);
    free(line);
    json_decref(o);
}

static void on_message(const unibus_message *m, void *ctx)
{
    sub_state *st = ctx;
    char when[32];
    now_text(when);
    if (st->json) {
        print_json(m, when);
    } else {
        printf("%s %s%s: ", when, m->sender_name[0] ? m->sender_name : "?", m->verified || !m->sender_name[0] ? "" : " (unverified)");
        print_safely(m->data, m->len);
        putchar('\n');
    }
    fflush(stdout);
    if (st->remaining > 0 && --st->remaining == 0)
        peer_stop();
}

static void on_drop(const char *room, unibus_status why, const char *sender, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "unibus: dropped a message in %s from %s: %s\n", room, sender[0] ? sender : "?",
            unibus_strerror(why));
}

static void on_event(unibus_event ev, const char *detail, void *ctx)
{
    (void)ctx, (void)ev;
    fprintf(stderr, "unibus: %s\n", detail);
}

int cmd_sub(int argc, char **argv)
{
    peer_flags p = {0};
    bool json = false;
    const char *count = NULL;
    const cli_flag flags[] = {
        {"--json", NULL, NULL, &json, "one JSON object per message"},
        {"--count", "N", &count, NULL, "exit after N messages"},
        PEER_FLAGS(p),
        {0},
    };
    const cli_spec spec = {"sub", "ROOM",
                           "Print ROOM's messages as they arrive, one line each: time, sender, text.\n"
                           "Dropped messages (tampered, replayed, not from a member) are reported on stderr.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    sub_state st = {.json = json, .remaining = count ? strtol(count, NULL, 10) : -1};
    if (count && st.remaining <= 0) {
        cli_error("--count takes a positive number");
        return EXIT_USAGE;
    }
    unibus_client *c;
    if ((rc = peer_open(&p, &c)) != EXIT_OK)
        return rc;
    unibus_client_on_event(c, on_event, NULL);
    unibus_subscription *sub;
    unibus_status s = unibus_room_subscribe(c, args.v[0], on_message, on_drop, &st, &sub);
    if (s == UNIBUS_OK) {
        fprintf(stderr, "unibus: listening on %s\n", args.v[0]);
        peer_run_until_signal(sub);
    } else {
        rc = peer_fail(c, s);
    }
    unibus_client_close(c);
    return rc;
}
