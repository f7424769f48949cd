/* unibus: a peer on a unibus message bus. */
#include <curl/curl.h>
#include <nats/nats.h>
#include <sodium.h>
#include <sys/stat.h>
#include "cli.h"

static const cli_command COMMANDS[] = {
    {"keygen", cmd_keygen, "create this peer's identity (a seed file)"},
    {"join", cmd_join, "join a bus with a member token: no admin handles your key"},
    {"whoami", cmd_whoami, "show who the server thinks you are"},
    {"rooms", cmd_rooms, "list your rooms"},
    {"room", cmd_room, "create rooms, add and remove members"},
    {"chat", cmd_chat, "talk in a room, interactively"},
    {"pub", cmd_pub, "send a message to a room"},
    {"sub", cmd_sub, "print a room's messages as they arrive"},
    {"req", cmd_req, "send a request to a room's workers, print the answer"},
    {"serve", cmd_serve, "answer a room's requests with a command"},
    {"blob", cmd_blob, "share files, encrypted, with a room"},
    {"version", cmd_version, "print the version"},
};

int main(int argc, char **argv)
{
    cli_program = "unibus";
    umask(077);
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_error("cannot initialise libsodium or libcurl");
        return EXIT_FAILED;
    }
    int rc = cli_dispatch("", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], argc, argv);
    nats_CloseAndWait(2000); /* nats.c's threads end before OpenSSL cleans up at exit */
    curl_global_cleanup();
    return rc;
}
