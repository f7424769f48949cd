#include "bench.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "busauth/seedfile.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_since_ms(double t0)
{
    return (bench_now() - t0) * 1e3;
}

void bench_sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, by_value);
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    return v[i ? i - 1 : 0];
}

/* /proc/<pid>/stat past "pid (comm)" (comm may hold spaces, so from the
 * last ')'), or NULL; *comm_at and *comm_len say where comm is. */
static const char *read_stat(const char *pid_text, char *buf, size_t cap, const char **comm_at, size_t *comm_len)
{
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/stat", pid_text);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close)
        return NULL;
    *comm_at = open + 1;
    *comm_len = (size_t)(close - open - 1);
    return close + 1;
}

static bool is_child(const char *pid_text, pid_t parent, const char *comm)
{
    char stat[512];
    const char *name;
    size_t name_len;
    const char *rest = read_stat(pid_text, stat, sizeof stat, &name, &name_len);
    int ppid = 0;
    char state;
    return rest && name_len == strlen(comm) && strncmp(name, comm, name_len) == 0 &&
           sscanf(rest, " %c %d", &state, &ppid) == 2 && ppid == parent;
}

double bench_cpu_s(pid_t pid)
{
    if (pid == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
    char pid_text[24], stat[1024];
    const char *name;
    size_t name_len;
    snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
    const char *rest = read_stat(pid_text, stat, sizeof stat, &name, &name_len);
    unsigned long user = 0, sys = 0; /* fields 14 and 15, in clock ticks */
    if (!rest || sscanf(rest, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &user, &sys) != 2)
        return NAN;
    return (double)(user + sys) / (double)sysconf(_SC_CLK_TCK);
}

pid_t bench_child_pid(pid_t parent, const char *comm)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = -1;
    while (d && found < 0 && (e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && is_child(e->d_name, parent, comm))
            found = (pid_t)atoi(e->d_name);
    if (d)
        closedir(d);
    return found;
}

void bench_end_process(pid_t pid, int sig)
{
    kill(pid, sig);
    for (int waited = 0; waited < 10000; waited += 10) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        bench_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A port the kernel just gave out can come back on the next call: the
 * cluster case once got one node's cluster port as another's route. */
static uint8_t handed_out[65536 / 8];
static pthread_mutex_t handed_out_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned any_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

unsigned bench_free_port(void)
{
    pthread_mutex_lock(&handed_out_lock);
    unsigned port = 0;
    for (int tries = 0; tries < 100 && !port; tries++) {
        port = any_free_port();
        if (port && handed_out[port / 8] & (1u << (port % 8)))
            port = 0;
    }
    if (port)
        handed_out[port / 8] |= (uint8_t)(1u << (port % 8));
    pthread_mutex_unlock(&handed_out_lock);
    return port;
}

unsigned bench_url_port(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

const char *const BENCH_LOAD_FLAGS[] = {"--rate", "1000000", "--burst", "1000000", "--member-rate", "1000000",
                                        "--member-burst", "1000000", "--max-conns", "2048",
                                        "--max-conns-per-ip", "1024", NULL};

void bench_start_server(fixture *f, const char *const *flags, fixture_seed_fn seed, void *ctx)
{
    const char *all[32];
    size_t n = 0;
    for (size_t i = 0; BENCH_LOAD_FLAGS[i]; i++)
        all[n++] = BENCH_LOAD_FLAGS[i];
    for (size_t i = 0; flags && flags[i] && n < 31; i++)
        all[n++] = flags[i];
    all[n] = NULL;
    if (fixture_start_seeded(f, all, seed, ctx) != 0) {
        fprintf(stderr, "bench: membershipd did not start; its log: %s\n", f->server.log_path);
        exit(1);
    }
}

void bench_seed_file(fixture *f, const busauth_identity *id, const char *name, char out[PATH_MAX + 64])
{
    snprintf(out, PATH_MAX + 64, "%s/%s.seed", f->dir, name);
    if (busauth_seedfile_create(out, id) != BUSAUTH_OK) {
        fprintf(stderr, "bench: cannot write the seed file %s\n", out);
        exit(1);
    }
}
