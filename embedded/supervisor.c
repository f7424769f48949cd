#include "embedded/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "embedded/clock.h"
#include "common/log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STABLE_AFTER_MS 30000
#define STOP_GRACE_MS 5000
#define LINE_MAX_BYTES 1024

struct nats_supervisor {
    char *binary, *config_path;
    char **env;          /* "NAME=VALUE" (set) or "NAME" (unset) for the child; NULL-terminated */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pid_t pid;           /* current child, 0 while none */
    bool ready;          /* the current child said "Server is ready" */
    bool stopping;
    unsigned generation; /* children started */
    unsigned reloads;    /* reloads reported, plus one per start */
    unsigned failures;   /* reloads nats-server refused */
    unsigned restarts;
    bool restart_asked;  /* the child ends because supervisor_restart asked: started again at once */
    int out_fd;          /* the child's stdout+stderr */
};

/* The length of an environment entry's name. */
static size_t name_len(const char *entry)
{
    return strcspn(entry, "=");
}

static bool overridden(const char *entry, char *const *env)
{
    for (size_t i = 0; env && env[i]; i++)
        if (name_len(env[i]) == name_len(entry) && strncmp(env[i], entry, name_len(entry)) == 0)
            return true;
    return false;
}

/* Ours, with sup->env's settings in place of the same names: built
 * before fork, since the child of a threaded process may not allocate.
 * The strings are environ's and sup's (the child has copies of both). */
static char **child_environment(const nats_supervisor *sup)
{
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    while (sup->env && sup->env[extra])
        extra++;
    char **out = calloc(n + extra + 1, sizeof *out), **p = out;
    for (size_t i = 0; out && i < n; i++)
        if (!overridden(environ[i], sup->env))
            *p++ = environ[i];
    for (size_t i = 0; out && i < extra; i++)
        if (strchr(sup->env[i], '='))
            *p++ = sup->env[i];
    return out;
}

/* In the child: die with the thread that started us, even on SIGKILL. */
static void exec_child(const nats_supervisor *sup, char **envp, pid_t parent, int out_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* Its own process group: a Ctrl-C at membershipd's terminal reaches
     * membershipd, which then stops the child in order. */
    setpgid(0, 0);
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    closefrom(3);
    char *argv[] = {"nats-server", "-c", sup->config_path, NULL};
    execve(sup->binary, argv, envp);
    _exit(127);
}

/* Forks under the lock, so a stop either comes first (and nothing starts)
 * or finds the child's pid to signal. */
static int spawn(nats_supervisor *sup)
{
    int fds[2];
    char **envp = child_environment(sup);
    if (!envp || pipe2(fds, O_CLOEXEC) != 0) {
        free(envp);
        return -1;
    }
    pid_t parent = getpid();
    pthread_mutex_lock(&sup->lock);
    pid_t pid = sup->stopping ? -1 : fork();
    if (pid == 0)
        exec_child(sup, envp, parent, fds[1]);
    free(envp);
    if (pid > 0) {
        sup->pid = pid;
        sup->ready = false;
        sup->out_fd = fds[0];
        sup->generation++;
    }
    pthread_mutex_unlock(&sup->lock);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    log_event(LOG_INFO, "nats_started", "pid=%d", (int)pid);
    return 0;
}

static log_level level_of(const char *text)
{
    if (strncmp(text, "[ERR]", 5) == 0 || strncmp(text, "[FTL]", 5) == 0)
        return LOG_ERROR;
    return strncmp(text, "[WRN]", 5) == 0 ? LOG_WARN : LOG_INFO;
}

/* The part of "[pid] date time [LVL] text" from "[LVL]" on, or the line. */
static const char *after_timestamp(const char *line)
{
    const char *p = line[0] == '[' ? strchr(line, ']') : NULL;
    /* "] YYYY/MM/DD HH:MM:SS.micros " is 29 characters. */
    if (p && strlen(p) > 29 && p[1] == ' ' && p[6] == '/' && p[9] == '/' && p[12] == ' ' && p[28] == ' ')
        return p + 29;
    return line;
}

/* Forwards the line as msg=nats and notes the three lines that matter.
 * They are matched whole: nats-server copies client-chosen text (the name
 * in CONNECT) into other lines, which must not count. */
