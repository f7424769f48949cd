#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "raw_socket.h"
#include "testutil.h"

#define MAX_ARGS 48

const char *harness_membershipd(void)
{
    const char *m = getenv("MEMBERSHIPD");
    return m && m[0] ? m : "membershipd";
}

static void make_log_path(harness_server *h)
{
    const char *dir = getenv("UNIBUS_TEST_LOG_DIR");
    static int counter;
    snprintf(h->log_path, sizeof h->log_path, "%s/membershipd-%d-%d.log",
             dir && dir[0] ? dir : "/tmp", (int)getpid(), counter++);
}

static unsigned read_port(const char *log_path, char nats_url[128])
{
    FILE *f = fopen(log_path, "r");
    char line[2048];
    unsigned port = 0;
    while (f && !port && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "msg=listening");
        const char *nats = p ? strstr(p, " nats=") : NULL;
        p = p ? strstr(p, " port=") : NULL;
        if (p)
            port = (unsigned)strtoul(p + 6, NULL, 10);
        if (nats)
            snprintf(nats_url, 128, "%.*s", (int)strcspn(nats + 6, " \n"), nats + 6);
    }
    if (f)
        fclose(f);
    return port;
}

pid_t harness_spawn(const char *const *argv, int out_fd, int err_fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* A test that dies takes its server with it; ctest never waits on an orphan. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (out_fd < 0)
            out_fd = open("/dev/null", O_WRONLY);
        dup2(out_fd, STDOUT_FILENO);
        if (err_fd >= 0)
            dup2(err_fd, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int harness_launch(harness_server *h, bool tls, const char *const *args)
{
    memset(h, 0, sizeof *h);
    h->tls = tls;
    make_log_path(h);
    const char *argv[MAX_ARGS] = {harness_membershipd(), "serve", "--http-port", "0", "--nats-port", "0"};
    size_t n = 6;
    for (size_t i = 0; args && args[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int log_fd = open(h->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    h->pid = harness_spawn(argv, -1, log_fd);
    close(log_fd);
    return h->pid > 0 ? 0 : -1;
}

int harness_await(harness_server *h, int timeout_ms)
{
    for (int waited = 0; h->pid > 0 && waited < timeout_ms; waited += 20) {
        h->port = read_port(h->log_path, h->nats_url);
        if (h->port) {
            snprintf(h->base_url, sizeof h->base_url, "%s://127.0.0.1:%u", h->tls ? "https" : "http", h->port);
            return 0;
        }
        int status;
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = 0;
            return -1;
        }
        test_sleep_ms(20);
    }
    harness_stop(h);
    return -1;
}

int harness_start(harness_server *h, bool tls, const char *const *args)
{
    return harness_launch(h, tls, args) == 0 ? harness_await(h, 10000) : -1;
}

int harness_stop(harness_server *h)
{
    if (h->pid <= 0)
        return -1;
    kill(h->pid, SIGTERM);
    int status = 0;
    for (int waited = 0; waited < 15000; waited += 20) {
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        test_sleep_ms(20);
    }
    kill(h->pid, SIGKILL);
    waitpid(h->pid, &status, 0);
    h->pid = 0;
    return -1;
}

bool harness_log_contains(const harness_server *h, const char *text)
{
    return harness_file_contains(h->log_path, text);
}

bool harness_file_contains(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

long harness_rss_kib(const harness_server *h)
{
    return harness_process_rss_kib(h->pid);
}

long harness_process_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    size_t len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            kib = strtol(line + len + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

bool harness_process_getenv(pid_t pid, const char *name, char *value, size_t len)
{
    char path[64], env[65536];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(env, 1, sizeof env - 1, f) : 0;
    if (f)
        fclose(f);
    env[n] = '\0';
    size_t name_len = strlen(name);
    for (size_t i = 0; i < n; i += strlen(env + i) + 1)
        if (strncmp(env + i, name, name_len) == 0 && env[i + name_len] == '=') {
            snprintf(value, len, "%s", env + i + name_len + 1);
            return true;
        }
    return false;
}

long harness_process_rss_kib(pid_t pid)
{
    return harness_process_status_kib(pid, "VmRSS");
}

int harness_run(const char *const *args, char *out, size_t outlen)
{
    const char *argv[MAX_ARGS] = {harness_membershipd()};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    int devnull = open("/dev/null", O_WRONLY);
    pid_t pid = harness_spawn(argv, fds[1], devnull);
    close(fds[1]);
    close(devnull);
    size_t used = 0;
    ssize_t r;
    char sink[256];
    while ((r = read(fds[0], out && used + 1 < outlen ? out + used : sink,
                     out && used + 1 < outlen ? outlen - used - 1 : sizeof sink)) > 0)
        if (out && used + 1 < outlen)
            used += (size_t)r;
    if (out && outlen)
        out[used] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t harness_nats_pid(const harness_server *h)
{
    char cmd[96], line[32];
    snprintf(cmd, sizeof cmd, "pgrep -P %d -x nats-server", (int)h->pid);
    pid_t child = 0;
    for (int i = 0; i < 200 && !child; i++) {
        FILE *p = popen(cmd, "r");
        child = p && fgets(line, sizeof line, p) ? (pid_t)atoi(line) : 0;
        if (p)
            pclose(p);
        if (!child)
            test_sleep_ms(10);
    }
    return child;
}

static bool cmdline_contains(const char *pid, const char *text)
{
    char path[300], args[4096];
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(args, 1, sizeof args - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        args[i] = args[i] ? args[i] : ' ';
    args[n] = '\0';
    return strstr(args, text) != NULL;
}

int harness_count_processes(const char *text)
{
    DIR *proc = opendir("/proc");
    int count = 0;
    for (struct dirent *e; proc && (e = readdir(proc));)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && (pid_t)atoi(e->d_name) != getpid())
            count += cmdline_contains(e->d_name, text);
    if (proc)
        closedir(proc);
    return count;
}

size_t harness_stream_upload(const harness_server *h, const char *source_ip, size_t total, long *baseline_kib,
                             long *peak_kib)
{
    enum { CHUNK = 64 * 1024, MIB = 1024 * 1024 };
    *baseline_kib = *peak_kib = harness_rss_kib(h);
    int fd = raw_connect(h->port, source_ip);
    if (fd < 0)
        return 0;
    const char head[] = "POST /v1/rooms HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    raw_send(fd, head, strlen(head));
    static char chunk[CHUNK + 16];
    int hdr = snprintf(chunk, sizeof chunk, "%x\r\n", CHUNK);
    memset(chunk + hdr, 'x', CHUNK);
    memcpy(chunk + hdr + CHUNK, "\r\n", 2);
    size_t chunk_len = (size_t)hdr + CHUNK + 2, sent = 0;
    while (sent < total) {
        size_t n = raw_send(fd, chunk, chunk_len);
        sent += n;
        if (n < chunk_len)
            break; /* the server hung up */
        if (sent % MIB < chunk_len) {
            long rss = harness_rss_kib(h);
            *peak_kib = rss > *peak_kib ? rss : *peak_kib;
        }
    }
    close(fd);
    return sent;
}
