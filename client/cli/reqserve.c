/* unibus req ROOM [MESSAGE] | unibus serve ROOM -- COMMAND [ARGS...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

#define REPLY_MAX (1024 * 1024)

static int seconds_flag(const char *text, int fallback, int *out)
{
    *out = text ? atoi(text) : fallback;
    if (*out < 1 || *out > 3600) {
        cli_error("--timeout takes seconds, from 1 to 3600");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cmd_req(int argc, char **argv)
{
    peer_flags p = {0};
    const char *timeout = NULL;
    const cli_flag flags[] = {{"--timeout", "S", &timeout, NULL, "seconds to wait for the answer (default 10)"},
                              PEER_FLAGS(p), {0}};
    const cli_spec spec = {"req", "ROOM MESSAGE", "Send a request to ROOM's workers and print the answer.", flags, 2, 2};
    cli_args args;
    int seconds, rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if ((rc = seconds_flag(timeout, 10, &seconds)) != EXIT_OK)
        return rc;
    unibus_client *c;
    if ((rc = peer_open(&p, &c)) != EXIT_OK)
        return rc;
    uint8_t *reply = NULL;
    size_t len = 0;
    unibus_status s = unibus_room_request(c, args.v[0], args.v[1], strlen(args.v[1]), seconds * 1000, &reply, &len);
    if (s == UNIBUS_OK) {
        fwrite(reply, 1, len, stdout);
        if (len && reply[len - 1] != '\n')
            putchar('\n');
    } else {
        rc = peer_fail(c, s);
    }
    unibus_free(reply);
    unibus_client_close(c);
    return rc;
}

typedef struct {
    char **command;
    int timeout_s;
} worker;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Feeds the request to the child and reads its stdout, both bounded in
 * size and time; the child is killed when it overstays. */
static bool exchange(int in_fd, int out_fd, const unibus_message *request, uint8_t *out, size_t *out_len,
                     int timeout_s)
{
    size_t written = 0;
    int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
    *out_len = 0;
    if (request->len == 0)
        close(in_fd), in_fd = -1;
    while (now_ms() < deadline) {
        struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = in_fd, .events = POLLOUT}};
        if (poll(fds, in_fd >= 0 ? 2 : 1, 100) < 0 && errno != EINTR)
            return false;
        if (in_fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(in_fd, request->data + written, request->len - written);
            written += n > 0 ? (size_t)n : 0;
            if (n < 0 || written == request->len)
                close(in_fd), in_fd = -1;
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(out_fd, out + *out_len, REPLY_MAX - *out_len);
            if (n <= 0)
                return in_fd < 0 || close(in_fd) == 0;
            *out_len += (size_t)n;
            if (*out_len == REPLY_MAX)
                return false;
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    return false;
}

static unibus_status run_command(const unibus_message *request, uint8_t **reply, size_t *reply_len, void *ctx)
{
    worker *w = ctx;
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0)
        return UNIBUS_ERR_NOMEM;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to_child[0], STDIN_FILENO);
        dup2(from_child[1], STDOUT_FILENO);
        signal(SIGPIPE, SIG_DFL);
        setenv("UNIBUS_SENDER", request->sender_name, 1);
        setenv("UNIBUS_SENDER_NKEY", request->sender_nkey, 1);
        setenv("UNIBUS_REQUEST_ID", unibus_message_id(request), 1);
        execvp(w->command[0], w->command);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    *reply = malloc(REPLY_MAX);
    bool ok = pid > 0 && *reply && exchange(to_child[1], from_child[0], request, *reply, reply_len, w->timeout_s);
    close(from_child[0]);
    int status = 0;
    if (pid > 0) {
        if (!ok)
            kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok)
        fprintf(stderr, "unibus: %s failed, overran %d s or wrote over 1 MiB: no answer sent\n", w->command[0],
                w->timeout_s);
    return ok ? UNIBUS_OK : UNIBUS_ERR_SERVER;
}

int cmd_serve(int argc, char **argv)
{
    peer_flags p = {0};
    const char *timeout = NULL;
    const cli_flag flags[] = {{"--timeout", "S", &timeout, NULL, "seconds COMMAND may take per request (default 10)"},
                              PEER_FLAGS(p), {0}};
    const cli_spec spec = {"serve", "ROOM -- COMMAND [ARGS...]",
                           "Answer ROOM's requests, one at a time: each request's payload goes to\n"
                           "COMMAND's stdin, and its stdout (up to 1 MiB) is the answer. The sender's\n"
                           "name and key are in UNIBUS_SENDER and UNIBUS_SENDER_NKEY, the request's id\n"
                           "(the same for a replayed copy) in UNIBUS_REQUEST_ID.",
                           flags, 2, CLI_MAX_ARGS};
    cli_args args;
    worker w;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if ((rc = seconds_flag(timeout, 10, &w.timeout_s)) != EXIT_OK)
        return rc;
    char *command[CLI_MAX_ARGS];
    for (size_t i = 1; i < args.n; i++)
        command[i - 1] = (char *)args.v[i];
    command[args.n - 1] = NULL;
    w.command = command;
    unibus_client *c;
    if ((rc = peer_open(&p, &c)) != EXIT_OK)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    unibus_subscription *sub;
    unibus_status s = unibus_room_serve(c, args.v[0], run_command, &w, &sub);
    if (s == UNIBUS_OK) {
        fprintf(stderr, "unibus: serving %s with %s\n", args.v[0], command[0]);
        peer_run_until_signal(sub);
    } else {
        rc = peer_fail(c, s);
    }
    unibus_client_close(c);
    return rc;
}