static void handle_line(nats_supervisor *sup, char *line)
{
    const char *text = after_timestamp(line);
    bool ready = strcmp(text, "[INF] Server is ready") == 0;
    bool reloaded = strcmp(text, "[INF] Reloaded server configuration") == 0;
    bool failed = strncmp(text, "[ERR] Failed to reload server configuration", 43) == 0;
    for (char *p = line; *p; p++)
        if (*p == '"')
            *p = '\'';
    log_event(level_of(text), "nats", "line=\"%s\"", text);
    pthread_mutex_lock(&sup->lock);
    if (ready) {
        sup->ready = true;
        sup->reloads++;
    }
    sup->reloads += reloaded;
    sup->failures += failed;
    pthread_cond_broadcast(&sup->changed);
    pthread_mutex_unlock(&sup->lock);
}

/* Reads the child's output until it closes; returns when the child is gone. */
static void pump_output(nats_supervisor *sup)
{
    char buf[LINE_MAX_BYTES + 1];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(sup->out_fd, buf + used, LINE_MAX_BYTES - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        char *start = buf, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            handle_line(sup, start);
            start = nl + 1;
        }
        used -= (size_t)(start - buf);
        memmove(buf, start, used);
        if (used == LINE_MAX_BYTES)
            used = 0; /* an endless line: dropped */
    }
    close(sup->out_fd);
}

static int reap(nats_supervisor *sup)
{
    int status = 0;
    waitpid(sup->pid, &status, 0);
    pthread_mutex_lock(&sup->lock);
    sup->pid = 0;
    sup->ready = false;
    pthread_cond_broadcast(&sup->changed);
    pthread_mutex_unlock(&sup->lock);
    return status;
}

/* Sleeps ms unless stop is asked for; returns false when stopping. */
static bool backoff(nats_supervisor *sup, int ms)
{
    struct timespec until = clock_deadline_in(ms);
    pthread_mutex_lock(&sup->lock);
    while (!sup->stopping && pthread_cond_timedwait(&sup->changed, &sup->lock, &until) != ETIMEDOUT)
        ;
    bool go_on = !sup->stopping;
    pthread_mutex_unlock(&sup->lock);
    return go_on;
}

/* The one thread that forks, so the parent-death signal is tied to a
 * thread that lives as long as the supervisor. */
static void *supervise(void *arg)
{
    nats_supervisor *sup = arg;
    int delay = BACKOFF_MIN_MS;
    for (;;) {
        int64_t started = clock_mono_ms();
        if (spawn(sup) == 0) {
            pump_output(sup);
            int status = reap(sup);
            pthread_mutex_lock(&sup->lock);
            bool stopping = sup->stopping, asked = sup->restart_asked;
            sup->restart_asked = false;
            pthread_mutex_unlock(&sup->lock);
            if (stopping)
                break;
            if (asked) {
                log_event(LOG_INFO, "nats_restarting", "reason=asked");
                continue;
            }
            log_event(LOG_ERROR, "nats_exited", "status=%d restart_in_ms=%d", status, delay);
        }
        if (clock_mono_ms() - started > STABLE_AFTER_MS)
            delay = BACKOFF_MIN_MS;
        if (!backoff(sup, delay))
            break;
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
        pthread_mutex_lock(&sup->lock);
        sup->restarts++;
        pthread_mutex_unlock(&sup->lock);
    }
    return NULL;
}

static bool wait_ready(nats_supervisor *sup, int timeout_ms)
{
    struct timespec until = clock_deadline_in(timeout_ms);
    pthread_mutex_lock(&sup->lock);
    while (!sup->ready && pthread_cond_timedwait(&sup->changed, &sup->lock, &until) != ETIMEDOUT)
        ;
    bool ready = sup->ready;
    pthread_mutex_unlock(&sup->lock);
    return ready;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

static char **copy_env(const char *const *env)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(env[i]))) {
            free_env(out);
            return NULL;
        }
    return out;
}

static void free_supervisor(nats_supervisor *sup)
{
    free(sup->binary);
    free(sup->config_path);
    free_env(sup->env);
    free(sup);
}

