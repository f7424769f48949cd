/* The nats-server binary: runs `nats-server --version` (presence is
 * guard.nats_binary). */
#include "membershipd/doctor/doctor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define TESTED_MAJOR 2
#define TESTED_MINOR 9

/* Its first line of output, within the probe timeout; -1 when it could not
 * be run or did not exit 0. */
static int version_line(const char *binary, char *out, size_t len)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    char *const argv[] = {(char *)binary, "--version", NULL};
    pid_t pid;
    int spawned = posix_spawn(&pid, binary, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    size_t used = 0;
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    ssize_t n = 1;
    while (spawned == 0 && n > 0 && used + 1 < len && poll(&p, 1, DOCTOR_PROBE_TIMEOUT_MS) == 1)
        if ((n = read(fds[0], out + used, len - used - 1)) > 0)
            used += (size_t)n;
    close(fds[0]);
    out[used] = '\0';
    out[strcspn(out, "\n")] = '\0';
    int status = -1;
    if (spawned == 0) {
        kill(pid, SIGKILL); /* harmless once it has exited; bounds one that hangs */
        waitpid(pid, &status, 0);
    }
    return spawned == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

void doctor_nats(doctor *d)
{
    const char *binary = d->cfg->nats_server_path;
    if (!binary[0]) {
        doctor_add(d, "nats.version", DOCTOR_SKIP, "no nats-server binary (see guard.nats_binary)", NULL);
        return;
    }
    char line[256];
    unsigned major = 0, minor = 0, patch = 0;
    if (version_line(binary, line, sizeof line) != 0 || !strstr(line, "nats-server") ||
        sscanf(strstr(line, " v") ? strstr(line, " v") : "", " v%u.%u.%u", &major, &minor, &patch) != 3) {
        doctor_addf(d, "nats.version", DOCTOR_FAIL, "reinstall it: apt-get install --reinstall nats-server",
                    "%s --version did not print a nats-server version", binary);
        return;
    }
    json_t *check;
    if (major < TESTED_MAJOR || (major == TESTED_MAJOR && minor < TESTED_MINOR))
        check = doctor_addf(d, "nats.version", DOCTOR_WARN, "install nats-server 2.9 or later (Debian 12's)",
                            "%s is nats-server %u.%u.%u, older than the 2.9 unibus is tested with", binary, major,
                            minor, patch);
    else
        check = doctor_addf(d, "nats.version", DOCTOR_OK, NULL, "%s is nats-server %u.%u.%u", binary, major, minor,
                            patch);
    char version[48];
    snprintf(version, sizeof version, "%u.%u.%u", major, minor, patch);
    json_object_set_new(check, "details", json_pack("{s:s, s:s}", "path", binary, "version", version));
}