nats_supervisor *supervisor_start(const char *binary, const char *config_path, const char *const *env,
                                  int timeout_ms)
{
    nats_supervisor *sup = calloc(1, sizeof *sup);
    if (!sup)
        return NULL;
    sup->binary = strdup(binary);
    sup->config_path = strdup(config_path);
    sup->env = copy_env(env);
    if (!sup->binary || !sup->config_path || !sup->env) {
        free_supervisor(sup);
        return NULL;
    }
    pthread_mutex_init(&sup->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sup->changed, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&sup->thread, NULL, supervise, sup) != 0) {
        free_supervisor(sup);
        return NULL;
    }
    if (!wait_ready(sup, timeout_ms)) {
        fprintf(stderr, "membershipd: nats-server (%s) did not become ready in %d ms; see its log lines above\n",
                binary, timeout_ms);
        supervisor_stop(sup);
        return NULL;
    }
    return sup;
}

/* Under sup->lock: false when the deadline passes first. */
static bool wait_ready_locked(nats_supervisor *sup, const struct timespec *until)
{
    while (!(sup->ready && sup->pid > 0))
        if (pthread_cond_timedwait(&sup->changed, &sup->lock, until) == ETIMEDOUT)
            return sup->ready && sup->pid > 0;
    return true;
}

static bool wait_reload_locked(nats_supervisor *sup, unsigned target, unsigned failures,
                               const struct timespec *until)
{
    while (sup->reloads < target && sup->failures == failures)
        if (pthread_cond_timedwait(&sup->changed, &sup->lock, until) == ETIMEDOUT)
            break;
    return sup->reloads >= target;
}

int supervisor_reload(nats_supervisor *sup, int timeout_ms)
{
    struct timespec until = clock_deadline_in(timeout_ms);
    pthread_mutex_lock(&sup->lock);
    /* SIGHUP before nats-server installs its handler would kill it, and a
     * child still starting may have read the previous file: wait until it
     * is ready, then make it re-read. */
    bool done = false;
    if (wait_ready_locked(sup, &until)) {
        unsigned target = sup->reloads + 1, failures = sup->failures;
        kill(sup->pid, SIGHUP);
        done = wait_reload_locked(sup, target, failures, &until);
    }
    pthread_mutex_unlock(&sup->lock);
    return done ? 0 : -1;
}

int supervisor_restart(nats_supervisor *sup, int timeout_ms)
{
    struct timespec until = clock_deadline_in(timeout_ms);
    pthread_mutex_lock(&sup->lock);
    bool done = false;
    if (wait_ready_locked(sup, &until)) {
        unsigned generation = sup->generation;
        sup->restart_asked = true;
        kill(sup->pid, SIGTERM);
        while (!(sup->generation > generation && sup->ready) &&
               pthread_cond_timedwait(&sup->changed, &sup->lock, &until) != ETIMEDOUT)
            ;
        done = sup->generation > generation && sup->ready;
    }
    pthread_mutex_unlock(&sup->lock);
    return done ? 0 : -1;
}

void supervisor_stop(nats_supervisor *sup)
{
    if (!sup)
        return;
    /* Signals go out under the lock, so the pid cannot be reaped (and
     * reused) in between. */
    struct timespec until = clock_deadline_in(STOP_GRACE_MS);
    pthread_mutex_lock(&sup->lock);
    sup->stopping = true;
    pthread_cond_broadcast(&sup->changed);
    if (sup->pid > 0)
        kill(sup->pid, SIGTERM);
    while (sup->pid > 0 && pthread_cond_timedwait(&sup->changed, &sup->lock, &until) != ETIMEDOUT)
        ;
    if (sup->pid > 0)
        kill(sup->pid, SIGKILL);
    pthread_mutex_unlock(&sup->lock);
    pthread_join(sup->thread, NULL);
    pthread_cond_destroy(&sup->changed);
    pthread_mutex_destroy(&sup->lock);
    free_supervisor(sup);
}

pid_t supervisor_pid(nats_supervisor *sup)
{
    pthread_mutex_lock(&sup->lock);
    pid_t pid = sup->pid;
    pthread_mutex_unlock(&sup->lock);
    return pid;
}

unsigned supervisor_restarts(nats_supervisor *sup)
{
    pthread_mutex_lock(&sup->lock);
    unsigned n = sup->restarts;
    pthread_mutex_unlock(&sup->lock);
    return n;
}

unsigned supervisor_reloads(nats_supervisor *sup)
{
    pthread_mutex_lock(&sup->lock);
    unsigned n = sup->reloads;
    pthread_mutex_unlock(&sup->lock);
    return n;
}
